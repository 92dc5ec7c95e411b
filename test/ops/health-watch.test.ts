import { describe, expect, it } from 'vitest';
import type { AgentOutcome } from '../../src/agents/run-agent.js';
import { notifySchema, type NotifySettings } from '../../src/config/schema.js';
import { ManualClock } from '../../src/core/clock.js';
import type { EntryStatus } from '../../src/core/entry-status.js';
import { CocoError } from '../../src/core/errors.js';
import { HealthWatch } from '../../src/ops/health-watch.js';
import type { Notice, Owner } from '../../src/ops/notifier.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { NewInbound, Store } from '../../src/store/store.js';
import { captureLogger } from '../helpers/logs.js';

const CHECK_MS = 15_000;
const MINUTE = 60_000;

/** One watch on a store, with the entries it sees set by the test (as SceneKeeper.status() reports them). */
function watch(o: { store?: Store; clock?: ManualClock; owner?: string; notify?: Partial<NotifySettings>; waitingOwners?: Owner[] } = {}) {
  const clock = o.clock ?? new ManualClock();
  const store = o.store ?? openSqliteStore({ path: ':memory:' });
  const told: Notice[] = [];
  let entries: EntryStatus[] = [];
  const settings = notifySchema.parse({ url: 'https://example.com/hook', ...o.notify });
  const w = new HealthWatch({
    settings: () => settings,
    entries: () => entries,
    notify: (n) => told.push(n),
    store,
    owner: o.owner ?? 'p1',
    clock,
    log: captureLogger().log,
    channelName: (type) => (type === 'wechat_ilink' ? 'personal WeChat' : type),
    checkMs: CHECK_MS,
    ...(o.waitingOwners ? { waitingOwners: () => o.waitingOwners! } : {}),
  });
  return {
    w,
    clock,
    store,
    told,
    texts: () => told.map((n) => n.text.en),
    set: (...list: EntryStatus[]) => (entries = list),
    /** Moves the clock a check at a time, checking at each, for `ms`. */
    async run(ms: number) {
      for (let t = 0; t < ms; t += CHECK_MS) {
        await clock.advance(CHECK_MS);
        await w.checkEntries();
      }
    },
  };
}

function entry(state: EntryStatus['state'], since: number, extra: Partial<EntryStatus> = {}): EntryStatus {
  return {
    key: 'desk.wx',
    id: 'wx',
    channel: 'wechat_ilink',
    target: { kind: 'agent', id: 'desk' },
    enabled: true,
    state,
    since,
    restarts: 0,
    messagesIn: 0,
    messagesOut: 0,
    ...extra,
  };
}
const failing = (message: string): EntryStatus['lastError'] => ({ code: 'COCO_ERR_CHANNEL_START', message, at: 0 });

const failed = (message: string, code = 'COCO_ERR_AGENT_FAILED'): AgentOutcome => ({
  ok: false,
  attempts: 1,
  latencyMs: 5,
  reply: { text: 'sorry', format: 'text' },
  error: new CocoError('COCO_ERR_AGENT_FAILED', `agent failed after 1 attempt(s): ${message}`, { cause: new CocoError(code as 'COCO_ERR_AGENT_FAILED', message) }),
});
const answered: AgentOutcome = { ok: true, attempts: 1, latencyMs: 5, reply: { text: 'hi', format: 'text' } };

