import { describe, expect, it } from 'vitest';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { postForEvents, SseClient } from '../helpers/sse.js';
import { TEST_API_KEY, webApiEntry } from '../helpers/workspace.js';

const ENTRY = 'writer.web_api';
const ANSWER = 'Green tea likes cooler water, around eighty degrees, and two minutes at most.';

const opened = closeAfterEach();

/** A gateway whose web_api entry feeds an openai agent on a fake model that writes word by word. */
async function start(profile: Record<string, unknown> = {}, entry: Record<string, unknown> = {}) {
  const llm = opened(await startFakeLlm({ pieceDelayMs: 60, reply: () => ANSWER }));
  const t = opened(await startTestGateway({
    agents: { writer: { profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', ...profile }, entries: [webApiEntry(entry)] } },
  }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  return { t, llm, address: await t.app.listen({ port: 0, host: '127.0.0.1' }) };
}

async function openStream(address: string, userId: string): Promise<SseClient> {
  const sse = opened(new SseClient(`${address}/api/v1/chat/${ENTRY}/events?userId=${userId}`, TEST_API_KEY));
  await sse.connect();
  return sse;
}

/** Each text a prefix of the answer and longer than the one before. */
function expectGrowingPrefixes(texts: string[], of: string): void {
  texts.forEach((text, i) => {
    expect(of.startsWith(text), `"${text}" starts "${of}"`).toBe(true);
    if (i > 0) expect(text.length).toBeGreaterThan(texts[i - 1]!.length);
  });
}

const postStreaming = (address: string, body: Record<string, unknown>) => postForEvents(address, ENTRY, body);

describe('web_api shows a reply while a streaming agent writes it', () => {
  it("sends partial events to the user's open stream, then the reply once", async () => {
    const { t, llm, address } = await start();
    const sse = await openStream(address, 'ann');
    const sent = await t.chat(ENTRY, { userId: 'ann', content: 'how hot for green tea?' });
    expect(sent.status).toBe(202);
    await t.until(() => sse.events.length === 1, 10_000);

    expect(llm.requests[0]!.body.stream).toBe(true);
    expect(sse.events[0]!.data).toMatchObject({ messageId: sent.json.messageId, text: ANSWER, format: 'markdown' });
    expect(sse.partials.length).toBeGreaterThanOrEqual(2);
    expect(new Set(sse.partials.map((p) => p.messageId))).toEqual(new Set([sent.json.messageId]));
    expectGrowingPrefixes(
      sse.partials.map((p) => p.text),
      ANSWER,
    );
    // Every partial came before the reply, and nothing after it.
    expect(sse.sequence.map((e) => e.event).at(-1)).toBe('reply');
    expect(sse.sequence.filter((e) => e.event === 'reply')).toHaveLength(1);
    // History keeps the answer, not the pieces.
    const log = (await t.gateway.store.getMessage(sent.json.messageId))!;
    expect(log.replies.map((r) => r.text)).toEqual([ANSWER]);
    // The first words were timed once, for this one streamed answer.
    const firstText = await t.gateway.metrics.registry.getSingleMetricAsString('cococat_agent_first_text_seconds');
    expect(firstText).toContain('cococat_agent_first_text_seconds_count{provider="openai"} 1');
  });

  it('keeps partials to the conversation they belong to', async () => {
    const { t, address } = await start();
    const ann = await openStream(address, 'ann');
    const bob = await openStream(address, 'bob');
    const sent = await t.chat(ENTRY, { userId: 'ann', content: 'hi' });
    await t.until(() => ann.events.length === 1, 10_000);
    expect(ann.partials.length).toBeGreaterThanOrEqual(2);
    expect(bob.sequence).toEqual([]);
    expect(ann.events[0]!.data.messageId).toBe(sent.json.messageId);
  });

  it('does not ask the model for a stream when nobody watches, or when the profile says stream: false', async () => {
    const { t, llm } = await start();
    const plain = await t.chat(ENTRY, { userId: 'cat', content: 'x' }, { wait: true });
    expect(plain.json).toMatchObject({ status: 'answered', reply: { text: ANSWER } });
    expect(llm.requests[0]!.body.stream).toBeUndefined();
    // The tokens the model reported: in the message log and counted for the agent.
    const replied = (await t.gateway.store.getMessage(plain.json.messageId))!.timeline.find((e) => e.stage === 'replied');
    expect(replied?.detail).toMatch(new RegExp(`^1 attempt\\(s\\), \\d+ ms, 10 \\+ ${ANSWER.length} tokens$`));
    const tokens = await t.gateway.metrics.registry.getSingleMetricAsString('cococat_agent_tokens_total');
    expect(tokens).toContain(`cococat_agent_tokens_total{agent="writer",provider="openai",kind="prompt"} 10`);
    expect(tokens).toContain(`cococat_agent_tokens_total{agent="writer",provider="openai",kind="completion"} ${ANSWER.length}`);
    await t.close();
    await llm.close();

    const off = await start({ stream: false });
    const sse = await openStream(off.address, 'dan');
    await off.t.chat(ENTRY, { userId: 'dan', content: 'x' });
    await off.t.until(() => sse.events.length === 1, 10_000);
    expect(off.llm.requests[0]!.body.stream).toBeUndefined();
    expect(sse.partials).toEqual([]);
  });

  it('starts over when the model stream breaks off, and sends the complete answer once', async () => {
    const { t, llm, address } = await start({ retries: 1 });
    llm.failNext(1, { breakStream: true, afterPieces: 4 });
    const sse = await openStream(address, 'eve');
    const sent = await t.chat(ENTRY, { userId: 'eve', content: 'x' });
    await t.until(() => sse.events.length === 1, 15_000);
    expect(llm.requests).toHaveLength(2);
    expect(sse.events[0]!.data).toMatchObject({ messageId: sent.json.messageId, text: ANSWER });
    const texts = sse.partials.map((p) => p.text);
    // The first attempt showed its first words; the second began again from fewer.
    const restart = texts.findIndex((text, i) => i > 0 && text.length < texts[i - 1]!.length);
    expect(restart).toBeGreaterThan(0);
    expectGrowingPrefixes(texts.slice(0, restart), ANSWER);
    expectGrowingPrefixes(texts.slice(restart), ANSWER);
    expect((await t.gateway.store.getMessage(sent.json.messageId))!.replies).toHaveLength(1);
  });
});

describe('web_api ?wait=true with Accept: text/event-stream', () => {
  it('streams one answer: accepted, partials, the reply, then the end; a duplicate gets the stored reply', async () => {
    const { t, llm, address } = await start();
    const first = await postStreaming(address, { userId: 'fay', content: 'tea?', msgId: 'fay-1' });
    expect(first.status).toBe(200);
    expect(first.contentType).toMatch(/^text\/event-stream/);
    const names = first.events.map((e) => e.event);
    expect(names[0]).toBe('accepted');
    expect(names.at(-1)).toBe('reply');
    const { messageId, duplicate } = first.events[0]!.data;
    expect(duplicate).toBe(false);
    const partials = first.events.filter((e) => e.event === 'partial').map((e) => e.data);
    expect(partials.length).toBeGreaterThanOrEqual(2);
    expect(partials.every((p) => p.messageId === messageId)).toBe(true);
    expectGrowingPrefixes(
      partials.map((p) => p.text),
      ANSWER,
    );
    expect(first.events.at(-1)).toMatchObject({ event: 'reply', id: expect.any(Number), data: { messageId, text: ANSWER } });
    expect(llm.requests[0]!.body.stream).toBe(true);

    const again = await postStreaming(address, { userId: 'fay', content: 'tea?', msgId: 'fay-1' });
    expect(again.events.map((e) => e.event)).toEqual(['accepted', 'reply']);
    expect(again.events[0]!.data).toEqual({ messageId, duplicate: true });
    expect(again.events[1]!.data.text).toBe(ANSWER);
    expect(llm.requests).toHaveLength(1);
    expect((await t.gateway.store.listMessages({ entryKey: ENTRY })).length).toBe(1);
  });

  it('ends with a pending event past wait_timeout_ms; the reply still comes on the conversation stream', async () => {
    const { t, llm, address } = await start({}, { wait_timeout_ms: 200 });
    llm.delayMs = 1_000;
    const sse = await openStream(address, 'gus');
    const res = await postStreaming(address, { userId: 'gus', content: 'slow' });
    expect(res.events.map((e) => e.event)).toEqual(['accepted', 'pending']);
    const { messageId } = res.events[0]!.data;
    expect(res.events[1]!.data).toEqual({ messageId, status: 'pending' });
    await t.until(() => sse.events.length === 1, 10_000);
    expect(sse.events[0]!.data).toMatchObject({ messageId, text: ANSWER });
  });

  it('answers bad input with the same 4xx as a plain request, before any stream opens', async () => {
    const { address } = await start();
    const res = await fetch(`${address}/api/v1/chat/${ENTRY}?wait=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ content: 'no user' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'COCO_ERR_REQUEST_INVALID', message: expect.stringMatching(/userId/) } });
  });
});
