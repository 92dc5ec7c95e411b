import { describe, expect, it } from 'vitest';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { tempDirs } from '../helpers/temp-dirs.js';
import { makeWorkspace, webApiEntry } from '../helpers/workspace.js';

const ENTRY = 'assistant.web_api';
// Before closeAfterEach(): vitest runs the afterEach hooks registered last first, so each
// workspace is removed once the gateways on it are closed.
const dirs = tempDirs();
const opened = closeAfterEach();

function openaiWorkspace(url: string, profile: Record<string, unknown> = {}, limits: Record<string, unknown> = {}) {
  return dirs.track(makeWorkspace({
    settings: { limits },
    agents: {
      assistant: {
        profile: { provider: 'openai', model: 'fake-model', base_url: url, api_key: 'k', ...profile },
        entries: [webApiEntry({ rate_limit_per_minute: 1_000_000 })],
      },
    },
  }));
}

async function feed(t: TestGateway, user: string) {
  return t.gateway.store.readFeed(ENTRY, user, 0, 1_000);
}

describe('exactly once', () => {
  it('runs the agent once for the same msgId sent 3 times concurrently, and again after a restart', async () => {
    const llm = opened(await startFakeLlm({ delayMs: 50 }));
    const root = openaiWorkspace(llm.url);
    let t = opened(await startTestGateway({ root }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const results = await Promise.all([1, 2, 3].map(() => t.chat(ENTRY, { userId: 'u', content: 'once', msgId: 'same' }, { wait: true })));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(results.filter((r) => r.json.duplicate === false)).toHaveLength(1);
    expect(new Set(results.map((r) => r.json.messageId)).size).toBe(1);
    expect(results.every((r) => r.json.reply.text === 'reply to: once')).toBe(true);

    await t.close({ keepWorkspace: true });
    t = opened(await startTestGateway({ root }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const after = await t.chat(ENTRY, { userId: 'u', content: 'once', msgId: 'same' }, { wait: true });
    expect(after.json).toMatchObject({ duplicate: true, messageId: results[0]!.json.messageId, reply: { text: 'reply to: once' } });
    expect(llm.requests).toHaveLength(1);
    expect(await feed(t, 'u')).toHaveLength(1);
    const metrics = await t.gateway.metrics.registry.getSingleMetricAsString('cococat_messages_deduplicated_total');
    expect(metrics).toMatch(/channel="web_api"} 1/);
  });
});

describe('leases', () => {
  it('keeps the lease of an agent slower than the lease, so the message runs once', async () => {
    const llm = opened(await startFakeLlm({ delayMs: 2_500 }));
    const root = openaiWorkspace(llm.url, {}, { lease_ms: 1_000 });
    const t = opened(await startTestGateway({ root }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const res = await t.chat(ENTRY, { userId: 'slow', content: 'take your time' }, { wait: true });
    expect(res.json.reply.text).toBe('reply to: take your time');
    // The heartbeat ticks every 50 ms: without renewal the message would be claimed again after 1 s.
    expect(llm.requests).toHaveLength(1);
    const detail = await t.gateway.store.getMessage(res.json.messageId);
    expect(detail?.attempts).toBe(1);
  });
});

describe('ordering and parallelism', () => {
  it('answers 50 messages from one user in order, one at a time', async () => {
    const llm = opened(await startFakeLlm({ delayMs: 5 }));
    const root = openaiWorkspace(llm.url, { history_window: 0 }, { concurrency: 8 });
    const t = opened(await startTestGateway({ root }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    for (let i = 0; i < 50; i++) {
      const res = await t.chat(ENTRY, { userId: 'solo', content: `n${i}` });
      expect(res.status).toBe(202);
    }
    await t.until(async () => (await feed(t, 'solo')).length === 50, 20_000);
    const texts = (await feed(t, 'solo')).map((f) => (f.payload as { text: string }).text);
    expect(texts).toEqual(Array.from({ length: 50 }, (_, i) => `reply to: n${i}`));
    // The agent saw them in order too, never two of this conversation at once.
    expect(llm.requests.map((r) => r.body.messages?.at(-1)?.content)).toEqual(Array.from({ length: 50 }, (_, i) => `n${i}`));
    expect(llm.maxConcurrent).toBe(1);
  });

  it('runs 20 users in parallel against a slow agent', async () => {
    const llm = opened(await startFakeLlm({ delayMs: 400 }));
    const root = openaiWorkspace(llm.url, {}, { concurrency: 20 });
    const t = opened(await startTestGateway({ root }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, u) => t.chat(ENTRY, { userId: `p${u}`, content: `hi ${u}` }, { wait: true })),
    );
    const elapsed = Date.now() - started;
    expect(answers.every((a, u) => a.status === 200 && a.json.reply.text === `reply to: hi ${u}`)).toBe(true);
    console.log(`20 conversations, agent 400 ms each: ${elapsed} ms in total (serial would be 8000 ms); max concurrent ${llm.maxConcurrent}`);
    // All 20 were at the agent at the same time: the total is one conversation's time, not the sum.
    expect(llm.maxConcurrent).toBe(20);
  });
});

describe('agent failures through the openai path', () => {
  it('retries 500s and answers', async () => {
    const llm = opened(await startFakeLlm());
    const root = openaiWorkspace(llm.url, { retries: 2 });
    const t = opened(await startTestGateway({ root }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    llm.failNext(2, { status: 500 });
    const res = await t.chat(ENTRY, { userId: 'r', content: 'survive' }, { wait: true });
    expect(res.json.reply.text).toBe('reply to: survive');
    expect(llm.requests).toHaveLength(3);
    expect((await t.gateway.store.getMessage(res.json.messageId))?.status).toBe('done');
  });

  it('times out a hanging request, retries, and answers', async () => {
    const llm = opened(await startFakeLlm());
    const root = openaiWorkspace(llm.url, { retries: 1, timeout_ms: 300 });
    const t = opened(await startTestGateway({ root }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    llm.failNext(1, { hang: true });
    const res = await t.chat(ENTRY, { userId: 'h', content: 'slowly' }, { wait: true });
    expect(res.json.reply.text).toBe('reply to: slowly');
    expect(llm.requests).toHaveLength(2);
  });

  it('sends the fallback reply after the last failure and shows the error', async () => {
    const llm = opened(await startFakeLlm());
    const root = openaiWorkspace(llm.url, { retries: 1, fallback_reply: 'We are busy, back soon.' });
    const t = opened(await startTestGateway({ root }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    llm.failNext(2, { status: 503 });
    const res = await t.chat(ENTRY, { userId: 'f', content: 'anyone?' }, { wait: true });
    expect(res.json.reply.text).toBe('We are busy, back soon.');
    const detail = await t.gateway.store.getMessage(res.json.messageId);
    expect(detail?.status).toBe('fallback');
    expect(detail?.timeline.find((e) => e.stage === 'agent_error')?.detail).toMatch(/COCO_ERR_AGENT_FAILED/);
    const failed = await t.gateway.metrics.registry.getSingleMetricAsString('cococat_messages_failed_total');
    expect(failed).toMatch(/channel="web_api",reason="agent"} 1/);
    // The conversation goes on: the next message is answered normally.
    const next = await t.chat(ENTRY, { userId: 'f', content: 'now?' }, { wait: true });
    expect(next.json.reply.text).toBe('reply to: now?');
  });

  it('answers with the fallback when the profile has no API key', async () => {
    const llm = opened(await startFakeLlm());
    const root = dirs.track(makeWorkspace({
      agents: { assistant: { profile: { provider: 'openai', model: 'm', base_url: llm.url }, entries: [webApiEntry()] } },
    }));
    const t = opened(await startTestGateway({ root }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const res = await t.chat(ENTRY, { userId: 'k', content: 'hello' }, { wait: true });
    expect(res.json.reply.text).toMatch(/Sorry/);
    const detail = await t.gateway.store.getMessage(res.json.messageId);
    expect(detail?.timeline.find((e) => e.stage === 'agent_error')?.detail).toMatch(/OPENAI_API_KEY/);
    expect(llm.requests).toHaveLength(0);
  });

  it('answers with the fallback when the profile names an environment variable that is not set', async () => {
    const llm = opened(await startFakeLlm());
    const root = dirs.track(makeWorkspace({
      agents: { assistant: { profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: '${NOT_SET_KEY}' }, entries: [webApiEntry()] } },
    }));
    const t = opened(await startTestGateway({ root }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const res = await t.chat(ENTRY, { userId: 'e', content: 'hello' }, { wait: true });
    expect(res.json.reply.text).toMatch(/Sorry/);
    const detail = await t.gateway.store.getMessage(res.json.messageId);
    expect(detail?.status).toBe('fallback');
    expect(detail?.timeline.find((e) => e.stage === 'agent_error')?.detail).toMatch(/NOT_SET_KEY/);
    expect(llm.requests).toHaveLength(0);
  });

  it('keeps history per conversation within the window', async () => {
    const llm = opened(await startFakeLlm());
    const root = openaiWorkspace(llm.url, { history_window: 2, system_prompt: 'Be brief.' });
    const t = opened(await startTestGateway({ root }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    await t.chat(ENTRY, { userId: 'hx', content: 'a' }, { wait: true });
    await t.chat(ENTRY, { userId: 'hx', content: 'b' }, { wait: true });
    await t.chat(ENTRY, { userId: 'other', content: 'z' }, { wait: true });
    await t.chat(ENTRY, { userId: 'hx', content: 'c' }, { wait: true });
    const last = llm.requests.at(-1)!.body.messages!;
    expect(last).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'b' },
      { role: 'assistant', content: 'reply to: b' },
      { role: 'user', content: 'c' },
    ]);
  });
});
