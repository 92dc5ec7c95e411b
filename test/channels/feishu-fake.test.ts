import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AESCipher, adaptDefault, Client, EventDispatcher, LoggerLevel, WSClient } from '@larksuiteoapi/node-sdk';
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CARD_CALLS_PER_SECOND,
  CARD_ERRORS,
  DEGRADED_CARD_CONTENT,
  decrypt,
  encrypt,
  FakeFeishu,
  sign,
  STREAMING_LIMIT_MS,
  textOf,
  type FakeFeishuOptions,
  type ReceiveMessageEvent,
} from '../fakes/feishu/index.js';

/**
 * The fake Feishu, driven by the official node SDK as the client: if the SDK can discover, connect, reassemble,
 * ack, get tokens and send through the fake, the fake speaks the real protocol.
 */

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** The SDK logs every frame at info; keep errors so a failing test can show them. */
function quietLogger() {
  const errors: unknown[] = [];
  const logger = { error: (...m: unknown[]) => void errors.push(m), warn: () => {}, info: () => {}, debug: () => {}, trace: () => {} };
  return { logger, errors };
}

async function startFake(opts: FakeFeishuOptions = {}): Promise<FakeFeishu> {
  const fake = await FakeFeishu.start({ clientConfig: { ReconnectNonce: 0, ReconnectInterval: 1 }, ...opts });
  cleanups.push(() => fake.close());
  return fake;
}

type Handler = (data: { event_id?: string; message: ReceiveMessageEvent['event']['message']; sender: ReceiveMessageEvent['event']['sender'] }) => unknown;

/** Starts an SDK long-connection client against the fake with the given message handler. */
function startWsClient(fake: FakeFeishu, handler: Handler, extra: { onError?: (e: Error) => void } = {}) {
  const { logger, errors } = quietLogger();
  const dispatcher = new EventDispatcher({ logger, loggerLevel: LoggerLevel.error }).register({
    'im.message.receive_v1': async (data) => handler(data as unknown as Parameters<Handler>[0]),
  });
  const client = new WSClient({ appId: fake.appId, appSecret: fake.appSecret, domain: fake.url, logger, loggerLevel: LoggerLevel.error, onError: extra.onError });
  void client.start({ eventDispatcher: dispatcher });
  cleanups.push(() => client.close({ force: true }));
  return { client, errors };
}

function sdkClient(fake: FakeFeishu) {
  const { logger } = quietLogger();
  return new Client({ appId: fake.appId, appSecret: fake.appSecret, domain: fake.url, logger, loggerLevel: LoggerLevel.fatal });
}

interface AxiosLikeError {
  response?: { status: number; headers: Record<string, string>; data: { code: number; msg: string } };
}
/** Runs an SDK call that must fail with an HTTP error; returns status, headers and body. */
async function failure(p: Promise<unknown>) {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as AxiosLikeError | undefined;
  expect(err?.response, 'expected the call to fail with an HTTP answer').toBeDefined();
  return err!.response!;
}

async function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function httpServer(listener: RequestListener): Promise<string> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const readText = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    let s = '';
    req.on('data', (c: Buffer) => (s += c.toString('utf8')));
    req.on('end', () => resolve(s));
  });

