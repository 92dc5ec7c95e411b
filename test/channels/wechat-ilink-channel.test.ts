import { afterEach, describe, expect, it } from 'vitest';
import { wechatIlinkChannel, type IlinkChannel } from '../../src/channels/wechat-ilink/index.js';
import { CURSOR_STATE } from '../../src/channels/wechat-ilink/poller.js';
import { memoryChannelState } from '../../src/core/channel-state.js';
import { isCocoError } from '../../src/core/errors.js';
import { decryptIlinkMedia } from '../../src/channels/wechat-ilink/media.js';
import type { ChatMessage } from '../../src/core/message.js';
import { FakeIlink } from '../fakes/ilink/index.js';
import { channelContext } from '../helpers/channel-context.js';
import { solidPng } from '../helpers/images.js';

let channel: IlinkChannel | undefined;
let fake: FakeIlink | undefined;
afterEach(async () => {
  await channel?.stop();
  await fake?.close();
  channel = fake = undefined;
});

/** The channel on its own against the fake iLink, its mailbox a list that fails when told to. */
async function boot() {
  fake = await FakeIlink.start({ longPollMs: 300 });
  const state = memoryChannelState();
  const ctx = channelContext('wechat_ilink', { state });
  const stored: ChatMessage[] = [];
  const mailbox = { failing: 0, delayMs: 0, log: [] as string[] };
  channel = wechatIlinkChannel.create(ctx) as IlinkChannel;
  channel.sceneId = 'bot';
  channel.onMessage = async (m) => {
    mailbox.log.push(`start ${m.content}`);
    if (mailbox.delayMs) await new Promise((r) => setTimeout(r, mailbox.delayMs));
    mailbox.log.push(`end ${m.content}`);
    if (mailbox.failing > 0) {
      mailbox.failing--;
      throw new Error('disk full');
    }
    const duplicate = stored.some((s) => s.msgId === m.msgId);
    if (!duplicate) stored.push(m);
    return { messageId: String(stored.length), duplicate, acceptedAt: Date.now() };
  };
  await channel.start('bot', wechatIlinkChannel.configSchema.parse({ base_url: fake.url, bot_token: fake.botToken, cdn_base_url: fake.cdnUrl }));
  return { fake, channel, stored, mailbox, state };
}

