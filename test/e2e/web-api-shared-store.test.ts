import { afterEach, describe, expect, it } from 'vitest';
import type { Channel } from '../../src/core/channel.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { dropSchemas } from '../helpers/postgres.js';
import { startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { parseEventBlock, SseClient } from '../helpers/sse.js';
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

  it("wakes a stream here with a reply the other process stored, instead of at the stream's next look at the store", async () => {
    schema = `cc_wfx_${process.pid}_${Date.now().toString(36)}`;
    root = makeWorkspace({ agents: { assistant: { profile: { provider: 'echo' }, entries: [webApiEntry()] } } });
    for (let i = 0; i < 2; i++) gateways.push(await startTestGateway({ root }, { store: await openPostgresStore({ url: PG_URL!, schema }) }));
    const [here, there] = gateways as [TestGateway, TestGateway];
    await here.until(() => here.gateway.keeper.statusOf(ENTRY)?.state === 'running' && there.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const address = await here.app.listen({ port: 0, host: '127.0.0.1' });
    const open = async (userId: string) => {
      const stream = new SseClient(`${address}/api/v1/chat/${ENTRY}/events?userId=${userId}`, TEST_API_KEY);
      streams.push(stream);
      await stream.connect();
      return stream;
    };
    const otherChannel = there.gateway.keeper.channel(ENTRY)!;

    // The notification connection opens in the background: probe until one reply comes through.
    const probe = await open('probe');
    for (let i = 0; probe.events.length === 0; i++) {
      if (i === 50) throw new Error('no reply reached the probe stream within 10 s');
      await sendFrom(otherChannel, 'probe', `p${i}`, `probe ${i}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const stream = await open('u1');
    await sendFrom(otherChannel, 'u1', '42', 'stored by the other process');
    // An idle stream looks at the store every 5 s; the notification makes it read at once.
    await waitFor(() => stream.events.length === 1, 2_000, 'the reply on the stream');
    expect(stream.events[0]?.data).toMatchObject({ messageId: '42', text: 'stored by the other process' });
  });

  it('shows the reply being written on a stream open here while the other process runs the agent', async () => {
    schema = `cc_wpx_${process.pid}_${Date.now().toString(36)}`;
    const answer = 'Written word by word on the other process, and shown here while it is written, then stored as the reply.';
    llm = await startFakeLlm({ pieceDelayMs: 60, reply: () => answer });
    root = makeWorkspace({ agents: { assistant: { profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' }, entries: [webApiEntry()] } } });
    for (let i = 0; i < 2; i++) gateways.push(await startTestGateway({ root }, { store: await openPostgresStore({ url: PG_URL!, schema }) }));
    const [here, there] = gateways as [TestGateway, TestGateway];
    await here.until(() => here.gateway.keeper.statusOf(ENTRY)?.state === 'running' && there.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    // Only the other process runs agents.
    await here.gateway.heartbeat.stop();
    const address = await here.app.listen({ port: 0, host: '127.0.0.1' });
    const stream = new SseClient(`${address}/api/v1/chat/${ENTRY}/events?userId=u1`, TEST_API_KEY);
    streams.push(stream);
    await stream.connect();

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
    schema = `cc_wsx_${process.pid}_${Date.now().toString(36)}`;
    const answer = 'Asked for as a stream on one process, written on the other, and streamed back to the request that asked.';
    llm = await startFakeLlm({ pieceDelayMs: 60, reply: () => answer });
    root = makeWorkspace({ agents: { assistant: { profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' }, entries: [webApiEntry()] } } });
    for (let i = 0; i < 2; i++) gateways.push(await startTestGateway({ root }, { store: await openPostgresStore({ url: PG_URL!, schema }) }));
    const [here, there] = gateways as [TestGateway, TestGateway];
    await here.until(() => here.gateway.keeper.statusOf(ENTRY)?.state === 'running' && there.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    await here.gateway.heartbeat.stop(); // only the other process runs agents
    const address = await here.app.listen({ port: 0, host: '127.0.0.1' });
    // This process's notification connection opens in the background: probe until a reply stored there wakes a stream here.
    const probe = new SseClient(`${address}/api/v1/chat/${ENTRY}/events?userId=probe`, TEST_API_KEY);
    streams.push(probe);
    await probe.connect();
    for (let i = 0; probe.events.length === 0; i++) {
      if (i === 50) throw new Error('no reply reached the probe stream within 10 s');
      await sendFrom(there.gateway.keeper.channel(ENTRY)!, 'probe', `p${i}`, `probe ${i}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // No stream of this user is open anywhere: only the message itself says its answer is watched.
    const res = await fetch(`${address}/api/v1/chat/${ENTRY}?wait=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ userId: 'u2', content: 'stream it back' }),
    });
    expect(res.status).toBe(200);
    const events = (await res.text()).split('\n\n').map((block) => parseEventBlock(block)).filter((e) => e !== undefined);
    expect(events[0]?.event).toBe('accepted');
    expect(events.at(-1)).toMatchObject({ event: 'reply', data: { text: answer } });
    const partials = events.filter((e) => e.event === 'partial').map((e) => e.data.text as string);
    expect(partials.length).toBeGreaterThanOrEqual(2);
    for (const text of partials) expect(answer.startsWith(text)).toBe(true);
    expect(llm.requests.at(-1)!.body.stream).toBe(true);
  }, 60_000);

  it("holds the entry's rate limit for both processes together, not for each", async () => {
    schema = `cc_wrl_${process.pid}_${Date.now().toString(36)}`;
    // 60 per minute: a burst of 6, then one more a second.
    root = makeWorkspace({ agents: { assistant: { profile: { provider: 'echo' }, entries: [webApiEntry({ rate_limit_per_minute: 60 })] } } });
    for (let i = 0; i < 2; i++) gateways.push(await startTestGateway({ root }, { store: await openPostgresStore({ url: PG_URL!, schema }) }));
    await gateways[0]!.until(() => gateways.every((g) => g.gateway.keeper.statusOf(ENTRY)?.state === 'running'));
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
