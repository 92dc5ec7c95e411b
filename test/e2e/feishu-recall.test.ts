import { describe, expect, it } from 'vitest';
import { FakeFeishu } from '../fakes/feishu/index.js';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { feishuEntryConfig } from '../helpers/feishu.js';
import { startTestGateway } from '../helpers/gateway.js';

/**
 * A Feishu user recalls (撤回) a message before the agent answers it: it gets no answer, since an
 * answer would show what they took back (im.message.recalled_v1).
 */

const ENTRY = 'bot.feishu';
const opened = closeAfterEach();

async function setup(delayMs: number, more: Record<string, unknown> = {}) {
  const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 3_000 }));
  const llm = opened(await startFakeLlm({ delayMs }));
  const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', stream: false, retries: 0, ...more };
  const config = feishuEntryConfig(fake, undefined, { show_typing: false });
  const t = opened(await startTestGateway({ agents: { bot: { profile, entries: [{ type: 'channel', channel: 'feishu', config }] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  return { fake, llm, t };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('feishu recalls', () => {
  it('does not answer a message recalled while it waits behind another of its conversation', async () => {
    const { fake, llm, t } = await setup(800);
    const first = fake.textEvent('what is our refund policy?');
    const oops = fake.textEvent('my password is hunter2');
    await fake.pushEvent(first).done;
    await fake.pushEvent(oops).done;
    await t.until(() => llm.requests.length === 1);
    const recall = fake.pushEvent(fake.recallEvent(oops));
    await recall.done;
    expect(recall.status).toBe('acked');

    const chat = first.event.message.chat_id;
    await t.until(async () => (await t.gateway.store.listMessages({ status: 'done' })).length === 2, 10_000);
    await sleep(300);
    expect(fake.messagesIn(chat).map((m) => (m.content as { text: string }).text)).toEqual(['reply to: what is our refund policy?']);
    expect(llm.requests).toHaveLength(1);
    const [recalled] = (await t.gateway.store.listMessages({})).filter((m) => m.content === 'my password is hunter2');
    expect((await t.gateway.store.getMessage(recalled!.id))!.timeline.find((e) => e.stage === 'replied')?.detail).toMatch(/^not answered: its sender recalled it/);
    expect((await t.gateway.metrics.recalled.get()).values).toEqual([{ value: 1, labels: { channel: 'feishu' } }]);
  });

  it('drops the answer to a message recalled while the agent works on it', async () => {
    const { fake, llm, t } = await setup(800);
    const event = fake.textEvent('draft a complaint to my landlord');
    await fake.pushEvent(event).done;
    await t.until(() => llm.requests.length === 1);
    await fake.pushEvent(fake.recallEvent(event)).done;
    await t.until(async () => (await t.gateway.store.listMessages({ status: 'done' })).length === 1, 10_000);
    await sleep(300);
    expect(fake.messages).toEqual([]);
    const [message] = await t.gateway.store.listMessages({});
    expect((await t.gateway.store.getMessage(message!.id))!.replies).toEqual([]);
  });

  it('stops the model call of a message recalled while the agent works on it', async () => {
    // The model would take 30 s; the message is finished well before that, with the call hung up.
    const { fake, llm, t } = await setup(30_000);
    const event = fake.textEvent('translate this contract');
    await fake.pushEvent(event).done;
    await t.until(() => llm.requests.length === 1);
    expect(llm.hungUp).toBe(0);
    await fake.pushEvent(fake.recallEvent(event)).done;
    await t.until(async () => (await t.gateway.store.listMessages({ status: 'done' })).length === 1, 10_000);
    expect(llm.hungUp).toBe(1);
    expect(llm.requests).toHaveLength(1);
    const [message] = await t.gateway.store.listMessages({});
    const detail = (await t.gateway.store.getMessage(message!.id))!;
    expect(detail.replies).toEqual([]);
    expect(detail.timeline.find((e) => e.stage === 'replied')?.detail).toMatch(/^not answered: its sender recalled it/);
    expect(detail.timeline.map((e) => e.stage)).not.toContain('agent_error');
    expect(fake.messages).toEqual([]);
    // Neither an answer nor a fallback: the latency histogram has no sample of it.
    const latency = (await t.gateway.metrics.agentLatency.get()).values.filter((v) => v.metricName?.endsWith('_count'));
    expect(latency.reduce((n, v) => n + v.value, 0)).toBe(0);
  });

  it('withdraws the preview card that already shows part of the answer to a message recalled while the agent writes', async () => {
    const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 3_000 }));
    const answer = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    const llm = opened(await startFakeLlm({ pieceDelayMs: 100, reply: () => answer }));
    const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', retries: 0 };
    const config = feishuEntryConfig(fake, undefined, { show_typing: false });
    const t = opened(await startTestGateway({ agents: { bot: { profile, entries: [{ type: 'channel', channel: 'feishu', config }] } } }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const event = fake.textEvent('write me a long story');
    await fake.pushEvent(event).done;
    const chat = event.event.message.chat_id;
    // The card opens after a second of writing and fills in; then the user takes the question back.
    const card = await t.until(() => fake.messagesIn(chat).find((m) => m.cardId !== undefined), 10_000);
    await fake.pushEvent(fake.recallEvent(event)).done;
    await t.until(() => card.withdrawnAt !== undefined, 10_000);
    const [message] = await t.gateway.store.listMessages({});
    await t.until(async () => (await t.gateway.store.getMessage(message!.id))?.status === 'done', 10_000);
    expect((await t.gateway.store.getMessage(message!.id))!.replies).toEqual([]);
    expect(fake.messagesIn(chat).filter((m) => m.withdrawnAt === undefined)).toEqual([]);
  });

  it('never lets a message recalled while its burst gathers reach the agent', async () => {
    const { fake, llm, t } = await setup(0, { debounce: { quiet_ms: 1_200 } });
    const events = ['hi', 'my password is hunter2', 'what is the refund policy?'].map((text) => fake.textEvent(text));
    for (const e of events) await fake.pushEvent(e).done;
    await fake.pushEvent(fake.recallEvent(events[1]!)).done;
    await t.until(async () => (await t.gateway.store.listMessages({ status: 'done' })).length === 3, 10_000);
    const asked = llm.requests.map((r) => r.body.messages!.at(-1)!.content);
    expect(asked.join('\n')).not.toContain('hunter2');
    expect(asked).toEqual(['hi', 'what is the refund policy?']);
  });

  it('dead-letters at once, with the reason, a group reply to a message recalled without a recall event', async () => {
    const { fake, llm, t } = await setup(500);
    const event = fake.textEvent('summarise the thread', { chatType: 'group', mentionBot: true });
    await fake.pushEvent(event).done;
    await t.until(() => llm.requests.length === 1);
    // An app not subscribed to recall events learns it only from the reply Feishu refuses.
    fake.recallMessage(event.event.message.message_id);
    const dead = await t.until(async () => {
      const res = await t.admin('GET', '/dead-letters?kind=outbound');
      return res.json.deadLetters.length > 0 ? res.json.deadLetters : undefined;
    }, 10_000);
    expect(dead[0].error).toMatch(/230011.*recalled by its sender/);
    // Refused once, not retried for the outbox's hour.
    expect(fake.calls.filter((c) => c.code === 230011)).toHaveLength(1);
  });
});
