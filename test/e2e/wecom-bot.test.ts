import { describe, expect, it } from 'vitest';
import type { TransportStatus } from '../../src/core/entry-status.js';
import { FakeWecom, type BotDelivery, type FakeWecomOptions } from '../fakes/wecom/index.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { captureLogger } from '../helpers/logs.js';
import { startFakeLlm } from '../fakes/llm/server.js';

const ENTRY = 'bot.wecom_bot';

const opened = closeAfterEach();

/** A fake WeCom and a gateway with one wecom_bot entry (echo agent) on it, running. */
async function setup(config: Record<string, unknown> = {}, fakeOptions: FakeWecomOptions = {}, profile: Record<string, unknown> = { provider: 'echo' }) {
  const fake = opened(await FakeWecom.start(fakeOptions));
  const entry = { type: 'channel', channel: 'wecom_bot', config: { bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl, ...config } };
  const t = opened(await startTestGateway({ agents: { bot: { profile, entries: [entry] } } }));
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  await fake.waitForBotConnection();
  return { t, fake };
}

const transport = (gateway: TestGateway) => gateway.gateway.keeper.statusOf(ENTRY)?.transport as TransportStatus | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Stream frames the fake accepted for a callback (errcode 0). */
const accepted = (d: BotDelivery) => d.replies.filter((r) => r.errcode === 0).length;

