import { afterEach, describe, expect, it } from 'vitest';
import type { Channel } from '../../src/core/channel.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { dropSchemas } from '../helpers/postgres.js';
import { startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { postForEvents, SseClient } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait-for.js';
import { makeWorkspace, removeWorkspace, TEST_API_KEY, webApiEntry } from '../helpers/workspace.js';

const PG_URL = process.env.COCOCAT_TEST_PG_URL;
const ENTRY = 'assistant.web_api';

/** What the other process's outbox does with a reply to `messageId`: the channel's send(). */
const sendFrom = (channel: Channel, userId: string, messageId: string, text: string) =>
  channel.send({ text, format: 'text' }, userId, {
    conversationId: userId, isGroup: false, inReplyTo: messageId, messageId, idempotencyKey: `${messageId}:0`, chunk: { index: 0, count: 1 },
  });

describe.skipIf(!PG_URL)('web_api with two gateway processes on one PostgreSQL store', () => {
  let schema = '';
  const gateways: TestGateway[] = [];
  const streams: SseClient[] = [];
  let root: string | undefined;
  let llm: FakeLlm | undefined;
  afterEach(async () => {
    for (const s of streams.splice(0)) await s.close();
    await llm?.close();
    llm = undefined;
    for (const g of gateways.splice(0)) await g.close({ keepWorkspace: true });
    if (root) removeWorkspace(root);
    if (schema) await dropSchemas(PG_URL!, [schema]);
  });

  /** Two gateways with one web_api entry on a schema of their own (named after `tag`), both running. */
  async function startTwo(tag: string, profile: Record<string, unknown>, entry = webApiEntry()): Promise<[TestGateway, TestGateway]> {
    schema = `cc_${tag}_${process.pid}_${Date.now().toString(36)}`;
    root = makeWorkspace({ agents: { assistant: { profile, entries: [entry] } } });
    for (let i = 0; i < 2; i++) gateways.push(await startTestGateway({ root }, { store: await openPostgresStore({ url: PG_URL!, schema }) }));
    await gateways[0]!.until(() => gateways.every((g) => g.gateway.keeper.statusOf(ENTRY)?.state === 'running'));
    return gateways as [TestGateway, TestGateway];
  }

  /** Two gateways whose agent writes `answer` word by word, run only by the second; the first listens. */
  async function startWithAgentThere(tag: string, answer: string) {
    llm = await startFakeLlm({ pieceDelayMs: 60, reply: () => answer });
    const [here, there] = await startTwo(tag, { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' });
    await here.gateway.heartbeat.stop();
    return { here, there, address: await here.app.listen({ port: 0, host: '127.0.0.1' }), llm };
  }

  async function openStream(address: string, userId: string): Promise<SseClient> {
    const stream = new SseClient(`${address}/api/v1/chat/${ENTRY}/events?userId=${userId}`, TEST_API_KEY);
    streams.push(stream);
    await stream.connect();
    return stream;
  }

  /** The notification connection of the process at `address` opens in the background: probe until a reply `there` stores wakes a stream here. */
  async function untilNotified(address: string, there: TestGateway): Promise<void> {
    const probe = await openStream(address, 'probe');
    for (let i = 0; probe.events.length === 0; i++) {
      if (i === 50) throw new Error('no reply reached the probe stream within 10 s');
      await sendFrom(there.gateway.keeper.channel(ENTRY)!, 'probe', `p${i}`, `probe ${i}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it("wakes a stream here with a reply the other process stored, instead of at the stream's next look at the store", async () => {
    const [here, there] = await startTwo('wfx', { provider: 'echo' });
    const address = await here.app.listen({ port: 0, host: '127.0.0.1' });
    await untilNotified(address, there);

    const stream = await openStream(address, 'u1');
    await sendFrom(there.gateway.keeper.channel(ENTRY)!, 'u1', '42', 'stored by the other process');
    // An idle stream looks at the store every 5 s; the notification makes it read at once.
    await waitFor(() => stream.events.length === 1, 2_000, 'the reply on the stream');
    expect(stream.events[0]?.data).toMatchObject({ messageId: '42', text: 'stored by the other process' });
  });

  it('shows the reply being written on a stream open here while the other process runs the agent', async () => {
    const answer = 'Written word by word on the other process, and shown here while it is written, then stored as the reply.';
    const { there, address, llm } = await startWithAgentThere('wpx', answer);
    const stream = await openStream(address, 'u1');

    // The stream's presence reaches the other process over the store's notification connection, opened in
    // the background, and presence is repeated every few seconds: ask until a question is answered with partials.
    for (let i = 0; stream.partials.length === 0; i++) {
      if (i === 30) throw new Error('no partial reached the stream here');
      const posted = await there.chat(ENTRY, { userId: 'u1', content: `question ${i}` });
      expect(posted.status).toBe(202);
      await waitFor(() => stream.events.some((e) => e.data.messageId === posted.json.messageId), 15_000, 'the reply on the stream');
      if (stream.partials.length === 0) await new Promise((r) => setTimeout(r, 500));
    }
    const messageId = stream.partials[0]!.messageId;
    const partials = stream.partials.filter((p) => p.messageId === messageId).map((p) => p.text);
    expect(partials.length).toBeGreaterThanOrEqual(2);
    for (const [i, text] of partials.entries()) {
      const next = partials[i + 1] ?? answer;
      expect(next.startsWith(text), `${JSON.stringify(text)} then ${JSON.stringify(next)}`).toBe(true);
    }
    // Then the reply, after its partials, once.
    const order = stream.sequence.filter((e) => e.data.messageId === messageId).map((e) => e.event);
    expect(order.at(-1)).toBe('reply');
    expect(order.filter((e) => e === 'reply')).toHaveLength(1);
    expect(stream.events.find((e) => e.data.messageId === messageId)?.data.text).toBe(answer);
    // That answer was asked for as a stream, because of the stream open here; the ones before presence was known were not.
    expect(llm.requests.at(-1)!.body.stream).toBe(true);
  }, 60_000);

  it('streams the answer to a POST with Accept: text/event-stream held here while the other process runs the agent', async () => {
    const answer = 'Asked for as a stream on one process, written on the other, and streamed back to the request that asked.';
    const { there, address, llm } = await startWithAgentThere('wsx', answer);
    await untilNotified(address, there);

    // No stream of this user is open anywhere: only the message itself says its answer is watched.
    const res = await postForEvents(address, ENTRY, { userId: 'u2', content: 'stream it back' });
    expect(res.status).toBe(200);
    const { events } = res;
    expect(events[0]?.event).toBe('accepted');
    expect(events.at(-1)).toMatchObject({ event: 'reply', data: { text: answer } });
    const partials = events.filter((e) => e.event === 'partial').map((e) => e.data.text as string);
    expect(partials.length).toBeGreaterThanOrEqual(2);
    for (const text of partials) expect(answer.startsWith(text)).toBe(true);
    expect(llm.requests.at(-1)!.body.stream).toBe(true);
  }, 60_000);

  it("holds the entry's rate limit for both processes together, not for each", async () => {
    // 60 per minute: a burst of 6, then one more a second.
    await startTwo('wrl', { provider: 'echo' }, webApiEntry({ rate_limit_per_minute: 60 }));
    const post = (g: TestGateway, i: number) =>
      g.app.inject({
        method: 'POST',
        url: `/api/v1/chat/${ENTRY}`,
        headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
        payload: { userId: 'a', content: `m${i}` },
      });
    // A load balancer sends every other request to the other process; half of them at once.
    const results = [];
    const started = Date.now();
    for (let i = 0; i < 12; i += 4) results.push(...(await Promise.all([0, 1, 2, 3].map((k) => post(gateways[(i + k) % 2]!, i + k)))));
    const accepted = results.filter((r) => r.statusCode === 202);
    // The burst, plus a token per second the requests took; each process alone would take 6 of 6.
    expect(accepted.length).toBeGreaterThanOrEqual(6);
    expect(accepted.length).toBeLessThanOrEqual(6 + Math.floor((Date.now() - started) / 1_000));
    const limited = results.filter((r) => r.statusCode === 429);
    expect(limited).toHaveLength(12 - accepted.length);
    expect(limited.every((r) => Number(r.headers['retry-after']) >= 1)).toBe(true);
    expect(limited[0]!.json()).toMatchObject({ error: { code: 'COCO_ERR_RATE_LIMITED' } });
    expect(await gateways[0]!.gateway.store.listMessages({})).toHaveLength(accepted.length);
  });
});