describe('HealthWatch: entries', () => {
  it('tells once after entry_down_after_minutes in error, across restarts, and says it works again after a whole check of working', async () => {
    const h = watch();
    const start = h.clock.now();
    h.set(entry('error', start, { lastError: failing('getupdates: HTTP 502') }));
    await h.run(2 * MINUTE);
    expect(h.told).toHaveLength(0);
    // Restarting between failures is still the same outage.
    h.set(entry('starting', h.clock.now()));
    await h.run(CHECK_MS);
    h.set(entry('error', h.clock.now(), { lastError: failing('getupdates: HTTP 503') }));
    await h.run(MINUTE);
    expect(h.told).toEqual([
      {
        event: 'entry_down',
        text: { en: 'Entry desk.wx (personal WeChat, for agent desk) is down: getupdates: HTTP 503. It has been for 3 min; its users get no answers until it is back.', zh: expect.any(String) },
        entryKey: 'desk.wx',
        panelPath: 'agents/desk',
      },
    ]);
    await h.run(10 * MINUTE);
    expect(h.told).toHaveLength(1);

    // Running for one check is not enough (a restart can fail again at once); a whole check is.
    h.set(entry('running', h.clock.now()));
    await h.run(CHECK_MS);
    expect(h.told).toHaveLength(1);
    await h.run(CHECK_MS);
    expect(h.texts()[1]).toBe('Entry desk.wx (personal WeChat, for agent desk) works again, after 14 min down.');
    expect(h.told[1]).toMatchObject({ event: 'entry_down', entryKey: 'desk.wx', resolved: true });
    expect(h.told[0]!.resolved).toBeUndefined();
    // The outage is over: a new one is told anew.
    h.set(entry('error', h.clock.now(), { lastError: failing('again') }));
    await h.run(3 * MINUTE);
    expect(h.texts()).toHaveLength(3);
    expect(h.texts()[2]).toMatch(/is down: again\. It has been for 3 min/);
  });

  it('counts an entry that runs but has lost its platform (an expired session), and not one that is only briefly off', async () => {
    const h = watch({ notify: { entry_down_after_minutes: 5 } });
    const lost = h.clock.now();
    const transport = { kind: 'long-poll', reconnects: 0, failedAttempts: 1, eventsReceived: 3, lastDisconnectedAt: lost };
    h.set(
      entry('running', lost - 3_600_000, {
        transport: { ...transport, state: 'reconnecting', lastError: { message: 'session expired (-14): log in again with the QR code if it lasts', at: lost } },
      }),
    );
    await h.run(4 * MINUTE);
    expect(h.told).toHaveLength(0);
    await h.run(MINUTE);
    expect(h.texts()).toEqual([
      'Entry desk.wx (personal WeChat, for agent desk) is down: session expired (-14): log in again with the QR code if it lasts. It has been for 5 min; its users get no answers until it is back.',
    ]);

    // A reconnect that ends within the time says nothing at all, not even "works again".
    const other = watch();
    other.set(entry('running', 0, { transport: { ...transport, state: 'reconnecting', lastDisconnectedAt: other.clock.now() } }));
    await other.run(MINUTE);
    other.set(entry('running', 0, { transport: { ...transport, state: 'connected' } }));
    await other.run(10 * MINUTE);
    expect(other.told).toHaveLength(0);
  });

  it('says nothing more of an entry that was disabled or removed while down, and nothing when entry_down is not asked for', async () => {
    const h = watch();
    h.set(entry('error', h.clock.now(), { lastError: failing('bad secret') }));
    await h.run(3 * MINUTE);
    expect(h.told).toHaveLength(1);
    h.set(entry('stopped', h.clock.now(), { enabled: false }));
    await h.run(MINUTE);
    h.set();
    await h.run(MINUTE);
    expect(h.told).toHaveLength(1);

    const quiet = watch({ notify: { events: ['handoff', 'agent_down'] } });
    quiet.set(entry('error', quiet.clock.now(), { lastError: failing('bad secret') }));
    await quiet.run(30 * MINUTE);
    expect(quiet.told).toHaveLength(0);
  });

  it('with two processes on one store, one of them tells of an outage, and the other only once the teller is gone', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const clock = new ManualClock();
    const a = watch({ store, clock, owner: 'a' });
    const b = watch({ store, clock, owner: 'b' });
    const down = entry('error', clock.now(), { lastError: failing('refused') });
    a.set(down);
    b.set(down);
    for (let i = 0; i < 12; i++) {
      await clock.advance(CHECK_MS);
      await a.w.checkEntries();
      await b.w.checkEntries();
    }
    expect([a.told.length, b.told.length].sort()).toEqual([0, 1]);
    const [teller, other] = a.told.length === 1 ? [a, b] : [b, a];
    // The teller stops checking (its process ended); its lease runs out and the other tells.
    for (let i = 0; i < 40 && other.told.length === 0; i++) {
      await clock.advance(CHECK_MS);
      await other.w.checkEntries();
    }
    expect(other.texts()).toEqual([expect.stringMatching(/is down: refused\. It has been for 1[3-4] min/)]);
    expect(teller.told).toHaveLength(1);
  });
});

