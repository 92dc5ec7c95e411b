import { describe, expect, it } from 'vitest';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { relayGateway } from '../helpers/relay.js';
import { startTestGateway, timeFrom } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();

const NOTICE = 'Easy there: one moment, please.';
const profile = { provider: 'echo', prefix: 'echo: ', user_limit: { per_minute: 2, notice: NOTICE } };

describe('user_limit: how many messages one user may have answered', () => {
  it('on a platform: answers up to the limit, sends the notice once, leaves the rest unanswered but logged, answers again after the window', async () => {
    let now = Date.UTC(2026, 11, 6, 12);
    const { fake, t } = await relayGateway(opened, profile, { clock: timeFrom(() => now) });

    for (const text of ['one', 'two', 'three', 'four']) fake.push('alice', text);
    fake.push('bob', 'hi');
    await t.until(async () => (await t.gateway.store.listMessages({ limit: 10 })).filter((m) => m.status === 'done').length === 5);
    await t.until(() => fake.received('bob').length === 1 && fake.received('alice').length === 3);
    expect(fake.received('alice')).toEqual(['echo: one', 'echo: two', NOTICE]);
    expect(fake.received('bob')).toEqual(['echo: hi']);

    const byText = new Map((await t.gateway.store.listMessages({ limit: 10 })).map((m) => [m.content, m.id]));
    const detail = async (text: string) => (await t.gateway.store.getMessage(byText.get(text)!))!;
    expect((await detail('three')).timeline.find((e) => e.stage === 'replied')?.detail).toBe('over the user limit of 2 messages per minute; notice sent');
    expect((await detail('four')).timeline.find((e) => e.stage === 'replied')?.detail).toBe('over the user limit of 2 messages per minute; no reply');
    expect((await detail('four')).replies).toEqual([]);
    const limited = (await t.gateway.metrics.limited.get()).values.find((v) => v.labels.channel === 'relay');
    expect(limited?.value).toBe(2);

    // A minute on, the bucket is full again.
    now += 60_000;
    fake.push('alice', 'five');
    await t.until(() => fake.received('alice').length === 4);
    expect(fake.received('alice').at(-1)).toBe('echo: five');
  });

  it('on the Web API: every request over the limit is answered with the notice at once, since the client waits for it', async () => {
    const t = opened(await startTestGateway({ agents: { assistant: { profile, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf('assistant.web_api')?.state === 'running');
    const replies: string[] = [];
    for (const text of ['one', 'two', 'three', 'four']) {
      const res = await t.chat('assistant.web_api', { userId: 'carol', content: text }, { wait: true });
      expect(res.status).toBe(200);
      replies.push(res.json.reply.text);
    }
    expect(replies).toEqual(['echo: one', 'echo: two', NOTICE, NOTICE]);
  });

  it('tokens_per_day: answers until the tokens the model reported use up the day, then gives the notice', async () => {
    // The fake model counts 10 prompt tokens and one per character: "reply to: hi" costs 22.
    const llm = opened(await startFakeLlm());
    const budget = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', user_limit: { tokens_per_day: 100, notice: NOTICE } };
    const t = opened(await startTestGateway({ agents: { assistant: { profile: budget, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf('assistant.web_api')?.state === 'running');
    const replies: string[] = [];
    for (let i = 0; i < 7; i++) replies.push((await t.chat('assistant.web_api', { userId: 'dan', content: 'hi' }, { wait: true })).json.reply.text);
    // 4 answers leave 12 tokens: the fifth may start and is answered; after it none are left.
    expect(replies).toEqual([...Array(5).fill('reply to: hi'), NOTICE, NOTICE]);
    expect(llm.requests).toHaveLength(5);
    // Another user has a budget of their own.
    expect((await t.chat('assistant.web_api', { userId: 'eve', content: 'hi' }, { wait: true })).json.reply.text).toBe('reply to: hi');
  });
});
