import { describe, expect, it } from 'vitest';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway, timeFrom } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();
const ENTRY = 'assistant.web_api';

/** A model with a 6 000-token context (the fake counts characters) that repeats what it is asked. */
async function setup(extra: Record<string, unknown> = {}) {
  const llm = opened(await startFakeLlm({ contextLimit: 6_000 }));
  const profile = { provider: 'openai', model: 'small-model', base_url: llm.url, api_key: 'k', stream: false, retries: 0, ...extra };
  const t = opened(await startTestGateway({ agents: { assistant: { profile, entries: [webApiEntry()] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  const ask = async (content: string) => (await t.chat(ENTRY, { userId: 'ann', content }, { wait: true })).json as { messageId: string; reply: { text: string } };
  const replied = async (id: string) => (await t.gateway.store.getMessage(id))?.timeline.find((e) => e.stage === 'replied')?.detail;
  return { llm, t, ask, replied };
}

describe('a conversation longer than the model takes', () => {
  it('keeps answering after a long paste: the model refuses the length, and the history is halved until it fits', async () => {
    const { llm, ask, replied } = await setup();
    // 3 500 characters, and an answer as long: together over the context.
    await ask('p'.repeat(3_500));
    await ask('thanks');
    const after = await ask('and a question?');
    expect(after.reply.text).toBe('reply to: and a question?');
    // Each refused at first, then sent with the newer half of its history: none of 2 turns, 2 of 4.
    expect(llm.requests.map((r) => r.body.messages!.length)).toEqual([1, 3, 1, 5, 3]);
    expect(await replied(after.messageId)).toMatch(/^2 attempt\(s\), \d+ ms, 10 \+ \d+ tokens; the model refused the length: history cut to 2 of 4 turn\(s\)$/);
  });

  it('with history_max_chars below the paste, leaves the paste out of the history up front: one request each, no refusal', async () => {
    const { llm, ask, replied } = await setup({ history_max_chars: 4_000 });
    await ask('p'.repeat(3_500));
    await ask('thanks');
    const after = await ask('and a question?');
    expect(llm.requests.map((r) => r.body.messages!.length)).toEqual([1, 1, 3]);
    expect(await replied(after.messageId)).toMatch(/^1 attempt\(s\), \d+ ms, 10 \+ \d+ tokens$/);
  });

  it('answers a message too long on its own with the fallback, and says why in the message log', async () => {
    const { t, ask } = await setup({ fallback_reply: 'That is too long for me.' });
    const long = await ask('q'.repeat(7_000));
    expect(long.reply.text).toBe('That is too long for me.');
    const timeline = (await t.gateway.store.getMessage(long.messageId))!.timeline;
    expect(timeline.find((e) => e.stage === 'agent_error')?.detail).toMatch(/^COCO_ERR_AGENT_CONTEXT: model small-model refused the request as too long \(HTTP 400\): .*maximum context length is 6000 tokens/);
    expect(timeline.find((e) => e.stage === 'fallback')?.detail).toMatch(/^agent assistant failed after 1 attempt\(s\): model small-model refused/);
  });
});

describe('a user who comes back after a pause', () => {
  it('starts afresh after history_idle_minutes: the model sees none of the turns before the pause', async () => {
    let now = Date.now();
    const llm = opened(await startFakeLlm());
    const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', stream: false, history_idle_minutes: 60 };
    const t = opened(await startTestGateway({ agents: { assistant: { profile, entries: [webApiEntry()] } } }, { clock: timeFrom(() => now) }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const ask = (content: string) => t.chat(ENTRY, { userId: 'ann', content }, { wait: true });
    await ask('my order is late');
    now += 30 * 60_000;
    await ask('any news?');
    now += 2 * 24 * 60 * 60_000;
    await ask('a new question');
    expect(llm.requests.map((r) => r.body.messages!.length)).toEqual([1, 3, 1]);
  });
});
