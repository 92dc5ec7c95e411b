import { describe, expect, it } from 'vitest';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { captureLogger } from '../helpers/logs.js';
import { postForEvents, SseClient } from '../helpers/sse.js';
import { TEST_API_KEY, webApiEntry } from '../helpers/workspace.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/store.js';

const ENTRY = 'assistant.web_api';
const opened = closeAfterEach();

function echoWorkspace(entryConfig: Record<string, unknown> = {}) {
  return { agents: { assistant: { profile: { provider: 'echo', prefix: 'echo: ' }, entries: [webApiEntry(entryConfig)] } } };
}

describe('web_api → echo agent', () => {
  it('answers with ?wait=true', async () => {
    const t = opened(await startTestGateway(echoWorkspace()));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const res = await t.chat(ENTRY, { userId: 'alice', content: 'hello' }, { wait: true });
    expect(res.status).toBe(200);
    expect(res.json.status).toBe('answered');
    expect(res.json.reply).toEqual({ text: 'echo: hello', format: 'text' });
    // The reply went into the feed in the transaction that finished the message: sent by the time anyone reads it.
    const log = (await t.gateway.store.getMessage(res.json.messageId))!;
    expect(log.status).toBe('done');
    expect(log.replies.map((r) => r.status)).toEqual(['sent']);
    expect(log.timeline.map((e) => e.stage)).toEqual(['received', 'claimed', 'replied', 'sent']);
    const status = t.gateway.keeper.statusOf(ENTRY)!;
    expect(status.messagesIn).toBe(1);
    expect(status.messagesOut).toBe(1);
  });

  it('answers ?wait=true at once with not_answered when the message gets no reply (handed to a person, a blocked sender), in JSON and as events', async () => {
    // Waiting out the timeout would take 20 s and end in a 202 "pending".
    const profile = { provider: 'echo', prefix: 'echo: ', access: { block_users: ['troll'] } };
    const t = opened(await startTestGateway({ agents: { assistant: { profile, entries: [webApiEntry({ wait_timeout_ms: 20_000 })] } } }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    await t.admin('PUT', `/entries/${ENTRY}/handoffs/hank`, { minutes: 10 });
    for (const userId of ['hank', 'troll']) {
      const res = await t.chat(ENTRY, { userId, content: 'anyone?' }, { wait: true });
      expect([res.status, res.json]).toEqual([200, { messageId: res.json.messageId, duplicate: false, status: 'not_answered', reply: null }]);
    }
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { events } = await postForEvents(address, ENTRY, { userId: 'hank', content: 'hello?' });
    expect(events.map((e) => e.event)).toEqual(['accepted', 'not_answered']);
    expect(events[1]!.data).toEqual({ messageId: events[0]!.data.messageId, status: 'not_answered' });
    // Answered as before for everyone else.
    expect((await t.chat(ENTRY, { userId: 'alice', content: 'hi' }, { wait: true })).json.reply.text).toBe('echo: hi');
  });

  it('answers in the profile\'s language where the profile leaves a text unset', async () => {
    const profile = { provider: 'echo', prefix: 'echo: ', language: 'zh', reset: {}, handoff: {} };
    const t = opened(await startTestGateway({ agents: { assistant: { profile, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    expect((await t.chat(ENTRY, { userId: 'li', content: '/reset' }, { wait: true })).json.reply.text).toBe('好的，我们重新开始。');
    expect((await t.chat(ENTRY, { userId: 'li', content: '转人工' }, { wait: true })).json.reply.text).toBe('好的，稍后会有工作人员在这里回复你。');
  });

  it('needs no outbox for its replies: they are appended to the feed as the message is finished', async () => {
    const t = opened(await startTestGateway(echoWorkspace({ wait_timeout_ms: 3_000 })));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    await t.gateway.outbox.stop();
    const res = await t.chat(ENTRY, { userId: 'carol', content: 'no outbox' }, { wait: true });
    expect(res.json).toMatchObject({ status: 'answered', reply: { text: 'echo: no outbox' } });
    const [sent] = (await t.gateway.store.getMessage(res.json.messageId))!.replies;
    const [feed] = await t.gateway.store.feedRepliesTo(ENTRY, res.json.messageId);
    expect(sent).toMatchObject({ status: 'sent', platformMessageId: String(feed!.seq) });
    expect(t.gateway.keeper.statusOf(ENTRY)!.messagesOut).toBe(1);
    expect(await t.gateway.metrics.registry.getSingleMetricAsString('cococat_outbox_sent_total')).toContain('channel="web_api"} 1');
  });

  it('streams replies over SSE and resumes after Last-Event-ID', async () => {
    const t = opened(await startTestGateway(echoWorkspace()));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const sse = new SseClient(`${address}/api/v1/chat/${ENTRY}/events?userId=bob`, TEST_API_KEY);
    await sse.connect();
    const first = await t.chat(ENTRY, { userId: 'bob', content: 'one' });
    expect(first.status).toBe(202);
    expect(first.json.status).toBe('queued');
    await t.until(() => sse.events.length === 1);
    expect(sse.events[0]!.data).toMatchObject({ messageId: first.json.messageId, text: 'echo: one' });
    await sse.close();

    // Replies produced while the client is away arrive on resume, once each.
    await t.chat(ENTRY, { userId: 'bob', content: 'two' });
    await t.chat(ENTRY, { userId: 'bob', content: 'three' });
    await t.until(async () => (await t.gateway.store.readFeed(ENTRY, 'bob', 0, 10)).length === 3);
    await sse.connect();
    await t.until(() => sse.events.length === 3);
    expect(sse.events.map((e) => e.data.text)).toEqual(['echo: one', 'echo: two', 'echo: three']);
    await sse.close();

    // Another user's stream does not see bob's replies.
    const other = new SseClient(`${address}/api/v1/chat/${ENTRY}/events?userId=carol`, TEST_API_KEY);
    other.lastEventId = 0;
    await other.connect();
    await t.chat(ENTRY, { userId: 'carol', content: 'hi' });
    await t.until(() => other.events.length === 1);
    expect(other.events[0]!.data.text).toBe('echo: hi');
    await other.close();
  });

  it('sends a reply stored while the stream reads the store at once, not at its next poll (a slow database)', async () => {
    // The store reads a stream's replies slowly (a busy shared database): a reply stored during a read
    // must still wake the stream when the read ends. The stream looks at the store every 5 s anyway.
    const sqlite = opened(openSqliteStore({ path: ':memory:' }));
    const slow = new Proxy(sqlite, {
      get(target, prop) {
        if (prop === 'readFeed') return (...args: Parameters<Store['readFeed']>) => target.readFeed(...args).then((r) => new Promise((ok) => setTimeout(() => ok(r), 300)));
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
    const t = opened(await startTestGateway(echoWorkspace(), { store: slow }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const sse = opened(new SseClient(`${address}/api/v1/chat/${ENTRY}/events?userId=dan`, TEST_API_KEY));
    sse.lastEventId = 0;
    await sse.connect();
    await t.chat(ENTRY, { userId: 'dan', content: 'one' });
    await t.until(() => sse.events.length === 1);
    // "two" wakes the stream; "three" is stored while it reads "two".
    const sent = Date.now();
    await t.chat(ENTRY, { userId: 'dan', content: 'two' });
    await new Promise((r) => setTimeout(r, 100));
    await t.chat(ENTRY, { userId: 'dan', content: 'three' });
    await t.until(() => sse.events.length === 3, 10_000);
    expect(sse.events.map((e) => e.data.text)).toEqual(['echo: one', 'echo: two', 'echo: three']);
    expect(Date.now() - sent).toBeLessThan(4_000);
  });

  it('deduplicates by msgId and Idempotency-Key, answering the same message id', async () => {
    const t = opened(await startTestGateway(echoWorkspace()));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const a = await t.chat(ENTRY, { userId: 'u', content: 'x', msgId: 'm-1' }, { wait: true });
    const b = await t.chat(ENTRY, { userId: 'u', content: 'x', msgId: 'm-1' }, { wait: true });
    expect(b.json).toMatchObject({ messageId: a.json.messageId, duplicate: true, reply: { text: 'echo: x' } });
    const c = await t.chat(ENTRY, { userId: 'u', content: 'y' }, { headers: { 'idempotency-key': 'k-1' } });
    const d = await t.chat(ENTRY, { userId: 'u', content: 'y' }, { headers: { 'idempotency-key': 'k-1' } });
    expect(d.json).toMatchObject({ messageId: c.json.messageId, duplicate: true });
    await t.until(async () => (await t.gateway.store.readFeed(ENTRY, 'u', 0, 10)).length === 2);
    expect((await t.gateway.store.listMessages({ entryKey: ENTRY })).length).toBe(2);
  });

  it('answers 202 with the message id when the reply is not ready within wait_timeout_ms', async () => {
    const llm = await startFakeLlm({ delayMs: 1_500 });
    try {
      const t = opened(await startTestGateway({
        agents: { slow: { profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' }, entries: [webApiEntry({ wait_timeout_ms: 200 })] } },
      }));
      await t.until(() => t.gateway.keeper.statusOf('slow.web_api')?.state === 'running');
      const res = await t.chat('slow.web_api', { userId: 'u', content: 'x' }, { wait: true });
      expect(res.status).toBe(202);
      expect(res.json).toMatchObject({ status: 'pending', messageId: expect.any(String) });
      // The reply still arrives, and a later wait on the same message id gets it.
      const later = await t.chat('slow.web_api', { userId: 'u', content: 'x', msgId: 'late' }, { wait: true });
      expect(later.status).toBe(202);
      await t.until(async () => (await t.gateway.store.readFeed('slow.web_api', 'u', 0, 10)).length === 2, 10_000);
      const again = await t.chat('slow.web_api', { userId: 'u', content: 'x', msgId: 'late' }, { wait: true });
      expect(again.json).toMatchObject({ status: 'answered', duplicate: true, reply: { text: 'reply to: x' } });
    } finally {
      await llm.close();
    }
  });
});

describe('web_api rejects bad input with a clear 4xx and stores nothing', () => {
  const cases: [string, (t: TestGateway) => Promise<{ status: number; json: any }>, number, RegExp | string][] = [
    ['malformed JSON', (t) => t.chat(ENTRY, '{"userId": "a", "content": '), 400, 'body'],
    ['missing userId', (t) => t.chat(ENTRY, { content: 'x' }), 400, 'userId'],
    ['missing content', (t) => t.chat(ENTRY, { userId: 'a' }), 400, 'content'],
    ['empty content', (t) => t.chat(ENTRY, { userId: 'a', content: '' }), 400, 'content'],
    ['wrong type', (t) => t.chat(ENTRY, { userId: 5, content: 'x' }), 400, 'userId'],
    ['unknown field', (t) => t.chat(ENTRY, { userId: 'a', content: 'x', admin: true }), 400, 'admin'],
    ['a JSON array', (t) => t.chat(ENTRY, '[1,2]'), 400, 'body'],
    ['oversize body', (t) => t.chat(ENTRY, { userId: 'a', content: 'x'.repeat(70_000) }), 413, /limit is 65536/],
    ['wrong key', (t) => t.chat(ENTRY, { userId: 'a', content: 'x' }, { key: 'nope-nope-nope-nope' }), 401, /API key/],
    ['unknown entry', (t) => t.chat('assistant.nope', { userId: 'a', content: 'x' }), 404, /assistant\.nope/],
    ['path-like entry', (t) => t.chat('..%2F..%2Fetc', { userId: 'a', content: 'x' }), 404, /no web_api entry/],
  ];

  it.each(cases)('%s', async (_name, send, status, hint) => {
    const t = opened(await startTestGateway(echoWorkspace()));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const res = await send(t);
    expect(res.status).toBe(status);
    expect(res.json.error.code).toMatch(/^COCO_ERR_/);
    if (typeof hint === 'string') expect(res.json.error.field).toBe(hint);
    else expect(res.json.error.message).toMatch(hint);
    expect(await t.gateway.store.listMessages({})).toEqual([]);
  });

  it('answers 503 with Retry-After when the store cannot take the message, and logs why with the entry', async () => {
    const capture = captureLogger('info');
    const t = opened(await startTestGateway(echoWorkspace(), { log: capture.log }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    await t.gateway.store.close(); // every write fails from now on
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/v1/chat/${ENTRY}`,
      headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
      payload: { userId: 'a', content: 'lost?' },
    });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toEqual({ error: { code: 'COCO_ERR_STORE', message: 'the message could not be stored; send it again' } });
    const line = capture.lines.find((l) => l.msg === 'message could not be stored');
    expect(line).toMatchObject({ entry: ENTRY, level: 50 });
    expect(String(line?.err)).toMatch(/not open/);
  });

  it('takes the key with spaces around it, and forgets a key once the entry has a new one', async () => {
    const t = opened(await startTestGateway(echoWorkspace()));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const post = (authorization: string, content: string) =>
      t.app.inject({ method: 'POST', url: `/api/v1/chat/${ENTRY}`, headers: { authorization, 'content-type': 'application/json' }, payload: { userId: 'kim', content } });
    // Twice each: the second request of a spelling is the one the channel remembers.
    for (const header of [`Bearer ${TEST_API_KEY}`, `Bearer  ${TEST_API_KEY} `]) {
      expect([(await post(header, 'a')).statusCode, (await post(header, 'b')).statusCode]).toEqual([202, 202]);
    }
    for (const header of [`Bearer ${TEST_API_KEY}x`, `bearer ${TEST_API_KEY}`, TEST_API_KEY, `Bearer ${TEST_API_KEY.slice(0, -1)}`]) {
      expect((await post(header, 'c')).statusCode, header).toBe(401);
    }
    const fresh = 'a-new-key-for-the-entry-0123456789';
    expect((await t.admin('PUT', `/agents/assistant/entries/web_api`, { channel: 'web_api', config: { api_key: fresh } })).status).toBe(200);
    await t.until(async () => (await post(`Bearer ${fresh}`, 'd')).statusCode === 202);
    expect((await post(`Bearer ${TEST_API_KEY}`, 'e')).statusCode).toBe(401);
    expect((await post(`Bearer  ${TEST_API_KEY} `, 'e')).statusCode).toBe(401);
    expect((await t.gateway.store.listMessages({})).map((m) => m.content).sort()).toEqual(['a', 'a', 'b', 'b', 'd']);
  });

  it('answers 429 with Retry-After over the per-key rate limit', async () => {
    const t = opened(await startTestGateway(echoWorkspace({ rate_limit_per_minute: 60 })));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 10; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: `/api/v1/chat/${ENTRY}`,
        headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
        payload: { userId: 'a', content: `m${i}` },
      });
      statuses.push(res.statusCode);
      if (res.statusCode === 429) retryAfter = res.headers['retry-after'] as string;
    }
    // Burst capacity is a tenth of the per-minute figure: 6 accepted, then 429s.
    expect(statuses.filter((s) => s === 202)).toHaveLength(6);
    expect(statuses.slice(6).every((s) => s === 429)).toBe(true);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await t.gateway.store.listMessages({})).length).toBe(6);
  });
});
