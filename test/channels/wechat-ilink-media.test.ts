import { createCipheriv } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ILINK_CDN_BASE_URL, ilinkConfigSchema } from '../../src/channels/wechat-ilink/config.js';
import { wechatIlinkChannel } from '../../src/channels/wechat-ilink/index.js';
import { decryptIlinkMedia, downloadUrl, fetchIlinkMedia, ilinkAesKey } from '../../src/channels/wechat-ilink/media.js';
import { parseUpdate, toChatMessage } from '../../src/channels/wechat-ilink/parse.js';
import { systemClock } from '../../src/core/clock.js';
import { CocoError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { MAX_IMAGE_BYTES } from '../../src/core/media.js';
import type { ChatMessage, MediaRef } from '../../src/core/message.js';
import { encryptEcb, FakeIlink, ilinkItem, type WeixinMessage } from '../fakes/ilink/index.js';
import { solidPng } from '../helpers/images.js';
import { rejectionOf } from '../helpers/media.js';

let fake: FakeIlink | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

function chatMessage(m: WeixinMessage): ChatMessage {
  const parsed = parseUpdate(m);
  if (parsed.kind !== 'message') throw new Error(`expected a message: ${parsed.reason}`);
  return { ...toChatMessage(parsed.message, 1), sceneId: 'bot' };
}

function fetchOf(f: FakeIlink, message: ChatMessage, media: MediaRef = message.media![0]!, opts: { maxBytes?: number; cdn?: string } = {}) {
  const config = ilinkConfigSchema.parse({ base_url: f.url, bot_token: f.botToken, cdn_base_url: opts.cdn ?? f.cdnUrl });
  return fetchIlinkMedia(media, { config, message, clock: systemClock, log: silentLogger(), signal: new AbortController().signal, maxBytes: opts.maxBytes ?? MAX_IMAGE_BYTES });
}


describe('wechat_ilink media: keys and AES-128-ECB', () => {
  it('reads the key from an image\'s hex aeskey, and from aes_key as base64 of raw bytes or of hex digits', () => {
    const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    expect(ilinkAesKey('00112233445566778899AABBCCDDEEFF')).toEqual(key);
    expect(ilinkAesKey(key.toString('base64'))).toEqual(key);
    expect(ilinkAesKey(Buffer.from(key.toString('hex')).toString('base64'))).toEqual(key);
    for (const bad of ['', 'c2hvcnQ=', Buffer.alloc(24, 1).toString('base64'), Buffer.from('zz'.repeat(16)).toString('base64')]) {
      const err = (() => {
        try {
          ilinkAesKey(bad, 'wechat_ilink: image download');
        } catch (e) {
          return e as CocoError;
        }
        throw new Error(`accepted ${bad}`);
      })();
      expect(err).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false });
      expect(err.message).toMatch(/^wechat_ilink: image download: the message's AES key is neither/);
      if (bad) expect(err.message).not.toContain(bad);
    }
  });

  it('decrypts AES-128-ECB with PKCS#7: the FIPS-197 vector, and round trips of every padding length', () => {
    // FIPS-197 appendix C.1: AES-128 of one block; PKCS#7 then adds a whole block of 0x10.
    const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    const block = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const encrypted = encryptEcb(block, key);
    expect(encrypted.subarray(0, 16).toString('hex')).toBe('69c4e0d86a7b0430d8cdb78070b4c55a');
    expect(encrypted).toHaveLength(32);
    expect(decryptIlinkMedia(encrypted, key)).toEqual(block);
    for (let n = 0; n <= 33; n++) {
      const data = Buffer.alloc(n, n);
      const cipher = createCipheriv('aes-128-ecb', key, null);
      const c = Buffer.concat([cipher.update(data), cipher.final()]);
      expect(c.length).toBe(Math.ceil((n + 1) / 16) * 16);
      expect(decryptIlinkMedia(c, key)).toEqual(data);
    }
  });

  it('builds the CDN download URL with the parameter URL-encoded, and takes a full URL as is', () => {
    expect(downloadUrl('a+b/c=', ILINK_CDN_BASE_URL)).toBe('https://novac2c.cdn.weixin.qq.com/c2c/download?encrypted_query_param=a%2Bb%2Fc%3D');
    expect(downloadUrl('x', 'http://cdn.example/c2c/')).toBe('http://cdn.example/c2c/download?encrypted_query_param=x');
    expect(downloadUrl('https://cdn.example/d?e=1', ILINK_CDN_BASE_URL)).toBe('https://cdn.example/d?e=1');
    expect(ilinkConfigSchema.parse({}).cdn_base_url).toBe('https://novac2c.cdn.weixin.qq.com/c2c');
  });
});

