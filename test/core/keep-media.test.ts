import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { CocoError } from '../../src/core/errors.js';
import { keepMediaOnArrival } from '../../src/core/keep-media.js';
import { MAX_FILES, MAX_IMAGES, type MediaFetcher } from '../../src/core/media.js';
import type { ChatMessage, MediaRef } from '../../src/core/message.js';
import { solidPng } from '../helpers/images.js';
import { captureLogger } from '../helpers/logs.js';

const PNG = solidPng(2, 2);
const message = (media: MediaRef[]): ChatMessage => ({
  channelType: 'wecom_bot', sceneId: 'a', userId: 'u', conversationId: 'u', content: '[image]', msgType: 'image',
  msgId: 'm1', timestamp: 0, isGroup: false, mentionsBot: true, media,
});
const inline = `data:image/png;base64,${PNG.toString('base64')}`;

function run(media: MediaRef[], fetcher: MediaFetcher, keepAnswers = true, files = false) {
  const kept: MediaRef[][] = [];
  const { log, lines, raw } = captureLogger();
  const keep = async (_id: string, m: MediaRef[]) => (kept.push(m), keepAnswers);
  return keepMediaOnArrival('7', message(media), fetcher, { keep, clock: systemClock, log, signal: new AbortController().signal }, { files }).then((n) => ({ n, kept, lines, raw }));
}

describe('keepMediaOnArrival', () => {
  it('stores the images inline without their keys, the other media and their order as they were', async () => {
    const media: MediaRef[] = [{ kind: 'voice', ref: 'https://x/v' }, { kind: 'image', ref: 'https://x/i?sig=s', key: 'k' }];
    const { n, kept } = await run(media, async () => ({ data: PNG, mimeType: 'image/png' }));
    expect(n).toBe(1);
    expect(kept).toEqual([[media[0], { kind: 'image', ref: inline, mimeType: 'image/png' }]]);
  });

  it('keeps the reference of an image that did not come, never naming it in the log, and stores nothing when none came', async () => {
    const failing: MediaFetcher = async (ref) => {
      throw new CocoError('COCO_ERR_MEDIA', `GET ${ref.ref}: HTTP 404`);
    };
    const { n, kept, lines, raw } = await run([{ kind: 'image', ref: 'https://x/i?sig=secret' }], failing);
    expect([n, kept]).toEqual([0, []]);
    expect(lines.map((l) => l.msg)).toContain('image not kept on arrival; the agent downloads it later if it still can');
    expect(raw()).not.toContain('sig=secret');

    const mixed = await run([{ kind: 'image', ref: 'bad' }, { kind: 'image', ref: 'good' }], async (ref) => {
      if (ref.ref === 'bad') throw new CocoError('COCO_ERR_MEDIA', 'gone');
      return { data: PNG, mimeType: 'image/png' };
    });
    expect(mixed.kept).toEqual([[{ kind: 'image', ref: 'bad' }, { kind: 'image', ref: inline, mimeType: 'image/png' }]]);
  });

  it('fetches at most MAX_IMAGES, skips what is inline already, and reports 0 for a message answered meanwhile', async () => {
    const asked: string[] = [];
    const media: MediaRef[] = [{ kind: 'image', ref: inline }, ...Array.from({ length: MAX_IMAGES + 1 }, (_, i) => ({ kind: 'image' as const, ref: `img-${i}` }))];
    const { n } = await run(media, async (ref) => (asked.push(ref.ref), { data: PNG, mimeType: 'image/png' }), false);
    expect(asked).toEqual(Array.from({ length: MAX_IMAGES }, (_, i) => `img-${i}`));
    expect(n).toBe(0);
  });

  it('keeps files, voice and video too (at most MAX_FILES) when the agent takes files, with their names; never otherwise', async () => {
    const pdf = Buffer.from('%PDF-1.4');
    const media: MediaRef[] = [
      { kind: 'file', ref: 'https://x/f?sig=s', key: 'k', name: 'a.pdf' },
      { kind: 'image', ref: 'img' },
      ...Array.from({ length: MAX_FILES }, (_, i): MediaRef => ({ kind: 'video', ref: `v${i}` })),
    ];
    const asked: string[] = [];
    const fetcher: MediaFetcher = async (ref) => (asked.push(ref.ref), ref.kind === 'image' ? { data: PNG, mimeType: 'image/png' } : { data: pdf, mimeType: 'application/pdf' });
    const withFiles = await run(media, fetcher, true, true);
    expect(asked).toEqual(['https://x/f?sig=s', 'img', 'v0', 'v1', 'v2']);
    expect(withFiles.n).toBe(5);
    expect(withFiles.kept[0]![0]).toEqual({ kind: 'file', ref: `data:application/pdf;base64,${pdf.toString('base64')}`, mimeType: 'application/pdf', name: 'a.pdf' });
    expect(withFiles.kept[0]![MAX_FILES + 1]).toEqual({ kind: 'video', ref: `v${MAX_FILES - 1}` });

    asked.length = 0;
    const without = await run(media, fetcher);
    expect(asked).toEqual(['img']);
    expect(without.n).toBe(1);
  });
});