const until = async (predicate: () => boolean | Promise<boolean>, ms = 8_000) => {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('wechat_ilink channel', () => {
  it('keeps the cursor while the mailbox fails, and stores the batch when iLink hands it out again', async () => {
    const { fake, stored, mailbox, state } = await boot();
    await until(() => fake.calls.some((c) => c.endpoint === 'getupdates'));
    mailbox.failing = 1;
    fake.userSends('alice', 'first');
    fake.userSends('alice', 'second');
    await until(() => stored.length === 2);
    expect(stored.map((m) => m.content)).toEqual(['first', 'second']);
    // Two answers handed the batch out; the cursor moved (and was saved) only after the second.
    const polls = fake.calls.filter((c) => c.endpoint === 'getupdates');
    const handing = polls.filter((c) => ((c.response as { msgs?: unknown[] } | undefined)?.msgs?.length ?? 0) > 0);
    expect(handing).toHaveLength(2);
    expect(handing[1]!.body?.get_updates_buf).toBe(handing[0]!.body?.get_updates_buf);
    await until(async () => (await state.get(CURSOR_STATE)) === (handing[1]!.response as { get_updates_buf: string }).get_updates_buf);
  });

  it('stores one user\'s messages one after another, and different users\' side by side', async () => {
    const { fake, stored, mailbox } = await boot();
    await until(() => fake.calls.some((c) => c.endpoint === 'getupdates'));
    // The next answer waits, so all four messages come in one batch.
    fake.failNext('getupdates', { hangMs: 300 });
    await until(() => fake.calls.filter((c) => c.endpoint === 'getupdates').length >= 2);
    mailbox.delayMs = 50;
    for (const [user, text] of [['alice', 'a1'], ['bob', 'b1'], ['alice', 'a2'], ['bob', 'b2']]) fake.userSends(user!, text!);
    await until(() => stored.length === 4);
    const at = (line: string) => mailbox.log.indexOf(line);
    expect(at('start a2')).toBeGreaterThan(at('end a1'));
    expect(at('start b2')).toBeGreaterThan(at('end b1'));
    expect(at('start b1')).toBeLessThan(at('end a1'));
    expect(stored.map((m) => m.content).filter((c) => c.startsWith('a'))).toEqual(['a1', 'a2']);
  });

  it('pauses its polls as well when a send is told the session expired, and tells later sends to wait', async () => {
    const { fake, channel, stored } = await boot();
    fake.userSends('bob', 'hi');
    await until(() => stored.length === 1);
    const m = stored[0]!;
    const context = { conversationId: m.conversationId, isGroup: false, inReplyTo: m.msgId, messageId: '1', idempotencyKey: '1:0', chunk: { index: 0, count: 1 }, replyMeta: m.replyMeta };
    fake.failNext('sendmessage', { ret: -14 });
    const first = await channel.send({ text: 'a', format: 'text' }, m.userId, context).catch((e: unknown) => e);
    expect(isCocoError(first) && first.retryable).toBe(true);
    const second = await channel.send({ text: 'a', format: 'text' }, m.userId, context).catch((e: unknown) => e);
    expect(isCocoError(second) && second.message).toMatch(/session expired/);
    expect(isCocoError(second) && (second.retryAfterMs ?? 0)).toBeGreaterThan(3_000_000);
    expect(fake.calls.filter((c) => c.endpoint === 'sendmessage')).toHaveLength(1);
    expect(channel.transportStatus()).toMatchObject({ state: 'reconnecting' });
  });

  it('retries a refused context token with the user\'s newer one', async () => {
    const { fake, channel, stored } = await boot();
    fake.userSends('carol', 'old question');
    await until(() => stored.length === 1);
    const newer = fake.userSends('carol', 'new question');
    await until(() => stored.length === 2);
    const m = stored[0]!;
    fake.failNext('sendmessage', { ret: -2 });
    const context = { conversationId: m.conversationId, isGroup: false, inReplyTo: m.msgId, messageId: '1', idempotencyKey: '1:0', chunk: { index: 0, count: 1 }, replyMeta: m.replyMeta };
    await channel.send({ text: 'late answer', format: 'text' }, m.userId, context);
    expect(fake.sent('carol').map((s) => [s.text, s.contextToken])).toEqual([['late answer', newer.context_token]]);
  });
});

describe('wechat_ilink channel: images in replies', () => {
  /** A user's message stored by the channel, and the send context of a reply chunk to it. */
  async function asked(user: string) {
    const booted = await boot();
    booted.fake.userSends(user, 'show me');
    await until(() => booted.stored.length === 1);
    const m = booted.stored[0]!;
    const context = (key: string) => ({ conversationId: m.conversationId, isGroup: false, inReplyTo: m.msgId, messageId: '1', idempotencyKey: key, chunk: { index: 1, count: 2 }, replyMeta: m.replyMeta });
    return { ...booted, m, context };
  }
  const imageReply = (data: Buffer, mimeType = 'image/png') => ({ text: 'alt', format: 'text' as const, image: { data: data.toString('base64'), mimeType } });
  const endpoints = (f: FakeIlink) => f.calls.map((c) => c.endpoint).filter((e) => e !== 'getupdates' && e !== 'notifystart');

  it('uploads the bytes encrypted to the CDN, then sends one image item naming them with the message\'s context token', async () => {
    const { fake, channel, m, context } = await asked('dora');
    const png = solidPng(5, 4, [10, 200, 30]);
    await channel.send(imageReply(png), m.userId, context('1:1'));

    expect(endpoints(fake)).toEqual(['getuploadurl', 'cdn_upload', 'sendmessage']);
    const declared = fake.calls.find((c) => c.endpoint === 'getuploadurl')!.body!;
    expect(declared).toMatchObject({ media_type: 1, to_user_id: 'dora@im.wechat', rawsize: png.length, filesize: Math.floor(png.length / 16) * 16 + 16, no_need_thumb: true });
    expect(declared.filekey).toMatch(/^[0-9a-f]{32}$/);
    expect(declared.aeskey).toMatch(/^[0-9a-f]{32}$/);

    const [sent] = fake.sent('dora');
    expect(sent!.contextToken).toBe((m.replyMeta as { contextToken: string }).contextToken);
    const media = sent!.item.image_item!.media!;
    // aes_key: base64 of the 32 hex digits getuploadurl was told, not of the raw key.
    expect(Buffer.from(media.aes_key!, 'base64').toString('latin1')).toBe(declared.aeskey);
    expect(media).toMatchObject({ encrypt_query_param: fake.mediaUploads[0]!.downloadParam, encrypt_type: 1 });
    expect(sent!.item.image_item!.mid_size).toBe(declared.filesize);
    expect(sent!.item.text_item).toBeUndefined();
    expect(await fake.downloadSentImage(sent!)).toEqual(png);
    expect(decryptIlinkMedia(Buffer.from(await (await fetch(`${fake.cdnUrl}/download?encrypted_query_param=${encodeURIComponent(media.encrypt_query_param!)}`)).arrayBuffer()), Buffer.from(declared.aeskey as string, 'hex'))).toEqual(png);
  });

  it('posts to the upload_full_url iLink gives, and sends an image given by URL', async () => {
    const { fake, channel, m, context } = await asked('eli');
    fake.uploadUrlForm = 'upload_full_url';
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), filler(300)]);
    // A plain file on the fake CDN stands in for the agent's image URL.
    const hosted = fake.hostMedia(jpeg, { keyForm: 'none' });
    await channel.send({ text: '', format: 'text', image: { url: `${fake.cdnUrl}/download?encrypted_query_param=${encodeURIComponent(hosted.media.encrypt_query_param!)}` } }, m.userId, context('1:1'));
    expect(fake.mediaUploads.map((u) => u.data)).toEqual([jpeg]);
    expect(await fake.downloadSentImage(fake.sent('eli')[0]!)).toEqual(jpeg);
  });

  it('refuses an image WeChat does not show, or bytes that are no image, before any upload, and for good', async () => {
    const { fake, channel, m, context } = await asked('fay');
    const bmp = Buffer.concat([Buffer.from('BM'), filler(100)]);
    const refused = await channel.send(imageReply(bmp, 'image/bmp'), m.userId, context('1:1')).catch((e: unknown) => e);
    expect(isCocoError(refused) && [refused.code, refused.retryable, refused.message]).toEqual([
      'COCO_ERR_CHANNEL_SEND',
      false,
      `wechat_ilink: reply image not sent: WeChat shows png, jpeg, gif or webp images; this one is image/bmp (${bmp.length} bytes)`,
    ]);
    const text = await channel.send(imageReply(Buffer.from('not a picture'), 'text/plain'), m.userId, context('1:2')).catch((e: unknown) => e);
    expect(isCocoError(text) && [text.code, text.retryable]).toEqual(['COCO_ERR_CHANNEL_SEND', false]);
    expect(isCocoError(text) && text.message).toMatch(/^wechat_ilink: reply image: .* is not an image/);
    expect(endpoints(fake)).toEqual([]);
  });

  it('fails retryably when the CDN upload fails with a 5xx, sending no message; the next try sends one', async () => {
    const { fake, channel, m, context } = await asked('gus');
    const png = solidPng(2, 2, [7, 7, 7]);
    fake.failNext('cdn_upload', { http: 503 });
    const failed = await channel.send(imageReply(png), m.userId, context('1:1')).catch((e: unknown) => e);
    expect(isCocoError(failed) && [failed.code, failed.retryable]).toEqual(['COCO_ERR_CHANNEL_SEND', true]);
    expect(isCocoError(failed) && failed.message).toBe('wechat_ilink: CDN upload answered HTTP 503');
    expect(fake.sent('gus')).toEqual([]);
    await channel.send(imageReply(png), m.userId, context('1:1'));
    expect(fake.sent('gus')).toHaveLength(1);
    expect(await fake.downloadSentImage(fake.sent('gus')[0]!)).toEqual(png);
  });

  it('takes a CDN 4xx or a getuploadurl refusal as final, quoting the reason; -14 on getuploadurl pauses the session', async () => {
    const { fake, channel, m, context } = await asked('hal');
    fake.failNext('getuploadurl', { ret: -1, errmsg: 'invalid param' });
    const refused = await channel.send(imageReply(solidPng()), m.userId, context('1:1')).catch((e: unknown) => e);
    expect(isCocoError(refused) && refused.message).toBe('wechat_ilink: getuploadurl: ret -1: invalid param');
    expect(fake.calls.some((c) => c.endpoint === 'cdn_upload')).toBe(false);

    fake.failNext('cdn_upload', { http: 400 });
    const client = await channel.send(imageReply(solidPng()), m.userId, context('1:1')).catch((e: unknown) => e);
    expect(isCocoError(client) && [client.retryable, client.message]).toEqual([false, 'wechat_ilink: CDN upload answered HTTP 400']);

    fake.failNext('getuploadurl', { ret: -14 });
    const expired = await channel.send(imageReply(solidPng()), m.userId, context('1:1')).catch((e: unknown) => e);
    expect(isCocoError(expired) && expired.retryable).toBe(true);
    expect(channel.transportStatus()).toMatchObject({ state: 'reconnecting' });
    expect(fake.sent('hal')).toEqual([]);
  });
});

/** n bytes that are no known file signature, to follow a magic number. */
function filler(n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => (i * 37) % 256));
}
