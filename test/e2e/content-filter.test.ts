import { describe, expect, it } from 'vitest';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { postForEvents } from '../helpers/sse.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();
const ENTRY = 'assistant.web_api';
const REFUSAL = '抱歉，这个问题我无法回答。';

async function start(profile: Record<string, unknown>) {
  const t = opened(await startTestGateway({ agents: { assistant: { profile, entries: [webApiEntry()] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  const ask = async (content: string, userId = 'ann') => (await t.chat(ENTRY, { userId, content }, { wait: true })).json as { messageId: string; reply: { text: string } };
  const replied = async (id: string) => (await t.gateway.store.getMessage(id))?.timeline.find((e) => e.stage === 'replied')?.detail;
  const counted = async (direction: string) => (await t.gateway.metrics.filtered.get()).values.find((v) => v.labels.direction === direction)?.value;
  return { t, ask, replied, counted };
}

describe('content_filter: filtered words', () => {
  it('keeps a message holding one from the agent and answers it with the filter reply; other messages go through', async () => {
    const { ask, replied, counted } = await start({ provider: 'echo', prefix: 'echo: ', content_filter: { words: ['赌博', 'casino'], reply: REFUSAL } });
    const refused = await ask('哪里有赌博网站?');
    expect(refused.reply.text).toBe(REFUSAL);
    expect(await replied(refused.messageId)).toBe('not answered: it holds a filtered word; filter reply sent');
    expect((await ask('Best CASINO in town?')).reply.text).toBe(REFUSAL);
    expect((await ask('what time is it?')).reply.text).toBe('echo: what time is it?');
    expect(await counted('incoming')).toBe(2);
  });

  it("masks the words in an answer, in its streamed previews, and in the history the model reads next", async () => {
    const llm = opened(await startFakeLlm({ pieceDelayMs: 80, reply: () => 'Try the casino downtown, or the CASINO royale.' }));
    const { t, ask, replied, counted } = await start({
      provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', content_filter: { words: ['casino'], incoming: 'pass' },
    });
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { events } = await postForEvents(address, ENTRY, { userId: 'bo', content: 'any casino near here?' });
    const partials = events.filter((e) => e.event === 'partial').map((e) => e.data.text as string);
    expect(partials.length).toBeGreaterThanOrEqual(2);
    expect(partials.some((p) => p.includes('******'))).toBe(true);
    expect(partials.filter((p) => /casino/i.test(p))).toEqual([]);
    const reply = events.find((e) => e.event === 'reply')!.data;
    expect(reply.text).toBe('Try the ****** downtown, or the ****** royale.');
    expect(await replied(reply.messageId)).toMatch(/; 2 filtered word\(s\) masked$/);
    // The user's own words reach the model (incoming: pass); the answer it reads back is the one sent.
    expect(llm.requests[0]!.body.messages!.at(-1)).toEqual({ role: 'user', content: 'any casino near here?' });
    await ask('and then?', 'bo');
    expect(llm.requests[1]!.body.messages!.map((m) => m.content)).toEqual([
      'any casino near here?',
      'Try the ****** downtown, or the ****** royale.',
      'and then?',
    ]);
    expect(await counted('outgoing')).toBe(2);
  });

  it('replaces a whole answer holding one with outgoing: replace', async () => {
    const llm = opened(await startFakeLlm({ reply: () => 'Sure, here is the spoiler: he was dead all along.' }));
    const { ask, replied } = await start({
      provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', stream: false, content_filter: { words: ['spoiler'], outgoing: 'replace', reply: 'Let us not ruin it.' },
    });
    const answer = await ask('how does it end?');
    expect(answer.reply.text).toBe('Let us not ruin it.');
    expect(await replied(answer.messageId)).toMatch(/; the answer held a filtered word: replaced by the filter reply$/);
  });
});
