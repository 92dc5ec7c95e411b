import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FeishuChannel, feishuChannel } from '../../src/channels/feishu/index.js';
import { chunkUuid } from '../../src/channels/feishu/format.js';
import { CocoError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import { silentLogger } from '../../src/core/logger.js';
import type { OutgoingMessage, ReplyImage, SendContext } from '../../src/core/message.js';
import { FakeFeishu, IMAGE_UPLOAD_LIMIT, newChatId, newMessageId } from '../fakes/feishu/index.js';
import { channelContext } from '../helpers/channel-context.js';
import { solidPng } from '../helpers/images.js';
import { captureLogger } from '../helpers/logs.js';

/** The channel's image send path on its own against the fake Feishu: upload, image message, refusals, retries. */

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function boot(opts: { log?: Logger } = {}) {
  const fake = await FakeFeishu.start();
  cleanups.push(() => fake.close());
  const ctx = channelContext('feishu', { log: opts.log ?? silentLogger() });
  const channel = feishuChannel.create(ctx) as FeishuChannel;
  channel.sceneId = 'bot';
  cleanups.push(() => channel.stop());
  // Webhook mode: tokens and bot info only, no long connection to wait for.
  const config = feishuChannel.configSchema.parse({ app_id: fake.appId, app_secret: fake.appSecret, domain: fake.url, connection: 'webhook', encrypt_key: 'k', verification_token: fake.verificationToken });
  await channel.start('bot', config);
  return { fake, channel };
}

const dataImage = (data: Buffer, mimeType = 'image/png'): ReplyImage => ({ data: data.toString('base64'), mimeType });
const imageChunk = (image: ReplyImage): OutgoingMessage => ({ text: '', format: 'text', image });

function dm(fake: FakeFeishu, key = 'out-1:1'): SendContext {
  return { conversationId: fake.p2pChatId(), isGroup: false, inReplyTo: newMessageId(), messageId: 'm1', idempotencyKey: key, chunk: { index: 1, count: 2 } };
}

async function sendError(promise: Promise<unknown>): Promise<CocoError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CocoError);
  return err as CocoError;
}

