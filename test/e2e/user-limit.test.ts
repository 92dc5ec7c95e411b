import { afterEach, describe, expect, it } from 'vitest';
import { startTestGateway, timeFrom, type TestGateway } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

const ENTRY = 'assistant.web_api';
let t: TestGateway | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('user_limit: how many messages one user may have answered', () => {
  it('answers up to the limit, sends the notice once, leaves the rest unanswered but logged, and answers again after the window', async () => {
    let now = Date.UTC(2026, 11, 6, 12);
    const profile = { provider: 'echo', prefix: 'echo: ', user_limit: { per_minute: 2, notice: 'Easy there: one moment, please.' } };
    t = await startTestGateway({ agents: { assistant: { profile, entries: [webApiEntry()] } } }, { clock: timeFrom(() => now) });
    await t.until(() => t!.gateway.keeper.statusOf(ENTRY)?.state === 'running');

    const ids: string[] = [];
    for (const text of ['one', 'two', 'three', 'four']) ids.push((await t.chat(ENTRY, { userId: 'alice', content: text })).json.messageId);
    expect((await t.chat(ENTRY, { userId: 'bob', content: 'hi' }, { wait: true })).json.reply.text).toBe('echo: hi');
    await t.until(async () => (await Promise.all(ids.map((id) => t!.gateway.store.getMessage(id)))).every((m) => m?.status === 'done'));

    const texts = async (user: string) => (await t!.gateway.store.readFeed(ENTRY, user, 0, 50)).map((f) => (f.payload as { text: string }).text);
    expect(await texts('alice')).toEqual(['echo: one', 'echo: two', 'Easy there: one moment, please.']);
    const third = await t.gateway.store.getMessage(ids[2]!);
    const fourth = await t.gateway.store.getMessage(ids[3]!);
    expect(third!.timeline.find((e) => e.stage === 'replied')?.detail).toBe('over the user limit of 2 messages per minute; notice sent');
    expect(fourth!.timeline.find((e) => e.stage === 'replied')?.detail).toBe('over the user limit of 2 messages per minute; no reply');
    expect(fourth!.replies).toEqual([]);
    const limited = (await t.gateway.metrics.limited.get()).values.find((v) => v.labels.channel === 'web_api');
    expect(limited?.value).toBe(2);

    // A minute on, the bucket is full again.
    now += 60_000;
    const later = await t.chat(ENTRY, { userId: 'alice', content: 'five' }, { wait: true });
    expect(later.json.reply.text).toBe('echo: five');
  });
});
