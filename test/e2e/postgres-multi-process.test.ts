import { afterAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.js';
import { dropSchemas, pgQuery } from '../helpers/postgres.js';
import { repliesPerMessage, SseClient } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait-for.js';
import { makeWorkspace, removeWorkspace, TEST_API_KEY, webApiEntry } from '../helpers/workspace.js';

const PG_URL = process.env.COCOCAT_TEST_PG_URL;
const ENTRY = 'assistant.web_api';
const USERS = 12;
const PER_USER = 10;
const TOTAL = USERS * PER_USER;

// .ci/run sets COCOCAT_TEST_PG_URL; without a PostgreSQL server this file has nothing to test.
describe.skipIf(!PG_URL)('two gateway processes sharing one PostgreSQL store', () => {
  const schema = `cc_e2e_${process.pid}_${Date.now().toString(36)}`;
  const gateways: ChildGateway[] = [];
  let llm: FakeLlm | undefined;
  let root: string | undefined;
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.kill('SIGKILL')));
    await llm?.close();
    if (root) removeWorkspace(root);
    await dropSchemas(PG_URL!, [schema]);
  });

  it('answers every message once and in order per user, though users write to both and one process is SIGKILLed', async () => {
    llm = await startFakeLlm({ delayMs: 40 });
    const storeUrl = new URL(PG_URL!);
    storeUrl.searchParams.set('schema', schema);
    root = makeWorkspace({
      // Short leases: the killed process's claims return to the queue quickly.
      settings: { admin_token: 'admin-token-for-the-pg-test', store: { url: storeUrl.toString() }, limits: { concurrency: 4, lease_ms: 1_500 } },
      agents: {
        assistant: {
          profile: { provider: 'openai', model: 'fake', base_url: llm.url, api_key: 'k', history_window: 0 },
          entries: [webApiEntry({ rate_limit_per_minute: 1_000_000 })],
        },
      },
    });
    const first = await startChildGateway(root);
    gateways.push(first);
    const second = await startChildGateway(root);
    gateways.push(second);

    // Replies are read from the survivor: it streams what either process stored.
    const clients = Array.from({ length: USERS }, (_, u) => new SseClient(`${second.baseUrl}/api/v1/chat/${ENTRY}/events?userId=user-${u}`, TEST_API_KEY));
    for (const c of clients) c.lastEventId = 0;
    await Promise.all(clients.map((c) => c.connect()));
    const received = () => clients.reduce((n, c) => n + c.events.length, 0);

    const sentTo = { first: 0, second: 0 };
    let firstAlive = true;
    for (let i = 0; i < PER_USER; i++) {
      if (i === PER_USER / 2) {
        await waitFor(() => received() >= 12, 30_000, 'first replies');
        await first.kill('SIGKILL');
        firstAlive = false;
      }
      await Promise.all(
        Array.from({ length: USERS }, async (_, u) => {
          // Each user alternates between the two processes, message by message.
          const target = firstAlive && (i + u) % 2 === 0 ? first : second;
          sentTo[target === first ? 'first' : 'second']++;
          const res = await fetch(`${target.baseUrl}/api/v1/chat/${ENTRY}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
            body: JSON.stringify({ userId: `user-${u}`, content: `message ${i}`, msgId: `u${u}-m${i}` }),
          });
          expect(res.status).toBe(202);
        }),
      );
    }
    expect(sentTo.first).toBeGreaterThan(20);

    await waitFor(() => received() >= TOTAL, 90_000, 'all replies');
    await new Promise((r) => setTimeout(r, 600)); // a late duplicate would show up here
    const byMessage = repliesPerMessage(clients);
    expect(received()).toBe(TOTAL);
    expect(byMessage.size).toBe(TOTAL);
    expect([...byMessage.values()].every((n) => n === 1)).toBe(true);
    clients.forEach((c) => {
      expect(c.events.map((e) => e.data.text)).toEqual(Array.from({ length: PER_USER }, (_, i) => `reply to: message ${i}`));
    });

    // Both processes did agent work: the mailbox rows name the owner of their last lease.
    const owners = await pgQuery<{ lease_owner: string; n: string }>(
      PG_URL!,
      `SELECT lease_owner, count(*) AS n FROM ${schema}.inbound WHERE status = 'done' GROUP BY lease_owner`,
    );
    console.log(`answered per process: ${JSON.stringify(owners)}; sent to ${JSON.stringify(sentTo)}`);
    expect(owners.map((r) => Number(r.n)).reduce((a, b) => a + b, 0)).toBe(TOTAL);
    expect(owners.length).toBeGreaterThanOrEqual(2);
    await Promise.all(clients.map((c) => c.close()));
  }, 150_000);
});