describe('feishu: images in replies', () => {
  it('uploads the bytes as image_type message, then sends one image message naming the key to the chat', async () => {
    const { fake, channel } = await boot();
    const png = solidPng(3, 2, [10, 200, 30]);
    const result = await channel.send(imageChunk(dataImage(png)), 'ou_user', dm(fake));

    expect(fake.uploads).toHaveLength(1);
    const [upload] = fake.uploads;
    expect(upload).toMatchObject({ imageType: 'message', mimeType: 'image/png', fileName: 'image.png', contentType: 'image/png' });
    expect(upload!.data.equals(png)).toBe(true);

    expect(fake.messages).toHaveLength(1);
    const [message] = fake.messages;
    expect(message).toMatchObject({ msgType: 'image', chatId: fake.p2pChatId(), receiveIdType: 'chat_id', content: { image_key: upload!.imageKey }, uuid: chunkUuid('out-1:1', 0) });
    expect(message!.image?.data.equals(png)).toBe(true);
    expect(upload!.seq).toBeLessThan(message!.seq);
    expect(result).toEqual({ platformMessageId: message!.messageId });
  });

  it('answers in a group as a reply to the asking message, in its thread when the question was in one', async () => {
    const { fake, channel } = await boot();
    const group = newChatId();
    const event = fake.textEvent('draw it', { chatType: 'group', chatId: group, mentionBot: true });
    const asked = event.event.message.message_id;
    await channel.send(imageChunk(dataImage(solidPng())), 'ou_user', {
      conversationId: group,
      isGroup: true,
      inReplyTo: asked,
      messageId: 'm2',
      idempotencyKey: 'out-2:1',
      chunk: { index: 1, count: 2 },
      replyMeta: { chatId: group, messageId: asked, replyInThread: true },
    });
    expect(fake.messagesIn(group)).toMatchObject([{ msgType: 'image', replyTo: asked, replyInThread: true }]);
  });

  it('downloads an image given by URL and uploads exactly its bytes', async () => {
    const { fake, channel } = await boot();
    const png = solidPng(5, 5, [1, 2, 3]);
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(png));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/chart.png?signature=s3cr3t`;

    await channel.send(imageChunk({ url }), 'ou_user', dm(fake));
    expect(fake.uploads.map((u) => u.data.equals(png))).toEqual([true]);
    expect(fake.messages.map((m) => m.msgType)).toEqual(['image']);
  });

  it('sends TIFF and ICO, which Feishu takes though agents rarely produce them', async () => {
    const { fake, channel } = await boot();
    const tiff = Buffer.concat([Buffer.from('II*\0', 'latin1'), Buffer.alloc(12)]);
    const ico = Buffer.from([0, 0, 1, 0, 1, 0, 16, 16, 0, 0]);
    await channel.send(imageChunk(dataImage(tiff, 'image/tiff')), 'ou_user', dm(fake, 'tiff:1'));
    await channel.send(imageChunk(dataImage(ico, 'image/x-icon')), 'ou_user', dm(fake, 'ico:1'));
    expect(fake.uploads.map((u) => u.mimeType)).toEqual(['image/tiff', 'image/x-icon']);
    expect(fake.messages).toHaveLength(2);
  });

  it('refuses a type Feishu does not take, for good and before uploading, naming the channel and the type', async () => {
    const { fake, channel } = await boot();
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>');
    const err = await sendError(channel.send(imageChunk(dataImage(svg, 'image/svg+xml')), 'ou_user', dm(fake)));
    expect(err.code).toBe('COCO_ERR_CHANNEL_SEND');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/^feishu: .*image\/svg\+xml.*JPEG, PNG, WEBP, GIF, TIFF, BMP or ICO/);
    expect(fake.uploadCalls).toEqual([]);
    expect(fake.messages).toEqual([]);
  });

  it('refuses bytes that are not an image, an empty image and one over 10 MB, each for good', async () => {
    const { fake, channel } = await boot();
    const notImage = await sendError(channel.send(imageChunk(dataImage(Buffer.from('hello'), 'text/plain')), 'ou_user', dm(fake)));
    expect(notImage.message).toMatch(/^feishu: .*not an image/);
    const empty = await sendError(channel.send(imageChunk(dataImage(Buffer.alloc(0))), 'ou_user', dm(fake)));
    expect(empty.message).toMatch(/^feishu: .*empty/);
    const big = Buffer.concat([solidPng(), Buffer.alloc(IMAGE_UPLOAD_LIMIT)]);
    const tooBig = await sendError(channel.send(imageChunk(dataImage(big)), 'ou_user', dm(fake)));
    expect(tooBig.message).toMatch(/^feishu: .*larger than 10485760 bytes/);
    expect([notImage, empty, tooBig].map((e) => [e.code, e.retryable])).toEqual(Array(3).fill(['COCO_ERR_CHANNEL_SEND', false]));
    expect(fake.uploadCalls).toEqual([]);
  });

  it('renews a tenant token Feishu refuses during the upload and uploads once more', async () => {
    const { fake, channel } = await boot();
    fake.invalidateTokens();
    await channel.send(imageChunk(dataImage(solidPng())), 'ou_user', dm(fake));
    expect(fake.uploadCalls.map((c) => c.code)).toEqual([99991663, 0]);
    expect(fake.messages).toHaveLength(1);
  });

  it('waits out a rate-limited upload (429 with x-ogw-ratelimit-reset) inside the send', async () => {
    const { fake, channel } = await boot();
    fake.failNextUploads(1, { code: 99991400 });
    await channel.send(imageChunk(dataImage(solidPng())), 'ou_user', dm(fake));
    expect(fake.uploadCalls.map((c) => c.status)).toEqual([429, 200]);
    expect(fake.messages).toHaveLength(1);
  });

  it('throws a retryable error when the upload fails with a 5xx; the retry uploads and shows the image once', async () => {
    const { fake, channel } = await boot();
    fake.failNextUploads(1, { code: 1, status: 500 });
    const context = dm(fake);
    const err = await sendError(channel.send(imageChunk(dataImage(solidPng())), 'ou_user', context));
    expect(err).toMatchObject({ code: 'COCO_ERR_CHANNEL_SEND', retryable: true });
    expect(err.message).toMatch(/^feishu: \/open-apis\/im\/v1\/images answered HTTP 500/);
    expect(fake.messages).toEqual([]);

    await channel.send(imageChunk(dataImage(solidPng())), 'ou_user', context);
    expect(fake.uploadCalls.map((c) => c.status)).toEqual([500, 200]);
    expect(fake.messages).toHaveLength(1);
  });

  it('dead-letters an upload Feishu refuses for good, with its reason', async () => {
    const { fake, channel } = await boot();
    fake.failNextUploads(1, { code: 234007 });
    const err = await sendError(channel.send(imageChunk(dataImage(solidPng())), 'ou_user', dm(fake)));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/code 234007.*bot capability is not enabled/);
  });

  it('reads a refusal answered with HTTP 200 (the SDK hands back only `data` of an upload) as the refusal it is', async () => {
    const { fake, channel } = await boot();
    fake.failNextUploads(1, { code: 234006, status: 200 });
    const err = await sendError(channel.send(imageChunk(dataImage(solidPng())), 'ou_user', dm(fake)));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/images answered HTTP 200 code 234006.*over Feishu's 10 MB limit/);
    expect(fake.messages).toEqual([]);
  });

  it('reuses the uploaded key when only the image message failed, and never shows the image twice', async () => {
    const { fake, channel } = await boot();
    const context = dm(fake);
    fake.failNextSends(1, { code: 1, status: 503 });
    const err = await sendError(channel.send(imageChunk(dataImage(solidPng())), 'ou_user', context));
    expect(err.retryable).toBe(true);
    await channel.send(imageChunk(dataImage(solidPng())), 'ou_user', context);
    expect(fake.uploadCalls).toHaveLength(1);
    expect(fake.messages).toHaveLength(1);
    expect(fake.messages[0]!.content).toEqual({ image_key: fake.uploads[0]!.imageKey });
  });

  it('sends the same chunk again (its answer lost) as the same message: a second upload, no second image', async () => {
    const { fake, channel } = await boot();
    const context = dm(fake);
    const first = await channel.send(imageChunk(dataImage(solidPng())), 'ou_user', context);
    const again = await channel.send(imageChunk(dataImage(solidPng())), 'ou_user', context);
    expect(fake.uploads).toHaveLength(2);
    expect(fake.messages).toHaveLength(1);
    expect(fake.counters.duplicates).toBe(1);
    expect(again).toEqual(first);
  });

  it('logs neither the image bytes nor the URL it came from', async () => {
    const capture = captureLogger('trace');
    const { fake, channel } = await boot({ log: capture.log });
    const png = solidPng(4, 4, [9, 9, 9]);
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(png));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x.png?X-Amz-Signature=abcdef0123456789`;

    await channel.send(imageChunk({ url }), 'ou_user', dm(fake));
    await channel.send(imageChunk(dataImage(png)), 'ou_user', dm(fake, 'out-9:1'));
    const raw = capture.raw();
    expect(raw).toMatch(/feishu image uploaded/);
    expect(raw).not.toContain('abcdef0123456789');
    expect(raw).not.toContain(png.toString('base64').slice(0, 24));
  });
});

