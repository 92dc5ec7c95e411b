import { describe, expect, it } from 'vitest';
import { ChannelRegistry } from '../../src/channels/registry.js';
import { webApiChannel } from '../../src/channels/web-api/index.js';
import { relayChannel } from '../../examples/relay-channel/index.js';
import { startFakeRelay } from '../../examples/relay-channel/fake-platform.js';
import { FakeFeishu, type SentMessage } from '../fakes/feishu/index.js';
import { startFakeWechatMp } from '../fakes/wechat-mp/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { feishuEntryConfig } from '../helpers/feishu.js';
import { startTestGateway, timeFrom, type TestGateway } from '../helpers/gateway.js';
import { tempDirs } from '../helpers/temp-dirs.js';
import { makeWorkspace, webApiEntry } from '../helpers/workspace.js';

// Before closeAfterEach(): a kept workspace is removed once the gateways on it are closed.
const dirs = tempDirs();
const opened = closeAfterEach();
const T0 = Date.UTC(2026, 11, 7, 9);

/** A gateway whose clock the test moves, with an echo agent on a relay entry (a channel that allows bursts). */
async function gatewayWith(debounce: Record<string, unknown>, more: Record<string, unknown> = {}) {
  let now = T0;
  const fake = opened(await startFakeRelay());
  const entry = { type: 'channel', channel: 'relay', config: { base_url: fake.url, token: fake.token, poll_timeout_ms: 1_000 } };
  const profile = { provider: 'echo', prefix: 'echo: ', debounce, ...more };
  const root = dirs.track(makeWorkspace({ agents: { assistant: { profile, entries: [entry, webApiEntry()] } } }));
  /** A gateway on the workspace (again, after a restart), running. */
  const start = async (): Promise<TestGateway> => {
    const registry = new ChannelRegistry([webApiChannel, relayChannel]);
    const t = opened(await startTestGateway({ root }, { registry, clock: timeFrom(() => now) }));
    await t.until(() => t.gateway.keeper.statusOf('assistant.relay')?.state === 'running');
    return t;
  };
  return { t: await start(), start, fake, at: (ms: number) => (now = T0 + ms) };
}

const textOf = (m: SentMessage | undefined) => (m?.content as { text?: string } | undefined)?.text;

async function stored(t: TestGateway, n: number) {
  return t.until(async () => {
    const list = await t.gateway.store.listMessages({ entryKey: 'assistant.relay', limit: 50 });
    return list.length === n && list;
  });
}

