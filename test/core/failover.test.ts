import { afterEach, describe, expect, it } from 'vitest';
import { OpenAIAgent } from '../../src/agents/openai/openai-agent.js';
import { openaiProfileSchema } from '../../src/config/schema.js';
import { systemClock } from '../../src/core/clock.js';
import { runWithFailover } from '../../src/core/failover.js';
import { silentLogger } from '../../src/core/logger.js';
import { imagesOf, startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { solidPng } from '../helpers/images.js';
import { makeRequest } from '../agents/helpers.js';

const servers: FakeLlm[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function chained(agentId: string, extra: Record<string, unknown> = {}) {
  const llm = await startFakeLlm({ reply: () => `${agentId} answers` });
  servers.push(llm);
  const profile = openaiProfileSchema.parse({ provider: 'openai', model: agentId, base_url: llm.url, api_key: 'k', stream: false, retries: 0, ...extra });
  const deps = { clock: systemClock, log: silentLogger(), env: {} };
  return { llm, link: { agentId, agent: new OpenAIAgent(profile, deps), profile } };
}

describe('runWithFailover', () => {
  it('gives the images only to a failover agent that takes them, and adds up attempts', async () => {
    const first = await chained('first', { images: true, fallback_reply: 'first fallback' });
    const blind = await chained('blind');
    const seeing = await chained('seeing', { images: true });
    first.llm.failNext(1, { status: 500 });
    blind.llm.failNext(1, { status: 502 });
    const png = solidPng(4, 4, [255, 0, 0]);
    const request = makeRequest({ images: [{ data: png, mimeType: 'image/png' }] });
    const outcome = await runWithFailover(first.link, [blind.link, seeing.link], request, { clock: systemClock, log: silentLogger(), env: {} });
    expect(outcome).toMatchObject({ ok: true, reply: { text: 'seeing answers' }, attempts: 3, answeredBy: 'seeing' });
    expect(outcome.failed).toEqual(['first (COCO_ERR_AGENT_FAILED)', 'blind (COCO_ERR_AGENT_FAILED)']);
    expect(imagesOf(first.llm.requests[0]!)).toHaveLength(1);
    expect(imagesOf(blind.llm.requests[0]!)).toEqual([]);
    expect(imagesOf(seeing.llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
  });

  it('asks no one else when the run was stopped (shutdown, a recall)', async () => {
    const first = await chained('first');
    const backup = await chained('backup');
    first.llm.delayMs = 5_000;
    const stop = new AbortController();
    const run = runWithFailover(first.link, [backup.link], makeRequest(), { clock: systemClock, log: silentLogger(), env: {}, signal: stop.signal });
    await new Promise((r) => setTimeout(r, 50));
    stop.abort(new Error('SIGTERM'));
    const outcome = await run;
    expect(outcome.ok).toBe(false);
    expect(outcome.failed).toBeUndefined();
    expect(backup.llm.requests).toEqual([]);
  });
});
