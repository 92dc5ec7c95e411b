import { expect } from 'vitest';
import { CocoError } from '../../src/core/errors.js';
import type { Gateway } from '../../src/gateway.js';

/** The CocoError a promise rejects with (the test fails if it resolves or rejects with anything else). */
export async function rejectionOf(promise: Promise<unknown>): Promise<CocoError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CocoError);
  return err as CocoError;
}

/** `cococat_media_downloads_total` of one channel and outcome in a gateway's metrics. */
export async function mediaDownloads(t: { gateway: Gateway }, channel: string, outcome: 'ok' | 'failed'): Promise<number> {
  const values = (await t.gateway.metrics.mediaDownloads.get()).values;
  return values.find((v) => v.labels.channel === channel && v.labels.outcome === outcome)?.value ?? 0;
}
