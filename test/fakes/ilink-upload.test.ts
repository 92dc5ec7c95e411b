import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { solidPng } from '../helpers/images.js';
import { encryptEcb, FakeIlink, type WeixinMessage } from './ilink/index.js';

/** The fake's media upload: getuploadurl, POST {cdn}/upload, and image items in sendmessage, driven with plain fetch. */

const fakes: FakeIlink[] = [];
afterEach(async () => {
  while (fakes.length) await fakes.pop()?.close();
});

async function start(): Promise<FakeIlink> {
  const f = await FakeIlink.start({ longPollMs: 300 });
  fakes.push(f);
  return f;
}

const BASE_INFO = { channel_version: '2.4.3', bot_agent: 'CocoCatTest/1.0' };

async function post(f: FakeIlink, path: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const headers = {
    'Content-Type': 'application/json',
    AuthorizationType: 'ilink_bot_token',
    Authorization: `Bearer ${f.botToken}`,
    'X-WECHAT-UIN': Buffer.from('12345').toString('base64'),
  };
  const res = await fetch(new URL(path, f.url), { method: 'POST', headers, body: JSON.stringify({ ...body, base_info: BASE_INFO }) });
  return (await res.json()) as Record<string, unknown>;
}

/** A file ready to upload, and the getuploadurl body that declares it truthfully. */
function prepared(data: Buffer, to = 'alice@im.wechat') {
  const key = randomBytes(16);
  const ciphertext = encryptEcb(data, key);
  const filekey = randomBytes(16).toString('hex');
  const declaration = {
    filekey,
    media_type: 1,
    to_user_id: to,
    rawsize: data.length,
    rawfilemd5: createHash('md5').update(data).digest('hex'),
    filesize: ciphertext.length,
    no_need_thumb: true,
    aeskey: key.toString('hex'),
  };
  return { key, ciphertext, filekey, declaration };
}

