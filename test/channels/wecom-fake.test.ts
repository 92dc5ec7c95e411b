import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateReqId, WSClient, type WsFrame } from '@wecom/aibot-node-sdk';
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { signature, TencentCrypto } from '../../src/channels/shared/tencent-crypto.js';
import { FakeWecom, parseFlatXml, wecomMessage, type BotDelivery, type FakeWecomOptions } from '../fakes/wecom/index.js';

/**
 * The fake WeCom, driven by plain HTTP for the self-built app and by the official `@wecom/aibot-node-sdk` for the
 * intelligent robot: if the SDK subscribes, heartbeats, receives and replies through the fake, the fake speaks
 * what the SDK speaks.
 */

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function startFake(opts: FakeWecomOptions = {}): Promise<FakeWecom> {
  const fake = await FakeWecom.start(opts);
  cleanups.push(() => fake.close());
  return fake;
}

async function httpServer(listener: RequestListener): Promise<string> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/wecom`;
}

function readAll(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls client-side state (the fake's own waitFor only re-checks on fake events). */
async function until(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(10);
  }
}

/** A minimal app gateway: verifies and decrypts like a real one, records what it got, answers empty. */
function appGateway(fake: FakeWecom, behaviour: { delayMs?: (n: number) => number; status?: (n: number) => number } = {}) {
  const crypto = new TencentCrypto({ token: fake.token, encodingAesKey: fake.encodingAesKey, receiveId: fake.corpId });
  const received: { query: Record<string, string>; body: string; fields?: Record<string, string>; error?: string }[] = [];
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://gw');
    const q = Object.fromEntries(url.searchParams);
    const body = await readAll(req);
    const n = received.length;
    const entry: (typeof received)[number] = { query: q, body };
    received.push(entry);
    await sleep(behaviour.delayMs?.(n) ?? 0);
    try {
      if (req.method === 'GET') {
        res.end(crypto.decryptVerified({ msgSignature: q.msg_signature ?? '', timestamp: q.timestamp ?? '', nonce: q.nonce ?? '', encrypt: q.echostr ?? '' }));
        return;
      }
      const outer = parseFlatXml(body) ?? {};
      entry.fields = parseFlatXml(crypto.decryptVerified({ msgSignature: q.msg_signature ?? '', timestamp: q.timestamp ?? '', nonce: q.nonce ?? '', encrypt: outer.Encrypt ?? '' }));
      res.writeHead(behaviour.status?.(n) ?? 200);
      res.end('');
    } catch (err) {
      entry.error = (err as Error).message;
      if (!res.headersSent) res.writeHead(400);
      res.end('bad request');
    }
  };
  return { received, handler: (req: IncomingMessage, res: ServerResponse) => void handler(req, res) };
}

async function api(fake: FakeWecom, path: string, init?: { method?: string; json?: unknown }) {
  const res = await fetch(`${fake.url}${path}`, {
    method: init?.method ?? (init?.json === undefined ? 'GET' : 'POST'),
    ...(init?.json === undefined ? {} : { body: JSON.stringify(init.json), headers: { 'content-type': 'application/json' } }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown> & { errcode: number };
}

async function token(fake: FakeWecom): Promise<string> {
  const r = await api(fake, `/cgi-bin/gettoken?corpid=${fake.corpId}&corpsecret=${fake.corpSecret}`);
  expect(r.errcode).toBe(0);
  return String(r.access_token);
}

const sendText = (fake: FakeWecom, tok: string, touser: string, content: string, extra: Record<string, unknown> = {}) =>
  api(fake, `/cgi-bin/message/send?access_token=${tok}`, { json: { touser, msgtype: 'text', agentid: fake.agentId, text: { content }, ...extra } });

describe('fake WeCom: crypto', () => {
  it('accepts the published WeCom verify vector and round-trips pushes with TencentCrypto', async () => {
    // wechatpy tests/test_crypto.py (WeCom): the fake built from the same credentials must verify and decrypt it.
    const fake = await startFake({ corpId: 'wx49f0ab532d5d035a', token: '123456', encodingAesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR' });
    const echostr = '4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==';
    expect(fake.crypto.verify('dd6b9c95b495b3f7e2901bfbc76c664930ffdb96', '1411443780', '437374425', echostr)).toBe(true);
    expect(fake.crypto.verify('dd6b9c95b495b3f7e2901bfbc76c664930ffdb96', '1411443780', '437374424', echostr)).toBe(false);
    expect(fake.crypto.decrypt(echostr)).toMatch(/^\d+$/);

    const gw = appGateway(fake);
    fake.gatewayUrl = await httpServer(gw.handler);
    const r = await fake.push('lisi', wecomMessage.text('加密往返'));
    expect(r.delivered).toBe(true);
    expect(gw.received[0]?.error).toBeUndefined();
    expect(gw.received[0]?.fields?.Content).toBe('加密往返');
    // The POST body is the envelope: only ToUserName, AgentID and Encrypt in clear.
    expect(Object.keys(parseFlatXml(r.body) ?? {})).toEqual(['ToUserName', 'AgentID', 'Encrypt']);
    const q = gw.received[0]?.query ?? {};
    expect(q.msg_signature).toBe(signature(fake.token, q.timestamp ?? '', q.nonce ?? '', parseFlatXml(r.body)?.Encrypt));
  });
});

describe('fake WeCom: app callback', () => {
  it('verifies the URL with an encrypted echostr and wants the plaintext back within 1 s', async () => {
    const fake = await startFake();
    const gw = appGateway(fake);
    const url = await httpServer(gw.handler);
    const good = await fake.verifyUrl(url);
    expect(good.ok).toBe(true);
    expect(good.body).toBe(good.echostr);
    expect(gw.received[0]?.query.echostr).not.toBe(good.echostr); // it travelled encrypted

    const forged = await fake.verifyUrl(url, { tamper: 'msg_signature' });
    expect(forged.ok).toBe(false);
    expect(forged.status).toBe(400);
    const foreign = await fake.verifyUrl(url, { tamper: 'corpid' });
    expect(foreign.ok).toBe(false);
    expect(gw.received.at(-1)?.error).toMatch(/receive id/);

    const slow = appGateway(fake, { delayMs: () => 300 });
    const late = await fake.verifyUrl(await httpServer(slow.handler), { timeoutMs: 100 });
    expect(late.timedOut).toBe(true);
    expect(late.ok).toBe(false);
  });

  it('pushes every message type and event as WeCom XML with CorpID, AgentID and a 64-bit MsgId', async () => {
    const fake = await startFake({ agentId: 1000005 });
    const gw = appGateway(fake);
    fake.gatewayUrl = await httpServer(gw.handler);
    const messages = [
      wecomMessage.text('你好'),
      wecomMessage.image(),
      wecomMessage.voice(),
      wecomMessage.video(),
      wecomMessage.location(),
      wecomMessage.link(),
      wecomMessage.subscribe(),
      wecomMessage.enterAgent(),
      wecomMessage.click('MENU_1'),
    ];
    const results = [];
    for (const m of messages) results.push(await fake.push('zhangsan', m));
    expect(results.every((r) => r.delivered && r.attempts.length === 1 && r.reply === undefined && r.replyError === undefined)).toBe(true);
    const fields = gw.received.map((e) => e.fields ?? {});
    expect(fields.map((f) => f.MsgType)).toEqual(['text', 'image', 'voice', 'video', 'location', 'link', 'event', 'event', 'event']);
    expect(fields.map((f) => f.Event).slice(6)).toEqual(['subscribe', 'enter_agent', 'click']);
    expect(fields[8]?.EventKey).toBe('MENU_1');
    expect(fields[7]?.EventKey).toBe('');
    for (const f of fields) {
      expect(f.ToUserName).toBe(fake.corpId);
      expect(f.FromUserName).toBe('zhangsan');
      expect(f.AgentID).toBe('1000005');
    }
    expect(fields[0]?.Content).toBe('你好');
    expect(fields[1]?.PicUrl).toMatch(/^https:/);
    expect(fields[4]?.Label).toBe('广州市天河区');
    // Messages carry a MsgId beyond 2^53 (kept exact as a string); events carry none.
    expect(BigInt(fields[0]?.MsgId ?? '0')).toBeGreaterThan(2n ** 53n);
    expect(fields[0]?.MsgId).toBe(results[0]?.msgId);
    expect(fields[6]?.MsgId).toBeUndefined();
  });

  it('retries a slow or failing gateway: 3 tries of the same body, then gives up', async () => {
    const fake = await startFake({ retryWaitMs: 100 });
    const slow = appGateway(fake, { delayMs: (n) => (n < 2 ? 250 : 0) });
    const r = await fake.push('zhangsan', wecomMessage.text('hi'), { url: await httpServer(slow.handler) });
    expect(r.attempts.map((a) => a.timedOut)).toEqual([true, true, false]);
    expect(r.delivered).toBe(true);
    // The same body every time, each try signed afresh.
    expect(new Set(slow.received.map((e) => e.body)).size).toBe(1);
    expect(new Set(slow.received.map((e) => e.query.nonce)).size).toBe(3);
    await until(() => slow.received.every((e) => e.fields !== undefined));
    expect(slow.received.map((e) => e.fields?.MsgId)).toEqual([r.msgId, r.msgId, r.msgId]);

    const failing = appGateway(fake, { status: () => 500 });
    const f = await fake.push('zhangsan', wecomMessage.text('hi'), { url: await httpServer(failing.handler) });
    expect(f.attempts.map((a) => a.status)).toEqual([500, 500, 500]);
    expect(f.delivered).toBe(false);
  });

  it('forges exactly one thing on request, and sends raw bodies once', async () => {
    const fake = await startFake();
    const gw = appGateway(fake);
    fake.gatewayUrl = await httpServer(gw.handler);
    const sig = await fake.push('u', wecomMessage.text('x'), { tamper: 'msg_signature' });
    expect(sig.attempts.map((a) => a.status)).toEqual([400, 400, 400]);
    expect(gw.received[0]?.error).toMatch(/msg_signature/);
    const corp = await fake.push('u', wecomMessage.text('x'), { tamper: 'corpid' });
    expect(corp.delivered).toBe(false);
    expect(gw.received.at(-1)?.error).toMatch(/receive id/);
    const stale = await fake.push('u', wecomMessage.text('x'), { tamper: 'timestamp' });
    // Correctly signed (this gateway does not check freshness), but two days old.
    expect(stale.delivered).toBe(true);
    expect(Date.now() / 1000 - Number(stale.attempts[0]?.query.timestamp)).toBeGreaterThan(86_400);

    const before = gw.received.length;
    const raw = await fake.rawPost('<xml><Encrypt>not base64!</Encrypt></xml>', { encrypt: 'not base64!' });
    expect(raw.status).toBe(400);
    expect(gw.received.length).toBe(before + 1);
  });
});

describe('fake WeCom: app API', () => {
  it('gettoken: same token while valid; 40001/40013 on bad credentials; 42001 and 40014 on demand and on expiry', async () => {
    const fake = await startFake({ tokenTtlSeconds: 7200 });
    expect((await api(fake, `/cgi-bin/gettoken?corpid=${fake.corpId}&corpsecret=wrong`)).errcode).toBe(40001);
    expect((await api(fake, `/cgi-bin/gettoken?corpid=wwnope&corpsecret=${fake.corpSecret}`)).errcode).toBe(40013);
    const first = await api(fake, `/cgi-bin/gettoken?corpid=${fake.corpId}&corpsecret=${fake.corpSecret}`);
    expect(first.expires_in).toBe(7200);
    fake.advanceTime(100);
    const again = await api(fake, `/cgi-bin/gettoken?corpid=${fake.corpId}&corpsecret=${fake.corpSecret}`);
    expect(again.access_token).toBe(first.access_token);
    expect(again.expires_in).toBe(7100);
    const tok = String(first.access_token);
    expect((await sendText(fake, tok, 'zhangsan', 'one')).errcode).toBe(0);

    fake.expireTokens();
    expect((await sendText(fake, tok, 'zhangsan', 'two')).errcode).toBe(42001);
    const tok2 = await token(fake);
    expect(tok2).not.toBe(tok);
    fake.invalidateTokens();
    expect((await sendText(fake, tok2, 'zhangsan', 'three')).errcode).toBe(40014);
    const tok3 = await token(fake);
    fake.advanceTime(7200);
    expect((await sendText(fake, tok3, 'zhangsan', 'four')).errcode).toBe(42001);
    expect((await sendText(fake, 'made-up', 'zhangsan', 'five')).errcode).toBe(40014);
    expect(fake.delivered('zhangsan').map((m) => m.content)).toEqual(['one']);
    expect(fake.counters.tokensIssued).toBe(3);
  });

  it('message/send: text truncated past 2048 bytes (or 45002), 44004 empty, 40056 agentid, scripted -1 and 45009', async () => {
    const fake = await startFake();
    const tok = await token(fake);
    const long = '长'.repeat(1000); // 3000 bytes
    expect((await sendText(fake, tok, 'zhangsan', long)).errcode).toBe(0);
    const got = fake.delivered('zhangsan')[0];
    expect(got?.truncated).toBe(true);
    expect(Buffer.byteLength(got?.content ?? '')).toBeLessThanOrEqual(2048);
    expect(got?.content).toBe('长'.repeat(682)); // cut on a character boundary
    const md = await api(fake, `/cgi-bin/message/send?access_token=${tok}`, {
      json: { touser: 'zhangsan', msgtype: 'markdown', agentid: fake.agentId, markdown: { content: '**ok**' } },
    });
    expect(md.errcode).toBe(0);
    expect(fake.delivered('zhangsan')[1]).toMatchObject({ msgtype: 'markdown', content: '**ok**', truncated: false });
    expect((await sendText(fake, tok, 'zhangsan', '')).errcode).toBe(44004);
    expect((await sendText(fake, tok, 'zhangsan', 'x', { agentid: 1 })).errcode).toBe(40056);
    fake.failNextSends(1, -1);
    fake.failNextSends(1, 45009);
    expect((await sendText(fake, tok, 'zhangsan', 'a')).errcode).toBe(-1);
    expect((await sendText(fake, tok, 'zhangsan', 'b')).errcode).toBe(45009);
    expect((await sendText(fake, tok, 'zhangsan', 'c')).errcode).toBe(0);
    expect(fake.sends.map((s) => s.errcode)).toEqual([0, 0, 44004, 40056, -1, 45009, 0]);

    const strict = await startFake({ oversize: 'error' });
    expect((await sendText(strict, await token(strict), 'zhangsan', long)).errcode).toBe(45002);
    expect(strict.delivered('zhangsan')).toEqual([]);
  });

  it('answers errcode 0 over 30 messages per minute per member but silently drops the excess', async () => {
    const fake = await startFake({ members: ['zhangsan', 'lisi'] });
    const tok = await token(fake);
    const answers = [];
    for (let i = 0; i < 35; i++) answers.push((await sendText(fake, tok, 'zhangsan', `m${i}`)).errcode);
    expect(answers.every((c) => c === 0)).toBe(true);
    expect(fake.delivered('zhangsan').map((m) => m.content)).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`));
    expect(fake.dropped('zhangsan').map((m) => [m.content, m.reason])).toEqual(Array.from({ length: 5 }, (_, i) => [`m${30 + i}`, 'minute-limit']));
    // Other members have their own budget; unknown ones come back as invaliduser, all unknown is 81013.
    const mixed = await sendText(fake, tok, 'lisi|WangWu', 'hello');
    expect(mixed).toMatchObject({ errcode: 0, invaliduser: 'wangwu' });
    expect(fake.delivered('lisi').map((m) => m.content)).toEqual(['hello']);
    expect((await sendText(fake, tok, 'nobody', 'x')).errcode).toBe(81013);
    fake.advanceTime(61);
    await sendText(fake, tok, 'zhangsan', 'later');
    expect(fake.delivered('zhangsan').at(-1)?.content).toBe('later');
  });
});

