import { afterEach, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { FakeWecom } from '../fakes/wecom/index.js';
import { imagesOf, startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { solidPng } from '../helpers/images.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { dropSchemas, pgQuery } from '../helpers/postgres.js';
import { makeWorkspace, removeWorkspace } from '../helpers/workspace.js';

const PG_URL = process.env.COCOCAT_TEST_PG_URL;
const ENTRY = 'bot.wecom_bot';
const LEASE_MS = 1_500;

// WeCom keeps one connection per robot and drops the older one when another opens: two gateway
// processes that both connected would take the robot from each other forever.
describe.skipIf(!PG_URL)('a wecom_bot entry with two gateway processes on one PostgreSQL store', () => {
  let schema = '';
  const gateways: TestGateway[] = [];
  let fake: FakeWecom | undefined;
  let llm: FakeLlm | undefined;
  let root: string | undefined;
  afterEach(async () => {
    for (const g of gateways.splice(0)) await g.close({ keepWorkspace: true });
    await fake?.close();
    await llm?.close();
    llm = undefined;
    if (root) removeWorkspace(root);
    if (schema) await dropSchemas(PG_URL!, [schema]);
  });

  /** The fake, and two gateways on one workspace and schema: one runs the robot, the other stands by. */
  async function twoGateways() {
    schema = `cc_wbx_${process.pid}_${Date.now().toString(36)}`;
    fake = await FakeWecom.start();
    const entry = { type: 'channel', channel: 'wecom_bot', config: { bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl } };
    // Both processes read the same workspace; the lease doubles as the failover time.
    root = makeWorkspace({ settings: { limits: { lease_ms: LEASE_MS } }, agents: { bot: { profile: { provider: 'echo' }, entries: [entry] } } });
    for (let i = 0; i < 2; i++) gateways.push(await startTestGateway({ root }, { store: await openPostgresStore({ url: PG_URL!, schema }) }));
    await gateways[0]!.until(() => states().join() === 'running,standby');
    await fake.waitForBotConnection();
    const running = gateways.find((g) => g.gateway.keeper.statusOf(ENTRY)?.state === 'running')!;
    return { fake, running, standby: gateways.find((g) => g !== running)! };
  }
  const states = () => gateways.map((g) => g.gateway.keeper.statusOf(ENTRY)?.state).sort();

  it('runs the robot in one process at a time, answers once through it, and fails over when that process stops', async () => {
    const { fake, running, standby } = await twoGateways();

    // Either process may answer a message; the reply goes out on the one connection.
    const deliveries = Array.from({ length: 20 }, (_, i) => fake.sendBotText(`message ${i}`, { from: `user-${i % 4}` }));
    for (const d of deliveries) await fake.waitForBotReply(d);
    expect(deliveries.map((d) => d.text)).toEqual(deliveries.map((_, i) => `message ${i}`));
    expect(deliveries.every((d) => d.finished)).toBe(true);
    const messages = await running.gateway.store.listMessages({ limit: 100 });
    expect(messages).toHaveLength(20);
    expect(messages.every((m) => m.status === 'done')).toBe(true);
    expect(fake.connectionCount).toBe(1); // the standby process never connected
    expect(fake.botProtocolErrors).toEqual([]);
    // Its entry shows why it is idle, and counts nothing it did not receive; so do its metrics and dashboard.
    expect(standby.gateway.keeper.statusOf(ENTRY)).toMatchObject({ state: 'standby', messagesIn: 0 });
    const entriesGauge = await standby.gateway.metrics.registry.getSingleMetricAsString('cococat_entries');
    expect(entriesGauge).toMatch(/cococat_entries\{state="standby"\} 1/);
    expect(entriesGauge).toMatch(/cococat_entries\{state="running"\} 0/);
    expect((await standby.admin('GET', '/dashboard')).json.totals.entries).toMatchObject({ standby: 1, running: 0, error: 0 });

    // The running process stops (and gives the lease up): the other connects and answers.
    await running.close({ keepWorkspace: true });
    gateways.splice(gateways.indexOf(running), 1);
    await standby.until(() => standby.gateway.keeper.statusOf(ENTRY)?.state === 'running', 10_000);
    await fake.waitForBotConnection();
    expect(fake.connectionCount).toBe(2);
    const after = fake.sendBotText('still there?');
    await fake.waitForBotReply(after);
    expect(after.text).toBe('still there?');
  }, 30_000);

  it('lets the other process connect while the one whose connection failed waits to retry', async () => {
    const { fake, running, standby } = await twoGateways();
    // As if a third client took the robot: this process's entry fails and backs off (≥ 0.5 s).
    expect(fake.takeOver()).toBe(true);
    await running.until(() => running.gateway.keeper.statusOf(ENTRY)?.state === 'error');
    // It gave the lease up on failing, so the standby process need not wait for it to run out.
    await standby.until(() => standby.gateway.keeper.statusOf(ENTRY)?.state === 'running', 10_000);
    await fake.waitForBotConnection();
    const d = fake.sendBotText('who has it now?');
    await fake.waitForBotReply(d);
    expect(d.text).toBe('who has it now?');
    // The failed one comes back after its backoff as the standby, not as a second connection.
    await running.until(() => running.gateway.keeper.statusOf(ENTRY)?.state === 'standby', 15_000);
    expect(states()).toEqual(['running', 'standby']);
    expect(fake.connectionCount).toBe(2);
  }, 30_000);

  it('sends at once the replies the standby process answered, without waiting for an outbox tick', async () => {
    schema = `cc_wby_${process.pid}_${Date.now().toString(36)}`;
    fake = await FakeWecom.start();
    const entry = { type: 'channel', channel: 'wecom_bot', config: { bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl } };
    // One agent run at a time per process, so the standby process answers most messages too.
    root = makeWorkspace({ settings: { limits: { lease_ms: LEASE_MS, concurrency: 1 } }, agents: { bot: { profile: { provider: 'echo' }, entries: [entry] } } });
    // The process that runs the robot looks at the outbox on its own only once a minute.
    const running = await startTestGateway({ root }, { store: await openPostgresStore({ url: PG_URL!, schema }), tickMs: 60_000 });
    gateways.push(running);
    await running.until(() => running.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const standby = await startTestGateway({ root }, { store: await openPostgresStore({ url: PG_URL!, schema }) });
    gateways.push(standby);
    await standby.until(() => standby.gateway.keeper.statusOf(ENTRY)?.state === 'standby');
    await fake.waitForBotConnection();

    const deliveries = Array.from({ length: 12 }, (_, i) => fake!.sendBotText(`question ${i}`, { from: `user-${i}` }));
    for (const d of deliveries) await fake.waitForBotReply(d, 10_000);
    expect(deliveries.map((d) => d.text)).toEqual(deliveries.map((_, i) => `question ${i}`));
    expect((await standby.gateway.store.listMessages({ limit: 100 })).map((m) => m.status)).toEqual(Array(12).fill('done'));
    // The standby process answered some of them: their replies reached the connection through the notification.
    const claimers = await pgQuery<{ lease_owner: string; n: number }>(
      PG_URL!, `SELECT lease_owner, count(*)::int AS n FROM ${schema}.inbound GROUP BY lease_owner`);
    expect(claimers.find((c) => c.lease_owner === standby.gateway.owner)?.n ?? 0).toBeGreaterThan(0);
  }, 30_000);

  it('passes a photo to the agent in the standby process: it downloads the media from the entry config alone', async () => {
    schema = `cc_wbz_${process.pid}_${Date.now().toString(36)}`;
    fake = await FakeWecom.start();
    llm = await startFakeLlm();
    const entry = { type: 'channel', channel: 'wecom_bot', config: { bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl } };
    const profile = { provider: 'openai', model: 'vision', base_url: llm.url, api_key: 'k', images: true };
    root = makeWorkspace({ settings: { limits: { lease_ms: LEASE_MS } }, agents: { bot: { profile, entries: [entry] } } });
    const running = await startTestGateway({ root }, { store: await openPostgresStore({ url: PG_URL!, schema }) });
    gateways.push(running);
    await running.until(() => running.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const standby = await startTestGateway({ root }, { store: await openPostgresStore({ url: PG_URL!, schema }) });
    gateways.push(standby);
    await standby.until(() => standby.gateway.keeper.statusOf(ENTRY)?.state === 'standby');
    await fake.waitForBotConnection();
    // Only the standby process runs agents now: the message is received by one process and answered by the other.
    await running.gateway.heartbeat.stop();

    const png = solidPng(2, 3, [40, 200, 40]);
    const d = fake.sendBotMessage({ type: 'image', data: png });
    await fake.waitForBotReply(d, 10_000);
    expect(d.text).toBe('reply to: [image] (+1 image)');
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    const downloads = (await standby.gateway.metrics.mediaDownloads.get()).values;
    expect(downloads.find((v) => v.labels.outcome === 'ok')?.value).toBe(1);
    expect(fake.connectionCount).toBe(1);
  }, 30_000);
});