describe('fake Feishu: long connection with the official WSClient', () => {
  it('discovers the endpoint, connects, answers pings with ClientConfig and gets the event acked', async () => {
    const fake = await startFake();
    const got: Parameters<Handler>[0][] = [];
    startWsClient(fake, (d) => void got.push(d));
    await fake.waitForConnections(1);
    const event = fake.textEvent('你好 bot', { chatType: 'group', mentionBot: true });
    const delivery = fake.pushEvent(event);
    await delivery.done;

    expect(delivery.status).toBe('acked');
    expect(got).toHaveLength(1);
    expect(got[0]?.event_id).toBe(event.header.event_id);
    expect(got[0]?.message.chat_type).toBe('group');
    expect(JSON.parse(got[0]?.message.content ?? '{}')).toEqual({ text: '@_user_1 你好 bot' });
    expect(got[0]?.message.mentions?.[0]?.id.open_id).toBe(fake.botOpenId);
    expect(delivery.acks).toHaveLength(1);
    expect(delivery.acks[0]).toMatchObject({ code: 200, connectionId: 1 });
    expect(delivery.acks[0]?.headers).toMatchObject({ type: 'event', message_id: delivery.messageId, sum: '1', seq: '0' });
    expect(delivery.acks[0]?.bizRt).toBeDefined();
    expect(fake.discoveries.map((d) => d.code)).toEqual([0]);
    // The SDK pings as soon as it is connected, on the service id from the discovered URL.
    await fake.waitFor(() => (fake.connections[0]?.pings ?? 0) >= 1);
    expect(fake.protocolErrors).toEqual([]);
  });

  it('reassembles an event split into out-of-order fragments and acks it once', async () => {
    const fake = await startFake();
    const got: string[] = [];
    startWsClient(fake, (d) => void got.push(d.message.content));
    await fake.waitForConnections(1);
    // Multi-byte text: byte-sized fragments cut through characters, which the client must glue back as bytes.
    const text = '分片事件 '.repeat(40);
    const delivery = fake.pushEvent(fake.textEvent(text), { fragments: 5, reverseFragments: true });
    await delivery.done;

    expect(delivery.status).toBe('acked');
    expect(delivery.attempts).toHaveLength(1);
    expect(delivery.attempts[0]?.seqIds).toHaveLength(5);
    expect(got.map((c) => JSON.parse(c) as unknown)).toEqual([{ text }]);
    // Only the fragment that completes the event is acked; sent last-first, that is seq 0.
    expect(delivery.acks).toHaveLength(1);
    expect(delivery.acks[0]?.headers).toMatchObject({ sum: '5', seq: '0' });
  });

  it('re-pushes an event whose handler outlives the ack timeout, and one acked with code 500', async () => {
    const fake = await startFake({ ackTimeoutMs: 300 });
    const calls = new Map<string, number>();
    startWsClient(fake, async (d) => {
      const n = (calls.get(d.message.message_id) ?? 0) + 1;
      calls.set(d.message.message_id, n);
      if (d.message.content.includes('slow') && n === 1) await sleep(800);
      if (d.message.content.includes('boom') && n === 1) throw new Error('handler failed');
    });
    await fake.waitForConnections(1);
    const slow = fake.pushEvent(fake.textEvent('slow'));
    const boom = fake.pushEvent(fake.textEvent('boom'));
    await Promise.all([slow.done, boom.done]);

    expect(slow.status).toBe('acked');
    expect(slow.attempts.length).toBeGreaterThanOrEqual(2);
    expect(calls.get((slow.event as ReceiveMessageEvent).event.message.message_id)).toBeGreaterThanOrEqual(2);
    expect(boom.status).toBe('acked');
    expect(boom.acks.map((a) => a.code)).toEqual([500, 200]);
    expect(boom.attempts).toHaveLength(2);
  });

  it('gives up after maxRetries re-pushes', async () => {
    const fake = await startFake({ ackTimeoutMs: 100, maxRetries: 2 });
    startWsClient(fake, () => {
      throw new Error('always fails');
    });
    await fake.waitForConnections(1);
    const d = fake.pushEvent(fake.textEvent('never handled'));
    await d.done;
    expect(d.status).toBe('failed');
    expect(d.attempts).toHaveLength(3);
    expect(d.acks.every((a) => a.code === 500)).toBe(true);
  });

  it('reconnects through a fresh discovery after dropConnections(), and delivers what was pushed meanwhile', async () => {
    const fake = await startFake();
    const got: string[] = [];
    startWsClient(fake, (d) => void got.push(d.message.content));
    await fake.waitForConnections(1);

    expect(fake.dropConnections()).toBe(1);
    expect(fake.openConnections).toBe(0);
    const pushedWhileDown = fake.pushEvent(fake.textEvent('while you were away'));
    await fake.waitFor(() => fake.openConnections === 1 && fake.connectionCount === 2);
    await pushedWhileDown.done;

    expect(fake.discoveries).toHaveLength(2);
    expect(pushedWhileDown.status).toBe('acked');
    expect(pushedWhileDown.attempts.map((a) => a.connectionId)).toEqual([2]);
    expect(got).toEqual([JSON.stringify({ text: 'while you were away' })]);
  });

  it('cluster mode: each event goes to exactly one of several clients', async () => {
    const fake = await startFake({ routing: 'round-robin' });
    const a: string[] = [];
    const b: string[] = [];
    startWsClient(fake, (d) => void a.push(d.message.message_id));
    startWsClient(fake, (d) => void b.push(d.message.message_id));
    await fake.waitForConnections(2);
    const deliveries = Array.from({ length: 10 }, (_, i) => fake.pushEvent(fake.textEvent(`m${i}`)));
    await Promise.all(deliveries.map((d) => d.done));

    expect(deliveries.every((d) => d.status === 'acked' && d.attempts.length === 1)).toBe(true);
    expect(a).toHaveLength(5);
    expect(b).toHaveLength(5);
    expect(new Set([...a, ...b]).size).toBe(10);
  });

  it('refuses handshakes with Handshake-* headers; the SDK retries and gets in once they are accepted', async () => {
    const fake = await startFake();
    fake.refuseHandshakes({ status: 514, msg: 'exceed conn limit', autherrcode: 1000040350 }, 2);

    // A raw client sees the refusal headers.
    const disc = (await (await fetch(`${fake.url}/callback/ws/endpoint`, { method: 'POST', body: JSON.stringify({ AppID: fake.appId, AppSecret: fake.appSecret }) })).json()) as {
      data: { URL: string };
    };
    const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const ws = new WebSocket(disc.data.URL);
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.headers);
        ws.terminate();
      });
      ws.on('open', () => reject(new Error('handshake should have been refused')));
      ws.on('error', () => {});
    });
    expect(headers).toMatchObject({ 'handshake-status': '514', 'handshake-msg': 'exceed conn limit', 'handshake-autherrcode': '1000040350' });

    startWsClient(fake, () => {});
    await fake.waitForConnections(1);
    expect(fake.discoveries.length).toBeGreaterThanOrEqual(3);
    expect(fake.connectionCount).toBe(1);
  });

  it('endpoint discovery: a wrong secret or an injected fatal code stops the SDK with onError', async () => {
    const fake = await startFake();
    fake.failNextEndpoint(1000040350);
    const errors: Error[] = [];
    startWsClient(fake, () => {}, { onError: (e) => errors.push(e) });
    await until(() => errors.length === 1);
    expect(errors[0]?.message).toContain('1000040350');
    expect(fake.openConnections).toBe(0);

    const res = await fetch(`${fake.url}/callback/ws/endpoint`, { method: 'POST', body: JSON.stringify({ AppID: fake.appId, AppSecret: 'wrong' }) });
    expect(await res.json()).toMatchObject({ code: 514 });
  });

  it('records text frames and unknown acks from a misbehaving client as protocol errors', async () => {
    const fake = await startFake();
    const disc = (await (await fetch(`${fake.url}/callback/ws/endpoint`, { method: 'POST', body: JSON.stringify({ AppID: fake.appId, AppSecret: fake.appSecret }) })).json()) as {
      data: { URL: string };
    };
    const ws = new WebSocket(disc.data.URL);
    cleanups.push(() => ws.terminate());
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send('{"type":"ping"}');
    ws.send(Buffer.from([0x08, 0x01]));
    await fake.waitFor(() => fake.protocolErrors.length >= 2);
    expect(fake.protocolErrors[0]).toContain('text frame');
    expect(fake.protocolErrors[1]).toMatch(/missing required field/);
  });
});