// ---- intelligent robot: long connection, with the official SDK as the client ----------------------------------

function quietLogger() {
  const errors: unknown[][] = [];
  return { logger: { debug: () => {}, info: () => {}, warn: () => {}, error: (...m: unknown[]) => void errors.push(m) }, errors };
}

function sdkClient(fake: FakeWecom, opts: { secret?: string; heartbeatInterval?: number; maxAuthFailureAttempts?: number } = {}) {
  const { logger, errors } = quietLogger();
  const client = new WSClient({
    botId: fake.botId,
    secret: opts.secret ?? fake.botSecret,
    wsUrl: fake.wsUrl,
    heartbeatInterval: opts.heartbeatInterval ?? 30_000,
    reconnectInterval: 20,
    maxReconnectAttempts: -1,
    maxAuthFailureAttempts: opts.maxAuthFailureAttempts ?? 5,
    logger,
  });
  const events: string[] = [];
  client.on('authenticated', () => events.push('authenticated'));
  client.on('disconnected', (reason) => events.push(`disconnected:${reason}`));
  client.on('error', (err) => events.push(`error:${err.message}`));
  client.on('event.disconnected_event', () => events.push('disconnected_event'));
  cleanups.push(() => {
    client.removeAllListeners();
    if (client.isConnected || events.includes('authenticated')) client.disconnect();
  });
  return { client, events, errors };
}

