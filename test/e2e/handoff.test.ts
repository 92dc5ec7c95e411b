import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { readBody } from '../fakes/http.js';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { RELAY_ENTRY as ENTRY, relayGateway } from '../helpers/relay.js';
import { timeFrom, type TestGateway } from '../helpers/gateway.js';

const opened = closeAfterEach();

/** The texts of the conversation the model was given, without the system prompt. */
const conversationOf = (body: { messages?: { role: string; content: unknown }[] }) =>
  (body.messages ?? []).filter((m) => m.role !== 'system').map((m) => `${m.role}: ${String(m.content)}`);

async function lastOf(t: TestGateway, userId: string, content: string) {
  return t.until(async () => {
    const [m] = await t.gateway.store.listMessages({ userId, limit: 1 });
    return m?.content === content && m.status === 'done' && m;
  });
}

describe('handing a conversation to a person', () => {
  it('leaves the conversation to the operator until the time runs out or it is given back; other conversations go on', async () => {
    let now = Date.UTC(2026, 11, 7, 9);
    const { fake, t } = await relayGateway(opened, { provider: 'echo', prefix: 'echo: ' }, { clock: timeFrom(() => now) });
    const url = `/entries/${ENTRY}/handoffs/alice`;
    expect((await t.admin('GET', url)).json).toEqual({ entryKey: ENTRY, conversationId: 'alice', until: null });

    const handed = await t.admin('PUT', url, { minutes: 30 });
    expect(handed.json).toEqual({ entryKey: ENTRY, conversationId: 'alice', until: now + 30 * 60_000, by: 'operator', actor: 'admin' });
    expect((await t.admin('GET', url)).json).toEqual(handed.json);
    expect((await t.admin('GET', url)).json.until).toBe(now + 30 * 60_000);
    fake.push('alice', 'can I talk to a person?');
    fake.push('bob', 'hi');
    const asked = await lastOf(t, 'alice', 'can I talk to a person?');
    await t.until(() => fake.received('bob').length === 1);
    expect(fake.received('alice')).toEqual([]);
    const detail = await t.gateway.store.getMessage(asked.id);
    expect(detail?.timeline.find((e) => e.stage === 'replied')?.detail).toBe(
      `not answered: the conversation is with a person until ${new Date(now + 30 * 60_000).toISOString()}; no reply`,
    );
    expect((await t.gateway.metrics.handedOff.get()).values.find((v) => v.labels.channel === 'relay')?.value).toBe(1);
    expect((await t.gateway.metrics.handoffs.get()).values).toEqual([{ value: 1, labels: { channel: 'relay', by: 'operator' } }]);

    // The panel's list: what operators have now, and that alice waits for an answer.
    const listed = (await t.admin('GET', '/handoffs')).json.handoffs;
    expect(listed).toEqual([
      { entryKey: ENTRY, conversationId: 'alice', until: now + 30 * 60_000, by: 'operator', actor: 'admin', latest: expect.objectContaining({ id: asked.id, content: 'can I talk to a person?' }), awaitingReply: true },
    ]);
    expect((await t.admin('GET', `/messages?entry=${ENTRY}&conversationId=alice`)).json.messages.map((m: { id: string }) => m.id)).toEqual([asked.id]);

    // The operator answers by hand.
    expect((await t.admin('POST', `/messages/${asked.id}/reply`, { text: 'Hello, this is Anna.' })).status).toBe(202);
    await t.until(() => fake.received('alice').length === 1);
    expect((await t.admin('GET', '/handoffs')).json.handoffs.map((h: { awaitingReply: boolean }) => h.awaitingReply)).toEqual([false]);

    // Half an hour on, the agent answers again by itself.
    now += 30 * 60_000;
    expect((await t.admin('GET', '/handoffs')).json.handoffs).toEqual([]);
    fake.push('alice', 'thanks!');
    await t.until(() => fake.received('alice').length === 2);
    expect(fake.received('alice')[1]).toBe('echo: thanks!');

    // Handed over again, and given back before the time is up.
    await t.admin('PUT', url, {});
    expect((await t.admin('GET', url)).json.until).toBe(now + 60 * 60_000);
    fake.push('alice', 'one more');
    await lastOf(t, 'alice', 'one more');
    expect(fake.received('alice')).toHaveLength(2);
    expect((await t.admin('DELETE', url)).json.until).toBeNull();
    fake.push('alice', 'and now?');
    await t.until(() => fake.received('alice').length === 3);
    expect(fake.received('alice')[2]).toBe('echo: and now?');
  });

  it('gives the agent back a conversation it knows: what the user and the operator said meanwhile is in its history', async () => {
    const llm = opened(await startFakeLlm());
    const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', stream: false };
    const { fake, t } = await relayGateway(opened, profile);
    fake.push('alice', 'where is my order?');
    await t.until(() => fake.received('alice').length === 1);

    await t.admin('PUT', `/entries/${ENTRY}/handoffs/alice`, { minutes: 10 });
    fake.push('alice', 'it is order 42');
    const asked = await lastOf(t, 'alice', 'it is order 42');
    expect((await t.admin('POST', `/messages/${asked.id}/reply`, { text: 'Anna here: 42 ships today.' })).status).toBe(202);
    await t.until(() => fake.received('alice').length === 2);
    await t.admin('DELETE', `/entries/${ENTRY}/handoffs/alice`);

    fake.push('alice', 'thanks, when will it arrive?');
    await t.until(() => fake.received('alice').length === 3);
    expect(llm.requests).toHaveLength(2);
    expect(conversationOf(llm.requests[1]!.body)).toEqual([
      'user: where is my order?',
      'assistant: reply to: where is my order?',
      'user: it is order 42',
      'assistant: Anna here: 42 ships today.',
      'user: thanks, when will it arrive?',
    ]);
  });

  it('hands the conversation over when the user asks for a person (转人工), with the reply, and counts who asked', async () => {
    let now = Date.UTC(2026, 11, 7, 9);
    const profile = { provider: 'echo', prefix: 'echo: ', handoff: { minutes: 15, reply: '好的，正在为您转接人工。' } };
    const { fake, t } = await relayGateway(opened, profile, { clock: timeFrom(() => now) });

    fake.push('alice', '  转人工 ');
    await t.until(() => fake.received('alice').length === 1);
    expect(fake.received('alice')).toEqual(['好的，正在为您转接人工。']);
    const asked = await lastOf(t, 'alice', '  转人工 ');
    const detail = await t.gateway.store.getMessage(asked.id);
    expect(detail?.timeline.find((e) => e.stage === 'replied')?.detail).toBe(`handed to a person at the user's request until ${new Date(now + 15 * 60_000).toISOString()}`);
    expect((await t.admin('GET', '/handoffs')).json.handoffs).toMatchObject([{ entryKey: ENTRY, conversationId: 'alice', until: now + 15 * 60_000, by: 'user', awaitingReply: false }]);
    const counted = (await t.gateway.metrics.handoffs.get()).values.find((v) => v.labels.by === 'user');
    expect(counted).toMatchObject({ value: 1, labels: { channel: 'relay', by: 'user' } });

    // Meanwhile the agent is silent in that conversation. Another default command, in any case, works
    // for bob; a command inside a longer message is just text.
    fake.push('alice', 'hello?');
    fake.push('carol', 'please 转人工');
    fake.push('bob', '/HUMAN');
    await lastOf(t, 'alice', 'hello?');
    await t.until(() => fake.received('bob').length === 1 && fake.received('carol').length === 1);
    expect([fake.received('bob'), fake.received('carol')]).toEqual([['好的，正在为您转接人工。'], ['echo: please 转人工']]);
    expect(fake.received('alice')).toHaveLength(1);
    now += 15 * 60_000;
    fake.push('alice', 'anyone?');
    await t.until(() => fake.received('alice').length === 2);
    expect(fake.received('alice')[1]).toBe('echo: anyone?');
  });

  it('hands the conversation over when an http agent says so with its answer, and treats a bad handoff field as a failed answer', async () => {
    const answers = [
      { reply: 'Let me get a colleague for you.', handoff: { minutes: 5 } },
      { reply: 'never sent', handoff: { minutes: 0 } },
    ];
    const service = createServer((req, res) => {
      void readBody(req).then(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answers.shift() ?? { reply: 'ok' })));
    });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    opened({ close: () => new Promise<void>((r) => service.close(() => r())) });
    const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}/agent`;
    const now = Date.UTC(2026, 11, 7, 9);
    const profile = { provider: 'http', url, retries: 0, fallback_reply: 'Sorry, something went wrong.' };
    const { fake, t } = await relayGateway(opened, profile, { clock: timeFrom(() => now) });

    fake.push('alice', 'I want to complain');
    await t.until(() => fake.received('alice').length === 1);
    expect(fake.received('alice')).toEqual(['Let me get a colleague for you.']);
    expect((await t.admin('GET', `/entries/${ENTRY}/handoffs/alice`)).json.until).toBe(now + 5 * 60_000);
    const first = await lastOf(t, 'alice', 'I want to complain');
    expect((await t.gateway.store.getMessage(first.id))?.timeline.find((e) => e.stage === 'replied')?.detail).toMatch(
      new RegExp(`; the agent handed the conversation to a person until ${new Date(now + 5 * 60_000).toISOString()}$`),
    );
    expect((await t.admin('GET', '/handoffs')).json.handoffs[0].by).toBe('agent');
    fake.push('alice', 'still there?');
    await lastOf(t, 'alice', 'still there?');
    expect(fake.received('alice')).toHaveLength(1);

    fake.push('bob', 'hi');
    await t.until(() => fake.received('bob').length === 1);
    expect(fake.received('bob')).toEqual(['Sorry, something went wrong.']);
    expect((await t.admin('GET', `/entries/${ENTRY}/handoffs/bob`)).json.until).toBeNull();
  });

  it('outside handoff.hours tells the user when people are there and keeps answering; an agent\'s hand-over then is not made either', async () => {
    // Monday 2026-12-07 20:00 in Shanghai: after hours.
    let now = Date.UTC(2026, 11, 7, 12);
    const closed = '人工客服的服务时间是工作日 9:00–18:00，现在由智能助手继续为您服务。';
    const answers = [{ reply: 'Let me get a colleague for you.', handoff: true }, { reply: 'Let me get a colleague for you.', handoff: true }];
    const service = createServer((req, res) => {
      void readBody(req).then(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answers.shift() ?? { reply: 'ok' })));
    });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    opened({ close: () => new Promise<void>((r) => service.close(() => r())) });
    const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}/agent`;
    const profile = { provider: 'http', url, handoff: { hours: { timezone: 'Asia/Shanghai', closed_reply: closed, closed_dates: ['2026-12-09'] } } };
    const { fake, t } = await relayGateway(opened, profile, { clock: timeFrom(() => now) });

    fake.push('alice', '转人工');
    await t.until(() => fake.received('alice').length === 1);
    expect(fake.received('alice')).toEqual([closed]);
    const asked = await lastOf(t, 'alice', '转人工');
    expect((await t.gateway.store.getMessage(asked.id))?.timeline.find((e) => e.stage === 'replied')?.detail).toBe(
      'not handed over: the user asked for a person outside handoff.hours (mon,tue,wed,thu,fri 09:00-18:00 Asia/Shanghai, 1 closed date(s); outside the times of day); closed_reply sent',
    );
    expect((await t.admin('GET', '/handoffs')).json.handoffs).toEqual([]);

    // The agent asks for a person after hours: its words go out with closed_reply, and it keeps the conversation.
    fake.push('alice', 'I need a refund');
    await t.until(() => fake.received('alice').length === 2);
    expect(fake.received('alice')[1]).toBe(`Let me get a colleague for you.\n\n${closed}`);
    const refund = await lastOf(t, 'alice', 'I need a refund');
    expect((await t.gateway.store.getMessage(refund.id))?.timeline.find((e) => e.stage === 'replied')?.detail).toMatch(
      /; the agent asked for a person outside handoff\.hours \(.+\): not handed over, closed_reply added$/,
    );
    expect((await t.admin('GET', '/handoffs')).json.handoffs).toEqual([]);

    // Tuesday 10:00 in Shanghai: people are there.
    now = Date.UTC(2026, 11, 8, 2);
    fake.push('alice', 'still need a refund');
    await t.until(() => fake.received('alice').length === 3);
    expect(fake.received('alice')[2]).toBe('Let me get a colleague for you.');
    expect((await t.admin('GET', '/handoffs')).json.handoffs).toMatchObject([{ conversationId: 'alice', by: 'agent' }]);

    // Wednesday 10:00 is a closed date (a holiday): nobody is there, whatever the time.
    now = Date.UTC(2026, 11, 9, 2);
    fake.push('bob', '转人工');
    await t.until(() => fake.received('bob').length === 1);
    expect(fake.received('bob')).toEqual([closed]);
    const holiday = await lastOf(t, 'bob', '转人工');
    expect((await t.gateway.store.getMessage(holiday.id))?.timeline.find((e) => e.stage === 'replied')?.detail).toMatch(/; 2026-12-09 is a closed date\); closed_reply sent$/);
    expect((await t.admin('GET', '/handoffs')).json.handoffs).toEqual([]); // alice's hour is over, and bob was not handed over
  });

  it('refuses an unknown entry, a bad length of time, and an unknown field, naming it', async () => {
    const { t } = await relayGateway(opened, { provider: 'echo' });
    expect((await t.admin('PUT', '/entries/assistant.nope/handoffs/alice', { minutes: 5 })).status).toBe(404);
    for (const [body, field] of [[{ minutes: 0 }, 'minutes'], [{ minutes: 7 * 24 * 60 + 1 }, 'minutes'], [{ minutes: 5, who: 'x' }, 'who']] as const) {
      const res = await t.admin('PUT', `/entries/${ENTRY}/handoffs/alice`, body);
      expect(res.status).toBe(400);
      expect(res.json.error.field).toBe(field);
    }
    expect((await t.admin('GET', `/entries/${ENTRY}/handoffs/alice`)).json.until).toBeNull();
  });
});