describe('wecom_bot over the long connection', () => {
  it('answers a direct message with one finished stream on its req_id, and counts it on the entry', async () => {
    const { t, fake } = await setup();
    const d = fake.sendBotText('你好，机器人', { from: 'zhangsan' });
    await fake.waitForBotReply(d);
    expect(d.finished).toBe(true);
    expect(d.text).toBe('你好，机器人');
    // The whole answer in one frame with finish: true; nothing sent proactively.
    expect(d.stream?.frames).toBe(1);
    expect(d.replies.map((r) => [r.cmd, r.reqId, (r.body.stream as { finish?: boolean }).finish])).toEqual([['aibot_respond_msg', d.reqId, true]]);
    expect(fake.botSent).toHaveLength(0);
    const [stored] = await t.gateway.store.listMessages({});
    expect(stored).toMatchObject({ channelType: 'wecom_bot', conversationId: 'zhangsan', userId: 'zhangsan', content: '你好，机器人' });
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.messagesOut === 1);
    expect(t.gateway.keeper.statusOf(ENTRY)).toMatchObject({ messagesIn: 1, messagesOut: 1 });
    expect(transport(t)).toMatchObject({ kind: 'websocket', state: 'connected', reconnects: 0, eventsReceived: 1 });
    // The secret never shows in the status the admin API serves.
    const res = await t.admin('GET', `/entries/${ENTRY}/status`);
    expect(res.json.transport).toMatchObject({ kind: 'websocket', state: 'connected' });
    expect(JSON.stringify(res.json)).not.toContain(fake.botSecret);
  });

  it('opens the reply stream with "…" while a slow agent works, and finishes that same stream with the answer', async () => {
    const llm = opened(await startFakeLlm({ delayMs: 900 }));
    // stream: false: "…" alone; the reply shown while it is written is wecom-bot-streaming.test.ts's.
    const { fake } = await setup({}, {}, { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', stream: false });
    const d = fake.sendBotText('take your time');
    await fake.waitForBotReply(d);
    const frames = d.replies.filter((r) => r.errcode === 0).map((r) => r.body.stream as { id: string; content: string; finish: boolean });
    expect(frames.map((f) => [f.content, f.finish])).toEqual([
      ['…', false],
      ['reply to: take your time', true],
    ]);
    expect(frames[1]!.id).toBe(frames[0]!.id);
    expect(d.stream).toMatchObject({ content: 'reply to: take your time', finished: true, frames: 2 });
  });

  it('shows no "…" for an agent that answers at once, nor with show_typing off', async () => {
    const llm = opened(await startFakeLlm({ delayMs: 900 }));
    const { t, fake } = await setup({ show_typing: false }, {}, { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', stream: false });
    const slow = fake.sendBotText('slow');
    await fake.waitForBotReply(slow);
    expect(slow.stream).toMatchObject({ content: 'reply to: slow', frames: 1 });
    await t.close();
    await fake.close();
    const quick = await setup();
    const d = quick.fake.sendBotText('instant');
    await quick.fake.waitForBotReply(d);
    expect(d.stream).toMatchObject({ content: 'instant', frames: 1 });
  });

  it('answers a group @mention in the group, with the mention removed', async () => {
    const { t, fake } = await setup();
    const d = fake.sendBotText('查一下天气', { chatType: 'group', chatId: 'wrGroup1', from: 'lisi' });
    expect(String((d.body.text as { content: string }).content)).toMatch(/^@CocoCat /);
    await fake.waitForBotReply(d);
    expect(d.finished).toBe(true);
    expect(d.text).toBe('查一下天气');
    expect(d.stream?.frames).toBe(1);
    const [stored] = await t.gateway.store.listMessages({});
    expect(stored).toMatchObject({ conversationId: 'wrGroup1', userId: 'lisi', content: '查一下天气' });
  });

  it('does not answer groups with group_policy "off", but still answers direct chats', async () => {
    const { t, fake } = await setup({ group_policy: 'off' });
    const group = fake.sendBotText('anyone?', { chatType: 'group', chatId: 'wrGroup2' });
    const direct = fake.sendBotText('just me');
    await fake.waitForBotReply(direct);
    await sleep(200);
    expect(group.replies).toHaveLength(0);
    expect((await t.gateway.store.listMessages({})).map((m) => m.content)).toEqual(['just me']);
  });

  it('answers 200 messages once each while the socket is dropped 10 times', async () => {
    // While the robot is offline WeCom cannot hand it a callback; here those are lost, not queued.
    const { t, fake } = await setup({ reconnect_max_delay_seconds: 1 }, { offline: 'drop' });
    const all: BotDelivery[] = [];
    let dropped = 0;
    let n = 0;
    const push = (count: number) => {
      for (let i = 0; i < count; i++, n++) all.push(fake.sendBotText(`message ${n}`, { from: `user${n % 20}` }));
    };
    for (let round = 0; round < 10; round++) {
      // Drop a live connection while this round's first messages are in flight; the rest find no connection.
      await fake.waitForBotConnection(15_000);
      push(10);
      await sleep(round % 4);
      dropped += fake.dropConnections();
      push(10);
    }
    expect(dropped).toBe(10);
    expect(all).toHaveLength(200);
    // Everything pushed after a drop found no connection (or died with its socket).
    const lost = all.filter((d) => d.status === 'dropped' || d.sends.some((x) => x.written === false));
    expect(lost.length).toBeGreaterThanOrEqual(100);

    // WeCom does not push a lost callback again; here the user sends it once more (same req_id and msgid).
    // Messages that were stored before their socket died come again too: dedup must keep them to one answer.
    let repushed = 0;
    const deadline = Date.now() + 60_000;
    while (all.some((d) => !d.finished)) {
      if (Date.now() > deadline) throw new Error(`${all.filter((d) => !d.finished).length} messages never answered`);
      await sleep(1_500);
      await fake.waitForBotConnection(15_000);
      for (const d of all.filter((x) => !x.finished)) {
        if (fake.repush(d)) repushed++;
      }
    }
    expect(repushed).toBeGreaterThanOrEqual(lost.length);
    // And every 10th message once more after it was answered, as a late duplicate.
    await fake.waitForBotConnection(15_000);
    const duplicates = all.filter((_, i) => i % 10 === 0);
    for (const d of duplicates) expect(fake.repush(d)).toBe(true);
    await t.until(() => (transport(t)?.eventsReceived ?? 0) >= 200 + duplicates.length);
    await sleep(500); // a second answer would show up here
    for (const [i, d] of all.entries()) {
      expect(d.text, `message ${i}`).toBe(`message ${i}`);
      expect(accepted(d), `message ${i}`).toBe(1);
    }
    expect(fake.botSent).toHaveLength(0);
    expect(await t.gateway.store.listMessages({ limit: 500 })).toHaveLength(200);
    await t.until(() => transport(t)?.state === 'connected');
    expect(transport(t)!.reconnects).toBeGreaterThanOrEqual(10);
    // Each message arrived at least once, the duplicates at least twice; only the first of each was stored.
    expect(t.gateway.keeper.statusOf(ENTRY)?.messagesIn).toBe(200);
    expect(t.gateway.keeper.statusOf(ENTRY)).toMatchObject({ state: 'running', restarts: 0 });
  }, 90_000);

  it('shows a takeover by another connection as the entry error, without reconnecting on its own', async () => {
    const { t, fake } = await setup();
    const before = fake.connectionCount;
    expect(fake.takeOver()).toBe(true);
    const failed = await t.until(() => {
      const s = t.gateway.keeper.statusOf(ENTRY);
      return s?.state === 'error' ? s : undefined;
    });
    expect(failed.lastError?.message).toMatch(/another connection took over this robot/);
    // No reconnect storm: the supervisor itself opened nothing after the takeover.
    expect(fake.connectionCount).toBe(before);
    // The SceneKeeper restarts the entry later, with its own backoff, and then it answers again.
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running', 20_000);
    expect(t.gateway.keeper.statusOf(ENTRY)?.restarts).toBeGreaterThanOrEqual(1);
    const d = fake.sendBotText('back again');
    await fake.waitForBotReply(d);
    expect(d.text).toBe('back again');
  }, 30_000);

  it('refuses a wrong secret with the reason on the entry, and never logs the secret, even at trace level', async () => {
    const capture = captureLogger('trace');
    const fake = opened(await FakeWecom.start());
    const f = fake;
    const wrong = 'wrong-bot-secret-value-0123';
    const entry = (secret: string) => ({ type: 'channel', channel: 'wecom_bot', config: { bot_id: f.botId, secret, ws_url: f.wsUrl } });
    const t = opened(await startTestGateway(
      { agents: { bot: { profile: { provider: 'echo' }, entries: [entry(wrong)] }, good: { profile: { provider: 'echo' }, entries: [entry(f.botSecret)] } } },
      { log: capture.log },
    ));
    const failed = await t.until(() => {
      const s = t.gateway.keeper.statusOf(ENTRY);
      return s?.state === 'error' ? s : undefined;
    });
    expect(failed.lastError?.message).toMatch(/Authentication failed.*check bot_id and secret/);
    // The good entry works, through a dropped socket, with the SDK logging at trace level.
    await t.until(() => t.gateway.keeper.statusOf('good.wecom_bot')?.state === 'running');
    await f.waitForBotConnection();
    const first = f.sendBotText('one');
    await f.waitForBotReply(first);
    f.dropConnections();
    await f.waitForBotConnection();
    const second = f.sendBotText('two');
    await f.waitForBotReply(second);
    expect(second.text).toBe('two');
    expect(capture.lines.length).toBeGreaterThan(10);
    const leaked = capture.raw().split('\n').filter((l) => l.includes(f.botSecret) || l.includes(wrong));
    expect(leaked).toEqual([]);
  }, 30_000);
});
