import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { Logger } from '../../src/core/logger.js';
import type { OutboundItem } from '../../src/store/store.js';
import { startCallbackReceiver, type CallbackReceiver } from '../fakes/callback-receiver/server.js';
import { startTestGateway, timeFrom, type TestGateway } from '../helpers/gateway.js';
import { captureLogger } from '../helpers/logs.js';
import { SseClient } from '../helpers/sse.js';
import { TEST_API_KEY, webApiEntry } from '../helpers/workspace.js';

const ENTRY = 'assistant.web_api';
const SECRET = 'cb-secret-0123456789abcdef';

let t: TestGateway | undefined;
let receiver: CallbackReceiver | undefined;
let sse: SseClient | undefined;
afterEach(async () => {
  await sse?.close();
  // Receiver first: a test that failed while it held requests must not leave the gateway's stop
  // waiting on sends that would never be answered.
  await receiver?.close();
  await t?.close();
  t = receiver = sse = undefined;
});

/**
 * A gateway whose web_api entry posts replies to a fake receiver. A given ManualClock sets the
 * gateway's time (timers stay real): a retry happens only once the test moves the clock past it.
 */
async function setup(opts: { config?: Record<string, unknown>; clock?: ManualClock; log?: Logger; settings?: Record<string, unknown> } = {}) {
  receiver = await startCallbackReceiver({ secret: SECRET });
  const clock = opts.clock && timeFrom(() => opts.clock!.now());
  const entry = webApiEntry({ callback_url: receiver.url, callback_secret: SECRET, ...opts.config });
  t = await startTestGateway(
    { agents: { assistant: { profile: { provider: 'echo', prefix: 'echo: ' }, entries: [entry] } }, ...(opts.settings ? { settings: opts.settings } : {}) },
    { ...(clock ? { clock } : {}), ...(opts.log ? { log: opts.log } : {}) },
  );
  await t.until(() => t!.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  return { t, receiver };
}

/** The first reply chunk of the only message from `userId`, once `ready` holds for it. */
async function replyWhen(userId: string, ready: (reply: OutboundItem) => boolean): Promise<OutboundItem> {
  return t!.until(async () => {
    const [summary] = await t!.gateway.store.listMessages({ entryKey: ENTRY, userId });
    const reply = summary && (await t!.gateway.store.getMessage(summary.id))?.replies[0];
    return reply && ready(reply) ? reply : undefined;
  });
}

describe('web_api signed callback', () => {
  it('POSTs the reply signed and verifiable, and the SSE stream gets it too', async () => {
    const { t, receiver } = await setup();
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    sse = new SseClient(`${address}/api/v1/chat/${ENTRY}/events?userId=alice`, TEST_API_KEY);
    sse.lastEventId = 0;
    await sse.connect();

    const res = await t.chat(ENTRY, { userId: 'alice', content: 'hello' });
    expect(res.status).toBe(202);
    await t.until(() => receiver.accepted.length === 1 && sse!.events.length === 1);
    const sent = await replyWhen('alice', (r) => r.status === 'sent');

    const [delivery] = receiver.deliveries;
    expect(receiver.deliveries).toHaveLength(1);
    expect(delivery).toMatchObject({ verified: true, outcome: 'accepted', status: 200, idempotencyKey: sent.idempotencyKey });
    expect(delivery!.signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(Number(delivery!.timestamp)).toBeGreaterThan(0);
    expect(delivery!.body).toEqual({
      messageId: res.json.messageId,
      userId: 'alice',
      conversationId: 'alice',
      text: 'echo: hello',
      format: 'text',
      chunk: { index: 0, count: 1 },
      seq: sse.events[0]!.id,
    });
    expect(sse.events[0]!.data).toMatchObject({ messageId: res.json.messageId, text: 'echo: hello' });
    expect(delivery!.raw).not.toContain(SECRET);

    // The receiver's check has teeth: a changed body or another secret is refused.
    const forged = await fetch(receiver.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-cococat-timestamp': delivery!.timestamp!, 'x-cococat-signature': delivery!.signature! },
      body: delivery!.raw.replace('echo: hello', 'echo: forged'),
    });
    expect(forged.status).toBe(401);
    expect(receiver.deliveries.at(-1)).toMatchObject({ verified: false, problem: 'signature mismatch' });
  });

  it('retries 5xx with backoff, delivers once, and keeps the secret and signatures out of the log', async () => {
    const capture = captureLogger('trace');
    const clock = new ManualClock(Date.now());
    const { t, receiver } = await setup({ clock, log: capture.log });
    receiver.failNext(2, { status: 500, body: 'database is down' });
    await t.chat(ENTRY, { userId: 'bob', content: 'retry me' });

    const first = await replyWhen('bob', (r) => r.status === 'pending' && r.attempts === 1 && !!r.lastError);
    expect(first.lastError).toMatch(/^COCO_ERR_CHANNEL_SEND: web_api: callback to http:\/\/127\.0\.0\.1:\d+\/hooks\/cococat answered HTTP 500: .*database is down/);
    expect(first.availableAt).toBeGreaterThan(clock.now());
    await clock.advance(first.availableAt - clock.now());
    const second = await replyWhen('bob', (r) => r.status === 'pending' && r.attempts === 2);
    expect(second.lastError).toMatch(/HTTP 500/);
    await clock.advance(second.availableAt - clock.now());
    const sent = await replyWhen('bob', (r) => r.status === 'sent');

    expect(receiver.deliveries.map((d) => d.outcome)).toEqual(['failed', 'failed', 'accepted']);
    expect(receiver.deliveries.every((d) => d.verified && d.idempotencyKey === sent.idempotencyKey)).toBe(true);
    expect(receiver.accepted).toEqual([expect.objectContaining({ userId: 'bob', text: 'echo: retry me' })]);
    // Retried sends append nothing new to the feed: SSE and ?wait=true clients see the reply once.
    expect((await t.gateway.store.readFeed(ENTRY, 'bob', 0, 10)).map((f) => (f.payload as { text: string }).text)).toEqual(['echo: retry me']);

    // The retries are visible in the message log of the admin API.
    const [summary] = await t.gateway.store.listMessages({ entryKey: ENTRY, userId: 'bob' });
    const detail = await t.admin('GET', `/messages/${summary!.id}`);
    const stages: string[] = detail.json.timeline.map((e: { stage: string }) => e.stage);
    expect(stages.filter((s) => s === 'send_retry')).toHaveLength(2);
    expect(stages.at(-1)).toBe('sent');
    expect(detail.json.replies[0]).toMatchObject({ status: 'sent', attempts: 3 });

    const log = capture.raw();
    expect(log).toMatch(/send failed; will retry/);
    expect(log).not.toContain(SECRET);
    for (const d of receiver.deliveries) expect(log).not.toContain(d.signature!.slice(7));
  });

  it('waits as long as a 429 Retry-After asks', async () => {
    const clock = new ManualClock(Date.now());
    const { t, receiver } = await setup({ clock });
    receiver.failNext(1, { status: 429, retryAfter: 30 });
    await t.chat(ENTRY, { userId: 'cat', content: 'slow down' });
    const limited = await replyWhen('cat', (r) => r.status === 'pending' && r.attempts === 1 && !!r.lastError);
    expect(limited.lastError).toMatch(/HTTP 429/);
    expect(limited.availableAt - clock.now()).toBe(30_000);
    await clock.advance(30_000);
    await replyWhen('cat', (r) => r.status === 'sent');
    expect(receiver.deliveries.map((d) => d.outcome)).toEqual(['failed', 'accepted']);
  });

  it('retries a 429 without Retry-After on its own backoff', async () => {
    const clock = new ManualClock(Date.now());
    const { t, receiver } = await setup({ clock });
    receiver.failNext(1, { status: 429 });
    await t.chat(ENTRY, { userId: 'dog', content: 'no header' });
    const first = await replyWhen('dog', (r) => r.status === 'pending' && r.attempts === 1 && !!r.lastError);
    expect(first.lastError).toMatch(/HTTP 429/);
    // The first retry of the outbox's backoff: 1 s with half of it jittered.
    expect(first.availableAt - clock.now()).toBeGreaterThanOrEqual(500);
    expect(first.availableAt - clock.now()).toBeLessThanOrEqual(1_000);
    await clock.advance(first.availableAt - clock.now());
    await replyWhen('dog', (r) => r.status === 'sent');
    expect(receiver.deliveries.map((d) => d.outcome)).toEqual(['failed', 'accepted']);
    expect(receiver.accepted).toEqual([expect.objectContaining({ userId: 'dog', text: 'echo: no header' })]);
  });

  it('dead-letters a reply the receiver refuses with a 4xx, with the status and body in the reason', async () => {
    const { t, receiver } = await setup();
    receiver.failNext(1, { status: 400, body: 'unknown user dan' });
    await t.chat(ENTRY, { userId: 'dan', content: 'nobody home' });
    const dead = await t.until(async () => {
      const res = await t.admin('GET', '/dead-letters?kind=outbound');
      return res.json.deadLetters.length > 0 ? res.json.deadLetters : undefined;
    });
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ kind: 'outbound', entryKey: ENTRY, userId: 'dan', text: 'echo: nobody home', attempts: 1 });
    expect(dead[0].error).toMatch(/^COCO_ERR_CHANNEL_SEND: web_api: callback to .* answered HTTP 400: .*unknown user dan/);
    // Not retried: one request reached the receiver.
    expect(receiver.deliveries.map((d) => d.outcome)).toEqual(['failed']);
    expect((await replyWhen('dan', (r) => r.status === 'dead')).attempts).toBe(1);
  });

  it('times out on a receiver that never answers and retries', async () => {
    const clock = new ManualClock(Date.now());
    const { t, receiver } = await setup({ clock, config: { callback_timeout_ms: 1_000 } });
    receiver.failNext(1, { hang: true });
    await t.chat(ENTRY, { userId: 'eve', content: 'are you there' });
    const timedOut = await replyWhen('eve', (r) => r.status === 'pending' && r.attempts === 1 && !!r.lastError);
    expect(timedOut.lastError).toMatch(/callback to .* failed: no answer within 1000 ms/);
    await clock.advance(timedOut.availableAt - clock.now());
    await replyWhen('eve', (r) => r.status === 'sent');
    expect(receiver.deliveries.map((d) => d.outcome)).toEqual(['hung', 'accepted']);
    expect(receiver.accepted).toEqual([expect.objectContaining({ userId: 'eve', text: 'echo: are you there' })]);
  });

  it('keeps the sends in flight bounded while the receiver stalls, then delivers every reply once', async () => {
    // concurrency 2: the outbox sends 4 at a time and takes 4 × 4 replies handed over at completion.
    const { t, receiver } = await setup({ settings: { limits: { concurrency: 2 } }, config: { callback_timeout_ms: 60_000 } });
    const MESSAGES = 40;
    const IN_FLIGHT_LIMIT = 4 * 4 + 4;
    receiver.hold();
    for (let i = 0; i < MESSAGES; i++) expect((await t.chat(ENTRY, { userId: `user-${i}`, content: `stalled ${i}` })).status).toBe(202);
    // The agent answers all of them; the replies beyond the limit wait in the outbox, not in flight.
    const waiting = await t.until(async () => {
      const stats = await t.gateway.store.stats();
      return stats.inboundQueued + stats.inboundLeased === 0 && stats.outboundPending + stats.outboundLeased === MESSAGES ? stats : undefined;
    });
    await t.until(() => receiver.held >= IN_FLIGHT_LIMIT - 4);
    expect(receiver.held).toBeLessThanOrEqual(IN_FLIGHT_LIMIT);
    expect(waiting.outboundPending).toBeGreaterThanOrEqual(MESSAGES - IN_FLIGHT_LIMIT);

    receiver.release();
    await t.until(() => receiver.accepted.length === MESSAGES);
    const users = receiver.accepted.map((body) => body.userId);
    expect(new Set(users).size).toBe(MESSAGES);
    expect(receiver.deliveries.filter((d) => d.outcome === 'duplicate')).toEqual([]);
  });
});

