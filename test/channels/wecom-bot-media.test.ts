import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { wecomBotConfigSchema } from '../../src/channels/wecom-bot/config.js';
import { wecomBotChannel } from '../../src/channels/wecom-bot/index.js';
import { fetchWecomBotMedia } from '../../src/channels/wecom-bot/media.js';
import { parseBotFrame, toChatMessage } from '../../src/channels/wecom-bot/parse.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { MAX_IMAGE_BYTES } from '../../src/core/media.js';
import type { ChatMessage, MediaRef } from '../../src/core/message.js';
import { decryptFile } from '@wecom/aibot-node-sdk';
import { FakeWecom, type BotContent } from '../fakes/wecom/index.js';
import { solidPng } from '../helpers/images.js';
import { rejectionOf } from '../helpers/media.js';

let fake: FakeWecom | undefined;
let server: Server | undefined;
afterEach(async () => {
  await fake?.close();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  fake = server = undefined;
});

const NOW = 1_760_000_000_000;

/** What parse makes of a message the fake built (its media hosted on the fake). */
function chatMessage(f: FakeWecom, content: BotContent): ChatMessage {
  const body = f.buildBotMessage(content);
  const parsed = parseBotFrame({ cmd: 'aibot_msg_callback', headers: { req_id: 'req-1' }, body }, { nowMs: NOW });
  if (parsed.kind !== 'message') throw new Error(`expected a message, got ${parsed.kind}`);
  return { ...toChatMessage(parsed.message, NOW), sceneId: 'bot' };
}

function fetchOf(f: FakeWecom, message: ChatMessage, media: MediaRef, maxBytes = MAX_IMAGE_BYTES) {
  const config = wecomBotConfigSchema.parse({ bot_id: f.botId, secret: f.botSecret, ws_url: f.wsUrl });
  return fetchWecomBotMedia(media, { config, message, clock: systemClock, log: silentLogger(), signal: new AbortController().signal, maxBytes });
}


describe('wecom_bot media download', () => {
  it('is the channel definition\'s fetchMedia', () => {
    expect(wecomBotChannel.fetchMedia).toBe(fetchWecomBotMedia);
  });

  it('downloads an image by its URL and decrypts it with the per-file aeskey kept in media[].key', async () => {
    fake = await FakeWecom.start();
    const png = solidPng(3, 2, [0, 128, 255]);
    const message = chatMessage(fake, { type: 'image', data: png });
    const [media] = message.media!;
    expect(media).toMatchObject({ kind: 'image', ref: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/aibot\/media\//), key: expect.any(String) });
    expect(Buffer.from(media!.key!, 'base64')).toHaveLength(32);
    // The raw body kept for logs has the URL but never the key.
    expect(JSON.stringify(message.raw)).toContain(media!.ref);
    expect(JSON.stringify(message.raw)).not.toContain(media!.key);
    // What the fake serves is the ciphertext, not the image.
    const served = Buffer.from(await (await fetch(media!.ref)).arrayBuffer());
    expect(served.equals(png)).toBe(false);
    expect(served.length % 32).toBe(0);

    const got = await fetchOf(fake, message, media!);
    expect(got.mimeType).toBe('image/png');
    expect(got.data.equals(png)).toBe(true);
  });

  it('fetches each image of a mixed message with its own key', async () => {
    fake = await FakeWecom.start();
    const red = solidPng(2, 2, [255, 0, 0]);
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(60, 7)]); // 64 bytes: a whole padding block
    const message = chatMessage(fake, { type: 'mixed', items: [{ type: 'text', content: '比较一下' }, { type: 'image', data: red }, { type: 'image', data: jpeg }] });
    expect(message.content).toBe('比较一下\n[image]\n[image]');
    expect(message.media).toHaveLength(2);
    expect(message.media![0]!.key).not.toBe(message.media![1]!.key);
    const [a, b] = await Promise.all(message.media!.map((m) => fetchOf(fake!, message, m)));
    expect(a).toEqual({ data: red, mimeType: 'image/png' });
    expect(b).toEqual({ data: jpeg, mimeType: 'image/jpeg' });
  });

  it('refuses an expired URL (HTTP error) as final, naming the status and the 5-minute validity', async () => {
    fake = await FakeWecom.start();
    fake.botMediaUrlTtlMs = 0; // as if the 5 minutes had passed
    const message = chatMessage(fake, { type: 'image', data: solidPng() });
    expect((await fetch(message.media![0]!.ref)).status).toBe(404);
    const err = await rejectionOf(fetchOf(fake, message, message.media![0]!));
    expect(err.code).toBe('COCO_ERR_MEDIA');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/^wecom_bot: image download: HTTP 404 \(the URL expired: .*5 minutes/);
  });

  it('refuses a file over maxBytes, and one whose key does not decrypt it, as final', async () => {
    fake = await FakeWecom.start();
    const big = Buffer.concat([solidPng(), Buffer.alloc(2_000, 1)]);
    const message = chatMessage(fake, { type: 'image', data: big });
    const media = message.media![0]!;
    const tooBig = await rejectionOf(fetchOf(fake, message, media, 1_000));
    expect(tooBig).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false });
    expect(tooBig.message).toMatch(/larger than 1000 bytes/);
    const oneOver = await rejectionOf(fetchOf(fake, message, media, big.length - 1));
    expect(oneOver.message).toMatch(new RegExp(`larger than ${big.length - 1} bytes`));
    // Exactly at the limit passes (the ciphertext's padding does not count against it).
    expect((await fetchOf(fake, message, media, big.length)).data.equals(big)).toBe(true);

    // A wrong key whose padding does not check out (one in ~256 would, by chance): what a key that does not fit gives.
    const served = Buffer.from(await (await fetch(media.ref)).arrayBuffer());
    const wrong = [1, 2, 3, 4, 5].map((n) => Buffer.alloc(32, n).toString('base64')).find((k) => {
      try {
        decryptFile(served, k);
        return false;
      } catch {
        return true;
      }
    });
    const wrongKey = await rejectionOf(fetchOf(fake, message, { ...media, key: wrong! }));
    expect(wrongKey).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false });
    expect(wrongKey.message).toMatch(/could not be decrypted with the message's aeskey/);
    expect(wrongKey.message).not.toContain(media.key);
  });

  it('tries again after a 5xx or an unreachable host, not after a 4xx', async () => {
    fake = await FakeWecom.start();
    let status = 503;
    server = createServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end('busy');
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/aibot/media/abc`;
    const message = chatMessage(fake, { type: 'image' });
    const busy = await rejectionOf(fetchOf(fake, message, { kind: 'image', ref: url, key: 'k' }));
    expect(busy).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: true });
    expect(busy.message).toMatch(/HTTP 503/);
    status = 403;
    expect(await rejectionOf(fetchOf(fake, message, { kind: 'image', ref: url, key: 'k' }))).toMatchObject({ retryable: false });

    const down = await rejectionOf(fetchOf(fake, message, { kind: 'image', ref: 'http://127.0.0.1:1/aibot/media/abc?sig=secret', key: 'k' }));
    expect(down).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: true });
    expect(down.message).toMatch(/^wecom_bot: image download: 127\.0\.0\.1:1 unreachable/);
    expect(down.message).not.toContain('secret');
  });
});
