import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Agent, AgentReply, AgentRequest } from '../../src/agents/agent.js';
import { OpenAIAgent, runAgent, type AgentOutcome, type RunAgentDeps } from '../../src/agents/index.js';
import { agentProfileSchema, openaiProfileSchema } from '../../src/config/schema.js';
import { ManualClock, systemClock } from '../../src/core/clock.js';
import { CocoError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { captureLogger, makeRequest } from './helpers.js';

const FALLBACK = 'Busy right now, sorry.';

describe('runAgent with the openai agent and the fake LLM', () => {
  let fake: FakeLlm;
  beforeAll(async () => {
    fake = await startFakeLlm({ apiKey: 'sk-secret-key' });
  });
  afterAll(() => fake.close());
  afterEach(() => fake.reset());

  function setup(extra: Record<string, unknown> = {}) {
    const profile = openaiProfileSchema.parse({
      provider: 'openai',
      model: 'fake-model',
      base_url: fake.url,
      api_key: 'sk-secret-key',
      fallback_reply: FALLBACK,
      ...extra,
    });
    const capture = captureLogger();
    // Real time, short backoff: these tests are about outcomes; timing is tested on a ManualClock below.
    const deps: RunAgentDeps = { clock: systemClock, log: capture.log, env: {}, backoff: { baseMs: 5, capMs: 20 } };
    return { profile, deps, capture, agent: new OpenAIAgent(profile, deps) };
  }

  it('retries two 500s and succeeds on the third attempt', async () => {
    const { profile, deps, agent, capture } = setup({ retries: 2 });
    fake.failNext(2, { status: 500 });
    const outcome = await runAgent(agent, profile, makeRequest(), deps);
    expect(outcome).toMatchObject({ ok: true, attempts: 3, reply: { text: 'reply to: hello there', format: 'markdown' } });
    expect(fake.requests).toHaveLength(3);
    expect(capture.lines.filter((l) => l.msg === 'agent attempt failed').map((l) => l.attempt)).toEqual([1, 2]);
    expect(capture.lines[0]).toMatchObject({ level: 40, agentId: 'support', messageId: 'm-1', statusCode: 500 });
  });

  it('gives the fallback reply with COCO_ERR_AGENT_FAILED when every attempt fails', async () => {
    const { profile, deps, agent } = setup({ retries: 2 });
    fake.failNext(5, { status: 500 });
    const outcome = await runAgent(agent, profile, makeRequest(), deps);
    expect(outcome).toMatchObject({ ok: false, attempts: 3, reply: { text: FALLBACK, format: 'text' } });
    const error = (outcome as Extract<AgentOutcome, { ok: false }>).error;
    expect(error.code).toBe('COCO_ERR_AGENT_FAILED');
    expect(error.cause).toMatchObject({ statusCode: 500 });
    expect(fake.requests).toHaveLength(3);
  });

  it('asks again at once with the newer half of the history when the model refuses the length, without using up retries', async () => {
    const { profile, deps, agent, capture } = setup({ retries: 0 });
    const history = Array.from({ length: 8 }, (_, i) => ({ role: i % 2 === 0 ? ('user' as const) : ('assistant' as const), content: `${i}:${'h'.repeat(98)}` }));
    // 'hello there' plus two turns fit; four do not.
    fake.contextLimit = 300;
    try {
      const outcome = await runAgent(agent, profile, makeRequest({ history }), deps);
      expect(outcome).toMatchObject({ ok: true, attempts: 3, historyCut: { kept: 2, of: 8 }, reply: { text: 'reply to: hello there' } });
      expect(fake.requests.map((r) => r.body.messages!.length)).toEqual([9, 5, 3]);
      expect(fake.requests[2]!.body.messages!.slice(0, 2).map((m) => (m.content as string).slice(0, 2))).toEqual(['6:', '7:']);
      const warned = capture.lines.filter((l) => String(l.msg).startsWith('the model refused the length'));
      expect(warned.map((l) => [l.turns, l.kept])).toEqual([[8, 4], [4, 2]]);

      // A message that does not fit even alone: the fallback, with COCO_ERR_AGENT_CONTEXT.
      fake.reset();
      const long = await runAgent(agent, profile, makeRequest({ history, message: { ...makeRequest().message, content: 'q'.repeat(400) } }), deps);
      expect(long).toMatchObject({ ok: false, attempts: 4, historyCut: { kept: 0, of: 8 }, reply: { text: FALLBACK } });
      expect((long as Extract<AgentOutcome, { ok: false }>).error.cause).toMatchObject({ code: 'COCO_ERR_AGENT_CONTEXT', statusCode: 400 });
      expect(fake.requests.map((r) => r.body.messages!.length)).toEqual([9, 5, 3, 1]);
    } finally {
      fake.contextLimit = undefined;
    }
  });

  it("reads Qwen on DashScope's wording of a request too long as the same refusal", async () => {
    const qwen = await startFakeLlm({ contextLimit: 150, contextError: 'dashscope' });
    try {
      const { profile, deps } = setup({ base_url: qwen.url });
      const history = [{ role: 'user' as const, content: 'p'.repeat(200) }, { role: 'assistant' as const, content: 'ok' }];
      const outcome = await runAgent(new OpenAIAgent(profile, deps), profile, makeRequest({ history }), deps);
      expect(outcome).toMatchObject({ ok: true, attempts: 2, historyCut: { kept: 0, of: 2 } });
    } finally {
      await qwen.close();
    }
  });

  it('retries a stream that broke off; the watcher sees the second attempt start over', async () => {
    const { profile, deps, agent } = setup({ retries: 1 });
    fake.failNext(1, { breakStream: true, afterPieces: 2 });
    const seen: string[] = [];
    const outcome = await runAgent(agent, profile, makeRequest({ onText: (t) => seen.push(t) }), deps);
    expect(outcome).toMatchObject({ ok: true, attempts: 2, reply: { text: 'reply to: hello there' } });
    expect(seen).toEqual(['reply ', 'reply to: ', 'reply ', 'reply to: ', 'reply to: hello ', 'reply to: hello there']);
    expect(fake.requests.map((r) => r.body.stream)).toEqual([true, true]);
  });

  it('times out a hanging request and succeeds on the retry', async () => {
    const { profile, deps, agent, capture } = setup({ timeout_ms: 300, retries: 1 });
    fake.failNext(1, { hang: true });
    const started = Date.now();
    const outcome = await runAgent(agent, profile, makeRequest(), deps);
    expect(outcome).toMatchObject({ ok: true, attempts: 2 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(capture.lines[0]).toMatchObject({ code: 'COCO_ERR_AGENT_TIMEOUT', attempt: 1, retryable: true });
    await expect.poll(() => fake.inFlight).toBe(0); // the hung request was really aborted
  });

  it('does not retry a 401, answers with the fallback and never logs the key', async () => {
    const { profile, deps, capture } = setup({ retries: 3, api_key: 'sk-wrong-key-123' });
    const agent = new OpenAIAgent(profile, deps);
    const outcome = await runAgent(agent, profile, makeRequest(), deps);
    expect(outcome).toMatchObject({ ok: false, attempts: 1, reply: { text: FALLBACK } });
    expect(fake.requests).toHaveLength(1);
    expect(capture.lines).toHaveLength(1);
    expect(capture.raw()).not.toContain('sk-wrong-key-123');
  });
});

/** An agent driven by a script of results; records when (on the clock) each attempt began. */
class ScriptedAgent implements Agent {
  readonly provider = 'scripted';
  readonly calls: number[] = [];
  readonly signals: AbortSignal[] = [];
  constructor(
    private readonly clock: ManualClock,
    private readonly script: (() => Promise<AgentReply>)[],
  ) {}
  run(request: AgentRequest): Promise<AgentReply> {
    this.calls.push(this.clock.now());
    this.signals.push(request.signal);
    const step = this.script.shift();
    return step ? step() : Promise.resolve({ text: 'done', format: 'text' });
  }
}

const fail500 = () => Promise.reject(new CocoError('COCO_ERR_AGENT_FAILED', 'HTTP 500', { retryable: true, statusCode: 500 }));
const hang = () => new Promise<AgentReply>(() => {}); // ignores its signal on purpose

describe('runAgent timing on a ManualClock', () => {
  function setup(script: (() => Promise<AgentReply>)[], extra: Record<string, unknown> = {}) {
    const clock = new ManualClock();
    const profile = agentProfileSchema.parse({ provider: 'echo', fallback_reply: FALLBACK, ...extra });
    const shutdown = new AbortController();
    const deps: RunAgentDeps = { clock, log: silentLogger(), env: {}, random: () => 1, signal: shutdown.signal };
    return { clock, profile, deps, shutdown, agent: new ScriptedAgent(clock, script) };
  }

  it('waits backoffDelay({ baseMs: 500, capMs: 10000 }) between attempts', async () => {
    const { clock, profile, deps, agent } = setup([fail500, fail500], { retries: 2 });
    const t0 = clock.now();
    const result = runAgent(agent, profile, makeRequest(), deps);
    await clock.advance(0);
    expect(agent.calls).toEqual([t0]);
    await clock.advance(499);
    expect(agent.calls).toHaveLength(1); // random() = 1: the first retry waits the full 500 ms
    await clock.advance(1);
    expect(agent.calls).toEqual([t0, t0 + 500]);
    await clock.advance(999);
    expect(agent.calls).toHaveLength(2);
    await clock.advance(1);
    expect(agent.calls).toEqual([t0, t0 + 500, t0 + 1500]);
    expect(await result).toMatchObject({ ok: true, attempts: 3, latencyMs: 1500 });
  });

  it("honours the error's retryAfterMs, capped at 30 s", async () => {
    const rateLimited = () =>
      Promise.reject(new CocoError('COCO_ERR_AGENT_FAILED', 'HTTP 429', { retryable: true, retryAfterMs: 120_000 }));
    const { clock, profile, deps, agent } = setup([rateLimited], { retries: 1 });
    const t0 = clock.now();
    const result = runAgent(agent, profile, makeRequest(), deps);
    await clock.advance(0); // let the failure register its wait before time moves
    await clock.advance(29_999);
    expect(agent.calls).toHaveLength(1);
    await clock.advance(1);
    expect(agent.calls).toEqual([t0, t0 + 30_000]);
    expect((await result).ok).toBe(true);
  });

  it('times out an agent that ignores its signal, aborting that signal', async () => {
    const { clock, profile, deps, agent } = setup([hang], { retries: 0, timeout_ms: 5_000 });
    const result = runAgent(agent, profile, makeRequest(), deps);
    await clock.advance(4_999);
    expect(agent.signals[0]!.aborted).toBe(false);
    await clock.advance(1);
    const outcome = await result;
    expect(agent.signals[0]!.aborted).toBe(true);
    expect(outcome).toMatchObject({ ok: false, attempts: 1, reply: { text: FALLBACK } });
    const error = (outcome as Extract<AgentOutcome, { ok: false }>).error;
    expect(error.code).toBe('COCO_ERR_AGENT_FAILED');
    expect(error.cause).toMatchObject({ code: 'COCO_ERR_AGENT_TIMEOUT' });
  });

  it('drops text from an attempt it gave up on, so it never shows over the next attempt', async () => {
    let lateWriter: ((t: string) => void) | undefined;
    const slowWriter = (request: AgentRequest) => {
      lateWriter = request.onText;
      return new Promise<AgentReply>(() => undefined); // ignores its signal
    };
    const { clock, profile, deps } = setup([], { retries: 1, timeout_ms: 1_000 });
    const seen: string[] = [];
    let calls = 0;
    const agent: Agent = {
      provider: 'scripted',
      streams: true,
      run: (request) => {
        calls++;
        if (calls === 1) return slowWriter(request);
        request.onText?.('second');
        return Promise.resolve({ text: 'second attempt', format: 'text' });
      },
    };
    const result = runAgent(agent, profile, makeRequest({ onText: (t) => seen.push(t) }), deps);
    await clock.advance(0);
    lateWriter!('first');
    await clock.advance(1_000); // timeout, then the backoff before the retry
    await clock.advance(1_000);
    lateWriter!('first, still writing after its timeout');
    expect(await result).toMatchObject({ ok: true, attempts: 2, reply: { text: 'second attempt' } });
    lateWriter!('first, after all');
    expect(seen).toEqual(['first', 'second']);
  });

  it('stops at once on shutdown during an attempt and does not retry', async () => {
    const { clock, profile, deps, agent, shutdown } = setup([hang], { retries: 3 });
    const result = runAgent(agent, profile, makeRequest(), deps);
    await clock.advance(10);
    shutdown.abort(new Error('SIGTERM'));
    const outcome = await result;
    expect(outcome).toMatchObject({ ok: false, attempts: 1, reply: { text: FALLBACK } });
    expect(agent.signals[0]!.aborted).toBe(true);
    await clock.advance(60_000);
    expect(agent.calls).toHaveLength(1);
  });

  it('stops, without a warning, when the answer is no longer wanted, and names why', async () => {
    const { clock, profile, deps, agent, shutdown } = setup([hang], { retries: 3 });
    const capture = captureLogger();
    const result = runAgent(agent, profile, makeRequest(), { ...deps, log: capture.log });
    await clock.advance(10);
    shutdown.abort(new CocoError('COCO_ERR_AGENT_FAILED', 'agent run stopped: its sender recalled the message', { retryable: false }));
    const outcome = (await result) as Extract<AgentOutcome, { ok: false }>;
    expect(outcome).toMatchObject({ ok: false, attempts: 1 });
    expect(outcome.error.message).toMatch(/failed after 1 attempt\(s\): agent run stopped: its sender recalled the message/);
    expect(agent.signals[0]!.aborted).toBe(true);
    expect(capture.lines.filter((l) => Number(l.level) >= 40)).toEqual([]);
    await clock.advance(60_000);
    expect(agent.calls).toHaveLength(1);
  });

  it('stops on shutdown during the backoff wait', async () => {
    const { clock, profile, deps, agent, shutdown } = setup([fail500], { retries: 3 });
    const result = runAgent(agent, profile, makeRequest(), deps);
    await clock.advance(100);
    shutdown.abort(new Error('SIGTERM'));
    const outcome = await result;
    expect(outcome).toMatchObject({ ok: false, attempts: 1 });
    expect((outcome as Extract<AgentOutcome, { ok: false }>).error.message).toMatch(/shutting down/);
  });

  it('retries errors the agent did not classify, but not non-retryable CocoErrors', async () => {
    const plain = () => Promise.reject(new TypeError('boom'));
    const fatal = () => Promise.reject(new CocoError('COCO_ERR_AGENT_FAILED', 'HTTP 400', { retryable: false }));
    const { clock, profile, deps, agent } = setup([plain, fatal, fail500], { retries: 5 });
    const result = runAgent(agent, profile, makeRequest(), deps);
    // Step time: ManualClock.advance only fires waits registered before it starts.
    for (let i = 0; i < 60; i++) await clock.advance(1_000);
    expect(await result).toMatchObject({ ok: false, attempts: 2 });
    expect(agent.calls).toHaveLength(2);
  });
});