describe('web_api callback config', () => {
  it('shows an entry with a bad callback config as error naming the field while the others keep serving', async () => {
    receiver = await startCallbackReceiver({ secret: SECRET });
    t = await startTestGateway({
      agents: {
        good: { profile: { provider: 'echo' }, entries: [webApiEntry({ callback_url: receiver.url, callback_secret: SECRET })] },
        broken: {
          profile: { provider: 'echo' },
          entries: [
            webApiEntry({ callback_url: receiver.url }, 'nosecret'),
            webApiEntry({ callback_url: 'not a url', callback_secret: SECRET }, 'badurl'),
            webApiEntry({ callback_url: 'ftp://example.com/hook', callback_secret: SECRET }, 'ftp'),
          ],
        },
      },
    });
    await t.until(() => t!.gateway.keeper.statusOf('good.web_api')?.state === 'running');
    await t.until(() => t!.gateway.keeper.status().filter((s) => s.state === 'error').length === 3);
    const byKey = Object.fromEntries(t.gateway.keeper.status().map((s) => [s.key, s]));
    expect(byKey['broken.nosecret']!.lastError).toMatchObject({
      code: 'COCO_ERR_CONFIG_INVALID',
      message: expect.stringMatching(/entries\.0\.config\.callback_secret: is required when callback_url is set/),
    });
    expect(byKey['broken.badurl']!.lastError?.message).toMatch(/entries\.1\.config\.callback_url: must be an http\(s\) URL/);
    expect(byKey['broken.ftp']!.lastError?.message).toMatch(/entries\.2\.config\.callback_url: must be an http\(s\) URL/);
    expect((await t.admin('GET', '/entries/broken.nosecret/status')).json.state).toBe('error');

    const res = await t.chat('good.web_api', { userId: 'u', content: 'still here' }, { wait: true });
    expect(res.json.reply.text).toBe('still here');
    await t.until(() => receiver!.accepted.length === 1);

    // The admin API refuses the same mistake before writing it.
    const refused = await t.admin('POST', '/agents/good/entries', { id: 'more', channel: 'web_api', config: { api_key: TEST_API_KEY, callback_url: receiver.url } });
    expect(refused.status).toBe(400);
    expect(refused.json.error.field).toBe('config.callback_secret');
  });

  it('masks callback_secret in every admin API answer and stores it only in the vault', async () => {
    receiver = await startCallbackReceiver({ secret: SECRET });
    t = await startTestGateway({ agents: { assistant: { profile: { provider: 'echo' } } } });
    const bodies: string[] = [];
    const admin = async (method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown) => {
      const res = await t!.admin(method, url, body);
      bodies.push(JSON.stringify(res.json));
      return res;
    };

    const types = await admin('GET', '/channel-types');
    const webApi = types.json.channelTypes.find((c: { type: string }) => c.type === 'web_api');
    expect(webApi.configSchema.properties.callback_secret).toMatchObject({ type: 'string', writeOnly: true, 'x-secret': true });
    expect(webApi.configSchema.properties.callback_url['x-secret']).toBeUndefined();
    expect(webApi.configSchema.properties.callback_timeout_ms.default).toBe(10_000);

    const config = { api_key: TEST_API_KEY, callback_url: receiver.url, callback_secret: SECRET };
    const added = await admin('POST', '/agents/assistant/entries', { channel: 'web_api', config });
    expect(added.status).toBe(201);
    expect(added.json.config).toMatchObject({ callback_url: receiver.url, callback_secret: '********' });
    expect(added.json.secrets.callback_secret).toEqual({ set: true, source: 'stored' });
    const file = JSON.parse(readFileSync(join(t.root, 'agents', 'assistant', 'entries.json'), 'utf8'));
    expect(file.entries[0].config.callback_secret).toBe('${secret:assistant.web_api.callback_secret}');

    // The stored secret signs the callbacks.
    await t.until(() => t!.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    await t.chat(ENTRY, { userId: 'u', content: 'signed?' });
    await t.until(() => receiver!.accepted.length === 1);
    expect(receiver.deliveries[0]!.verified).toBe(true);

    const listed = await admin('GET', '/agents/assistant/entries');
    expect(listed.json.entries[0].config.callback_secret).toBe('********');
    // A masked edit keeps the stored secret.
    const edited = await admin('PUT', '/agents/assistant/entries/web_api', {
      channel: 'web_api',
      config: { ...config, api_key: '********', callback_secret: '********', callback_timeout_ms: 5_000 },
    });
    expect(edited.status).toBe(200);
    expect(edited.json.config).toMatchObject({ callback_secret: '********', callback_timeout_ms: 5_000 });
    await admin('GET', `/entries/${ENTRY}/status`);
    await admin('GET', '/dashboard');

    for (const body of bodies) expect(body).not.toContain(SECRET);
  });
});
