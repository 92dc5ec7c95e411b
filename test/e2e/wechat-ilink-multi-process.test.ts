import { afterEach, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { FakeIlink } from '../fakes/ilink/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { dropSchemas } from '../helpers/postgres.js';
import { makeWorkspace, removeWorkspace } from '../helpers/workspace.js';

const PG_URL = process.env.COCOCAT_TEST_PG_URL;
const ENTRY = 'bot.wechat_ilink';

// One long poll per bot: two processes polling would each take part of the messages and fight over the cursor.
describe.skipIf(!PG_URL)('a wechat_ilink entry with two gateway processes on one PostgreSQL store', () => {
  let schema = '';
  const gateways: TestGateway[] = [];
  let fake: FakeIlink | undefined;
  let root: string | undefined;
  afterEach(async () => {
    for (const g of gateways.splice(0)) await g.close({ keepWorkspace: true });
    await fake?.close();
    if (root) removeWorkspace(root);
    if (schema) await dropSchemas(PG_URL!, [schema]);
  });

  /** The fake, and two gateways on one workspace and schema with a wechat_ilink entry (logged in or not). */
  async function twoGateways(loggedIn: boolean): Promise<FakeIlink> {
    schema = `cc_ilx_${process.pid}_${Date.now().toString(36)}`;
    fake = await FakeIlink.start({ longPollMs: 300, qrPollMs: 200 });
    const config = loggedIn ? { base_url: fake.url, bot_token: fake.botToken } : { base_url: fake.url };
    root = makeWorkspace({ settings: { limits: { lease_ms: 1_500 } }, agents: { bot: { profile: { provider: 'echo' }, entries: [{ type: 'channel', channel: 'wechat_ilink', config }] } } });
    for (let i = 0; i < 2; i++) gateways.push(await startTestGateway({ root }, { store: await openPostgresStore({ url: PG_URL!, schema }) }));
    return fake;
  }

  it('polls from one process; the other takes over from the cursor saved in the store, losing and repeating nothing', async () => {
    const fake = await twoGateways(true);
    const states = () => gateways.map((g) => g.gateway.keeper.statusOf(ENTRY)?.state).sort().join();
    await gateways[0]!.until(() => states() === 'running,standby');
    const running = gateways.find((g) => g.gateway.keeper.statusOf(ENTRY)?.state === 'running')!;
    const standby = gateways.find((g) => g !== running)!;

    for (let i = 0; i < 10; i++) fake.userSends(`user-${i % 3}`, `message ${i}`);
    await fake.waitForSent(10);
    // Every poll so far carried one process's cursor in sequence: each poll starts where the one before ended.
    const polls = () => fake.calls.filter((c) => c.endpoint === 'getupdates');
    for (const [i, p] of polls().entries()) {
      if (i === 0) continue;
      const before = polls()[i - 1]!;
      const handedOut = (before.response as { get_updates_buf?: string } | undefined)?.get_updates_buf;
      if (handedOut !== undefined) expect(p.body?.get_updates_buf).toBe(handedOut);
    }

    // The polling process stops; the other takes the entry and goes on from the saved cursor.
    await running.close({ keepWorkspace: true });
    gateways.splice(gateways.indexOf(running), 1);
    const lastCursor = polls().at(-1)?.body?.get_updates_buf;
    const pollsBefore = polls().length;
    fake.userSends('user-9', 'while it changes hands');
    await standby.until(() => standby.gateway.keeper.statusOf(ENTRY)?.state === 'running', 10_000);
    await fake.waitForSent(11);
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.sent().map((s) => s.text).sort()).toEqual([...Array.from({ length: 10 }, (_, i) => `message ${i}`), 'while it changes hands'].sort());
    // The new poller's first poll is where the old one stopped, not the start of iLink's log.
    expect(lastCursor).toBeTruthy();
    expect(polls()[pollsBefore]?.body?.get_updates_buf).toBe(lastCursor);
  }, 30_000);

  it('follows and cancels a QR login from either process, and its confirmation reaches both', async () => {
    const fake = await twoGateways(false);
    const [a, b] = gateways as [TestGateway, TestGateway];
    const path = '/agents/bot/entries/wechat_ilink/login';
    const state = async (g: TestGateway) => (await g.admin('GET', path)).json as { state: string; qrContent?: string; account?: string };

    const started = await a.admin('POST', path);
    expect(started.json.state).toBe('waiting');
    // The other process answers for the login this one runs.
    await b.until(async () => (await state(b)).qrContent === started.json.qrContent);
    fake.scan();
    await b.until(async () => (await state(b)).state === 'scanned');
    // A cancel asked of the other process reaches this one.
    expect((await b.admin('DELETE', path)).status).toBe(204);
    expect((await state(b)).state).toBe('cancelled');
    await a.until(async () => (await state(a)).state === 'cancelled');
    const statusPolls = () => fake.calls.filter((c) => c.endpoint === 'get_qrcode_status').length;
    await new Promise((r) => setTimeout(r, 500)); // a status poll in flight ends
    const polled = statusPolls();
    await new Promise((r) => setTimeout(r, 800));
    expect(statusPolls()).toBe(polled); // the login really stopped where it ran

    // Started on the other process this time; the confirmation shows on both, and the entry runs.
    const again = await b.admin('POST', path);
    expect(again.json.state).toBe('waiting');
    await a.until(async () => (await state(a)).qrContent === again.json.qrContent);
    fake.confirm();
    for (const g of [a, b]) await g.until(async () => (await state(g)).state === 'confirmed');
    expect((await state(a)).account).toBe(fake.botId);
    await a.until(() => gateways.some((g) => g.gateway.keeper.statusOf(ENTRY)?.state === 'running'), 15_000);
    fake.userSends('zoe', 'hello after login');
    await fake.waitForSent(1, { user: 'zoe' });
  }, 30_000);
});