describe('fake Feishu: OpenAPI with the official Client', () => {
  it('sends through a tenant token; a repeated uuid returns the original message and is recorded once', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const chat = 'oc_' + 'a'.repeat(32);
    const send = () =>
      client.im.message.create({ params: { receive_id_type: 'chat_id' }, data: { receive_id: chat, msg_type: 'text', content: JSON.stringify({ text: 'hi' }), uuid: 'u-1' } });
    const first = await send();
    const second = await send();

    expect(first.code).toBe(0);
    expect(second.data?.message_id).toBe(first.data?.message_id);
    expect(fake.messages).toHaveLength(1);
    expect(fake.messages[0]).toMatchObject({ chatId: chat, msgType: 'text', content: { text: 'hi' }, uuid: 'u-1', receiveIdType: 'chat_id' });
    expect(fake.counters).toMatchObject({ tokensIssued: 1, duplicates: 1 });

    // After the 1 h window the same uuid sends again.
    fake.advanceTime(3601);
    const third = await send();
    expect(third.data?.message_id).not.toBe(first.data?.message_id);
    expect(fake.messages).toHaveLength(2);
  });

  it('serves a message by id: a user\'s with its mentions, the bot\'s card whole only with user_card_content', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const get = (id: string, full = true) => client.im.message.get({ path: { message_id: id }, ...(full ? { params: { card_msg_content_type: 'user_card_content' } } : {}) });
    const asked = fake.textEvent('ask Tom', { chatType: 'group', mentions: [{ openId: 'ou_tom0000000000000000000000000000', name: 'Tom' }] });
    const m = asked.event.message;
    const got = await get(m.message_id);
    expect(got.code).toBe(0);
    expect(got.data?.items?.[0]).toMatchObject({
      message_id: m.message_id,
      msg_type: 'text',
      chat_id: m.chat_id,
      sender: { id: asked.event.sender.sender_id.open_id, id_type: 'open_id', sender_type: 'user' },
      body: { content: m.content },
      mentions: [{ key: '@_user_1', id: 'ou_tom0000000000000000000000000000', id_type: 'open_id', name: 'Tom' }],
    });

    const card = JSON.stringify({ schema: '2.0', body: { elements: [{ tag: 'markdown', content: '**Done**' }] } });
    const sent = await client.im.message.create({ params: { receive_id_type: 'chat_id' }, data: { receive_id: m.chat_id, msg_type: 'interactive', content: card } });
    const id = sent.data!.message_id!;
    expect((await get(id)).data?.items?.[0]).toMatchObject({ msg_type: 'interactive', sender: { id: fake.appId, id_type: 'app_id', sender_type: 'app' }, body: { content: card } });
    expect((await get(id, false)).data?.items?.[0]?.body?.content).toBe(DEGRADED_CARD_CONTENT);

    expect((await failure(get('om_unknown'))).data.code).toBe(230001);
    fake.recallMessage(m.message_id);
    expect((await failure(get(m.message_id))).data.code).toBe(230110);
    fake.failNextMessageReads(1, { code: 99991672 });
    expect((await failure(get(id))).data.code).toBe(99991672);
    expect((await get(id)).code).toBe(0);
    expect(fake.messageReads.map((r) => [r.code, r.cardContentType])).toEqual([
      [0, 'user_card_content'],
      [0, 'user_card_content'],
      [0, undefined],
      [230001, 'user_card_content'],
      [230110, 'user_card_content'],
      [99991672, 'user_card_content'],
      [0, 'user_card_content'],
    ]);
  });

  it('replies to a pushed user message in its chat, threaded on request; unknown targets fail', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const event = fake.textEvent('question', { chatType: 'group', chatId: 'oc_' + 'b'.repeat(32) });
    const res = await client.im.message.reply({
      path: { message_id: event.event.message.message_id },
      data: { msg_type: 'post', content: JSON.stringify({ zh_cn: { title: 't', content: [[{ tag: 'text', text: 'answer' }]] } }), reply_in_thread: true, uuid: 'r-1' },
    });
    expect(res.data?.chat_id).toBe(event.event.message.chat_id);
    expect(res.data?.root_id).toBe(event.event.message.message_id);
    expect(fake.messages[0]).toMatchObject({ replyTo: event.event.message.message_id, replyInThread: true, msgType: 'post', chatId: event.event.message.chat_id });
    expect(fake.messages[0]?.threadId).toMatch(/^omt_/);

    const bad = await failure(client.im.message.reply({ path: { message_id: 'om_nope' }, data: { msg_type: 'text', content: JSON.stringify({ text: 'x' }) } }));
    expect(bad.data.code).toBe(230001);
  });

  it('p2p sends by open_id land in the same chat the user writes from', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const event = fake.textEvent('hi', { from: 'ou_' + 'c'.repeat(32) });
    const seen: string[] = [];
    fake.onMessage((m) => seen.push(m.chatId));
    await client.im.message.create({ params: { receive_id_type: 'open_id' }, data: { receive_id: 'ou_' + 'c'.repeat(32), msg_type: 'text', content: JSON.stringify({ text: 'yo' }) } });
    expect(fake.messagesIn(event.event.message.chat_id)).toHaveLength(1);
    expect(seen).toEqual([event.event.message.chat_id]);
  });

  it('token expiry and invalidation answer 99991663; the token endpoint reuses a token with time left', async () => {
    const fake = await startFake({ tokenTtlSeconds: 7200 });
    const client = sdkClient(fake);
    const send = () => client.im.message.create({ params: { receive_id_type: 'chat_id' }, data: { receive_id: 'oc_x', msg_type: 'text', content: JSON.stringify({ text: 'hi' }) } });
    await send();
    // The SDK caches the token by its own clock; on the fake's clock it has expired.
    fake.advanceTime(7200);
    const expired = await failure(send());
    expect(expired.status).toBe(400);
    expect(expired.data.code).toBe(99991663);

    const token = async () =>
      (await (await fetch(`${fake.url}/open-apis/auth/v3/tenant_access_token/internal`, { method: 'POST', body: JSON.stringify({ app_id: fake.appId, app_secret: fake.appSecret }) })).json()) as {
        tenant_access_token: string;
        expire: number;
      };
    const t1 = await token();
    fake.advanceTime(600);
    const t2 = await token();
    expect(t2.tenant_access_token).toBe(t1.tenant_access_token);
    expect(t2.expire).toBeLessThanOrEqual(7200 - 600);
    fake.invalidateTokens();
    const res = await fetch(`${fake.url}/open-apis/im/v1/messages?receive_id_type=chat_id`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t2.tenant_access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ receive_id: 'oc_x', msg_type: 'text', content: '{"text":"x"}' }),
    });
    expect(((await res.json()) as { code: number }).code).toBe(99991663);
    expect((await token()).tenant_access_token).not.toBe(t1.tenant_access_token);
  });

  it('limits each chat to 5 messages a second with 429, code 99991400 and x-ogw-ratelimit-reset', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const send = (chat: string, i: number) =>
      client.im.message.create({ params: { receive_id_type: 'chat_id' }, data: { receive_id: chat, msg_type: 'text', content: JSON.stringify({ text: `n${i}` }) } });
    await send('oc_warm', 0); // token fetched once, outside the burst
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => send('oc_busy', i)));
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    expect(rejected).toHaveLength(3);
    const limited = (rejected[0]?.reason as AxiosLikeError).response!;
    expect(limited.status).toBe(429);
    expect(limited.data.code).toBe(99991400);
    expect(Number(limited.headers['x-ogw-ratelimit-reset'])).toBeGreaterThanOrEqual(1);
    // Another chat is not affected; the busy one opens again after the reset.
    await expect(send('oc_quiet', 0)).resolves.toMatchObject({ code: 0 });
    await sleep(1000 * Number(limited.headers['x-ogw-ratelimit-reset']));
    await expect(send('oc_busy', 9)).resolves.toMatchObject({ code: 0 });
    expect(fake.maxPerWindow('oc_busy')).toBe(5);
    expect(fake.calls.filter((c) => c.status === 429)).toHaveLength(3);
  });

  it('a 429 storm and scripted failures hit the next sends, then it recovers', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const send = (chat: string) => client.im.message.create({ params: { receive_id_type: 'chat_id' }, data: { receive_id: chat, msg_type: 'text', content: JSON.stringify({ text: 'x' }) } });
    fake.rateLimitStorm(2, 7);
    fake.failNextSends(1, { code: 230020 });
    const s1 = await failure(send('oc_1'));
    expect(s1.status).toBe(400);
    expect(s1.data.code).toBe(230020);
    const s2 = await failure(send('oc_2'));
    expect([s2.status, s2.data.code, s2.headers['x-ogw-ratelimit-reset']]).toEqual([429, 99991400, '7']);
    await failure(send('oc_3'));
    await expect(send('oc_4')).resolves.toMatchObject({ code: 0 });
    expect(fake.messages.map((m) => m.chatId)).toEqual(['oc_4']);
  });

  it('validates the body: content must be a JSON string, size limits per msg_type, a bearer token', async () => {
    const fake = await startFake();
    const { tenant_access_token: token } = (await (
      await fetch(`${fake.url}/open-apis/auth/v3/tenant_access_token/internal`, { method: 'POST', body: JSON.stringify({ app_id: fake.appId, app_secret: fake.appSecret }) })
    ).json()) as { tenant_access_token: string };
    const post = async (body: unknown, auth = true) => {
      const res = await fetch(`${fake.url}/open-apis/im/v1/messages?receive_id_type=chat_id`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', ...(auth ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
      return { status: res.status, code: ((await res.json()) as { code: number }).code };
    };
    const base = { receive_id: 'oc_v', msg_type: 'text' };
    expect(await post({ ...base, content: { text: 'object, not string' } })).toEqual({ status: 400, code: 99992402 });
    expect(await post({ ...base, content: 'not json' })).toEqual({ status: 400, code: 230001 });
    expect(await post({ ...base, msg_type: 'markdown', content: '{"text":"x"}' })).toEqual({ status: 400, code: 99992402 });
    expect(await post({ ...base, content: '{"text":"x"}' }, false)).toEqual({ status: 400, code: 99991661 });
    const big = 'x'.repeat(100 * 1024);
    expect((await post({ ...base, content: JSON.stringify({ text: big }) })).code).toBe(0);
    expect((await post({ ...base, content: JSON.stringify({ text: big + big }) })).code).toBe(230025);
    const card = { elements: [{ tag: 'markdown', content: big }] };
    expect((await post({ ...base, msg_type: 'interactive', content: JSON.stringify(card) })).code).toBe(230025);
    expect(fake.messages).toHaveLength(1);
  });

  it('serves the bytes of an image a user sent at the message resource URL', async () => {
    const fake = await startFake();
    const data = Buffer.from('not really a png');
    const event = fake.imageEvent({ data });
    const key = (JSON.parse(event.event.message.content) as { image_key: string }).image_key;
    const client = sdkClient(fake);
    const res = await client.im.messageResource.get({ path: { message_id: event.event.message.message_id, file_key: key }, params: { type: 'image' } });
    const chunks: Buffer[] = [];
    for await (const c of res.getReadableStream()) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(data);
  });
});