const uploadTo = (f: FakeIlink, param: string, filekey: string, body: Buffer) =>
  fetch(`${f.cdnUrl}/upload?encrypted_query_param=${encodeURIComponent(param)}&filekey=${encodeURIComponent(filekey)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body,
  });

/** getuploadurl, then the upload; returns the download parameter. */
async function upload(f: FakeIlink, p: ReturnType<typeof prepared>): Promise<string> {
  const answer = await post(f, 'ilink/bot/getuploadurl', p.declaration);
  const res = await uploadTo(f, answer.upload_param as string, p.filekey, p.ciphertext);
  expect(res.status).toBe(200);
  return res.headers.get('x-encrypted-param')!;
}

const hexKeyBase64 = (key: Buffer) => Buffer.from(key.toString('hex')).toString('base64');

function sendImage(f: FakeIlink, m: WeixinMessage, media: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const item = { type: 2, image_item: { media, ...extra } };
  return post(f, 'ilink/bot/sendmessage', {
    msg: { from_user_id: '', to_user_id: m.from_user_id, client_id: `c-${Math.random()}`, message_type: 2, message_state: 2, item_list: [item], context_token: m.context_token },
  });
}

describe('fake iLink: media upload', () => {
  it('takes a declared upload, answers x-encrypted-param, and serves the image a message then names', async () => {
    const f = await start();
    const m = f.userSends('alice', 'hi');
    const png = solidPng(3, 3, [1, 2, 3]);
    const p = prepared(png);
    const answer = await post(f, 'ilink/bot/getuploadurl', p.declaration);
    expect(answer).toEqual({ ret: 0, upload_param: expect.any(String) });
    const res = await uploadTo(f, answer.upload_param as string, p.filekey, p.ciphertext);
    expect(res.status).toBe(200);
    const param = res.headers.get('x-encrypted-param');
    expect(param).toBeTruthy();
    expect(f.mediaUploads).toEqual([{ filekey: p.filekey, to: 'alice@im.wechat', mediaType: 1, data: png, downloadParam: param, at: expect.any(Number) }]);

    const sent = await sendImage(f, m, { encrypt_query_param: param, aes_key: hexKeyBase64(p.key), encrypt_type: 1 }, { mid_size: p.ciphertext.length });
    expect(sent).toEqual({});
    const [message] = f.sent('alice');
    expect(message).toMatchObject({ text: '', image: { data: png, encryptQueryParam: param } });
    expect(await f.downloadSentImage(message!)).toEqual(png);
    expect(f.calls.map((c) => c.endpoint)).toEqual(['getuploadurl', 'cdn_upload', 'sendmessage', 'cdn_download']);
    expect(f.calls[1]!.bodyBytes).toBe(p.ciphertext.length);
  });

  it('answers upload_full_url instead when told, a URL that takes the upload as is', async () => {
    const f = await start();
    f.userSends('alice', 'hi');
    f.uploadUrlForm = 'upload_full_url';
    const p = prepared(solidPng());
    const answer = await post(f, 'ilink/bot/getuploadurl', p.declaration);
    expect(Object.keys(answer).sort()).toEqual(['ret', 'upload_full_url']);
    expect(answer.upload_full_url).toMatch(new RegExp(`^${f.cdnUrl}/upload\\?encrypted_query_param=.+&filekey=${p.filekey}$`));
    const res = await fetch(answer.upload_full_url as string, { method: 'POST', body: p.ciphertext });
    expect([res.status, Boolean(res.headers.get('x-encrypted-param'))]).toEqual([200, true]);
  });

  it('refuses a declaration that is not one, with -1 naming the field', async () => {
    const f = await start();
    f.userSends('alice', 'hi');
    const { declaration } = prepared(solidPng());
    const refusal = async (over: Record<string, unknown>) => (await post(f, 'ilink/bot/getuploadurl', { ...declaration, ...over })).errmsg;
    expect(await refusal({ filesize: declaration.rawsize })).toMatch(/filesize must be the AES-128-ECB ciphertext size/);
    expect(await refusal({ aeskey: randomBytes(16).toString('base64') })).toMatch(/aeskey must be the 16-byte AES key as 32 hex digits/);
    expect(await refusal({ rawfilemd5: 'abc' })).toMatch(/rawfilemd5/);
    expect(await refusal({ to_user_id: 'carol@im.wechat' })).toMatch(/not a user of this bot/);
    expect(await refusal({ media_type: 7 })).toMatch(/media_type must be/);
    expect(await refusal({ no_need_thumb: undefined })).toMatch(/no_need_thumb/);
    expect((await post(f, 'ilink/bot/getuploadurl', { ...declaration, filekey: '' })).ret).toBe(-1);
  });

  it('refuses an upload that does not decrypt to the declared file with HTTP 400 and x-error-message', async () => {
    const f = await start();
    f.userSends('alice', 'hi');
    const png = solidPng(4, 4);
    const refusal = async (p: ReturnType<typeof prepared>, body: Buffer, filekey = p.filekey) => {
      const { upload_param } = await post(f, 'ilink/bot/getuploadurl', p.declaration);
      const res = await uploadTo(f, upload_param as string, filekey, body);
      return [res.status, res.headers.get('x-error-message'), res.headers.get('x-encrypted-param')];
    };
    const p = prepared(png);
    expect(await refusal(p, p.ciphertext.subarray(16))).toEqual([400, expect.stringMatching(/^ciphertext is \d+ bytes, getuploadurl declared filesize/), null]);
    // Same size, another key: the padding does not check out, or the md5 does not.
    expect(await refusal(p, encryptEcb(png, randomBytes(16)))).toEqual([400, expect.stringMatching(/does not decrypt|md5/), null]);
    const other = Buffer.from(png);
    other[other.length - 1]! ^= 1;
    expect(await refusal(p, encryptEcb(other, p.key))).toEqual([400, expect.stringMatching(/^plaintext md5 \w+ is not the rawfilemd5/), null]);
    expect(await refusal(p, p.ciphertext, 'another-filekey')).toEqual([400, 'filekey does not match the one given to getuploadurl', null]);
    const unknown = await uploadTo(f, 'never-issued', p.filekey, p.ciphertext);
    expect([unknown.status, unknown.headers.get('x-error-message')]).toEqual([400, 'encrypted_query_param is not an upload_param getuploadurl issued']);
    expect(f.mediaUploads).toEqual([]);
  });

  it('sendmessage refuses an image whose media is unknown, expired, another user\'s or whose key is wrong, with -1', async () => {
    const f = await start();
    const m = f.userSends('alice', 'hi');
    f.userSends('bob', 'yo');
    const p = prepared(solidPng());
    const param = await upload(f, p);
    const media = { encrypt_query_param: param, aes_key: hexKeyBase64(p.key), encrypt_type: 1 };
    const refusal = async (over: Record<string, unknown>, extra: Record<string, unknown> = {}) => (await sendImage(f, m, { ...media, ...over }, extra)).errmsg;
    expect(await refusal({ encrypt_query_param: 'made-up' })).toMatch(/is not a file on the CDN/);
    expect(await refusal({ aes_key: p.key.toString('hex') })).toMatch(/aes_key must be base64 of the 16-byte key or of its 32 hex digits/);
    expect(await refusal({ aes_key: hexKeyBase64(randomBytes(16)) })).toMatch(/not the key the file was encrypted with/);
    expect(await refusal({ encrypt_type: 0 })).toMatch(/encrypt_type must be 1/);
    expect(await refusal({}, { mid_size: 1 })).toMatch(/mid_size must be the ciphertext size/);
    const forBob = await upload(f, prepared(solidPng(), 'bob@im.wechat'));
    expect(await refusal({ encrypt_query_param: forBob })).toMatch(/uploaded for bob@im\.wechat, not alice@im\.wechat/);
    expect(f.sent()).toEqual([]);

    // Base64 of the 16 raw bytes (the form inbound images carry) names the same key.
    expect(await sendImage(f, m, { ...media, aes_key: p.key.toString('base64') })).toEqual({});
    f.expireMedia(param);
    expect(await refusal({})).toMatch(/expired/);
    expect(f.sent()).toHaveLength(1);
  });

  it('scripts CDN upload failures like the other endpoints', async () => {
    const f = await start();
    f.userSends('alice', 'hi');
    const p = prepared(solidPng());
    const { upload_param } = await post(f, 'ilink/bot/getuploadurl', p.declaration);
    f.failNext('cdn_upload', { http: 503 });
    expect((await uploadTo(f, upload_param as string, p.filekey, p.ciphertext)).status).toBe(503);
    expect((await uploadTo(f, upload_param as string, p.filekey, p.ciphertext)).status).toBe(200);
    expect(f.mediaUploads).toHaveLength(1);
  });
});
