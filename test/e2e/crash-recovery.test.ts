import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/config/atomic-write.js';
import { startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.js';
import { repliesPerMessage, SseClient } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait-for.js';
import { makeWorkspace, removeWorkspace, TEST_API_KEY, webApiEntry } from '../helpers/workspace.js';

const ENTRY = 'assistant.web_api';
const USERS = 20;
const PER_USER = 10;
const TOTAL = USERS * PER_USER;

describe('crash recovery', () => {
  let llm: FakeLlm | undefined;
  let gateway: ChildGateway | undefined;
  let root: string | undefined;
  afterAll(async () => {
    await gateway?.kill('SIGKILL');
    await llm?.close();
    if (root) removeWorkspace(root);
  });

  it('answers every message exactly once after SIGKILL with 200 in flight', async () => {
    llm = await startFakeLlm({ delayMs: 60 });
    root = makeWorkspace({
      // Short leases so the killed process's claims return quickly; 4 workers keep messages queued.
      settings: { limits: { concurrency: 4, lease_ms: 1_500 } },
      agents: {
        assistant: {
          profile: { provider: 'openai', model: 'fake', base_url: llm.url, api_key: 'k', history_window: 0 },
          entries: [webApiEntry({ rate_limit_per_minute: 1_000_000 })],
        },
      },
    });
    gateway = await startChildGateway(root);

    const clients = Array.from({ length: USERS }, (_, u) => new SseClient(`${gateway!.baseUrl}/api/v1/chat/${ENTRY}/events?userId=user-${u}`, TEST_API_KEY));
    for (const c of clients) c.lastEventId = 0;
    await Promise.all(clients.map((c) => c.connect()));

    const sent: { user: number; msgId: string; messageId?: string }[] = [];
    for (let i = 0; i < PER_USER; i++) {
      await Promise.all(
        Array.from({ length: USERS }, async (_, u) => {
          const msgId = `u${u}-m${i}`;
          const res = await fetch(`${gateway!.baseUrl}/api/v1/chat/${ENTRY}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
            body: JSON.stringify({ userId: `user-${u}`, content: `message ${i}`, msgId }),
          });
          expect(res.status).toBe(202);
          const body = (await res.json()) as { messageId: string };
          sent.push({ user: u, msgId, messageId: body.messageId });
        }),
      );
    }
    const received = () => clients.reduce((n, c) => n + c.events.length, 0);
    await waitFor(() => received() >= 30, 20_000, 'first replies');
    // Take the channel down (as a platform outage would): the agent keeps answering and the replies
    // wait in the outbox. Then kill the process with work in every stage.
    setEntryEnabled(root, false);
    await waitFor(() => countRows(root!, 'outbox', 'pending') >= 20, 20_000, 'replies to pile up in the outbox');
    await gateway.kill('SIGKILL');

    // What was in flight at the moment of the kill, read from the database the process left behind.
    const db = new Database(join(root, 'data', 'cococat.db'), { readonly: true });
    const inbound = db.prepare(`SELECT status, count(*) n FROM inbound GROUP BY status`).all() as { status: string; n: number }[];
    const outbox = db.prepare(`SELECT status, count(*) n FROM outbox GROUP BY status`).all() as { status: string; n: number }[];
    db.close();
    const count = (rows: { status: string; n: number }[], s: string) => rows.find((r) => r.status === s)?.n ?? 0;
    const inFlight = count(inbound, 'queued') + count(inbound, 'leased') + count(outbox, 'pending') + count(outbox, 'leased');
    console.log(`at SIGKILL: inbound ${JSON.stringify(inbound)}, outbox ${JSON.stringify(outbox)}, replies seen ${received()}`);
    expect(count(inbound, 'queued')).toBeGreaterThan(0);
    expect(count(outbox, 'pending')).toBeGreaterThan(0);
    expect(inFlight).toBeGreaterThan(50);
    expect(received()).toBeLessThan(TOTAL);

    await waitFor(() => clients.every((c) => !c.connected), 5_000, 'streams to drop');
    setEntryEnabled(root, true);
    gateway = await startChildGateway(root);
    for (const c of clients) c.url = `${gateway.baseUrl}/api/v1/chat/${ENTRY}/events?userId=user-${clients.indexOf(c)}`;
    await Promise.all(clients.map((c) => c.connect()));
    await waitFor(() => received() >= TOTAL, 60_000, 'all replies');
    await new Promise((r) => setTimeout(r, 500)); // a late duplicate would show up here

    const byMessage = repliesPerMessage(clients);
    expect(received()).toBe(TOTAL);
    expect(byMessage.size).toBe(TOTAL);
    expect([...byMessage.values()].every((n) => n === 1)).toBe(true);
    for (const s of sent) expect(byMessage.get(s.messageId!)).toBe(1);
    // Per user, replies arrive in the order the messages were sent.
    clients.forEach((c, u) => {
      expect(c.events.map((e) => e.data.text)).toEqual(Array.from({ length: PER_USER }, (_, i) => `reply to: message ${i}`));
      expect(c.events.length).toBe(PER_USER);
      void u;
    });
    console.log(`agent calls: ${llm.requests.length} for ${TOTAL} messages (re-runs of messages claimed at the kill)`);
    expect(llm.requests.length).toBeGreaterThanOrEqual(TOTAL);
    await Promise.all(clients.map((c) => c.close()));
  }, 120_000);
});

function setEntryEnabled(root: string, enabled: boolean): void {
  writeFileAtomic(join(root, 'agents', 'assistant', 'entries.json'), JSON.stringify({ entries: [{ ...webApiEntry({ rate_limit_per_minute: 1_000_000 }), enabled }] }));
}

function countRows(root: string, table: 'inbound' | 'outbox', status: string): number {
  const db = new Database(join(root, 'data', 'cococat.db'), { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) n FROM ${table} WHERE status = ?`).get(status) as { n: number }).n;
  } finally {
    db.close();
  }
}