describe('debounce: a burst of messages is answered once, when the user pauses', () => {
  it('answers three messages sent in a row with one reply, after the pause, and the message log says which answered which', async () => {
    const { t, fake, at } = await gatewayWith({ quiet_ms: 2_000 });
    fake.push('alice', 'hi');
    await stored(t, 1);
    // The first message waits for more: back in the queue, its claim not counted as an attempt.
    await t.until(async () => (await t.gateway.store.getMessage((await stored(t, 1))[0]!.id))?.timeline.some((e) => e.stage === 'waiting'));
    at(1_000);
    fake.push('alice', 'I have a question');
    await stored(t, 2);
    at(2_500);
    fake.push('alice', 'about my order');
    await stored(t, 3);
    expect(fake.received('alice')).toEqual([]);

    at(4_500); // 2 s after the last message
    await t.until(() => fake.received('alice').length === 1);
    expect(fake.received('alice')).toEqual(['echo: hi\nI have a question\nabout my order']);

    const [third, second, first] = await t.until(async () => {
      const list = await t.gateway.store.listMessages({ entryKey: 'assistant.relay', limit: 10 });
      return list.every((m) => m.status === 'done') && list;
    });
    const detail = async (id: string) => (await t.gateway.store.getMessage(id))!;
    const head = await detail(first!.id);
    expect(head.attempts).toBe(1);
    expect(head.timeline.find((e) => e.stage === 'replied')?.detail).toMatch(new RegExp(`; with #${second!.id}, #${third!.id}$`));
    expect(head.replies.map((r) => r.text)).toEqual(['echo: hi\nI have a question\nabout my order']);
    for (const m of [second!, third!]) {
      const d = await detail(m.id);
      expect(d.timeline.find((e) => e.stage === 'replied')?.detail).toBe(`answered with #${first!.id}`);
      expect(d.replies).toEqual([]);
    }
    const merged = (await t.gateway.metrics.merged.get()).values.find((v) => v.labels.channel === 'relay');
    expect(merged?.value).toBe(2);

    // A message after the answer starts a burst of its own.
    at(10_000);
    fake.push('alice', 'thanks');
    await stored(t, 4);
    at(12_000);
    await t.until(() => fake.received('alice').length === 2);
    expect(fake.received('alice')[1]).toBe('echo: thanks');
  });

  it('answers someone who never pauses by max_wait_ms, and at most max_messages in one reply', async () => {
    const { t, fake, at } = await gatewayWith({ quiet_ms: 2_000, max_wait_ms: 3_000, max_messages: 3 });
    fake.push('bob', 'part 0');
    await stored(t, 1);
    at(1_500);
    fake.push('bob', 'part 1');
    const [, first] = await stored(t, 2);
    // 1.5 s after part 1 the burst is not over by its pause, but part 0 has waited 3 s.
    at(2_999);
    await t.until(async () => (await t.gateway.store.getMessage(first!.id))?.timeline.some((e) => e.stage === 'waiting' && e.detail?.includes('2 message(s)')));
    expect(fake.received('bob')).toEqual([]);
    at(3_000);
    await t.until(() => fake.received('bob').length === 1);
    expect(fake.received('bob')).toEqual(['echo: part 0\npart 1']);

    // Four at once: three go in one reply, the fourth in the next.
    at(10_000);
    for (let i = 0; i < 4; i++) fake.push('dave', `d${i}`);
    await stored(t, 6);
    at(12_000);
    await t.until(() => fake.received('dave').length === 2);
    expect(fake.received('dave')).toEqual(['echo: d0\nd1\nd2', 'echo: d3']);
  });

  it('answers a reset on its own: it ends the burst before it, and the next one starts after it', async () => {
    const { t, fake, at } = await gatewayWith({ quiet_ms: 2_000 }, { reset: {} });
    for (const text of ['hi', 'there', '/reset', 'new topic']) fake.push('fay', text);
    await stored(t, 4);
    at(3_000);
    await t.until(() => fake.received('fay').length === 3);
    expect(fake.received('fay')).toEqual(['echo: hi\nthere', 'OK, starting a new conversation.', 'echo: new topic']);
  });

  it('answers a keyword reply on its own, ending the burst before it', async () => {
    const { t, fake, at } = await gatewayWith({ quiet_ms: 2_000 }, { keyword_replies: [{ contains: ['opening hours'], reply: '9:00–21:00 every day.' }] });
    for (const text of ['hi', 'there', 'your opening hours?', 'thanks']) fake.push('gus', text);
    await stored(t, 4);
    at(3_000);
    await t.until(() => fake.received('gus').length === 3);
    expect(fake.received('gus')).toEqual(['echo: hi\nthere', '9:00–21:00 every day.', 'echo: thanks']);
  });

  it('keeps a growing burst through a restart and answers it once, after the pause', async () => {
    const { t, start, fake, at } = await gatewayWith({ quiet_ms: 2_000 });
    fake.push('erin', 'first');
    await stored(t, 1);
    at(1_000);
    fake.push('erin', 'second');
    await stored(t, 2);
    await t.close({ keepWorkspace: true });

    at(5_000);
    const again = await start();
    // A reply stored before the entry ran again waits for the outbox's retry: its time must come too.
    at(7_000);
    await again.until(() => fake.received('erin').length === 1);
    expect(fake.received('erin')).toEqual(['echo: first\nsecond']);
    const list = await again.until(async () => {
      const l = await again.gateway.store.listMessages({ entryKey: 'assistant.relay', limit: 10 });
      return l.every((m) => m.status === 'done') && l;
    });
    expect(list).toHaveLength(2);
    // Nothing else comes: the burst was one answer, and the restart did not redo it.
    fake.push('erin', 'third');
    await stored(again, 3);
    at(10_000);
    await again.until(() => fake.received('erin').length === 2);
    expect(fake.received('erin')).toEqual(['echo: first\nsecond', 'echo: third']);
  });

  it('answers every Web API message on its own: a client waits for the answer to each', async () => {
    const { t } = await gatewayWith({ quiet_ms: 60_000 });
    const replies: string[] = [];
    for (const text of ['one', 'two']) {
      const res = await t.chat('assistant.web_api', { userId: 'carol', content: text }, { wait: true });
      expect(res.status).toBe(200);
      replies.push(res.json.reply.text);
    }
    expect(replies).toEqual(['echo: one', 'echo: two']);
  });

  it('on Feishu, answers a group burst once, under its newest message, naming who wrote each line', async () => {
    const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 3_000 }));
    const profile = { provider: 'echo', debounce: { quiet_ms: 1_500 } };
    const t = opened(await startTestGateway({ agents: { bot: { profile, entries: [{ type: 'channel', channel: 'feishu', config: feishuEntryConfig(fake) }] } } }));
    await t.until(() => t.gateway.keeper.statusOf('bot.feishu')?.state === 'running');
    const ann = 'ou_ann00000000000000000000000000';
    const ben = 'ou_ben00000000000000000000000000';
    const first = fake.textEvent('is the shop open today?', { chatType: 'group', mentionBot: true, from: ann });
    const second = fake.textEvent('and tomorrow?', { chatType: 'group', mentionBot: true, from: ben });
    await fake.pushEvent(first).done;
    await fake.pushEvent(second).done;
    const group = first.event.message.chat_id;
    await t.until(() => fake.messagesIn(group).length === 1);
    const [reply] = fake.messagesIn(group);
    expect(reply).toMatchObject({ replyTo: second.event.message.message_id });
    expect(textOf(reply)).toBe(`${ann}: is the shop open today?\n${ben}: and tomorrow?`);
    await t.until(async () => (await t.gateway.store.listMessages({ limit: 10 })).every((m) => m.status === 'done'));
    expect(fake.messagesIn(group)).toHaveLength(1);
  });

  it.each(['customer_service', 'auto'] as const)('on 公众号, merges a burst in the %s reply mode only where no request waits for its own answer', async (replyMode) => {
    const app = { appId: 'wx0123456789abcdef', appSecret: 'app-secret-0123456789', token: 'tok3n' };
    const fake = opened(await startFakeWechatMp({ ...app, mode: 'plain', retryWaitMs: 1_000, permissions: { customerService: true } }));
    const config = { app_id: app.appId, app_secret: app.appSecret, token: app.token, mode: 'plain', api_base_url: fake.url, reply_mode: replyMode, show_typing: false };
    const profile = { provider: 'echo', debounce: { quiet_ms: 1_000 } };
    const t = opened(await startTestGateway({ agents: { bot: { profile, entries: [{ type: 'channel', channel: 'wechat_mp', config }] } } }));
    await t.until(() => t.gateway.keeper.statusOf('bot.wechat_mp')?.state === 'running');
    fake.gatewayUrl = `${await t.app.listen({ port: 0, host: '127.0.0.1' })}/webhooks/wechat_mp/bot.wechat_mp`;
    // In auto mode each request is held for its own answer: the two pushes go together, as a user's would.
    const later = new Promise((r) => setTimeout(r, 50)).then(() => fake.push('oAnn', { type: 'text', content: 'where is my parcel?' }));
    await Promise.all([fake.push('oAnn', { type: 'text', content: 'hi' }), later]);
    const list = await t.until(async () => {
      const l = await t.gateway.store.listMessages({ limit: 10 });
      return l.length === 2 && l.every((m) => m.status === 'done') && l;
    });
    const replies = await Promise.all(list.reverse().map(async (m) => (await t.gateway.store.getMessage(m.id))!.replies.map((r) => r.text)));
    if (replyMode === 'customer_service') {
      expect(replies).toEqual([['hi\nwhere is my parcel?'], []]);
      await t.until(() => fake.received('oAnn').length === 1);
      expect(fake.received('oAnn')).toEqual(['hi\nwhere is my parcel?']);
    } else {
      expect(replies).toEqual([['hi'], ['where is my parcel?']]);
    }
  });
});