describe('fake WeCom: robot long connection (official SDK)', () => {
  it('subscribes, delivers a direct message and assembles a streamed reply (content is cumulative)', async () => {
    const fake = await startFake();
    const { client, events } = sdkClient(fake);
    const frames: WsFrame[] = [];
    client.on('message.text', (frame) => {
      frames.push(frame);
      const streamId = generateReqId('stream');
      void (async () => {
        await client.replyStream(frame, streamId, '正在思考…', false);
        await client.replyStream(frame, streamId, '你好', false);
        await client.replyStream(frame, streamId, '你好，张三！', true);
      })().catch(() => {});
    });
    client.connect();
    await until(() => events.includes('authenticated'));
    expect(fake.currentConnection?.subscribe).toEqual({ bot_id: fake.botId });

    const d = fake.sendBotText('你好');
    await fake.waitForBotReply(d);
    const body = frames[0]?.body as Record<string, unknown>;
    expect(frames[0]?.headers.req_id).toBe(d.reqId);
    expect(body).toMatchObject({ msgid: d.msgid, aibotid: fake.botId, chattype: 'single', from: { userid: 'zhangsan' }, msgtype: 'text', text: { content: '你好' } });
    expect(body.chatid).toBeUndefined();
    expect(d.sends).toEqual([expect.objectContaining({ connectionId: fake.currentConnection?.id, written: true })]);
    expect(d.finished).toBe(true);
    expect(d.text).toBe('你好，张三！');
    expect(d.stream?.frames).toBe(3);
    expect(d.replies.map((r) => [r.cmd, r.errcode])).toEqual([
      ['aibot_respond_msg', 0],
      ['aibot_respond_msg', 0],
      ['aibot_respond_msg', 0],
    ]);
  });

  it('group messages carry chatid and the @mention; events reach the SDK and take a welcome reply', async () => {
    const fake = await startFake({ botName: '小助手' });
    const { client } = sdkClient(fake);
    const got: WsFrame[] = [];
    client.on('message', (frame) => {
      got.push(frame);
      client.replyStream(frame, generateReqId('stream'), `收到：${String((frame.body as { text?: { content?: string } }).text?.content)}`, true).catch(() => {});
    });
    client.on('event.enter_chat', (frame) => void client.replyWelcome(frame, { msgtype: 'text', text: { content: '欢迎！' } }).catch(() => {}));
    client.connect();
    await fake.waitForBotConnection();

    const group = fake.sendBotText('查一下', { chatType: 'group', chatId: 'wrGroup1', from: 'lisi' });
    await fake.waitForBotReply(group);
    expect(got[0]?.body).toMatchObject({ chattype: 'group', chatid: 'wrGroup1', from: { userid: 'lisi' }, text: { content: '@小助手 查一下' } });
    expect(group.text).toBe('收到：@小助手 查一下');

    const enter = fake.sendBotEvent('enter_chat');
    await fake.waitForBotReply(enter);
    expect(enter.welcome).toEqual({ msgtype: 'text', text: { content: '欢迎！' } });
  });

  it('serves media the SDK can download and decrypt, and accepts its chunked uploads', async () => {
    const fake = await startFake();
    const { client } = sdkClient(fake);
    const bytes = Buffer.from('some image bytes, not a multiple of 32');
    let downloaded: Buffer | undefined;
    client.on('message.image', (frame) => {
      void (async () => {
        const image = (frame.body as { image: { url: string; aeskey: string } }).image;
        downloaded = (await client.downloadFile(image.url, image.aeskey)).buffer;
        const up = await client.uploadMedia(Buffer.alloc(700 * 1024, 7), { type: 'file', filename: 'a.bin' });
        await client.replyMedia(frame, 'file', up.media_id);
      })().catch(() => {});
    });
    client.connect();
    await fake.waitForBotConnection();
    const d = fake.sendBotMessage({ type: 'image', data: bytes });
    await fake.waitForBotReply(d);
    expect(downloaded?.equals(bytes)).toBe(true);
    const mediaId = ((d.replies.at(-1)?.body as { file?: { media_id?: string } }).file?.media_id ?? '') as string;
    expect(fake.uploadedMedia(mediaId)?.data.length).toBe(700 * 1024);
  });

  it('refuses a bad secret with errcode≠0 and closes; the SDK gives up after its auth attempts', async () => {
    const fake = await startFake();
    const { client, events } = sdkClient(fake, { secret: 'wrong', maxAuthFailureAttempts: 0 });
    client.connect();
    await until(() => events.some((e) => e.includes('Max auth failure')));
    expect(events.find((e) => e.startsWith('error:Authentication failed'))).toMatch(/code: 40001/);
    expect(fake.connections[0]).toMatchObject({ subscribed: false, open: false, closeReason: 'auth-failed' });
    expect(fake.currentConnection).toBeUndefined();
  });

  it('a second connection with the same robot takes over: the old one gets disconnected_event and does not reconnect', async () => {
    const fake = await startFake({ takeoverCloseDelayMs: 20 });
    const a = sdkClient(fake);
    a.client.connect();
    await fake.waitForBotConnection();
    const first = fake.currentConnection?.id;
    const b = sdkClient(fake);
    const bGot: string[] = [];
    b.client.on('message.text', (frame) => bGot.push(frame.headers.req_id));
    b.client.connect();
    await until(() => a.events.includes('disconnected_event') && b.events.includes('authenticated'));
    expect(fake.currentConnection?.id).not.toBe(first);
    expect(a.events.some((e) => e.startsWith('disconnected:New connection established'))).toBe(true);
    await fake.waitFor(() => fake.openConnections === 1, 2000);
    expect(fake.connections.find((c) => c.id === first)?.closeReason).toBe('taken-over');
    await sleep(150); // several reconnect intervals: the SDK must not come back
    expect(fake.connectionCount).toBe(2);
    const d = fake.sendBotText('to the new one');
    await until(() => bGot.includes(d.reqId));
    expect(d.sends[0]?.connectionId).toBe(fake.currentConnection?.id);
  });

  it('answers pings; missed acks make the SDK reconnect; drops queue callbacks until the next subscribe', async () => {
    const fake = await startFake();
    const { client } = sdkClient(fake, { heartbeatInterval: 40 });
    const got: string[] = [];
    client.on('message.text', (frame) => got.push(frame.headers.req_id));
    client.connect();
    await fake.waitForBotConnection();
    await fake.waitFor(() => (fake.currentConnection?.pings ?? 0) >= 2, 2000);

    fake.ignorePings();
    // Two unanswered pings, then the SDK terminates the socket and reconnects.
    await fake.waitFor(() => fake.connectionCount >= 2, 3000);
    expect(fake.connections[0]?.pingsIgnored).toBeGreaterThanOrEqual(2);
    fake.answerPings();
    await fake.waitForBotConnection();

    expect(fake.dropConnections()).toBe(1);
    const queued = fake.sendBotText('while offline');
    expect(queued.status).toBe('queued');
    await until(() => got.includes(queued.reqId));
    expect(queued.status).toBe('sent');
    expect(fake.connectionCount).toBeGreaterThanOrEqual(3);
  });

  it('a refused reply rejects the SDK promise with the ack; a finished stream takes no more frames', async () => {
    const fake = await startFake();
    const { client } = sdkClient(fake);
    const results: unknown[] = [];
    client.on('message.text', (frame) => {
      void (async () => {
        const id = generateReqId('stream');
        fake.failNextReplies(1, -1, 'system busy');
        results.push(await client.replyStream(frame, id, 'a', false).catch((e: unknown) => e));
        results.push(await client.replyStream(frame, id, 'ab', true));
        results.push(await client.replyStream(frame, id, 'abc', true).catch((e: unknown) => e));
      })().catch(() => {});
    });
    client.connect();
    await fake.waitForBotConnection();
    const d = fake.sendBotText('hi');
    await until(() => results.length === 3);
    expect(results[0]).toMatchObject({ errcode: -1 });
    expect(results[1]).toMatchObject({ errcode: 0, headers: { req_id: d.reqId } });
    expect(results[2]).toMatchObject({ errcode: 40058, errmsg: 'stream already finished' });
    expect(d.text).toBe('ab');
    expect(d.stream?.frames).toBe(1);
  });
});