describe('fake Feishu: image upload endpoint', () => {
  async function upload(fake: FakeFeishu, form: FormData, token?: string) {
    const auth = token ?? ((await (await fetch(`${fake.url}/open-apis/auth/v3/tenant_access_token/internal`, { method: 'POST', body: JSON.stringify({ app_id: fake.appId, app_secret: fake.appSecret }) })).json()) as { tenant_access_token: string }).tenant_access_token;
    const res = await fetch(`${fake.url}/open-apis/im/v1/images`, { method: 'POST', headers: { authorization: `Bearer ${auth}` }, body: form });
    return { status: res.status, json: (await res.json()) as { code: number; msg: string; data?: { image_key?: string } } };
  }
  function form(fields: Record<string, string | Blob>, fileName = 'a.png'): FormData {
    const f = new FormData();
    for (const [k, v] of Object.entries(fields)) typeof v === 'string' ? f.append(k, v) : f.append(k, v, fileName);
    return f;
  }

  it('answers an image_key for a file part, and refuses what Feishu refuses with its codes', async () => {
    const fake = await FakeFeishu.start();
    cleanups.push(() => fake.close());
    const png = new Blob([solidPng()]);
    const ok = await upload(fake, form({ image_type: 'message', image: png }));
    expect(ok).toMatchObject({ status: 200, json: { code: 0, data: { image_key: expect.stringMatching(/^img_v3_/) } } });

    const asText = new FormData();
    asText.append('image_type', 'message');
    asText.append('image', 'not a file');
    expect((await upload(fake, asText)).json.code).toBe(234001);
    expect((await upload(fake, form({ image_type: 'sticker', image: png }))).json.code).toBe(234001);
    expect((await upload(fake, form({ image_type: 'message', image: new Blob([]) }))).json.code).toBe(234010);
    expect((await upload(fake, form({ image_type: 'message', image: new Blob([Buffer.alloc(IMAGE_UPLOAD_LIMIT + 1)]) }))).json.code).toBe(234006);
    expect((await upload(fake, form({ image_type: 'message', image: new Blob(['<svg/>']) }))).json.code).toBe(234011);
    expect((await upload(fake, form({ image_type: 'message', image: png }), 't-expired'))).toMatchObject({ status: 400, json: { code: 99991663 } });
    expect(fake.uploads).toHaveLength(1);
    expect(fake.uploadCalls.map((c) => c.code)).toEqual([0, 234001, 234001, 234010, 234006, 234011, 99991663]);
  });

  it('refuses an image message whose image_key this app never uploaded', async () => {
    const fake = await FakeFeishu.start();
    cleanups.push(() => fake.close());
    const token = ((await (await fetch(`${fake.url}/open-apis/auth/v3/tenant_access_token/internal`, { method: 'POST', body: JSON.stringify({ app_id: fake.appId, app_secret: fake.appSecret }) })).json()) as { tenant_access_token: string }).tenant_access_token;
    const res = await fetch(`${fake.url}/open-apis/im/v1/messages?receive_id_type=chat_id`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ receive_id: fake.p2pChatId(), msg_type: 'image', content: JSON.stringify({ image_key: 'img_v3_unknown' }) }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: number }).code).toBe(230001);
    expect(fake.messages).toEqual([]);
  });
});