/** A message from `dedup` on an entry of agent `agent` (`<agent>.wx`). */
const message = (dedup: string, agent = 'desk'): NewInbound => ({
  entryKey: `${agent}.wx`, channelType: 'wechat_ilink', targetKind: 'agent', targetId: agent, dedupKey: dedup, conversationKey: `${agent}.wx/${dedup}`,
  message: { channelType: 'wechat_ilink', sceneId: agent, userId: dedup, conversationId: dedup, content: 'hi', msgType: 'text', msgId: dedup, timestamp: 0, isGroup: false, mentionsBot: true },
});

describe('HealthWatch: users waiting', () => {
  it('tells once when the oldest message has waited waiting_after_minutes, and when it is answered', async () => {
    const h = watch({ notify: { events: ['waiting'], waiting_after_minutes: 5 } });
    await h.store.enqueue(message('ann'), h.clock.now());
    await h.store.enqueue(message('bo'), h.clock.now() + 60_000);
    await h.run(4 * MINUTE);
    expect(h.told).toHaveLength(0);
    await h.run(MINUTE);
    expect(h.told).toEqual([
      {
        event: 'waiting',
        text: { en: 'Messages wait for their answer: the oldest arrived 5 min ago; 2 not answered yet. The agents are slow or failing, or the gateway is overloaded.', zh: expect.stringContaining('共 2 条还没有回复') },
        panelPath: 'dashboard',
      },
    ]);
    await h.run(5 * MINUTE);
    expect(h.told).toHaveLength(1);
    // Both answered: the wait is over.
    for (const item of await h.store.claimInbound({ now: h.clock.now(), leaseMs: 60_000, limit: 10, owner: 'w' })) {
      const key = { agentId: 'desk', entryKey: item.entryKey, conversationId: item.message.conversationId };
      await h.store.completeInbound(item.id, item.leaseToken, { now: h.clock.now(), status: 'done', replies: [], history: { key, turns: [] } });
    }
    await h.run(CHECK_MS);
    expect(h.texts()[1]).toBe('Messages are answered in time again, after 10 min.');
  });

  it("tells an agent's own chat that asks for it of its own entries' waits only, and not the gateway's chat", async () => {
    // The gateway's notify does not ask for waiting; sales's own does; desk's does not.
    const h = watch({ notify: { events: ['handoff'], waiting_after_minutes: 5 }, waitingOwners: [{ kind: 'agent', id: 'sales' }] });
    h.set(entry('running', 0), entry('running', 0, { key: 'sales.wx', target: { kind: 'agent', id: 'sales' } }));
    await h.store.enqueue(message('ann', 'desk'), h.clock.now());
    await h.store.enqueue(message('bo', 'sales'), h.clock.now() + 2 * MINUTE);
    await h.run(6 * MINUTE);
    expect(h.told).toHaveLength(0); // desk's user waits 6 min, but no one asked; sales's 4 min
    await h.run(MINUTE);
    expect(h.told).toEqual([
      {
        event: 'waiting',
        text: { en: 'Messages wait for their answer: the oldest arrived 5 min ago; 1 not answered yet. The agents are slow or failing, or the gateway is overloaded.', zh: expect.any(String) },
        panelPath: 'agents/sales',
        receiver: { kind: 'agent', id: 'sales' },
      },
    ]);
    await h.run(2 * MINUTE);
    expect(h.told).toHaveLength(1);
    // sales's user answered (desk's still waits): sales's chat hears it is over.
    const [item] = (await h.store.claimInbound({ now: h.clock.now(), leaseMs: 60_000, limit: 10, owner: 'w' })).filter((i) => i.targetId === 'sales');
    await h.store.completeInbound(item!.id, item!.leaseToken, { now: h.clock.now(), status: 'done', replies: [], history: { key: { agentId: 'sales', entryKey: item!.entryKey, conversationId: 'bo' }, turns: [] } });
    await h.run(CHECK_MS);
    expect(h.told.slice(1)).toEqual([
      { event: 'waiting', text: expect.objectContaining({ en: expect.stringMatching(/^Messages are answered in time again/) }), panelPath: 'agents/sales', receiver: { kind: 'agent', id: 'sales' }, resolved: true },
    ]);
  });
});

