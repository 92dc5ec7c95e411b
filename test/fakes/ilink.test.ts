import { afterEach, describe, expect, it } from 'vitest';
import { FakeIlink, ilinkItem, type FakeIlinkOptions, type IlinkEndpoint } from './ilink/index.js';

const fakes: FakeIlink[] = [];
afterEach(async () => {
  while (fakes.length) await fakes.pop()?.close();
});

async function start(opts: FakeIlinkOptions = {}): Promise<FakeIlink> {
  const f = await FakeIlink.start({ longPollMs: 300, qrPollMs: 300, ...opts });
  fakes.push(f);
  return f;
}

const uin = (value = '3141592653'): string => Buffer.from(value).toString('base64');
const BASE_INFO = { channel_version: '2.4.3', bot_agent: 'CocoCatTest/1.0' };

function botHeaders(token: string): Record<string, string> {
  return { 'Content-Type': 'application/json', AuthorizationType: 'ilink_bot_token', Authorization: `Bearer ${token}`, 'X-WECHAT-UIN': uin() };
}

interface Reply {
  status: number;
  text: string;
  json: Record<string, unknown>;
  ms: number;
}

/** POSTs to a bot endpoint with valid headers unless overridden (an override of `undefined` drops the header). */
async function post(
  f: FakeIlink,
  path: string,
  body: unknown,
  opts: { token?: string; headers?: Record<string, string | undefined>; raw?: string; signal?: AbortSignal } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...botHeaders(opts.token ?? f.botToken), ...opts.headers })) if (v !== undefined) headers[k] = v;
  const started = Date.now();
  const res = await fetch(new URL(path, f.url), { method: 'POST', headers, body: opts.raw ?? JSON.stringify(body), signal: opts.signal });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // non-JSON answers (injected HTTP errors) are checked through `text`
  }
  return { status: res.status, text, json, ms: Date.now() - started };
}

async function get(f: FakeIlink, path: string): Promise<Reply> {
  const started = Date.now();
  const res = await fetch(new URL(path, f.url));
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as Record<string, unknown>, ms: Date.now() - started };
}

const getUpdates = (f: FakeIlink, cursor = '', opts: { token?: string; signal?: AbortSignal } = {}) =>
  post(f, 'ilink/bot/getupdates', { get_updates_buf: cursor, base_info: BASE_INFO }, opts);

const sendText = (f: FakeIlink, to: string, contextToken: string, text: string, clientId = `c-${Math.random()}`) =>
  post(f, 'ilink/bot/sendmessage', {
    msg: { from_user_id: '', to_user_id: to, client_id: clientId, message_type: 2, message_state: 2, item_list: [{ type: 1, text_item: { text } }], context_token: contextToken },
    base_info: BASE_INFO,
  });

