import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentNotifySchema, notifySchema, type NotifySettings } from '../../src/config/schema.js';
import { ManualClock, systemClock, type Clock } from '../../src/core/clock.js';
import { signBody } from '../../src/core/signature.js';
import { GatewayMetrics } from '../../src/ops/metrics.js';
import { NOTICE_MAX_AGE_MS, Notifier } from '../../src/ops/notifier.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/store.js';
import { readBody } from '../fakes/http.js';
import { startFakeGroupRobot } from '../fakes/group-robot/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { captureLogger } from '../helpers/logs.js';

const opened = closeAfterEach();
/** A notice text the same in every language. */
const both = (text: string) => ({ en: text, zh: text });

/** Real-time polling (the POSTs are real I/O) until `done`. */
async function until(done: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** `count` notices were stored, and every one has been sent or given up on. */
const settled = (store: Store, count: number) =>
  until(async () => (await store.listNotices()).length === count && (await store.stats()).noticesWaiting === 0, `${count} notices to be sent`);

function notifier(notify: Partial<NotifySettings> & { url: string }, o: { clock?: Clock; publicUrl?: string; store?: Store; tickMs?: number } = {}) {
  const capture = captureLogger();
  const settings = notifySchema.parse(notify);
  const metrics = new GatewayMetrics();
  const store = o.store ?? opened(openSqliteStore({ path: ':memory:' }));
  const n = new Notifier({ settings: () => ({ notify: settings, publicUrl: o.publicUrl }), store, clock: o.clock ?? systemClock, log: capture.log, metrics, tickMs: o.tickMs });
  opened({ close: () => n.stop() });
  n.start();
  return { n, store, capture, metrics };
}

const counted = async (metrics: GatewayMetrics) => (await metrics.notices.get()).values.map((v) => [v.labels.outcome, v.value]);

describe('Notifier', () => {
  it('posts to a WeCom group robot as text, in order, with a link to the message when the gateway has a public URL', async () => {
    const robot = opened(await startFakeGroupRobot());
    const { n, store } = notifier({ url: robot.wecomUrl, format: 'wecom', mention_all: ['handoff'] }, { publicUrl: 'https://bot.example.com/' });
    n.notify({ event: 'handoff', text: both('ann asked for a person on desk.wecom: "refund?"'), entryKey: 'desk.wecom', messageId: '42' });
    n.notify({ event: 'pairing', text: both('bob asks to talk') });
    await settled(store, 2);
    expect(robot.received).toEqual([
      { via: 'wecom', text: '[CocoCat] ann asked for a person on desk.wecom: "refund?"\nhttps://bot.example.com/#/messages?id=42', mentionsAll: true },
      { via: 'wecom', text: '[CocoCat] bob asks to talk' },
    ]);
    expect((await store.listNotices()).map((x) => [x.event, x.status])).toEqual([
      ['pairing', 'sent'],
      ['handoff', 'sent'],
    ]);
  });

  it("signs for a Feishu custom bot's signature check; a refused notice is tried again, then given up on an hour after its event", async () => {
    const clock = new ManualClock(Date.now());
    const robot = opened(await startFakeGroupRobot({ feishuSecret: 'bot-secret', now: () => clock.now() }));
    const good = notifier({ url: robot.feishuUrl, format: 'feishu', secret: 'bot-secret', mention_all: ['pairing'] }, { clock });
    good.n.notify({ event: 'pairing', text: both('bob asks to talk') });
    await settled(good.store, 1);
    expect(robot.received).toEqual([{ via: 'feishu', text: '[CocoCat] bob asks to talk', mentionsAll: true }]);

    const bad = notifier({ url: robot.feishuUrl, format: 'feishu', secret: 'another' }, { clock });
    bad.n.notify({ event: 'pairing', text: both('never shown') });
    const refusals = () => robot.posts.filter((p) => p.code === 19021).length;
    await until(() => refusals() === 1, 'the first refusal');
    await until(async () => (await bad.store.listNotices())[0]?.status === 'waiting', 'the notice to wait again');
    expect(await bad.store.listNotices()).toMatchObject([{ status: 'waiting', attempts: 1, lastError: expect.stringContaining('refused: 19021') }]);
    // Nothing before the first wait (2 s) is over; then the second try.
    await clock.advance(1_999);
    await new Promise((r) => setTimeout(r, 50));
    expect(refusals()).toBe(1);
    await clock.advance(1);
    await until(() => refusals() === 2, 'the second try');
    await until(async () => (await bad.store.listNotices())[0]?.status === 'waiting', 'the notice to wait again');
    // Tried again after 30 s, 1, 2, then every 5 minutes, and given up on once the next try would be
    // more than an hour after the event.
    await clock.advance(NOTICE_MAX_AGE_MS);
    await settled(bad.store, 1);
    const retried = bad.capture.lines.filter((l) => l.msg === 'notice not delivered to the notify URL; trying again');
    const waits = retried.map((l) => l.retryInMs);
    expect(waits.slice(0, 5)).toEqual([2_000, 30_000, 60_000, 120_000, 300_000]);
    expect(new Set(waits.slice(4))).toEqual(new Set([300_000]));
    expect(waits.length).toBeGreaterThanOrEqual(12);
    expect(refusals()).toBe(waits.length + 1);
    expect(retried[0]).toMatchObject({ event: 'pairing', attempt: 1, err: expect.stringContaining('refused: 19021') });
    expect(await bad.store.listNotices()).toMatchObject([{ status: 'failed', attempts: refusals(), lastError: expect.stringContaining('refused: 19021') }]);
    expect(bad.capture.lines.find((l) => l.msg === 'notice not delivered to the notify URL; given up')).toMatchObject({
      event: 'pairing',
      err: expect.stringContaining('refused: 19021'),
    });
    // The URL (with the robot's token) is never in the log.
    expect(JSON.stringify(bad.capture.lines)).not.toContain('hook-token');
    // Counted by outcome, for an alert on a revoked robot key.
    expect(await counted(good.metrics)).toEqual([['sent', 1]]);
    expect(await counted(bad.metrics)).toEqual([
      ['retried', refusals() - 1],
      ['failed', 1],
    ]);
  });

  it('folds dead letters of one entry into the notice that waits for them, also one put back after a failure', async () => {
    const clock = new ManualClock(Date.now());
    const robot = opened(await startFakeGroupRobot({ now: () => clock.now() }));
    const { n, store } = notifier({ url: robot.wecomUrl, format: 'wecom' }, { clock });
    robot.failNext(1);
    n.notify({ event: 'dead_letter', text: both('reply 0 dead'), entryKey: 'desk.wecom' });
    await until(async () => (await store.listNotices())[0]?.lastError === 'HTTP 500', 'the first POST to fail');
    for (let i = 1; i < 5; i++) n.notify({ event: 'dead_letter', text: both(`reply ${i} dead`), entryKey: 'desk.wecom' });
    n.notify({ event: 'dead_letter', text: both('other entry'), entryKey: 'desk.feishu' });
    await until(async () => (await store.listNotices()).length === 2, 'the notices to be stored');
    await clock.advance(2_000);
    await settled(store, 2);
    expect(robot.received.map((m) => m.text)).toEqual(['[CocoCat] reply 0 dead\n(and 4 more like it on desk.wecom)', '[CocoCat] other entry']);
  });

  it('keeps under the WeCom robot limit of 20 a minute instead of running into it', async () => {
    const clock = new ManualClock(Date.now());
    const robot = opened(await startFakeGroupRobot({ now: () => clock.now() }));
    const { n, store } = notifier({ url: robot.wecomUrl, format: 'wecom' }, { clock });
    for (let i = 0; i < 23; i++) n.notify({ event: 'handoff', text: both(`user ${i} asks for a person`) });
    await until(() => robot.received.length === 20, '20 notices');
    await new Promise((r) => setTimeout(r, 100));
    expect(robot.received).toHaveLength(20);
    await clock.advance(60_000);
    await settled(store, 23);
    expect(robot.received.map((m) => m.text)).toEqual(Array.from({ length: 23 }, (_, i) => `[CocoCat] user ${i} asks for a person`));
    expect(robot.posts.filter((p) => p.code === 45009)).toEqual([]);
  });

  it("tells an agent's own team chat what concerns the agent, in its language, apart from the gateway's chat", async () => {
    const robot = opened(await startFakeGroupRobot({ wecomKey: 'gateway-key' }));
    const sales = opened(await startFakeGroupRobot({ wecomKey: 'sales-key' }));
    const capture = captureLogger();
    const store = opened(openSqliteStore({ path: ':memory:' }));
    const gatewayNotify = notifySchema.parse({ url: robot.wecomUrl, format: 'wecom', events: ['handoff', 'entry_down'] });
    const salesNotify = agentNotifySchema.parse({ url: sales.wecomUrl, format: 'wecom', language: 'zh' });
    const n = new Notifier({
      settings: () => ({ notify: gatewayNotify }),
      ownNotify: (owner) => (owner.kind === 'agent' && owner.id === 'sales' ? salesNotify : undefined),
      ownerOf: (entryKey) => ({ kind: 'agent', id: entryKey.split('.')[0]! }),
      store,
      clock: systemClock,
      log: capture.log,
      tickMs: 100,
    });
    opened({ close: () => n.stop() });
    n.start();
    sales.failNext(1);
    n.notify({ event: 'handoff', text: { en: 'ann asked for a person', zh: 'ann 请求人工客服' }, entryKey: 'sales.web_api' });
    n.notify({ event: 'handoff', text: { en: 'bob asked for a person', zh: 'bob 请求人工客服' }, entryKey: 'desk.web_api' });
    n.notify({ event: 'agent_down', text: { en: 'sales fails', zh: 'sales 连续失败' }, agentId: 'sales' });
    n.notify({ event: 'dead_letter', text: both('a reply to cid was given up on'), entryKey: 'sales.web_api' });
    // The gateway's chat hears what it asks for, at once, while the sales chat waits out its failure.
    await until(() => robot.received.length === 2, "the gateway chat's notices");
    expect(robot.received.map((m) => m.text)).toEqual(['[CocoCat] ann asked for a person', '[CocoCat] bob asked for a person']);
    await settled(store, 5);
    expect(sales.received.map((m) => m.text)).toEqual(['[CocoCat] ann 请求人工客服', '[CocoCat] sales 连续失败', '[CocoCat] a reply to cid was given up on']);
    expect((await store.listNotices()).map((x) => [x.receiver, x.event])).toEqual([
      ['agent:sales', 'dead_letter'],
      ['agent:sales', 'agent_down'],
      ['', 'handoff'],
      ['agent:sales', 'handoff'],
      ['', 'handoff'],
    ]);
    expect(n.describe((await store.listNotices())[3]!)).toMatchObject({ receiver: 'agent:sales', text: 'ann 请求人工客服', status: 'sent', attempts: 2 });
  });

  it("tells the team chats of the scenes an agent serves in that it is down, and a wait for one chat to that chat only", async () => {
    const lobby = opened(await startFakeGroupRobot({ wecomKey: 'lobby-key' }));
    const store = opened(openSqliteStore({ path: ':memory:' }));
    const lobbyNotify = agentNotifySchema.parse({ url: lobby.wecomUrl, format: 'wecom', events: ['agent_down', 'handoff', 'waiting'] });
    const gateway = opened(await startFakeGroupRobot({ wecomKey: 'gateway-key' }));
    const gatewayNotify = notifySchema.parse({ url: gateway.wecomUrl, format: 'wecom', events: ['waiting'] });
    const quietNotify = agentNotifySchema.parse({ url: lobby.wecomUrl, format: 'wecom', events: ['handoff'] });
    const rosters: Record<string, string[]> = { lobby: ['desk', 'sales'], quiet: ['sales'], other: ['desk'] };
    const n = new Notifier({
      settings: () => ({ notify: gatewayNotify }),
      ownNotify: (owner) => (owner.kind === 'scene' ? { lobby: lobbyNotify, quiet: quietNotify }[owner.id] : undefined),
      ownerOf: (entryKey) => ({ kind: 'scene', id: entryKey.split('.')[0]! }),
      scenesOf: (agentId) => Object.keys(rosters).filter((id) => rosters[id]!.includes(agentId)),
      store,
      clock: systemClock,
      log: captureLogger().log,
      tickMs: 100,
    });
    opened({ close: () => n.stop() });
    n.start();
    n.notify({ event: 'agent_down', text: both('sales fails'), agentId: 'sales' });
    n.notify({ event: 'agent_down', text: both('nobody fails'), agentId: 'nobody' });
    // A wait on lobby's entries: its chat hears it, the gateway's (which asks for waiting too) does not; quiet did not ask.
    n.notify({ event: 'waiting', text: both('lobby users wait'), receiver: { kind: 'scene', id: 'lobby' } });
    n.notify({ event: 'waiting', text: both('quiet users wait'), receiver: { kind: 'scene', id: 'quiet' } });
    await settled(store, 2);
    // lobby has sales in its roster and asks for agent_down; quiet has it but asks only for hand-overs.
    expect(lobby.received.map((m) => m.text)).toEqual(['[CocoCat] sales fails', '[CocoCat] lobby users wait']);
    expect(gateway.received).toEqual([]);
    expect((await store.listNotices()).map((x) => [x.receiver, x.event])).toEqual([
      ['scene:lobby', 'waiting'],
      ['scene:lobby', 'agent_down'],
    ]);
  });

  it('loses no notice to a restart: what the last process could not send, the next one sends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cococat-notices-'));
    opened({ close: async () => rmSync(dir, { recursive: true, force: true }) });
    const robot = opened(await startFakeGroupRobot());
    robot.failNext(1);
    const first = openSqliteStore({ path: join(dir, 'cococat.db') });
    const before = notifier({ url: robot.wecomUrl, format: 'wecom' }, { store: first });
    before.n.notify({ event: 'handoff', text: both('ann asked for a person') });
    before.n.notify({ event: 'pairing', text: both('bob asks to talk') });
    await until(() => robot.posts.length === 1, 'the failed POST');
    await before.n.stop();
    await first.close();
    expect(robot.received).toEqual([]);

    const after = notifier({ url: robot.wecomUrl, format: 'wecom' }, { store: opened(openSqliteStore({ path: join(dir, 'cococat.db') })), tickMs: 200 });
    // The first waits out its 2 s after the failure (the second behind it), then both go, in order.
    await settled(after.store, 2);
    expect(robot.received.map((m) => m.text)).toEqual(['[CocoCat] ann asked for a person', '[CocoCat] bob asks to talk']);
  });

  it('says each notice in the language asked for (zh), folded dead letters too', async () => {
    const robot = opened(await startFakeGroupRobot());
    const { n, store } = notifier({ url: robot.wecomUrl, format: 'wecom', language: 'zh' });
    n.notify({ event: 'handoff', text: { en: 'ann asked for a person', zh: 'ann 请求人工客服' } });
    for (let i = 0; i < 3; i++) n.notify({ event: 'dead_letter', text: { en: `reply ${i} dead`, zh: `回复 ${i} 成为死信` }, entryKey: 'desk.wecom' });
    await settled(store, 2);
    expect(robot.received.map((m) => m.text)).toEqual(['[CocoCat] ann 请求人工客服', '[CocoCat] 回复 0 成为死信\n（desk.wecom 上还有 2 条同类）']);
  });

  it('posts signed JSON to any URL, and sends only the events asked for', async () => {
    const got: { body: string; headers: Record<string, unknown> }[] = [];
    const server = createServer((req, res) => void readBody(req).then((body) => (got.push({ body, headers: req.headers }), res.end('{}'))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    opened({ close: () => new Promise<void>((r) => server.close(() => r())) });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/cococat`;
    const { n, store } = notifier({ url, secret: 's3cret', events: ['handoff', 'entry_down'], language: 'zh' });
    n.notify({ event: 'dead_letter', text: both('not asked for') });
    n.notify({ event: 'handoff', text: both('ann asked for a person'), entryKey: 'desk.web_api', messageId: '7' });
    n.notify({ event: 'entry_down', text: { en: 'desk.wx works again', zh: 'desk.wx 已恢复' }, entryKey: 'desk.wx', resolved: true });
    await until(() => got.length === 2, 'two notices');
    await settled(store, 2);
    expect(await store.listNotices()).toHaveLength(2);
    const body = JSON.parse(got[0]!.body);
    expect(body).toMatchObject({ event: 'handoff', text: 'ann asked for a person', entryKey: 'desk.web_api', messageId: '7', resolved: false });
    // A notice that something is over says so, for a receiver that opened an incident.
    expect(JSON.parse(got[1]!.body)).toMatchObject({ event: 'entry_down', text: 'desk.wx 已恢复', entryKey: 'desk.wx', resolved: true });
    const ts = String(got[0]!.headers['x-cococat-timestamp']);
    expect(got[0]!.headers['x-cococat-signature']).toBe(signBody('s3cret', ts, got[0]!.body));
  });
});
