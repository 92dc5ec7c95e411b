import { afterEach, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { FakeWecom } from '../fakes/wecom/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { dropSchemas } from '../helpers/postgres.js';
import { makeWorkspace, removeWorkspace } from '../helpers/workspace.js';

const PG_URL = process.env.COCOCAT_TEST_PG_URL;
const ENTRY = 'bot.wecom_bot';
const LEASE_MS = 1_500;

// WeCom keeps one connection per robot and drops the older one when another opens: two gateway
// processes that both connected would take the robot from each other forever.
describe.skipIf(!PG_URL)('a wecom_bot entry with two gateway processes on one PostgreSQL store', () => {
  const schema = `cc_wbx_${process.pid}_${Date.now().toString(36)}`;
  const gateways: TestGateway[] = [];
  let fake: FakeWecom | undefined;
  let root: string | undefined;
  afterEach(async () => {
    for (const g of gateways) await g.close({ keepWorkspace: true });
    await fake?.close();
    if (root) removeWorkspace(root);
    await dropSchemas(PG_URL!, [schema]);
  });

  it('runs the robot in one process at a time, answers once through it, and fails over when that process stops', async () => {
    fake = await FakeWecom.start();
    const entry = { type: 'channel', channel: 'wecom_bot', config: { bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl } };
    // Both processes read the same workspace; the lease doubles as the failover time.
    root = makeWorkspace({ settings: { limits: { lease_ms: LEASE_MS } }, agents: { bot: { profile: { provider: 'echo' }, entries: [entry] } } });
    for (let i = 0; i < 2; i++) gateways.push(await startTestGateway({ root }, { store: await openPostgresStore({ url: PG_URL!, schema }) }));
    const states = () => gateways.map((g) => g.gateway.keeper.statusOf(ENTRY)?.state).sort();
    await gateways[0]!.until(() => states().join() === 'running,standby');
    await fake.waitForBotConnection();
    const running = gateways.find((g) => g.gateway.keeper.statusOf(ENTRY)?.state === 'running')!;
    const standby = gateways.find((g) => g !== running)!;

    // Either process may answer a message; the reply goes out on the one connection.
    const deliveries = Array.from({ length: 20 }, (_, i) => fake!.sendBotText(`message ${i}`, { from: `user-${i % 4}` }));
    for (const d of deliveries) await fake.waitForBotReply(d);
    expect(deliveries.map((d) => d.text)).toEqual(deliveries.map((_, i) => `message ${i}`));
    expect(deliveries.every((d) => d.finished)).toBe(true);
    const messages = await running.gateway.store.listMessages({ limit: 100 });
    expect(messages).toHaveLength(20);
    expect(messages.every((m) => m.status === 'done')).toBe(true);
    expect(fake.connectionCount).toBe(1); // the standby process never connected
    expect(fake.botProtocolErrors).toEqual([]);
    // Its entry shows why it is idle, and counts nothing it did not receive.
    expect(standby.gateway.keeper.statusOf(ENTRY)).toMatchObject({ state: 'standby', messagesIn: 0 });

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
});
