import { afterEach, describe, expect, it } from 'vitest';
import { describeChannel } from '../../src/channels/define.js';
import { feishuConfigSchema } from '../../src/channels/feishu/config.js';
import { feishuChannel } from '../../src/channels/feishu/index.js';
import { fetchFeishuMedia } from '../../src/channels/feishu/media.js';
import { parseLarkEvent, toChatMessage } from '../../src/channels/feishu/parse.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import type { ChatMessage, MediaRef } from '../../src/core/message.js';
import { FakeFeishu, type FakeFeishuOptions, type ReceiveMessageEvent } from '../fakes/feishu/index.js';
import { solidPng } from '../helpers/images.js';
import { rejectionOf } from '../helpers/media.js';

/**
 * The Feishu image download (`fetchMedia`) against the fake platform: the message the channel's parse makes from
 * an event is what the download is given, as in the gateway.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function startFake(opts: FakeFeishuOptions = {}) {
  const fake = await FakeFeishu.start(opts);
  cleanups.push(() => fake.close());
  return fake;
}

/** The ChatMessage the channel stores for an event. */
function messageOf(event: ReceiveMessageEvent): ChatMessage {
  const parsed = parseLarkEvent(event);
  if (parsed.kind !== 'message') throw new Error(`not a message: ${parsed.kind}`);
  return { ...toChatMessage(parsed.message), sceneId: 'bot' };
}

function download(fake: FakeFeishu, message: ChatMessage, ref: MediaRef = message.media![0]!, opts: { maxBytes?: number; secret?: string; signal?: AbortSignal } = {}) {
  const config = feishuConfigSchema.parse({ app_id: fake.appId, app_secret: opts.secret ?? fake.appSecret, domain: fake.url, request_timeout_ms: 5_000 });
  return fetchFeishuMedia(ref, {
    config,
    message,
    clock: systemClock,
    log: silentLogger(),
    signal: opts.signal ?? AbortSignal.timeout(10_000),
    maxBytes: opts.maxBytes ?? 10 * 1024 * 1024,
  });
}