describe('fake Feishu: message reactions with the official Client', () => {
  it('adds a reaction to a user message and deletes it, answering like the real API and recording both times', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const event = fake.textEvent('working on it?');
    const messageId = event.event.message.message_id;
    const added = await client.im.messageReaction.create({ path: { message_id: messageId }, data: { reaction_type: { emoji_type: 'Typing' } } });
    expect(added).toMatchObject({ code: 0, data: { operator: { operator_id: fake.appId, operator_type: 'app' }, reaction_type: { emoji_type: 'Typing' } } });
    const reactionId = added.data!.reaction_id!;
    expect(reactionId).toMatch(/^[\w-]{40,}$/);
    expect(added.data?.action_time).toMatch(/^\d{13}$/);
    expect(fake.reactions(messageId)).toEqual([expect.objectContaining({ reactionId, messageId, emojiType: 'Typing' })]);
    expect(fake.reactions(messageId)[0]?.removedAt).toBeUndefined();

    const removed = await client.im.messageReaction.delete({ path: { message_id: messageId, reaction_id: reactionId } });
    expect(removed).toMatchObject({ code: 0, data: { reaction_id: reactionId, reaction_type: { emoji_type: 'Typing' } } });
    const [r] = fake.reactions(messageId);
    expect(r!.removedAt).toBeGreaterThanOrEqual(r!.addedAt);
    expect(r!.removedSeq).toBeGreaterThan(r!.addedSeq);
    expect(fake.reactions()).toHaveLength(1);
    expect(fake.reactionCalls.map((c) => [c.kind, c.status, c.code])).toEqual([
      ['create', 200, 0],
      ['delete', 200, 0],
    ]);
    expect(fake.counters.reactionRequests).toBe(2);
  });

  it('orders reactions and sent messages by seq', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const event = fake.textEvent('q');
    const messageId = event.event.message.message_id;
    const { data } = await client.im.messageReaction.create({ path: { message_id: messageId }, data: { reaction_type: { emoji_type: 'Typing' } } });
    await client.im.message.reply({ path: { message_id: messageId }, data: { msg_type: 'text', content: JSON.stringify({ text: 'a' }) } });
    await client.im.messageReaction.delete({ path: { message_id: messageId, reaction_id: data!.reaction_id! } });
    const [r] = fake.reactions(messageId);
    const reply = fake.messages[0]!;
    expect(r!.addedSeq).toBeLessThan(reply.seq);
    expect(reply.seq).toBeLessThan(r!.removedSeq!);
  });

  it('refuses unknown and recalled messages (231003), bad emoji types (231001), unknown or spent reaction ids, and missing tokens', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const typing = { reaction_type: { emoji_type: 'Typing' } };
    const unknown = await failure(client.im.messageReaction.create({ path: { message_id: 'om_nope' }, data: typing }));
    expect([unknown.status, unknown.data.code]).toEqual([400, 231003]);
    const event = fake.textEvent('hi');
    const messageId = event.event.message.message_id;
    const badEmoji = await failure(client.im.messageReaction.create({ path: { message_id: messageId }, data: { reaction_type: { emoji_type: 'NOT_AN_EMOJI' } } }));
    expect(badEmoji.data.code).toBe(231001);
    const other = fake.textEvent('other');
    const { data } = await client.im.messageReaction.create({ path: { message_id: messageId }, data: typing });
    const id = data!.reaction_id!;
    // A reaction on another message; an id that does not exist.
    expect((await failure(client.im.messageReaction.delete({ path: { message_id: other.event.message.message_id, reaction_id: id } }))).data.code).toBe(231010);
    expect((await failure(client.im.messageReaction.delete({ path: { message_id: messageId, reaction_id: 'nope' } }))).data.code).toBe(231011);
    await client.im.messageReaction.delete({ path: { message_id: messageId, reaction_id: id } });
    expect((await failure(client.im.messageReaction.delete({ path: { message_id: messageId, reaction_id: id } }))).data.code).toBe(231011);

    fake.recallMessage(messageId);
    expect((await failure(client.im.messageReaction.create({ path: { message_id: messageId }, data: typing }))).data.code).toBe(231003);
    const anonymous = await fetch(`${fake.url}/open-apis/im/v1/messages/${other.event.message.message_id}/reactions`, { method: 'POST', body: JSON.stringify(typing) });
    expect([anonymous.status, ((await anonymous.json()) as { code: number }).code]).toEqual([400, 99991661]);
    expect(fake.reactions()).toHaveLength(1);
  });

  it('scripted failures hit the next reaction calls of their kind, then it recovers', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const event = fake.textEvent('hi');
    const messageId = event.event.message.message_id;
    const add = () => client.im.messageReaction.create({ path: { message_id: messageId }, data: { reaction_type: { emoji_type: 'Typing' } } });
    fake.failNextReactions(1, { code: 99991400 });
    fake.failNextReactions(1, { code: 1, status: 500 }, 'delete');
    const limited = await failure(add());
    expect([limited.status, limited.data.code, limited.headers['x-ogw-ratelimit-reset']]).toEqual([429, 99991400, '1']);
    const { data } = await add();
    const del = () => client.im.messageReaction.delete({ path: { message_id: messageId, reaction_id: data!.reaction_id! } });
    expect((await failure(del())).status).toBe(500);
    expect(fake.reactions(messageId)[0]?.removedAt).toBeUndefined();
    await expect(del()).resolves.toMatchObject({ code: 0 });
    expect(fake.reactions(messageId)[0]?.removedAt).toBeDefined();
    expect(fake.reactionCalls.map((c) => c.status)).toEqual([429, 200, 500, 200]);
  });
});