describe('wechat_ilink media download from the CDN', () => {
  it('is the channel definition\'s fetchMedia', () => {
    expect(wechatIlinkChannel.fetchMedia).toBe(fetchIlinkMedia);
  });

  it('keeps the parameter and the image\'s key at parse time, downloads from cdn_base_url and decrypts', async () => {
    fake = await FakeIlink.start();
    const png = solidPng(3, 2, [0, 128, 255]);
    const m = fake.userSendsImage('alice', png, { text: '这是什么？' });
    const item = m.item_list[0]!.image_item!;
    const message = chatMessage(m);
    expect(message.content).toBe('[image]\n这是什么？');
    expect(message.media).toEqual([{ kind: 'image', ref: item.media!.encrypt_query_param, key: item.aeskey }]);
    const got = await fetchOf(fake, message);
    expect(got).toEqual({ data: png, mimeType: 'image/png' });
    // One plain GET, no token; the parameter arrived intact (its + / = URL-encoded).
    expect(fake.mediaDownloads).toHaveLength(1);
    expect(fake.mediaDownloads[0]).toMatchObject({ method: 'GET', status: 200 });
    expect(fake.mediaDownloads[0]!.headers.authorization).toBeUndefined();
    expect(new URL(fake.mediaDownloads[0]!.path, fake.url).searchParams.get('encrypted_query_param')).toBe(item.media!.encrypt_query_param);
  });

  it('falls back to media.aes_key in either form, uses full_url when iLink gives one, and reads plain files', async () => {
    fake = await FakeIlink.start();
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(44, 3)]); // 48 bytes: a whole padding block
    for (const keyForm of ['raw', 'hex'] as const) {
      const message = chatMessage(fake.userSendsImage('bob', jpeg, { aeskey: false, keyForm }));
      expect(message.media![0]!.key).toMatch(keyForm === 'raw' ? /^[A-Za-z0-9+/]{22}==$/ : /^[A-Za-z0-9+/]{43}=$/);
      expect(await fetchOf(fake, message)).toEqual({ data: jpeg, mimeType: 'image/jpeg' });
    }
    // full_url: downloaded from there, whatever cdn_base_url says.
    const full = chatMessage(fake.userSendsImage('bob', jpeg, { fullUrl: true }));
    expect(full.media![0]!.ref).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/c2c\/download\?encrypted_query_param=/);
    expect(await fetchOf(fake, full, undefined, { cdn: 'http://127.0.0.1:1/c2c' })).toEqual({ data: jpeg, mimeType: 'image/jpeg' });
    // No key at all: the file is served as is.
    const plain = chatMessage(fake.userSendsImage('bob', jpeg, { keyForm: 'none' }));
    expect(plain.media![0]!.key).toBeUndefined();
    expect(await fetchOf(fake, plain)).toEqual({ data: jpeg, mimeType: 'image/jpeg' });
    // A file item's key (base64 of hex) is kept too.
    const file = fake.hostMedia(Buffer.from('%PDF-1.4\n'), { keyForm: 'hex' });
    const doc = chatMessage(fake.userSends('bob', [{ type: 4, file_item: { media: file.media, file_name: 'a.pdf' } }]));
    expect(doc.media).toEqual([{ kind: 'file', ref: file.media.encrypt_query_param, key: file.media.aes_key, name: 'a.pdf' }]);
    expect((await fetchOf(fake, doc)).data.toString()).toBe('%PDF-1.4\n');
  });

  it('refuses an expired or unknown file as final, naming the status and the CDN\'s reason', async () => {
    fake = await FakeIlink.start();
    const message = chatMessage(fake.userSendsImage('carol', solidPng(), { expired: true }));
    const err = await rejectionOf(fetchOf(fake, message));
    expect(err).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false, statusCode: 404 });
    expect(err.message).toBe('wechat_ilink: image download: CDN answered HTTP 404 file expired (the media expired or its parameter is not known)');
    const placeholder = chatMessage(fake.userSends('carol', [ilinkItem.image()]));
    expect(await rejectionOf(fetchOf(fake, placeholder))).toMatchObject({ retryable: false, message: expect.stringMatching(/HTTP 404 file not found/) });
  });

  it('tries again after a 5xx or an unreachable CDN, and refuses over maxBytes or a key that does not fit, as final', async () => {
    fake = await FakeIlink.start();
    const png = Buffer.concat([solidPng(), Buffer.alloc(3_000, 1)]);
    const message = chatMessage(fake.userSendsImage('dan', png));
    fake.failNext('cdn_download', { http: 502 });
    expect(await rejectionOf(fetchOf(fake, message))).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: true, message: expect.stringMatching(/HTTP 502/) });
    const down = await rejectionOf(fetchOf(fake, message, undefined, { cdn: 'http://127.0.0.1:1/c2c' }));
    expect(down).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: true });
    expect(down.message).toMatch(/^wechat_ilink: image download: CDN 127\.0\.0\.1:1 unreachable/);
    expect(down.message).not.toContain('encrypted_query_param');

    const tooBig = await rejectionOf(fetchOf(fake, message, undefined, { maxBytes: 1_000 }));
    expect(tooBig).toMatchObject({ retryable: false, message: expect.stringMatching(/larger than 1000 bytes/) });
    expect(await rejectionOf(fetchOf(fake, message, undefined, { maxBytes: png.length - 1 }))).toMatchObject({
      retryable: false,
      message: expect.stringMatching(new RegExp(`larger than ${png.length - 1} bytes`)),
    });
    expect((await fetchOf(fake, message, undefined, { maxBytes: png.length })).data).toEqual(png);

    // A wrong key whose last block does not unpad (one in ~256 would, by chance): what a key that does not fit gives.
    const served = Buffer.from(await (await fetch(downloadUrl(message.media![0]!.ref, fake.cdnUrl))).arrayBuffer());
    const wrong = ['ab', 'cd', 'ef', '01', '23'].map((x) => x.repeat(16)).find((k) => {
      try {
        decryptIlinkMedia(served, Buffer.from(k, 'hex'));
        return false;
      } catch {
        return true;
      }
    });
    const wrongKey = await rejectionOf(fetchOf(fake, message, { ...message.media![0]!, key: wrong! }));
    expect(wrongKey).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false });
    expect(wrongKey.message).toMatch(/could not be decrypted with the message's AES key/);
  });
});