describe('feishu fetchMedia', () => {
  it('is declared on the channel type, so the panel shows it and any process can download', () => {
    expect(feishuChannel.fetchMedia).toBe(fetchFeishuMedia);
    expect(describeChannel(feishuChannel).media).toBe(true);
  });

  it('downloads the bytes of an image message by its message_id and image_key, with type=image and the tenant token', async () => {
    const fake = await startFake();
    const png = solidPng(3, 2, [10, 200, 30]);
    const event = fake.imageEvent({ data: png });
    const message = messageOf(event);
    expect(message.msgId).toBe(event.event.message.message_id);
    const key = (JSON.parse(event.event.message.content) as { image_key: string }).image_key;
    expect(message.media).toEqual([{ kind: 'image', ref: key }]);

    const content = await download(fake, message);
    expect(content.mimeType).toBe('image/png');
    expect(content.data.equals(png)).toBe(true);
    expect(fake.resourceCalls).toMatchObject([{ messageId: event.event.message.message_id, fileKey: key, type: 'image', status: 200, code: 0 }]);
    expect(fake.counters.tokensIssued).toBe(1);
  });

  it('types an image Feishu serves as application/octet-stream by its bytes', async () => {
    const fake = await startFake();
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('JFIF body')]);
    const message = messageOf(fake.imageEvent({ data: jpeg, contentType: 'application/octet-stream' }));
    const content = await download(fake, message);
    expect(content).toEqual({ data: jpeg, mimeType: 'image/jpeg' });
  });

  it('downloads each image of a rich-text (post) message from that message', async () => {
    const fake = await startFake();
    const red = solidPng(1, 1, [255, 0, 0]);
    const blue = solidPng(1, 1, [0, 0, 255]);
    const event = fake.postEvent(
      [
        [{ tag: 'text', text: 'compare ' }, { tag: 'img', image_key: 'img_v3_red' }],
        [{ tag: 'img', image_key: 'img_v3_blue' }],
      ],
      { title: 'two pictures', images: { img_v3_red: red, img_v3_blue: blue } },
    );
    const message = messageOf(event);
    expect(message.media).toEqual([
      { kind: 'image', ref: 'img_v3_red' },
      { kind: 'image', ref: 'img_v3_blue' },
    ]);
    const [a, b] = await Promise.all(message.media!.map((ref) => download(fake, message, ref)));
    expect(a?.data.equals(red)).toBe(true);
    expect(b?.data.equals(blue)).toBe(true);
    expect(fake.resourceCalls.map((c) => [c.messageId, c.type, c.status])).toEqual([
      [event.event.message.message_id, 'image', 200],
      [event.event.message.message_id, 'image', 200],
    ]);
  });

  it('refuses a key that is not in the message (234003) for good, naming the code and its meaning', async () => {
    const fake = await startFake();
    // An image event whose bytes the platform does not have for this message.
    const message = messageOf(fake.messageEvent({ type: 'image', imageKey: 'img_v3_elsewhere' }));
    const err = await rejectionOf(download(fake, message));
    expect(err.code).toBe('COCO_ERR_MEDIA');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/^feishu: image download: .*HTTP 400 code 234003.*not in this message/);
    expect(fake.resourceCalls).toHaveLength(1);
  });

  it('refuses the image of a recalled message (230110) for good', async () => {
    const fake = await startFake();
    const event = fake.imageEvent();
    fake.recallMessage(event.event.message.message_id);
    const err = await rejectionOf(download(fake, messageOf(event)));
    expect(err).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false });
    expect(err.message).toMatch(/code 230110.*deleted or recalled/);
  });

  it('names the app missing from the chat (234004) and a refused permission (234009), not retryable', async () => {
    const fake = await startFake();
    const message = messageOf(fake.imageEvent());
    fake.failNextDownloads(1, { code: 234004 });
    const notInChat = await rejectionOf(download(fake, message));
    expect(notInChat).toMatchObject({ retryable: false });
    expect(notInChat.message).toMatch(/code 234004: App not in chat\. \(the app is not in the chat/);
    fake.failNextDownloads(1, { code: 234009 });
    const noPermission = await rejectionOf(download(fake, message));
    expect(noPermission).toMatchObject({ retryable: false });
    expect(noPermission.message).toMatch(/code 234009.*no permission/);
  });

  it('marks a rate limit (429 / 99991400) and a 5xx retryable, with the wait Feishu names', async () => {
    const fake = await startFake();
    const message = messageOf(fake.imageEvent());
    fake.failNextDownloads(1, { code: 99991400, headers: { 'x-ogw-ratelimit-reset': '2' } });
    const limited = await rejectionOf(download(fake, message));
    expect(limited).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: true, retryAfterMs: 2_000 });
    expect(limited.message).toMatch(/HTTP 429 code 99991400/);
    fake.failNextDownloads(1, { code: 1, status: 502 });
    expect(await rejectionOf(download(fake, message))).toMatchObject({ retryable: true });
    // The next try succeeds: nothing was wrong with the image.
    expect((await download(fake, message)).mimeType).toBe('image/png');
  });

  it('refreshes a refused tenant token (99991663) once and retries the download', async () => {
    const fake = await startFake();
    const png = solidPng(2, 2, [1, 2, 3]);
    const message = messageOf(fake.imageEvent({ data: png }));
    expect((await download(fake, message)).data.equals(png)).toBe(true);
    fake.invalidateTokens();
    expect((await download(fake, message)).data.equals(png)).toBe(true);
    expect(fake.counters.tokensIssued).toBe(2);
    expect(fake.resourceCalls.map((c) => c.code)).toEqual([0, 99991663, 0]);
  });

  it('refreshes only once: a token refused again gives up without a third request', async () => {
    const fake = await startFake();
    const message = messageOf(fake.imageEvent());
    fake.failNextDownloads(2, { code: 99991663 });
    const err = await rejectionOf(download(fake, message));
    expect(err).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false });
    expect(err.message).toMatch(/code 99991663/);
    expect(fake.resourceCalls).toHaveLength(2);
    expect(fake.counters.tokenRequests).toBe(2);
  });

  it('refuses an image over maxBytes', async () => {
    const fake = await startFake();
    const big = Buffer.concat([solidPng(), Buffer.alloc(4_096)]);
    const message = messageOf(fake.imageEvent({ data: big }));
    const err = await rejectionOf(download(fake, message, undefined, { maxBytes: 1_024 }));
    expect(err).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false });
    expect(err.message).toMatch(/^feishu: image download: larger than 1024 bytes/);
    expect((await download(fake, message, undefined, { maxBytes: big.length })).data.length).toBe(big.length);
  });

  it('fails without a retry when the app credentials are refused, and never names the secret', async () => {
    const fake = await startFake();
    const message = messageOf(fake.imageEvent());
    const secret = 'a-wrong-secret-0123456789';
    const err = await rejectionOf(download(fake, message, undefined, { secret }));
    expect(err).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false });
    expect(err.message).toMatch(/10014/);
    expect(err.message).not.toContain(secret);
    expect(fake.resourceCalls).toHaveLength(0);
  });

  it('stops when the gateway gives up (the signal), as a retryable failure', async () => {
    const fake = await startFake();
    const message = messageOf(fake.imageEvent());
    const controller = new AbortController();
    controller.abort(new Error('stopping'));
    const err = await rejectionOf(download(fake, message, undefined, { signal: controller.signal }));
    expect(err).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: true });
    expect(fake.resourceCalls).toHaveLength(0);
  });
});

describe('fake Feishu: message resources', () => {
  it('answers the real error shape: JSON {code, msg} with HTTP 400, for a missing type, a wrong type and a missing token', async () => {
    const fake = await startFake();
    const event = fake.imageEvent();
    const id = event.event.message.message_id;
    const key = (JSON.parse(event.event.message.content) as { image_key: string }).image_key;
    const tokenAnswer = (await (
      await fetch(`${fake.url}/open-apis/auth/v3/tenant_access_token/internal`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ app_id: fake.appId, app_secret: fake.appSecret }),
      })
    ).json()) as { tenant_access_token: string };
    const get = async (query: string, auth = true) => {
      const res = await fetch(`${fake.url}/open-apis/im/v1/messages/${id}/resources/${key}${query}`, {
        headers: auth ? { authorization: `Bearer ${tokenAnswer.tenant_access_token}` } : {},
      });
      const type = res.headers.get('content-type') ?? '';
      return { status: res.status, type, body: type.startsWith('application/json') ? ((await res.json()) as { code: number }).code : (await res.arrayBuffer()).byteLength };
    };
    expect(await get('')).toMatchObject({ status: 400, body: 234001 });
    expect(await get('?type=file')).toMatchObject({ status: 400, body: 234001 });
    expect(await get('?type=image', false)).toMatchObject({ status: 400, body: 99991661 });
    expect(await get('?type=image')).toMatchObject({ status: 200, type: 'image/png' });
    expect(fake.counters.resourceRequests).toBe(4);
  });
});