describe('fake WeCom: robot long connection (raw frames)', () => {
  async function raw(fake: FakeWecom) {
    const ws = new WebSocket(fake.wsUrl);
    cleanups.push(() => ws.terminate());
    const frames: Record<string, unknown>[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Record<string, unknown>));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const send = (f: unknown) => ws.send(JSON.stringify(f));
    const next = async (pred: (f: Record<string, unknown>) => boolean) => {
      await until(() => frames.some(pred));
      return frames.find(pred) as Record<string, unknown> & { headers: { req_id: string }; errcode?: number; errmsg?: string; body?: Record<string, unknown> };
    };
    return { ws, frames, send, next };
  }
  const reqIs = (id: string) => (f: Record<string, unknown>) => (f.headers as { req_id?: string } | undefined)?.req_id === id;

  it('closes a connection that talks before subscribing', async () => {
    const fake = await startFake();
    const c = await raw(fake);
    c.send({ cmd: 'ping', headers: { req_id: 'ping_1' } });
    expect(await c.next(reqIs('ping_1'))).toMatchObject({ errcode: 40058 });
    await fake.waitFor(() => fake.connections[0]?.open === false, 2000);
    expect(fake.connections[0]?.closeReason).toBe('protocol');
  });

  it('checks replies: unknown req_id, oversized content, a second stream id, msg_item before finish; withheld acks', async () => {
    const fake = await startFake();
    const c = await raw(fake);
    c.send({ cmd: 'aibot_subscribe', headers: { req_id: 'aibot_subscribe_1' }, body: { bot_id: fake.botId, secret: fake.botSecret, scene: 1 } });
    expect(await c.next(reqIs('aibot_subscribe_1'))).toMatchObject({ errcode: 0, errmsg: 'ok' });
    expect(fake.currentConnection?.subscribe).toEqual({ bot_id: fake.botId, scene: 1 });
    const d: BotDelivery = fake.sendBotText('hi');
    const pushed = await c.next(reqIs(d.reqId));
    expect(pushed.cmd).toBe('aibot_msg_callback');

    const reply = (reqId: string, stream: Record<string, unknown>) => c.send({ cmd: 'aibot_respond_msg', headers: { req_id: reqId }, body: { msgtype: 'stream', stream } });
    reply('nope', { id: 's1', content: 'x' });
    expect((await c.next(reqIs('nope'))).errcode).toBe(40058);
    reply(d.reqId, { id: 's1', content: 'x'.repeat(20_481) });
    await fake.waitFor(() => d.replies.length === 1);
    reply(d.reqId, { id: 's1', content: 'ok' });
    reply(d.reqId, { id: 's2', content: 'other' });
    reply(d.reqId, { id: 's1', content: 'ok', msg_item: [] });
    await fake.waitFor(() => d.replies.length === 4);
    expect(d.replies.map((r) => r.errcode)).toEqual([40058, 0, 40058, 40058]);
    expect(d.replies[0]?.errmsg).toMatch(/20480/);

    fake.withholdAcks(1);
    reply(d.reqId, { id: 's1', content: 'ok!', finish: true });
    await fake.waitFor(() => d.replies.length === 5);
    await sleep(100);
    expect(c.frames.filter(reqIs(d.reqId)).length).toBe(1 + 4); // the push and four acks: the fifth frame got none
    expect(d.finished).toBe(false);
    reply(d.reqId, { id: 's1', content: 'ok!', finish: true });
    await fake.waitForBotReply(d, 2000);
    expect(d.text).toBe('ok!');

    // A proactive send is acked and recorded.
    c.send({ cmd: 'aibot_send_msg', headers: { req_id: 'aibot_send_msg_1' }, body: { chatid: 'zhangsan', msgtype: 'markdown', markdown: { content: '**hi**' } } });
    expect((await c.next(reqIs('aibot_send_msg_1'))).errcode).toBe(0);
    expect(fake.botSent.map((m) => [m.chatid, m.content])).toEqual([['zhangsan', '**hi**']]);
  });
});