async function until(predicate: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits until the fake holds `n` unanswered calls to `endpoint`. */
const held = (f: FakeIlink, endpoint: IlinkEndpoint, n = 1) =>
  until(() => f.calls.filter((c) => c.endpoint === endpoint && c.status === undefined).length >= n, `${n} held ${endpoint}`);

type Msg = { seq: number; message_id: number; item_list: { text_item?: { text: string } }[] };
const texts = (r: Reply): string[] => (r.json.msgs as Msg[]).map((m) => m.item_list[0]?.text_item?.text ?? '?');

describe('fake iLink: QR login', () => {
  it('issues QR codes by POST and GET, and insists on bot_type=3', async () => {
    const f = await start();
    const a = await post(f, 'ilink/bot/get_bot_qrcode?bot_type=3', { local_token_list: [] }, { headers: { Authorization: undefined, 'X-WECHAT-UIN': undefined, AuthorizationType: undefined } });
    expect(a.status).toBe(200);
    expect(a.json.ret).toBe(0);
    expect(a.json.qrcode).toMatch(/^[0-9a-f]{32}$/);
    expect(a.json.qrcode_img_content).toMatch(new RegExp(`^https://liteapp\\.weixin\\.qq\\.com/q/[\\w-]+\\?qrcode=${String(a.json.qrcode)}&bot_type=3$`));
    const b = await get(f, 'ilink/bot/get_bot_qrcode?bot_type=3');
    expect(b.json.qrcode).not.toBe(a.json.qrcode);
    expect(f.qrSessions.map((s) => s.qrcode)).toEqual([a.json.qrcode, b.json.qrcode]);
    expect(f.qrSessions[1]).toMatchObject({ status: 'wait', imgContent: b.json.qrcode_img_content });
    expect((await get(f, 'ilink/bot/get_bot_qrcode')).status).toBe(400);
  });

  it('holds a status poll with no change, then answers wait', async () => {
    const f = await start({ qrPollMs: 200 });
    const { qrcode } = (await get(f, 'ilink/bot/get_bot_qrcode?bot_type=3')).json as { qrcode: string };
    const r = await get(f, `ilink/bot/get_qrcode_status?qrcode=${qrcode}`);
    expect(r.json).toEqual({ status: 'wait' });
    expect(r.ms).toBeGreaterThanOrEqual(180);
  });

  it('scan and confirm wake a held poll at once; the confirmed payload carries the new token', async () => {
    const f = await start({ qrPollMs: 5000 });
    const initial = f.botToken;
    const { qrcode } = (await get(f, 'ilink/bot/get_bot_qrcode?bot_type=3')).json as { qrcode: string };

    const p1 = get(f, `ilink/bot/get_qrcode_status?qrcode=${qrcode}`);
    await held(f, 'get_qrcode_status');
    let t = Date.now();
    f.scan();
    expect((await p1).json).toEqual({ status: 'scaned' });
    expect(Date.now() - t).toBeLessThan(500);
    expect(f.qrSessions[0]?.status).toBe('scaned');

    const p2 = get(f, `ilink/bot/get_qrcode_status?qrcode=${qrcode}`);
    await held(f, 'get_qrcode_status');
    t = Date.now();
    const token = f.confirm(qrcode, { user: 'bob' });
    const confirmed = await p2;
    expect(Date.now() - t).toBeLessThan(500);
    expect(confirmed.json).toEqual({ status: 'confirmed', bot_token: token, ilink_bot_id: f.botId, ilink_user_id: 'bob@im.wechat', baseurl: f.url });
    expect(f.botId).toMatch(/@im\.bot$/);
    expect(token).not.toBe(initial);
    expect(f.botToken).toBe(token);
    // A final status is repeated at once.
    expect((await get(f, `ilink/bot/get_qrcode_status?qrcode=${qrcode}`)).json.status).toBe('confirmed');
    expect(() => f.scan(qrcode)).toThrow(/confirmed/);
  });

  it('after confirm the old token gets -14 and the new one works', async () => {
    const f = await start();
    const old = f.botToken;
    expect((await post(f, 'ilink/bot/msg/notifystart', { base_info: BASE_INFO })).json).toEqual({ ret: 0 });
    await get(f, 'ilink/bot/get_bot_qrcode?bot_type=3');
    f.scan();
    const fresh = f.confirm();
    const stale = await post(f, 'ilink/bot/msg/notifystart', { base_info: BASE_INFO }, { token: old });
    expect(stale.status).toBe(200);
    expect(stale.json).toEqual({ ret: -14, errcode: -14, errmsg: 'session timeout' });
    expect((await post(f, 'ilink/bot/msg/notifystart', { base_info: BASE_INFO }, { token: fresh })).json).toEqual({ ret: 0 });
  });

  it('a QR code expires after qrTtlMs, waking a held poll; unknown codes read as expired', async () => {
    const f = await start({ qrTtlMs: 150, qrPollMs: 3000 });
    const { qrcode } = (await get(f, 'ilink/bot/get_bot_qrcode?bot_type=3')).json as { qrcode: string };
    const r = await get(f, `ilink/bot/get_qrcode_status?qrcode=${qrcode}`);
    expect(r.json).toEqual({ status: 'expired' });
    expect(r.ms).toBeLessThan(1000);
    expect(f.qrSessions[0]?.status).toBe('expired');
    expect(() => f.confirm()).toThrow(/expired/);
    expect((await get(f, 'ilink/bot/get_qrcode_status?qrcode=nope')).json).toEqual({ status: 'expired' });
  });

  it('expireQr wakes a held poll', async () => {
    const f = await start({ qrPollMs: 5000 });
    const { qrcode } = (await get(f, 'ilink/bot/get_bot_qrcode?bot_type=3')).json as { qrcode: string };
    const p = get(f, `ilink/bot/get_qrcode_status?qrcode=${qrcode}`);
    await held(f, 'get_qrcode_status');
    f.expireQr();
    const r = await p;
    expect(r.json).toEqual({ status: 'expired' });
    expect(r.ms).toBeLessThan(1000);
  });
});

describe('fake iLink: getupdates', () => {
  it('delivers waiting messages at once, in the documented shape', async () => {
    const f = await start({ longPollMs: 5000 });
    const sent = f.userSends('alice', '你好');
    const r = await getUpdates(f);
    expect(r.ms).toBeLessThan(1000);
    expect(r.json.ret).toBe(0);
    expect(r.json.longpolling_timeout_ms).toBe(5000);
    const [m] = r.json.msgs as Record<string, unknown>[];
    expect(m).toEqual(sent);
    expect(m).toMatchObject({ from_user_id: 'alice@im.wechat', to_user_id: f.botId, message_type: 1, message_state: 2 });
    expect(m).not.toHaveProperty('group_id');
    expect(typeof m?.message_id).toBe('number');
    expect(m?.context_token).toMatch(/^[\w-]{20,}$/);
    expect(m?.item_list).toEqual([{ type: 1, create_time_ms: expect.any(Number), msg_id: expect.any(String), text_item: { text: '你好' } }]);
    expect(r.json.get_updates_buf).toMatch(/\S/);
  });

  it('holds with nothing to deliver, then answers empty with the cursor unchanged', async () => {
    const f = await start({ longPollMs: 200 });
    f.userSends('alice', 'one');
    const first = await getUpdates(f);
    const cursor = first.json.get_updates_buf as string;
    const r = await getUpdates(f, cursor);
    expect(r.json).toEqual({ ret: 0, msgs: [], get_updates_buf: cursor, longpolling_timeout_ms: 200 });
    expect(r.ms).toBeGreaterThanOrEqual(180);
  });

  it('a held poll is answered within a few ms of userSends', async () => {
    const f = await start({ longPollMs: 5000 });
    const p = getUpdates(f);
    await held(f, 'getupdates');
    const t = Date.now();
    f.userSends('alice', 'wake up');
    const r = await p;
    expect(Date.now() - t).toBeLessThan(200);
    expect(texts(r)).toEqual(['wake up']);
  });

  it('resumes after the last message of a cursor; each message gets a fresh context token and a higher seq and id', async () => {
    const f = await start();
    for (const t of ['a', 'b', 'c']) f.userSends('alice', t);
    const r1 = await getUpdates(f);
    expect(texts(r1)).toEqual(['a', 'b', 'c']);
    f.userSends('bob@im.wechat', 'd');
    const r2 = await getUpdates(f, r1.json.get_updates_buf as string);
    expect(texts(r2)).toEqual(['d']);
    const all = [...(r1.json.msgs as Msg[]), ...(r2.json.msgs as Msg[])] as unknown as Record<string, number | string>[];
    const ids = all.map((m) => m.message_id as number);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(new Set(ids).size).toBe(4);
    expect(all.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(new Set(all.map((m) => m.context_token)).size).toBe(4);
    expect(all[3]?.from_user_id).toBe('bob@im.wechat');
    expect(r2.json.get_updates_buf).not.toBe(r1.json.get_updates_buf);
  });

  it('an empty or unreadable cursor replays from the start', async () => {
    const f = await start();
    f.userSends('alice', 'x');
    f.userSends('alice', 'y');
    const r1 = await getUpdates(f);
    expect(texts(await getUpdates(f, ''))).toEqual(['x', 'y']);
    expect(texts(await getUpdates(f, 'not a cursor!'))).toEqual(['x', 'y']);
    expect(texts(await getUpdates(f, Buffer.from('{"p":99}').toString('base64')))).toEqual(['x', 'y']);
    expect(r1.json.get_updates_buf).not.toBe('');
  });

  it('returns at most 100 messages per answer', async () => {
    const f = await start({ longPollMs: 100 });
    for (let i = 0; i < 150; i++) f.userSends('alice', `m${i}`);
    const r1 = await getUpdates(f);
    expect(texts(r1)).toHaveLength(100);
    expect(texts(r1)[99]).toBe('m99');
    const r2 = await getUpdates(f, r1.json.get_updates_buf as string);
    expect(texts(r2)).toEqual(Array.from({ length: 50 }, (_, i) => `m${100 + i}`));
    expect(texts(await getUpdates(f, r2.json.get_updates_buf as string))).toEqual([]);
  });

  it('carries group_id when given and keeps media items from the builders', async () => {
    const f = await start();
    f.userSends('alice', [ilinkItem.image(), ilinkItem.voice('语音转文字'), ilinkItem.file('report.pdf'), ilinkItem.video()], { groupId: 'g1@chatroom' });
    const [m] = (await getUpdates(f)).json.msgs as { group_id?: string; item_list: Record<string, Record<string, unknown>>[] }[];
    expect(m?.group_id).toBe('g1@chatroom');
    expect(m?.item_list.map((i) => i.type)).toEqual([2, 3, 4, 5]);
    expect(m?.item_list[0]?.image_item?.media).toMatchObject({ encrypt_type: 1, aes_key: expect.any(String), encrypt_query_param: expect.any(String) });
    expect(m?.item_list[1]?.voice_item).toMatchObject({ encode_type: 6, text: '语音转文字' });
    expect(m?.item_list[2]?.file_item).toMatchObject({ file_name: 'report.pdf', md5: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(m?.item_list.every((i) => typeof i.msg_id === 'string' && typeof i.create_time_ms === 'number')).toBe(true);
  });

  it('drops a held poll quietly when the client goes away', async () => {
    const f = await start({ longPollMs: 5000 });
    const abort = new AbortController();
    const p = getUpdates(f, '', { signal: abort.signal });
    await held(f, 'getupdates');
    abort.abort();
    await expect(p).rejects.toThrow();
    await until(() => f.calls[0]?.dropped === true, 'the fake to notice');
    f.userSends('alice', 'later');
    expect(texts(await getUpdates(f))).toEqual(['later']);
    expect(f.calls.filter((c) => c.endpoint === 'getupdates').map((c) => c.status)).toEqual([undefined, 200]);
  });

  it('a poll held on a token that confirm() replaced answers -14', async () => {
    const f = await start({ longPollMs: 5000 });
    const p = getUpdates(f);
    await held(f, 'getupdates');
    await get(f, 'ilink/bot/get_bot_qrcode?bot_type=3');
    f.confirm();
    f.userSends('alice', 'hi');
    expect((await p).json.ret).toBe(-14);
  });
});

describe('fake iLink: request checks', () => {
  const cases: [string, { headers?: Record<string, string | undefined>; raw?: string }, RegExp][] = [
    ['no X-WECHAT-UIN', { headers: { 'X-WECHAT-UIN': undefined } }, /missing header X-WECHAT-UIN/],
    ['a UIN that is not base64', { headers: { 'X-WECHAT-UIN': '12345!' } }, /X-WECHAT-UIN is not base64/],
    ['a UIN that is not a decimal', { headers: { 'X-WECHAT-UIN': uin('abc') } }, /X-WECHAT-UIN must encode a decimal uint32/],
    ['a UIN beyond uint32', { headers: { 'X-WECHAT-UIN': uin('4294967296') } }, /decimal uint32/],
    ['no AuthorizationType', { headers: { AuthorizationType: undefined } }, /missing header AuthorizationType/],
    ['a wrong AuthorizationType', { headers: { AuthorizationType: 'token' } }, /AuthorizationType must be ilink_bot_token/],
    ['no Authorization', { headers: { Authorization: undefined } }, /missing header Authorization/],
    ['Authorization without Bearer', { headers: { Authorization: 'abc' } }, /Bearer <bot_token>/],
    ['a text/plain body', { headers: { 'Content-Type': 'text/plain' } }, /Content-Type must be application\/json/],
    ['no base_info', { raw: '{"get_updates_buf":""}' }, /no base_info/],
    ['a body that is not JSON', { raw: 'get_updates_buf=' }, /not a JSON object/],
    ['an empty body', { raw: '' }, /missing JSON body/],
  ];
  it.each(cases)('%s → 400 naming the problem', async (_name, opts, problem) => {
    const f = await start();
    f.userSends('alice', 'hi');
    const r = await post(f, 'ilink/bot/getupdates', { get_updates_buf: '', base_info: BASE_INFO }, opts);
    expect(r.status).toBe(400);
    expect(r.json.errmsg).toMatch(problem);
  });

  it('lists every problem at once; valid requests pass', async () => {
    const f = await start();
    const r = await post(f, 'ilink/bot/getconfig', {}, { headers: { 'X-WECHAT-UIN': undefined, AuthorizationType: undefined } });
    expect(r.status).toBe(400);
    expect(r.json.problems).toHaveLength(3);
    expect((await post(f, 'ilink/bot/getconfig', { ilink_user_id: 'alice@im.wechat', base_info: {} })).status).toBe(200);
  });

  it('a wrong token gets HTTP 200 ret -14; unknown paths 404; GET on a bot endpoint 405', async () => {
    const f = await start();
    const r = await post(f, 'ilink/bot/getupdates', { get_updates_buf: '', base_info: BASE_INFO }, { token: 'nope' });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ret: -14, errcode: -14, errmsg: 'session timeout' });
    expect((await post(f, 'ilink/bot/nosuch', { base_info: BASE_INFO })).status).toBe(404);
    expect((await post(f, '/ilink//bot/getupdates', { base_info: BASE_INFO })).status).toBe(404);
    expect((await fetch(new URL('ilink/bot/getupdates', f.url))).status).toBe(405);
  });

  it('records every call with lower-case headers and the parsed body', async () => {
    const f = await start();
    await post(f, 'ilink/bot/msg/notifystop', { base_info: BASE_INFO });
    await post(f, 'ilink/bot/nosuch', { base_info: BASE_INFO });
    expect(f.calls.map((c) => [c.endpoint, c.status])).toEqual([
      ['notifystop', 200],
      ['unknown', 404],
    ]);
    expect(f.calls[0]).toMatchObject({ method: 'POST', path: '/ilink/bot/msg/notifystop', body: { base_info: BASE_INFO }, response: { ret: 0 } });
    expect(f.calls[0]?.headers).toMatchObject({ authorizationtype: 'ilink_bot_token', authorization: `Bearer ${f.botToken}`, 'x-wechat-uin': uin() });
  });
});

describe('fake iLink: sendmessage', () => {
  it('answers {} and records the message', async () => {
    const f = await start();
    const m = f.userSends('alice', 'hi');
    const r = await sendText(f, 'alice@im.wechat', m.context_token, 'hello back', 'cid-1');
    expect(r.status).toBe(200);
    expect(r.text).toBe('{}');
    expect(f.sent()).toEqual([
      { to: 'alice@im.wechat', clientId: 'cid-1', contextToken: m.context_token, item: { type: 1, text_item: { text: 'hello back' } }, text: 'hello back', at: expect.any(Number) },
    ]);
    expect(f.sent('alice')).toHaveLength(1);
    expect(f.sent('bob')).toEqual([]);
  });

  it('refuses a context token issued to another user, or an unknown one, with -2', async () => {
    const f = await start();
    f.userSends('alice', 'hi');
    const fromBob = f.userSends('bob', 'yo');
    expect((await sendText(f, 'alice@im.wechat', fromBob.context_token, 'x')).json).toEqual({ ret: -2, errcode: -2, errmsg: 'context token invalid' });
    expect((await sendText(f, 'alice@im.wechat', 'made-up', 'x')).json.ret).toBe(-2);
    expect(f.sent()).toEqual([]);
  });

  it('allows repliesPerToken replies per inbound message, then -2', async () => {
    const f = await start({ repliesPerToken: 2 });
    const m1 = f.userSends('alice', 'one');
    expect((await sendText(f, 'alice@im.wechat', m1.context_token, 'r1')).json).toEqual({});
    expect((await sendText(f, 'alice@im.wechat', m1.context_token, 'r2')).json).toEqual({});
    expect((await sendText(f, 'alice@im.wechat', m1.context_token, 'r3')).json.ret).toBe(-2);
    const m2 = f.userSends('alice', 'two');
    expect((await sendText(f, 'alice@im.wechat', m2.context_token, 'r4')).json).toEqual({});
    expect(f.sent('alice').map((s) => s.text)).toEqual(['r1', 'r2', 'r4']);
  });

  it('refuses malformed messages with -1 and does not deduplicate by client_id', async () => {
    const f = await start();
    const m = f.userSends('alice', 'hi');
    const msg = { from_user_id: '', to_user_id: 'alice@im.wechat', client_id: 'c1', message_type: 2, message_state: 2, item_list: [{ type: 1, text_item: { text: 'a' } }], context_token: m.context_token };
    const send = (over: Record<string, unknown>) => post(f, 'ilink/bot/sendmessage', { msg: { ...msg, ...over }, base_info: BASE_INFO });
    const two = await send({ item_list: [{ type: 1, text_item: { text: 'a' } }, { type: 1, text_item: { text: 'b' } }] });
    expect(two.json).toEqual({ ret: -1, errcode: -1, errmsg: expect.stringMatching(/exactly one item, got 2/) });
    expect((await send({ item_list: [{ type: 1, text_item: { text: '' } }] })).json.errmsg).toMatch(/text must be a non-empty string/);
    expect((await send({ message_type: 1 })).json.errmsg).toMatch(/message_type must be 2/);
    expect((await send({ to_user_id: 'carol@im.wechat' })).json.errmsg).toMatch(/not a user of this bot/);
    expect((await send({ item_list: [{ type: 2 }] })).json.errmsg).toMatch(/image_item must be an object/);
    expect((await post(f, 'ilink/bot/sendmessage', { base_info: BASE_INFO })).json.errmsg).toMatch(/msg must be an object/);
    expect(f.sent()).toEqual([]);
    expect((await send({})).json).toEqual({});
    expect((await send({})).json).toEqual({});
    expect(f.sent().map((s) => s.clientId)).toEqual(['c1', 'c1']);
  });

  it('waitForSent resolves on the count and rejects clearly on timeout', async () => {
    const f = await start();
    const m = f.userSends('alice', 'hi');
    const waiting = f.waitForSent(2, { user: 'alice' });
    await sendText(f, 'alice@im.wechat', m.context_token, 'one');
    await sendText(f, 'alice@im.wechat', m.context_token, 'two');
    expect((await waiting).map((s) => s.text)).toEqual(['one', 'two']);
    await expect(f.waitForSent(3, { user: 'alice', timeoutMs: 50 })).rejects.toThrow(/timed out after 50 ms waiting for 3 sent message\(s\) to alice@im\.wechat; got 2/);
  });

  it('onSent sees each accepted send until unsubscribed; forgetHistory drops the records but not the tokens', async () => {
    const f = await start();
    const m = f.userSends('alice', 'hi');
    const seen: string[] = [];
    const stop = f.onSent((s) => seen.push(`${s.text}:${s.contextToken === m.context_token}`));
    await sendText(f, 'alice@im.wechat', m.context_token, 'one');
    await sendText(f, 'alice@im.wechat', 'made-up', 'refused');
    f.forgetHistory();
    expect(f.sent()).toEqual([]);
    expect(f.calls).toEqual([]);
    await sendText(f, 'alice@im.wechat', m.context_token, 'two');
    stop();
    await sendText(f, 'alice@im.wechat', m.context_token, 'three');
    expect(seen).toEqual(['one:true', 'two:true']);
    expect(f.sent().map((s) => s.text)).toEqual(['two', 'three']);
  });
});

describe('fake iLink: getconfig and sendtyping', () => {
  it('issues a typing ticket, accepts typing with it and records the call', async () => {
    const f = await start();
    const m = f.userSends('alice', 'hi');
    const cfg = await post(f, 'ilink/bot/getconfig', { ilink_user_id: 'alice@im.wechat', context_token: m.context_token, base_info: BASE_INFO });
    expect(cfg.json).toEqual({ ret: 0, typing_ticket: expect.stringMatching(/^[A-Za-z0-9+/=]{16,}$/) });
    const ticket = cfg.json.typing_ticket as string;
    const typing = (status: unknown, t = ticket) => post(f, 'ilink/bot/sendtyping', { ilink_user_id: 'alice@im.wechat', typing_ticket: t, status, base_info: BASE_INFO });
    expect((await typing(1)).json).toEqual({ ret: 0 });
    expect((await typing(2)).json).toEqual({ ret: 0 });
    expect((await typing(1, 'forged')).json).toMatchObject({ ret: -1, errmsg: expect.stringMatching(/typing_ticket/) });
    expect((await typing(3)).json.ret).toBe(-1);
    expect(f.typing('alice').map((t) => [t.user, t.status, t.ticket])).toEqual([
      ['alice@im.wechat', 1, ticket],
      ['alice@im.wechat', 2, ticket],
    ]);
    expect(f.typing('bob')).toEqual([]);
  });
});

describe('fake iLink: scripted failures', () => {
  it('{http} answers that status for `count` calls, then normal service', async () => {
    const f = await start();
    f.failNext('getconfig', { http: 500 }, 2);
    const body = { ilink_user_id: 'alice@im.wechat', base_info: BASE_INFO };
    const r1 = await post(f, 'ilink/bot/getconfig', body);
    expect([r1.status, r1.text]).toEqual([500, 'server error']);
    expect((await post(f, 'ilink/bot/getconfig', body)).status).toBe(500);
    expect((await post(f, 'ilink/bot/sendtyping', { ilink_user_id: 'alice@im.wechat', typing_ticket: 'x', status: 1, base_info: BASE_INFO })).status).toBe(200);
    expect((await post(f, 'ilink/bot/getconfig', body)).json.ret).toBe(0);
    expect(f.calls.map((c) => c.status)).toEqual([500, 500, 200, 200]);
  });

  it('{ret} answers HTTP 200 with ret and errcode, before any other check', async () => {
    const f = await start();
    f.failNext('getupdates', { ret: -1, errmsg: 'busy' });
    f.failNext('get_bot_qrcode', { ret: -5 });
    const r = await getUpdates(f, '', { token: 'not-even-valid' });
    expect([r.status, r.json]).toEqual([200, { ret: -1, errcode: -1, errmsg: 'busy' }]);
    expect((await get(f, 'ilink/bot/get_bot_qrcode?bot_type=3')).json).toMatchObject({ ret: -5, errcode: -5 });
    expect((await getUpdates(f, '', { token: 'not-even-valid' })).json.ret).toBe(-14);
    expect(f.qrSessions).toEqual([]);
  });

  it('{hangMs} answers normally only after that long', async () => {
    const f = await start();
    const m = f.userSends('alice', 'hi');
    f.failNext('sendmessage', { hangMs: 300 });
    const slow = await sendText(f, 'alice@im.wechat', m.context_token, 'slow');
    expect(slow.ms).toBeGreaterThanOrEqual(280);
    expect(slow.json).toEqual({});
    const fast = await sendText(f, 'alice@im.wechat', m.context_token, 'fast');
    expect(fast.ms).toBeLessThan(250);
    expect(f.sent().map((s) => s.text)).toEqual(['slow', 'fast']);
  });

  it('{reset} destroys the socket; the next call is served', async () => {
    const f = await start();
    f.failNext('get_qrcode_status', { reset: true });
    await expect(get(f, 'ilink/bot/get_qrcode_status?qrcode=x')).rejects.toThrow();
    expect((await get(f, 'ilink/bot/get_qrcode_status?qrcode=x')).json).toEqual({ status: 'expired' });
    expect(f.calls.map((c) => [c.status, c.dropped])).toEqual([
      [undefined, true],
      [200, undefined],
    ]);
  });

  it('expireSession answers -14 on every bot endpoint until a new confirm', async () => {
    const f = await start();
    const m = f.userSends('alice', 'hi');
    const token = f.botToken;
    f.expireSession();
    const expired = { ret: -14, errcode: -14, errmsg: 'session timeout' };
    expect((await getUpdates(f)).json).toEqual(expired);
    expect((await sendText(f, 'alice@im.wechat', m.context_token, 'x')).json).toEqual(expired);
    expect((await post(f, 'ilink/bot/getconfig', { ilink_user_id: 'alice@im.wechat', base_info: BASE_INFO })).json).toEqual(expired);
    expect((await post(f, 'ilink/bot/sendtyping', { ilink_user_id: 'alice@im.wechat', typing_ticket: 't', status: 1, base_info: BASE_INFO })).json).toEqual(expired);
    expect((await post(f, 'ilink/bot/msg/notifystart', { base_info: BASE_INFO })).json).toEqual(expired);
    expect((await post(f, 'ilink/bot/msg/notifystop', { base_info: BASE_INFO })).json).toEqual(expired);
    expect(f.botToken).toBe(token);
    // Login still works, and restores service under the new token.
    expect((await get(f, 'ilink/bot/get_bot_qrcode?bot_type=3')).json.ret).toBe(0);
    f.scan();
    const fresh = f.confirm();
    expect(texts(await getUpdates(f, '', { token: fresh }))).toEqual(['hi']);
    expect((await getUpdates(f, '', { token })).json).toEqual(expired);
    expect(f.sent()).toEqual([]);
  });
});

describe('fake iLink: close', () => {
  it('ends a held long poll promptly and is idempotent', async () => {
    const f = await start({ longPollMs: 30_000 });
    const p = getUpdates(f);
    await held(f, 'getupdates');
    const t = Date.now();
    await f.close();
    await expect(p).rejects.toThrow();
    expect(Date.now() - t).toBeLessThan(1000);
    await until(() => f.calls[0]?.dropped === true, 'the held call to end');
    await f.close();
    await expect(getUpdates(f)).rejects.toThrow();
  });
});