describe('fake Feishu: card entities with the official Client', () => {
  /** A card JSON 2.0 with one markdown element `reply`, as a string. */
  const cardJson = (text: string, streaming: boolean, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ schema: '2.0', config: { streaming_mode: streaming, summary: { content: '' } }, body: { elements: [{ tag: 'markdown', element_id: 'reply', content: text }] }, ...extra });
  const create = (client: Client, data: string) => client.cardkit.v1.card.create({ data: { type: 'card_json', data } });
  const createCard = async (client: Client, data = cardJson('', true)) => {
    const res = await create(client, data);
    expect(res.code).toBe(0);
    return res.data!.card_id;
  };
  const stream = (client: Client, cardId: string, content: string, sequence: number, elementId = 'reply') =>
    client.cardkit.v1.cardElement.content({ path: { card_id: cardId, element_id: elementId }, data: { content, sequence } });
  const update = (client: Client, cardId: string, data: string, sequence: number) =>
    client.cardkit.v1.card.update({ path: { card_id: cardId }, data: { card: { type: 'card_json', data }, sequence } });
  const sendCard = (client: Client, cardId: string, uuid?: string) =>
    client.im.message.create({
      params: { receive_id_type: 'chat_id' },
      data: { receive_id: 'oc_cards', msg_type: 'interactive', content: JSON.stringify({ type: 'card', data: { card_id: cardId } }), ...(uuid === undefined ? {} : { uuid }) },
    });

  it('streams a card sent in a p2p chat: growing texts by sequence, then a whole-card update ends streaming', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const user = 'ou_' + 'd'.repeat(32);
    const event = fake.textEvent('tell me a story', { from: user });
    const cardId = await createCard(client);
    expect(cardId).toMatch(/^\d{19}$/);
    expect(fake.cards.get(cardId)).toMatchObject({ streaming: true, sequence: 0 });
    expect(fake.cards.get(cardId)?.messageId).toBeUndefined();

    const sent = await client.im.message.create({
      params: { receive_id_type: 'open_id' },
      data: { receive_id: user, msg_type: 'interactive', content: JSON.stringify({ type: 'card', data: { card_id: cardId } }) },
    });
    const messageId = sent.data!.message_id!;
    expect(sent.data?.chat_id).toBe(event.event.message.chat_id);
    expect(fake.messages[0]).toMatchObject({ messageId, chatId: event.event.message.chat_id, msgType: 'interactive', cardId });

    await expect(stream(client, cardId, 'Once upon', 1)).resolves.toMatchObject({ code: 0 });
    expect(textOf(fake.cardOf(messageId)!.card)).toBe('Once upon');
    await expect(stream(client, cardId, 'Once upon a time', 2)).resolves.toMatchObject({ code: 0 });
    await expect(update(client, cardId, cardJson('Once upon a time, the end.', false), 3)).resolves.toMatchObject({ code: 0 });

    const card = fake.cardOf(messageId)!;
    expect(card.cardId).toBe(cardId);
    expect(card.messageId).toBe(messageId);
    expect(textOf(card.card)).toBe('Once upon a time, the end.');
    expect(card.streaming).toBe(false);
    expect(card.sequence).toBe(3);
    expect(card.history.map((h) => h.kind)).toEqual(['create', 'content', 'content', 'update']);
    expect(card.history.map((h) => [h.sequence, h.text, h.streaming])).toEqual([
      [undefined, '', true],
      [1, 'Once upon', true],
      [2, 'Once upon a time', true],
      [3, 'Once upon a time, the end.', false],
    ]);
    expect(card.history[1]?.elementId).toBe('reply');
    // The create comes before the message showing the card, the changes after it.
    expect(card.history[0]!.seq).toBeLessThan(fake.messages[0]!.seq);
    expect(card.history[1]!.seq).toBeGreaterThan(fake.messages[0]!.seq);
    expect(fake.cardCalls.map((c) => [c.kind, c.status, c.code])).toEqual([
      ['create', 200, 0],
      ['content', 200, 0],
      ['content', 200, 0],
      ['update', 200, 0],
    ]);
    expect(fake.counters.cardRequests).toBe(4);
    expect(fake.cardOf(event.event.message.message_id)).toBeUndefined();
  });

  it('refuses stale sequences, unknown cards and elements, closed streaming, bad card JSON and a card sent twice', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const cardId = await createCard(client);
    await stream(client, cardId, 'fir', 1);
    await stream(client, cardId, 'first', 2);

    // A sequence not above the card's last (equal, or below): refused, nothing changed.
    for (const sequence of [2, 1]) {
      const stale = await failure(stream(client, cardId, 'stale', sequence));
      expect([stale.status, stale.data.code]).toEqual([400, CARD_ERRORS.sequence]);
    }
    const card = fake.cards.get(cardId)!;
    expect([textOf(card.card), card.sequence, card.history.length]).toEqual(['first', 2, 3]);

    expect((await failure(stream(client, '7000000000000000000', 'x', 3))).data.code).toBe(CARD_ERRORS.notFound);
    expect((await failure(update(client, '7000000000000000000', cardJson('x', false), 3))).data.code).toBe(CARD_ERRORS.notFound);
    expect((await failure(stream(client, cardId, 'x', 3, 'nope'))).data.code).toBe(CARD_ERRORS.elementNotFound);
    expect(textOf(fake.cards.get(cardId)!.card)).toBe('first');

    // Streaming turned off by a whole-card update: content calls are refused from then on.
    await update(client, cardId, cardJson('final', false), 3);
    const closed = await failure(stream(client, cardId, 'late', 4));
    expect([closed.status, closed.data.code]).toEqual([400, CARD_ERRORS.streamingClosed]);
    expect(textOf(fake.cards.get(cardId)!.card)).toBe('final');
    expect(fake.cards.get(cardId)!.sequence).toBe(3);

    // Card JSON the card API does not take.
    const reply = { tag: 'markdown', element_id: 'reply', content: 'x' };
    const invalid = [
      JSON.stringify({ config: { streaming_mode: true }, elements: [reply] }), // no schema: a 1.0 card
      JSON.stringify({ schema: '1.0', body: { elements: [reply] } }),
      JSON.stringify({ schema: '2.0', body: { elements: [reply] }, elements: [] }), // unknown top-level key
      JSON.stringify({ schema: '2.0', config: { wide_screen_mode: true }, body: { elements: [reply] } }), // unknown config key
      JSON.stringify({ schema: '2.0', body: { elements: [{ ...reply, element_id: '1reply' }] } }),
      JSON.stringify({ schema: '2.0', body: { elements: [{ ...reply, element_id: 'reply-text' }] } }),
      JSON.stringify({ schema: '2.0', body: { elements: [{ ...reply, element_id: 'r'.repeat(21) }] } }),
      JSON.stringify({ schema: '2.0', body: { elements: [reply, { tag: 'markdown', element_id: 'reply', content: 'y' }] } }), // duplicate
    ];
    for (const data of invalid) {
      const refused = await failure(create(client, data));
      expect([refused.status, refused.data.code], data).toEqual([400, CARD_ERRORS.invalid]);
    }
    expect(fake.cards.size).toBe(1);
    // The same checks hold for a whole-card update, which then changes nothing.
    expect((await failure(update(client, cardId, invalid[3]!, 4))).data.code).toBe(CARD_ERRORS.invalid);
    expect(fake.cards.get(cardId)!.history).toHaveLength(4);

    // A card entity is sent once; a retry with the same uuid answers the original message.
    const first = await sendCard(client, cardId, 'card-send-1');
    const retry = await sendCard(client, cardId, 'card-send-1');
    expect(retry.data?.message_id).toBe(first.data?.message_id);
    const twice = await failure(sendCard(client, cardId, 'card-send-2'));
    expect([twice.status, twice.data.code]).toEqual([400, 230001]);
    expect((await failure(sendCard(client, cardId))).data.code).toBe(230001);
    expect((await failure(sendCard(client, '7999999999999999999'))).data.code).toBe(230001);
    expect(fake.messages.map((m) => m.messageId)).toEqual([first.data?.message_id]);
    expect(fake.cardOf(first.data!.message_id!)?.cardId).toBe(cardId);
    expect(fake.counters.duplicates).toBe(1);
  });

  it('refuses a card with more than five tables (230099, ErrCode 11310) on every path, counting markdown tables outside code', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const table = (i: number) => `| Month | Sales |\n|:---|---:|\n| Jan | ${i} |`;
    const tables = (n: number) => Array.from({ length: n }, (_, i) => table(i)).join('\n\n');
    // Pipes that are no table: a shell pipe, a table inside a fenced block, a lone rule.
    const noise = '`cat a | grep b`\n\n```\n| x | y |\n|---|---|\n```\n\na | b\n\n---';
    const md = (n: number) => `${tables(n)}\n\n${noise}`;
    const overLimit = (e: { status: number; data: { code: number; msg: string } }) => [e.status, e.data.code, /11310.*card table number over limit/.test(e.data.msg)];

    // An inline card message.
    const send = (markdown: string) =>
      client.im.message.create({ params: { receive_id_type: 'chat_id' }, data: { receive_id: 'oc_tables', msg_type: 'interactive', content: cardJson(markdown, false) } });
    expect((await send(md(5))).code).toBe(0);
    expect(overLimit(await failure(send(md(6))))).toEqual([400, 230099, true]);
    expect(fake.messages).toHaveLength(1);

    // Card entities: create, a whole-card update, and a streaming element update, which leaves the card as it was.
    expect(overLimit(await failure(create(client, cardJson(md(6), true))))).toEqual([400, 230099, true]);
    const cardId = await createCard(client, cardJson(md(5), true));
    expect(overLimit(await failure(stream(client, cardId, md(6), 1)))).toEqual([400, 230099, true]);
    expect(overLimit(await failure(update(client, cardId, cardJson(md(7), false), 2)))).toEqual([400, 230099, true]);
    expect(textOf(fake.cards.get(cardId)!.card)).toBe(md(5));
    await stream(client, cardId, md(4), 3);
    expect(textOf(fake.cards.get(cardId)!.card)).toBe(md(4));
  });

  it('streaming mode ends by itself STREAMING_LIMIT_MS after it was turned on, on the fake clock', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const cardId = await createCard(client);
    await sendCard(client, cardId);
    await stream(client, cardId, 'a', 1);
    fake.advanceTime(STREAMING_LIMIT_MS / 1000 - 1);
    await expect(stream(client, cardId, 'ab', 2)).resolves.toMatchObject({ code: 0 });

    fake.advanceTime(1);
    const ended = await failure(stream(client, cardId, 'abc', 3));
    expect([ended.status, ended.data.code]).toEqual([400, CARD_ERRORS.streamingClosed]);
    expect(fake.cards.get(cardId)).toMatchObject({ streaming: false, sequence: 2 });
    expect(textOf(fake.cards.get(cardId)!.card)).toBe('ab');

    // A whole-card update with streaming_mode true turns it on again, for another STREAMING_LIMIT_MS.
    await update(client, cardId, cardJson('ab', true), 3);
    await expect(stream(client, cardId, 'abc', 4)).resolves.toMatchObject({ code: 0 });
    fake.advanceTime(STREAMING_LIMIT_MS / 1000);
    expect((await failure(stream(client, cardId, 'abcd', 5))).data.code).toBe(CARD_ERRORS.streamingClosed);
    expect(fake.cards.get(cardId)!.history.map((h) => [h.kind, h.streaming])).toEqual([
      ['create', true],
      ['content', true],
      ['content', true],
      ['update', true],
      ['content', true],
    ]);
  });

  it('limits calls on one card to CARD_CALLS_PER_SECOND, refused ones counted; other cards are not affected', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const a = await createCard(client);
    const b = await createCard(client);
    const started = Date.now();
    for (let i = 1; i <= CARD_CALLS_PER_SECOND; i++) await expect(stream(client, a, 'x'.repeat(i), i)).resolves.toMatchObject({ code: 0 });
    const limited = await failure(stream(client, a, 'x'.repeat(11), 11));
    expect(Date.now() - started, 'the burst must fit in one second').toBeLessThan(1000);
    expect([limited.status, limited.data.code]).toEqual([429, 99991400]);
    expect(limited.headers['x-ogw-ratelimit-limit']).toBe(String(CARD_CALLS_PER_SECOND));
    expect(Number(limited.headers['x-ogw-ratelimit-reset'])).toBeGreaterThanOrEqual(1);
    expect(fake.cards.get(a)).toMatchObject({ sequence: CARD_CALLS_PER_SECOND });
    expect(fake.cards.get(a)!.history).toHaveLength(1 + CARD_CALLS_PER_SECOND);

    // Another card is not affected; calls refused for their sequence use up its slots too.
    await expect(stream(client, b, 'y', 1)).resolves.toMatchObject({ code: 0 });
    for (let i = 2; i <= CARD_CALLS_PER_SECOND; i++) expect((await failure(stream(client, b, 'stale', 1))).data.code).toBe(CARD_ERRORS.sequence);
    expect((await failure(stream(client, b, 'yy', 2))).status).toBe(429);
    expect(fake.cardCalls.filter((c) => c.status === 429).map((c) => c.cardId)).toEqual([a, b]);
    expect(fake.counters.rateLimited).toBe(2);

    // The window is one second.
    await sleep(1000);
    await expect(stream(client, a, 'x'.repeat(11), 11)).resolves.toMatchObject({ code: 0 });
    expect(textOf(fake.cards.get(a)!.card)).toBe('x'.repeat(11));
  });

  it('failNextCardCalls fails the next call of its kind only; nothing is created, and cardCalls records it', async () => {
    const fake = await startFake();
    const client = sdkClient(fake);
    const cardId = await createCard(client);
    fake.failNextCardCalls(1, { code: 99991672 }, 'create');
    // A content call is not a create: it goes through.
    await expect(stream(client, cardId, 'still fine', 1)).resolves.toMatchObject({ code: 0 });
    const denied = await failure(create(client, cardJson('', true)));
    expect([denied.status, denied.data.code]).toEqual([400, 99991672]);
    expect(fake.cards.size).toBe(1);
    const second = await createCard(client);
    expect(fake.cards.size).toBe(2);
    expect(second).not.toBe(cardId);

    // Without a kind, the next call of any kind fails; a 500 changes nothing either.
    fake.failNextCardCalls(1, { code: 1, status: 500 });
    expect((await failure(update(client, cardId, cardJson('replaced', false), 2))).status).toBe(500);
    expect(fake.cards.get(cardId)).toMatchObject({ streaming: true, sequence: 1 });
    expect(textOf(fake.cards.get(cardId)!.card)).toBe('still fine');

    expect(fake.cardCalls.map((c) => [c.kind, c.status, c.code])).toEqual([
      ['create', 200, 0],
      ['content', 200, 0],
      ['create', 400, 99991672],
      ['create', 200, 0],
      ['update', 500, 1],
    ]);
    expect(fake.cardCalls[2]?.cardId).toBeUndefined();
    expect(fake.cardCalls[3]?.cardId).toBe(second);
    expect(fake.cardCalls[4]).toMatchObject({ cardId, sequence: 2 });
    expect(fake.counters.cardRequests).toBe(5);
  });
});