describe('fake WeCom: robot webhook mode', () => {
  it('verifies with receive id "", posts {encrypt} and polls an unfinished stream until finish', async () => {
    const fake = await startFake({ streamRefreshIntervalMs: 10 });
    const crypto = new TencentCrypto({ token: fake.botToken, encodingAesKey: fake.botEncodingAesKey, receiveId: '' });
    const seen: Record<string, unknown>[] = [];
    const url = await httpServer((req, res) => {
      void (async () => {
        const q = Object.fromEntries(new URL(req.url ?? '/', 'http://gw').searchParams);
        const sig = { msgSignature: q.msg_signature ?? '', timestamp: q.timestamp ?? '', nonce: q.nonce ?? '' };
        if (req.method === 'GET') return res.end(crypto.decryptVerified({ ...sig, encrypt: q.echostr ?? '' }));
        const { encrypt } = JSON.parse(await readAll(req)) as { encrypt: string };
        const msg = JSON.parse(crypto.decryptVerified({ ...sig, encrypt })) as Record<string, unknown>;
        seen.push(msg);
        const content = ['思', '思考', '思考完毕'][seen.length - 1] ?? '';
        const plain = JSON.stringify({ msgtype: 'stream', stream: { id: 'st1', content, finish: seen.length === 3 } });
        const enc = crypto.encrypt(plain);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ encrypt: enc, msgsignature: signature(fake.botToken, sig.timestamp, sig.nonce, enc), timestamp: sig.timestamp, nonce: sig.nonce }));
      })();
    });
    expect((await fake.verifyBotWebhook(url)).ok).toBe(true);
    const r = await fake.pushBotWebhook(url, { type: 'text', content: '想一想' }, { chatType: 'group' });
    expect(seen[0]).toMatchObject({ msgtype: 'text', chattype: 'group', text: { content: '@CocoCat 想一想' } });
    expect(String(seen[0]?.response_url)).toMatch(/\/aibot\/response\//);
    expect(seen.slice(1).map((m) => [m.msgtype, (m.stream as { id?: string }).id])).toEqual([
      ['stream', 'st1'],
      ['stream', 'st1'],
    ]);
    expect(r).toMatchObject({ finished: true, text: '思考完毕', expired: false });
    expect(r.replyError).toBeUndefined();
    expect(r.exchanges.map((e) => e.kind)).toEqual(['message', 'refresh', 'refresh']);

    // The response_url takes one POST.
    const post = (u: string) => fetch(u, { method: 'POST', body: JSON.stringify({ msgtype: 'markdown', markdown: { content: 'later' } }) }).then((x) => x.json());
    const responseUrl = String(seen[0]?.response_url);
    expect(await post(responseUrl)).toMatchObject({ errcode: 0 });
    expect(await post(responseUrl)).toMatchObject({ errcode: 40058 });
    expect(fake.responseUrlPosts.map((p) => p.errcode)).toEqual([0, 40058]);
  });
});
