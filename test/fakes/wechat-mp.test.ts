import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { XMLParser } from 'fast-xml-parser';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TencentCrypto, verifySignature } from '../../src/channels/shared/tencent-crypto.js';
import { startFakeWechatMp, type FakeWechatMp, type FakeWechatMpOptions } from './wechat-mp/server.js';

const TOKEN = 'tok3n';
const APP_ID = 'wx49f0ab532d5d035a';
const SECRET = 's3cret';
const AES_KEY = 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR';
const GH = 'gh_0123456789ab';
const USER = 'oUser_abc123';
const crypto = new TencentCrypto({ token: TOKEN, encodingAesKey: AES_KEY, receiveId: APP_ID });
// An independent XML parser (not the fake's own), keeping every value as a string.
const xmlParser = new XMLParser({ parseTagValue: false, trimValues: false });
const fieldsOf = (xml: string): Record<string, string> => (xmlParser.parse(xml) as { xml: Record<string, string> }).xml;

interface Received {
  method: string;
  query: Record<string, string>;
  body: string;
  contentType?: string;
}
type Answer = { status?: number; body?: string; delayMs?: number };

/** A tiny developer server: records every request and answers with `answer(request, index)`. */
async function devServer(answer: (r: Received, i: number) => Answer = () => ({ body: 'success' })) {
  const requests: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://dev');
      const r: Received = { method: req.method ?? '', query: Object.fromEntries(url.searchParams), body: Buffer.concat(chunks).toString('utf8'), contentType: req.headers['content-type'] };
      requests.push(r);
      const a = answer(r, requests.length - 1);
      setTimeout(() => {
        if (res.destroyed) return;
        res.writeHead(a.status ?? 200, { 'content-type': 'text/plain' });
        res.end(a.body ?? '');
      }, a.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${port}/wx?channel=mp`, requests };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function fake(overrides: Partial<FakeWechatMpOptions> = {}): Promise<FakeWechatMp> {
  const f = await startFakeWechatMp({ appId: APP_ID, appSecret: SECRET, token: TOKEN, encodingAesKey: AES_KEY, originalId: GH, mode: 'plain', ...overrides });
  cleanups.push(() => f.close());
  return f;
}

async function api(f: FakeWechatMp, path: string, init?: { json?: unknown; method?: string }) {
  const res = await fetch(`${f.url}${path}`, {
    method: init?.method ?? (init?.json === undefined ? 'GET' : 'POST'),
    body: init?.json === undefined ? undefined : JSON.stringify(init.json),
  });
  return { status: res.status, json: (await res.json()) as { errcode?: number; errmsg?: string; access_token?: string; expires_in?: number } };
}
const getToken = async (f: FakeWechatMp) =>
  (await api(f, `/cgi-bin/token?grant_type=client_credential&appid=${APP_ID}&secret=${SECRET}`)).json.access_token ?? '';
const send = async (f: FakeWechatMp, token: string, content: string, touser = USER) =>
  (await api(f, `/cgi-bin/message/custom/send?access_token=${token}`, { json: { touser, msgtype: 'text', text: { content } } })).json.errcode;

describe('fake WeChat OA: pushes', () => {
  it('plain mode: a text push is signed, has openid, CDATA strings and a bare 64-bit MsgId', async () => {
    const dev = await devServer();
    const f = await fake({ gatewayUrl: dev.url });
    const result = await f.push(USER, { type: 'text', content: '你好 ]]> <b>' });
    expect(result.delivered).toBe(true);
    expect(result.attempts).toHaveLength(1);
    const [req] = dev.requests;
    expect(req?.method).toBe('POST');
    expect(req?.contentType).toBe('text/xml');
    const q = req?.query ?? {};
    expect(q.channel).toBe('mp');
    expect(q.openid).toBe(USER);
    expect(q.encrypt_type).toBeUndefined();
    expect(q.msg_signature).toBeUndefined();
    expect(verifySignature(q.signature ?? '', TOKEN, q.timestamp ?? '', q.nonce ?? '')).toBe(true);
    expect(verifySignature(q.signature ?? '', 'other', q.timestamp ?? '', q.nonce ?? '')).toBe(false);
    const body = req?.body ?? '';
    expect(body).toContain(`<ToUserName><![CDATA[${GH}]]></ToUserName>`);
    expect(body).toMatch(/<CreateTime>\d{10}<\/CreateTime>/);
    expect(body).toMatch(new RegExp(`<MsgId>${result.msgId}</MsgId>`));
    const fields = fieldsOf(body);
    expect(fields).toMatchObject({ ToUserName: GH, FromUserName: USER, MsgType: 'text', Content: '你好 ]]> <b>', MsgId: result.msgId });
    expect(BigInt(result.msgId ?? 0)).toBeGreaterThan(BigInt(Number.MAX_SAFE_INTEGER));
  });

  it('compatible mode: plaintext fields plus Encrypt, with a valid msg_signature over it', async () => {
    const dev = await devServer();
    const f = await fake({ mode: 'compatible', gatewayUrl: dev.url });
    const result = await f.push(USER, { type: 'text', content: 'hello' }, { msgId: '9223372036854775807' });
    const q = dev.requests[0]?.query ?? {};
    const fields = fieldsOf(dev.requests[0]?.body ?? '');
    expect(q.encrypt_type).toBe('aes');
    expect(verifySignature(q.signature ?? '', TOKEN, q.timestamp ?? '', q.nonce ?? '')).toBe(true);
    expect(crypto.verify(q.msg_signature ?? '', q.timestamp ?? '', q.nonce ?? '', fields.Encrypt ?? '')).toBe(true);
    expect(fields).toMatchObject({ FromUserName: USER, Content: 'hello', MsgId: '9223372036854775807' });
    expect(fieldsOf(crypto.decrypt(fields.Encrypt ?? ''))).toMatchObject({ FromUserName: USER, Content: 'hello', MsgId: '9223372036854775807' });
    expect(result.msgId).toBe('9223372036854775807');
  });

  it('safe mode: only ToUserName + Encrypt, decryptable with the AppID as receive id', async () => {
    const dev = await devServer();
    const f = await fake({ mode: 'safe', gatewayUrl: dev.url });
    await f.push(USER, { type: 'text', content: 'secret text' });
    const q = dev.requests[0]?.query ?? {};
    const outer = fieldsOf(dev.requests[0]?.body ?? '');
    expect(Object.keys(outer).filter((k) => !k.startsWith('#')).sort()).toEqual(['Encrypt', 'ToUserName']);
    expect(outer.ToUserName).toBe(GH);
    const plain = crypto.decryptVerified({ msgSignature: q.msg_signature ?? '', timestamp: q.timestamp ?? '', nonce: q.nonce ?? '', encrypt: outer.Encrypt ?? '' });
    expect(fieldsOf(plain)).toMatchObject({ ToUserName: GH, FromUserName: USER, MsgType: 'text', Content: 'secret text' });
    const otherApp = new TencentCrypto({ token: TOKEN, encodingAesKey: AES_KEY, receiveId: 'wxother' });
    expect(() => otherApp.decrypt(outer.Encrypt ?? '')).toThrow();
  });

  it('events carry no MsgId; other message types have their fields', async () => {
    const dev = await devServer();
    const f = await fake({ gatewayUrl: dev.url });
    const ev = await f.push(USER, { type: 'event', event: 'subscribe', eventKey: 'qrscene_42' });
    await f.push(USER, { type: 'location', x: 23.134521, y: 113.358803, scale: 20, label: '广州' });
    expect(ev.msgId).toBeUndefined();
    expect(dev.requests[0]?.body).not.toContain('MsgId');
    expect(fieldsOf(dev.requests[0]?.body ?? '')).toMatchObject({ MsgType: 'event', Event: 'subscribe', EventKey: 'qrscene_42' });
    expect(dev.requests[1]?.body).toContain('<Location_X>23.134521</Location_X>');
    expect(fieldsOf(dev.requests[1]?.body ?? '')).toMatchObject({ MsgType: 'location', Scale: '20', Label: '广州' });
  });

  it('a server slower than retryWaitMs gets 3 tries of the same MsgId, freshly signed', async () => {
    const dev = await devServer(() => ({ body: 'success', delayMs: 600 }));
    const f = await fake({ mode: 'safe', gatewayUrl: dev.url, retryWaitMs: 150 });
    const result = await f.push(USER, { type: 'text', content: 'slow' });
    expect(result.delivered).toBe(false);
    expect(result.attempts.map((a) => a.timedOut)).toEqual([true, true, true]);
    expect(result.attempts.every((a) => a.ms >= 140 && a.status === undefined)).toBe(true);
    expect(dev.requests).toHaveLength(3);
    const ids = dev.requests.map((r) => {
      const encrypt = fieldsOf(r.body).Encrypt ?? '';
      expect(crypto.verify(r.query.msg_signature ?? '', r.query.timestamp ?? '', r.query.nonce ?? '', encrypt)).toBe(true);
      return fieldsOf(crypto.decrypt(encrypt)).MsgId;
    });
    expect(ids).toEqual([result.msgId, result.msgId, result.msgId]);
    expect(new Set(dev.requests.map((r) => r.query.nonce)).size).toBe(3);
  });

  it('a non-2xx answer is retried; the first 2xx stops the retries', async () => {
    const dev = await devServer((_r, i) => (i === 0 ? { status: 500, body: 'boom' } : { body: '' }));
    const f = await fake({ gatewayUrl: dev.url, retryWaitMs: 1000 });
    const result = await f.push(USER, { type: 'text', content: 'x' });
    expect(result.attempts.map((a) => a.status)).toEqual([500, 200]);
    expect(result.delivered).toBe(true);
    expect(result.reply).toBeUndefined();
    expect(result.replyError).toBeUndefined();
  });

  it('decodes an encrypted passive reply (safe mode) and flags a badly signed one', async () => {
    let forge = false;
    const dev = await devServer((r) => {
      const q = r.query;
      const inbound = fieldsOf(crypto.decrypt(fieldsOf(r.body).Encrypt ?? ''));
      const xml = `<xml><ToUserName><![CDATA[${inbound.FromUserName}]]></ToUserName><FromUserName><![CDATA[${inbound.ToUserName}]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[echo: ${inbound.Content}]]></Content></xml>`;
      const wrapped = crypto.wrapReply(xml, q.timestamp ?? '', q.nonce ?? '');
      return { body: forge ? wrapped.replace(/<MsgSignature><!\[CDATA\[./, '<MsgSignature><![CDATA[x') : wrapped };
    });
    const f = await fake({ mode: 'safe', gatewayUrl: dev.url });
    const ok = await f.push(USER, { type: 'text', content: '在吗' });
    expect(ok.replyError).toBeUndefined();
    expect(ok.reply?.encrypted).toBe(true);
    expect(ok.reply?.xml).toMatchObject({ ToUserName: USER, FromUserName: GH, MsgType: 'text', Content: 'echo: 在吗' });
    expect(ok.reply?.raw).toContain('<Encrypt>');
    forge = true;
    const bad = await f.push(USER, { type: 'text', content: 'again' });
    expect(bad.reply).toBeUndefined();
    expect(bad.replyError).toMatch(/MsgSignature/);
  });

  it('tampering breaks exactly the named check', async () => {
    const dev = await devServer();
    const f = await fake({ mode: 'safe', gatewayUrl: dev.url });
    await f.push(USER, { type: 'text', content: 'a' }, { tamper: 'signature' });
    await f.push(USER, { type: 'text', content: 'b' }, { tamper: 'appid' });
    await f.push(USER, { type: 'text', content: 'c' }, { tamper: 'timestamp' });
    const [sig, appid, ts] = dev.requests.map((r) => ({ q: r.query, enc: fieldsOf(r.body).Encrypt ?? '' }));
    expect(verifySignature(sig?.q.signature ?? '', TOKEN, sig?.q.timestamp ?? '', sig?.q.nonce ?? '')).toBe(false);
    expect(crypto.verify(appid?.q.msg_signature ?? '', appid?.q.timestamp ?? '', appid?.q.nonce ?? '', appid?.enc ?? '')).toBe(true);
    expect(() => crypto.decrypt(appid?.enc ?? '')).toThrow(/receive id/);
    expect(Date.now() / 1000 - Number(ts?.q.timestamp)).toBeGreaterThan(86_400);
    expect(verifySignature(ts?.q.signature ?? '', TOKEN, ts?.q.timestamp ?? '', ts?.q.nonce ?? '')).toBe(true);
  });

  it('verifyUrl sends a signed GET and returns the answer verbatim', async () => {
    const dev = await devServer((r) =>
      verifySignature(r.query.signature ?? '', TOKEN, r.query.timestamp ?? '', r.query.nonce ?? '') ? { body: r.query.echostr ?? '' } : { status: 401, body: 'no' },
    );
    const f = await fake({ mode: 'safe', gatewayUrl: dev.url });
    expect(await f.verifyUrl('12345678901234567890')).toEqual({ status: 200, body: '12345678901234567890' });
    expect(await f.verifyUrl('1', { tamper: 'signature' })).toEqual({ status: 401, body: 'no' });
    expect(dev.requests[0]?.method).toBe('GET');
  });
});

describe('fake WeChat OA: API', () => {
  it('issues tokens, refuses bad credentials, expires tokens on the fake clock', async () => {
    const dev = await devServer();
    const f = await fake({ gatewayUrl: dev.url });
    expect((await api(f, `/cgi-bin/token?grant_type=client_credential&appid=wxnope&secret=${SECRET}`)).json.errcode).toBe(40013);
    expect((await api(f, `/cgi-bin/token?grant_type=client_credential&appid=${APP_ID}&secret=bad`)).json.errcode).toBe(40125);
    const issued = await api(f, `/cgi-bin/token?grant_type=client_credential&appid=${APP_ID}&secret=${SECRET}`);
    expect(issued.status).toBe(200);
    expect(issued.json.expires_in).toBe(7200);
    const token = issued.json.access_token ?? '';
    expect(token.length).toBeGreaterThan(100);
    await f.push(USER, { type: 'text', content: 'hi' });
    expect(await send(f, token, 'one')).toBe(0);
    f.advanceTime(7200);
    expect(await send(f, token, 'two')).toBe(42001);
    const fresh = await getToken(f);
    expect(fresh).not.toBe(token);
    expect(await send(f, fresh, 'three')).toBe(0);
    expect(await send(f, 'garbage', 'four')).toBe(40014);
    f.invalidateTokens();
    expect(await send(f, fresh, 'five')).toBe(40001);
    expect(f.received(USER)).toEqual(['one', 'three']);
    expect(f.counters).toMatchObject({ tokenRequests: 4, tokensIssued: 2, customSendsAttempted: 5 });
  });

  it('stable_token: same token while valid, force_refresh replaces it (old → 40001)', async () => {
    // The fake's clock is wall seconds: held still here, so a second boundary between the two calls
    // cannot take one more second off the token's remaining life. Timers stay real.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    cleanups.push(async () => void vi.useRealTimers());
    const dev = await devServer();
    const f = await fake({ gatewayUrl: dev.url, tokenTtlSeconds: 600 });
    const body = { grant_type: 'client_credential', appid: APP_ID, secret: SECRET };
    const a = await api(f, '/cgi-bin/stable_token', { json: body });
    f.advanceTime(100);
    const b = await api(f, '/cgi-bin/stable_token', { json: body });
    expect(b.json.access_token).toBe(a.json.access_token);
    expect(b.json.expires_in).toBe(500);
    const c = await api(f, '/cgi-bin/stable_token', { json: { ...body, force_refresh: true } });
    expect(c.json.access_token).not.toBe(a.json.access_token);
    expect((await api(f, '/cgi-bin/stable_token', { json: { ...body, secret: 'x' } })).json.errcode).toBe(40125);
    await f.push(USER, { type: 'text', content: 'hi' });
    expect(await send(f, a.json.access_token ?? '', 'old')).toBe(40001);
    expect(await send(f, c.json.access_token ?? '', 'new')).toBe(0);
  });

  it('45047 after 5 sends per inbound message, reset by a new push', async () => {
    const dev = await devServer();
    const f = await fake({ gatewayUrl: dev.url });
    const token = await getToken(f);
    await f.push(USER, { type: 'text', content: 'q1' });
    const codes = [];
    for (let i = 1; i <= 6; i++) codes.push(await send(f, token, `m${i}`));
    expect(codes).toEqual([0, 0, 0, 0, 0, 45047]);
    await f.push(USER, { type: 'text', content: 'q2' });
    expect(await send(f, token, 'm7')).toBe(0);
    expect(f.received(USER)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm7']);
    expect(f.sends.map((s) => s.errcode)).toEqual([0, 0, 0, 0, 0, 45047, 0]);
  });

  it('45015 once 48 h pass without a push; 40003 for a user who never wrote', async () => {
    const dev = await devServer();
    const f = await fake({ gatewayUrl: dev.url, tokenTtlSeconds: 10 * 86_400 });
    const token = await getToken(f);
    expect(await send(f, token, 'cold', 'oStranger')).toBe(40003);
    await f.push(USER, { type: 'text', content: 'hi' });
    f.advanceTime(48 * 3600 - 1);
    expect(await send(f, token, 'just in time')).toBe(0);
    f.advanceTime(1);
    expect(await send(f, token, 'too late')).toBe(45015);
    await f.push(USER, { type: 'text', content: 'back' });
    expect(await send(f, token, 'welcome back')).toBe(0);
  });

  it('45002 over 2048 UTF-8 bytes, 44004 for empty text', async () => {
    const dev = await devServer();
    const f = await fake({ gatewayUrl: dev.url });
    const token = await getToken(f);
    await f.push(USER, { type: 'text', content: 'hi' });
    expect(await send(f, token, '中'.repeat(683))).toBe(45002); // 2049 bytes, 683 characters
    expect(await send(f, token, 'a'.repeat(2048))).toBe(0);
    expect(await send(f, token, '')).toBe(44004);
    expect(f.received(USER)).toHaveLength(1);
  });

  it('48001 for an account without customer-service permission', async () => {
    const dev = await devServer();
    const f = await fake({ gatewayUrl: dev.url, permissions: { customerService: false } });
    const token = await getToken(f);
    await f.push(USER, { type: 'text', content: 'hi' });
    expect(await send(f, token, 'x')).toBe(48001);
    expect(f.received(USER)).toEqual([]);
  });

  it('scripted failures answer the next sends, then normal service resumes', async () => {
    const dev = await devServer();
    const f = await fake({ gatewayUrl: dev.url });
    const token = await getToken(f);
    await f.push(USER, { type: 'text', content: 'hi' });
    f.failNextSends(2, -1);
    f.failNextSends(1, 45009);
    const res = await api(f, `/cgi-bin/message/custom/send?access_token=${token}`, { json: { touser: USER, msgtype: 'text', text: { content: 'a' } } });
    expect(res).toMatchObject({ status: 200, json: { errcode: -1 } });
    expect(res.json.errmsg).toMatch(/system error rid: /);
    expect([await send(f, token, 'b'), await send(f, token, 'c'), await send(f, token, 'd')]).toEqual([-1, 45009, 0]);
    expect(f.received(USER)).toEqual(['d']);
    expect(f.sends.map((s) => [s.content, s.errcode])).toEqual([['a', -1], ['b', -1], ['c', 45009], ['d', 0]]);
    expect(f.counters.customSendsAttempted).toBe(4);
  });

  it('typing needs an interaction within 30 s and a valid command; unknown paths are 404', async () => {
    const dev = await devServer();
    const f = await fake({ gatewayUrl: dev.url });
    const token = await getToken(f);
    await f.push(USER, { type: 'text', content: 'hi' });
    const typing = async (command: string) => (await api(f, `/cgi-bin/message/custom/typing?access_token=${token}`, { json: { touser: USER, command } })).json.errcode;
    expect(await typing('Dance')).toBe(45072);
    expect(await typing('Typing')).toBe(0);
    expect(await typing('Typing')).toBe(45081);
    expect(await typing('CancelTyping')).toBe(0);
    f.advanceTime(31);
    expect(await typing('Typing')).toBe(45080);
    expect(f.typing.map((t) => [t.command, t.errcode])).toEqual([['Dance', 45072], ['Typing', 0], ['Typing', 45081], ['CancelTyping', 0], ['Typing', 45080]]);
    expect((await fetch(`${f.url}/cgi-bin/nope`)).status).toBe(404);
    expect((await api(f, `/cgi-bin/message/custom/send?access_token=${token}`, { method: 'GET' })).json.errcode).toBe(43002);
  });
});

describe('fake WeChat OA: media/upload and image messages', () => {
  // A PNG signature and a little more: the fake checks the bytes' type, it does not decode them.
  const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(40, 3)]);
  const WEBP = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBPVP8 '), Buffer.alloc(20, 1)]);

  /** An upload as curl -F or any HTTP client makes it (the platform's FormData, not the gateway's encoder). */
  async function upload(f: FakeWechatMp, token: string, file?: { data: Buffer; filename: string; type?: string }, opts: { type?: string; field?: string } = {}) {
    const form = new FormData();
    if (file) form.append(opts.field ?? 'media', new Blob([file.data], { type: file.type ?? 'application/octet-stream' }), file.filename);
    else form.append('other', 'x');
    const res = await fetch(`${f.url}/cgi-bin/media/upload?access_token=${token}&type=${opts.type ?? 'image'}`, { method: 'POST', body: form });
    return (await res.json()) as { errcode?: number; type?: string; media_id?: string; created_at?: unknown };
  }

  it('stores an image upload and answers {type, media_id, created_at}; media/get then serves it', async () => {
    const f = await fake();
    const token = await getToken(f);
    const answer = await upload(f, token, { data: PNG, filename: 'photo.png', type: 'image/png' });
    expect(answer).toEqual({ type: 'image', media_id: expect.stringMatching(/^[\w-]{20,}$/), created_at: f.now() });
    expect(f.uploads).toEqual([expect.objectContaining({ type: 'image', filename: 'photo.png', contentType: 'image/png', errcode: 0, mediaId: answer.media_id })]);
    expect(f.uploads[0]!.data.equals(PNG)).toBe(true);
    const served = await fetch(`${f.url}/cgi-bin/media/get?access_token=${token}&media_id=${answer.media_id}`);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await served.arrayBuffer()).equals(PNG)).toBe(true);
  });

  it('refuses what WeChat refuses: token, type, missing or empty media, file type, size; scripted failures first', async () => {
    const f = await fake();
    const token = await getToken(f);
    const png = { data: PNG, filename: 'a.png' };
    expect((await upload(f, '', png)).errcode).toBe(41001);
    expect((await upload(f, 'nope', png)).errcode).toBe(40014);
    expect((await upload(f, token, png, { type: 'sticker' })).errcode).toBe(40004);
    expect((await upload(f, token, png, { field: 'file' })).errcode).toBe(41005);
    expect((await upload(f, token)).errcode).toBe(41005);
    expect((await upload(f, token, { data: Buffer.alloc(0), filename: 'a.png' })).errcode).toBe(44001);
    expect((await upload(f, token, { data: PNG, filename: 'a.txt' })).errcode).toBe(40005);
    expect((await upload(f, token, { data: WEBP, filename: 'a.webp' })).errcode).toBe(40005);
    expect((await upload(f, token, { data: WEBP, filename: 'a.png' })).errcode).toBe(40005);
    expect((await upload(f, token, { data: Buffer.concat([PNG, Buffer.alloc(10 * 1024 * 1024)]), filename: 'a.png' })).errcode).toBe(40009);
    f.failNextUploads(1, -1);
    expect((await upload(f, token, png)).errcode).toBe(-1);
    expect((await upload(f, token, { data: Buffer.from('GIF89a.....'), filename: 'b.gif' })).errcode).toBeUndefined();
    expect((await upload(f, token, { data: Buffer.from('BM..........'), filename: 'c.bmp' })).errcode).toBeUndefined();
    expect(f.uploads.map((u) => u.errcode)).toEqual([41001, 40014, 40004, 41005, 41005, 44001, 40005, 40005, 40005, 40009, -1, 0, 0]);
    expect(f.counters.uploads).toBe(13);
  });

  it('48001 for an account without upload permission', async () => {
    const f = await fake({ permissions: { uploadMedia: false } });
    expect((await upload(f, await getToken(f), { data: PNG, filename: 'a.png' })).errcode).toBe(48001);
  });

  it('a 客服 image message needs a live upload (40007 otherwise); received() describes it, receivedImages() has its bytes', async () => {
    const dev = await devServer();
    const f = await fake({ gatewayUrl: dev.url });
    const token = await getToken(f);
    await f.push(USER, { type: 'text', content: 'a picture please' });
    const { media_id } = await upload(f, token, { data: PNG, filename: 'a.png' });
    const sendImage = async (mediaId: unknown, withToken = token) =>
      (await api(f, `/cgi-bin/message/custom/send?access_token=${withToken}`, { json: { touser: USER, msgtype: 'image', image: { media_id: mediaId } } })).json.errcode;
    expect(await sendImage('not-an-upload')).toBe(40007);
    expect(await sendImage(undefined)).toBe(41006);
    expect(await sendImage(media_id)).toBe(0);
    expect(f.received(USER)).toEqual([`[image ${PNG.length} bytes image/png]`]);
    expect(f.receivedImages(USER)).toEqual([{ mediaId: media_id, data: PNG, contentType: 'image/png' }]);
    // WeChat keeps the upload 3 days.
    f.advanceTime(3 * 86_400);
    expect(await sendImage(media_id, await getToken(f))).toBe(40007);
  });

  it('a passive image reply must name a live upload: the user sees it (reply.image), else replyError', async () => {
    let mediaId = 'unknown';
    const dev = await devServer((r) => {
      const inbound = fieldsOf(r.body);
      return {
        body: `<xml><ToUserName><![CDATA[${inbound.FromUserName}]]></ToUserName><FromUserName><![CDATA[${inbound.ToUserName}]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[${mediaId}]]></MediaId></Image></xml>`,
      };
    });
    const f = await fake({ gatewayUrl: dev.url });
    const bad = await f.push(USER, { type: 'text', content: 'x' });
    expect(bad.replyError).toMatch(/MediaId is not a live upload/);
    mediaId = (await upload(f, await getToken(f), { data: PNG, filename: 'a.png' })).media_id ?? '';
    const good = await f.push(USER, { type: 'text', content: 'y' });
    expect(good.replyError).toBeUndefined();
    expect(good.reply?.image).toEqual({ mediaId, data: PNG, contentType: 'image/png' });
  });
});