describe('HealthWatch: agents', () => {
  it('tells after agent_down_after_failures failed runs in a row, once, and when the agent answers again', async () => {
    const h = watch({ notify: { agent_down_after_failures: 3 } });
    h.w.agentOutcome('desk', failed('401 Incorrect API key provided'));
    await h.clock.advance(MINUTE);
    h.w.agentOutcome('desk', failed('401 Incorrect API key provided'));
    h.w.agentOutcome('backup', answered);
    h.w.agentOutcome('desk', failed('401 Incorrect API key provided'));
    await new Promise((r) => setTimeout(r, 10)); // the teller's lease is taken asynchronously
    await h.clock.advance(MINUTE);
    h.w.agentOutcome('desk', failed('401 Incorrect API key provided'));
    await new Promise((r) => setTimeout(r, 10));
    expect(h.told).toEqual([
      {
        event: 'agent_down',
        text: { en: "Agent desk failed 3 run(s) in a row (the first 1 min ago): 401 Incorrect API key provided. Its users get the fallback reply, or a failover agent's answer where one is set.", zh: expect.any(String) },
        agentId: 'desk',
        panelPath: 'agents/desk',
      },
    ]);
    await h.clock.advance(MINUTE);
    h.w.agentOutcome('desk', answered);
    expect(h.texts()[1]).toBe('Agent desk answers again, after 4 failed run(s) in 3 min.');
    h.w.agentOutcome('desk', answered);
    expect(h.told).toHaveLength(2);
  });

  it('lists failing agents for the dashboard, also when the team is not told', async () => {
    const h = watch({ notify: { events: ['handoff'] } });
    h.w.agentOutcome('desk', failed('timed out'));
    h.w.agentOutcome('desk', failed('timed out'));
    expect(h.w.failingAgents()).toEqual([]); // not yet 3 in a row
    await h.clock.advance(MINUTE);
    h.w.agentOutcome('desk', failed('HTTP 502'));
    expect(h.w.failingAgents()).toEqual([{ agentId: 'desk', failures: 3, since: h.clock.now() - MINUTE, reason: 'HTTP 502' }]);
    await new Promise((r) => setTimeout(r, 10));
    expect(h.told).toHaveLength(0);
    h.w.agentOutcome('desk', answered);
    expect(h.w.failingAgents()).toEqual([]);
    expect(h.told).toHaveLength(0);
  });

  it('does not count a message too long for the model, and a success in between starts the count again', async () => {
    const h = watch({ notify: { agent_down_after_failures: 2 } });
    h.w.agentOutcome('desk', failed('timed out'));
    h.w.agentOutcome('desk', failed("This model's maximum context length is 8192 tokens", 'COCO_ERR_AGENT_CONTEXT'));
    await new Promise((r) => setTimeout(r, 10));
    expect(h.told).toHaveLength(0);
    h.w.agentOutcome('desk', answered);
    h.w.agentOutcome('desk', failed('timed out'));
    await new Promise((r) => setTimeout(r, 10));
    expect(h.told).toHaveLength(0);
    h.w.agentOutcome('desk', failed('timed out'));
    await new Promise((r) => setTimeout(r, 10));
    expect(h.texts()).toEqual([expect.stringMatching(/^Agent desk failed 2 run\(s\) in a row .*: timed out\./)]);
  });
});