describe('fake Feishu: webhook pushes', () => {
  it('crypto matches the official vector, uses a random IV and signs the exact body', () => {
    expect(decrypt('test key', 'P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=')).toBe('hello world');
    const a = encrypt('k', '{"a":1}');
    expect(a).not.toBe(encrypt('k', '{"a":1}'));
    expect(new AESCipher('k').decrypt(a)).toBe('{"a":1}');
    // A wrong key usually fails the padding check; when the padding happens to pass, the text is garbage.
    const wrong = (() => {
      try {
        return decrypt('other key', a);
      } catch {
        return undefined;
      }
    })();
    expect(wrong).not.toBe('{"a":1}');
    const expected = createHash('sha256').update('1700000000' + 'nonce' + 'k' + '{"encrypt":"x"}').digest('hex');
    expect(sign('1700000000', 'nonce', 'k', '{"encrypt":"x"}')).toBe(expected);
  });

  it('an encrypted, signed push and the url_verification are accepted by the SDK adapter; a forged signature is not', async () => {
    const fake = await startFake({ encryptKey: 'enc-key-123', verificationToken: 'vt-abc' });
    const { logger } = quietLogger();
    const got: string[] = [];
    const dispatcher = new EventDispatcher({ encryptKey: fake.encryptKey, verificationToken: fake.verificationToken, logger, loggerLevel: LoggerLevel.fatal }).register({
      'im.message.receive_v1': async (data) => void got.push((data as { message: { content: string } }).message.content),
    });
    const base = await httpServer(adaptDefault('/webhook/event', dispatcher, { autoChallenge: true }) as RequestListener);
    const url = `${base}/webhook/event`;

    const check = await fake.urlVerification(url);
    expect(check).toMatchObject({ ok: true, status: 200 });

    const r = await fake.pushWebhook(url, fake.textEvent('over the webhook'));
    expect(r.delivered).toBe(true);
    expect(Object.keys(JSON.parse(r.body) as object)).toEqual(['encrypt']);
    expect(got).toEqual([JSON.stringify({ text: 'over the webhook' })]);

    const forged = await fake.pushWebhook(url, fake.textEvent('forged'), { forgeSignature: true, retrySchedule: [] });
    expect(forged.attempts).toHaveLength(1);
    expect(got).toHaveLength(1);
  });

  it('redelivers the same body with fresh signed headers on non-200 and timeouts, per the schedule', async () => {
    const fake = await startFake({ encryptKey: 'ek', webhookRetrySchedule: [50, 50, 50], webhookTimeoutMs: 300 });
    const seen: { body: string; headers: IncomingMessage['headers'] }[] = [];
    const base = await httpServer(async (req: IncomingMessage, res: ServerResponse) => {
      seen.push({ body: await readText(req), headers: req.headers });
      const n = seen.length;
      if (n === 1) return void res.writeHead(500).end();
      if (n === 2) return void setTimeout(() => res.writeHead(200).end(), 600);
      if (n === 3) return void res.writeHead(204).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    const event = fake.textEvent('retry me');
    const r = await fake.pushWebhook(`${base}/hook`, event);

    expect(r.delivered).toBe(true);
    expect(r.attempts.map((a) => a.status ?? (a.timedOut ? 'timeout' : a.error))).toEqual([500, 'timeout', 204, 200]);
    expect(new Set(seen.map((s) => s.body)).size).toBe(1);
    expect(new Set(seen.map((s) => s.headers['x-lark-request-nonce'])).size).toBe(4);
    for (const s of seen) {
      const h = s.headers as Record<string, string>;
      expect(h['x-lark-signature']).toBe(sign(h['x-lark-request-timestamp']!, h['x-lark-request-nonce']!, 'ek', s.body));
    }
    const inner = JSON.parse(decrypt('ek', (JSON.parse(seen[0]!.body) as { encrypt: string }).encrypt)) as ReceiveMessageEvent;
    expect(inner.header.event_id).toBe(event.header.event_id);
  });

  it('gives up after the schedule, and close() cuts a long schedule short', async () => {
    const fake = await startFake({ webhookRetrySchedule: [20] });
    const base = await httpServer((_req, res) => void res.writeHead(503).end());
    const r = await fake.pushWebhook(`${base}/h`, fake.textEvent('x'));
    expect([r.delivered, r.attempts.length]).toEqual([false, 2]);
    // Plaintext mode: no signature, header.token carries the Verification Token.
    expect(r.attempts[0]?.headers['x-lark-signature']).toBeUndefined();
    expect((JSON.parse(r.body) as ReceiveMessageEvent).header.token).toBe(fake.verificationToken);

    const pending = fake.pushWebhook(`${base}/h`, fake.textEvent('y'), { retrySchedule: [3_600_000] });
    await sleep(100);
    await fake.close();
    const cut = await pending;
    expect([cut.delivered, cut.cancelled, cut.attempts.length]).toEqual([false, true, 1]);
  });

  it('a url_verification answered with the wrong challenge fails', async () => {
    const fake = await startFake();
    const base = await httpServer((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"challenge":"nope"}'));
    const r = await fake.urlVerification(`${base}/h`);
    expect(r.ok).toBe(false);
    expect(r.reason).toContain('challenge');
  });
});
