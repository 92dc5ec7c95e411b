import { expect, it } from 'vitest';
import type { MediaContent } from '../../src/core/media.js';
import { solidPng } from './images.js';
import { rejectionOf } from './media.js';

/**
 * What the wechat_mp and wecom media tests share: both channels download a user's photo through media/get of a fake
 * that keeps it as test/fakes/tencent-media.ts does, so the cases below pass the same way on both. Each test file
 * keeps its platform's own cases: parsing the image message, how an error is answered, token codes, busy and quota.
 */

/** A 1×1 baseline JPEG: what WeChat and WeCom serve a photo as. */
export const JPEG_1PX = Buffer.from(
  '/9j/4AAQSkZJRgABAQEAYABgAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAACf/EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AKp//2Q==',
  'base64',
);

/** What the shared cases use of a fake (FakeWechatMp and FakeWecom both have it). */
export interface TencentMediaFake {
  addMedia(data: Buffer, contentType?: string): string;
  advanceTime(seconds: number): void;
  readonly mediaGets: readonly { errcode: number }[];
}

export interface TencentMediaSetup<F extends TencentMediaFake> {
  /** The channel type, which begins every error message. */
  channel: 'wechat_mp' | 'wecom';
  /** The platform as the test titles name it. */
  platform: 'WeChat' | 'WeCom';
  /** How long the fake keeps a user's media, in fake seconds. */
  mediaTtlSeconds: number;
  start(): Promise<F>;
  /** Closes the fake now, so that the platform cannot be reached (and afterEach has nothing left to close). */
  stop(): Promise<void>;
  download(f: F, ref: string, opts?: { maxBytes?: number }): Promise<MediaContent>;
}

/** The cases both channels pass the same way; call it inside the test file's describe. */
export function sharedTencentMediaCases<F extends TencentMediaFake>(t: TencentMediaSetup<F>): void {
  it(`takes the type from the bytes when ${t.platform} serves them as application/octet-stream`, async () => {
    const f = await t.start();
    const id = f.addMedia(JPEG_1PX, 'application/octet-stream');
    expect(await t.download(f, id)).toEqual({ data: JPEG_1PX, mimeType: 'image/jpeg' });
  });

  it('a media id older than 3 days is gone (the token expired meanwhile too: refreshed once, then 40007)', async () => {
    const f = await t.start();
    const id = f.addMedia(solidPng());
    expect((await t.download(f, id)).data).toEqual(solidPng());
    f.advanceTime(t.mediaTtlSeconds);
    const err = await rejectionOf(t.download(f, id));
    expect(err.message).toMatch(/40007/);
    expect(err.retryable).toBe(false);
    expect(f.mediaGets.map((g) => g.errcode)).toEqual([0, 42001, 40007]);
  });

  it('refuses a file larger than maxBytes without returning it', async () => {
    const f = await t.start();
    const big = Buffer.concat([solidPng(), Buffer.alloc(5_000, 7)]);
    const id = f.addMedia(big, 'image/png');
    const err = await rejectionOf(t.download(f, id, { maxBytes: 1_000 }));
    expect(err).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false });
    expect(err.message).toMatch(/larger than 1000 bytes/);
    expect((await t.download(f, id, { maxBytes: big.length })).data).toEqual(big);
  });

  it(`is retryable when ${t.platform} cannot be reached, and never puts the access token in the message`, async () => {
    const f = await t.start();
    const id = f.addMedia(solidPng());
    await t.download(f, id); // the token is cached now
    await t.stop();
    const err = await rejectionOf(t.download(f, id));
    expect(err).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: true });
    expect(err.message).toMatch(new RegExp(`^${t.channel}: media/get unreachable`));
    expect(err.message).not.toMatch(/access_token/);
  });
}
