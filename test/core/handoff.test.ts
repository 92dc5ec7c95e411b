import { afterEach, describe, expect, it } from 'vitest';
import { activeHandoffs, forgetEndedHandoffs, handedOffUntil, handoffState, setHandoff } from '../../src/core/handoff.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';

describe('hand-overs', () => {
  let store: SqliteStore;
  afterEach(() => store.close());
  const now = Date.UTC(2026, 11, 7, 9);

  it('lists the conversations with a person now, across entries, the one given back soonest first', async () => {
    store = openSqliteStore({ path: ':memory:' });
    await setHandoff(store, 'a.relay', 'ann', now + 60_000, now);
    const asked = handoffState('b.feishu', 'oc_group:1', now + 30_000, 'user');
    await store.setChannelState(asked.entryKey, asked.name, asked.value, now);
    await store.setChannelState('a.relay', 'handoff:old', JSON.stringify({ until: now + 120_000 }), now); // written before `by` was kept
    await setHandoff(store, 'a.relay', 'bob', now - 1, now - 60_000); // ran out
    await setHandoff(store, 'a.relay', 'cy', now + 90_000, now);
    await setHandoff(store, 'a.relay', 'cy', 0, now); // given back
    await store.setChannelState('a.relay', 'cursor', '{"until":99999999999999}', now); // not a hand-over
    expect(await activeHandoffs(store, now)).toEqual([
      { entryKey: 'b.feishu', conversationId: 'oc_group:1', until: now + 30_000, by: 'user' },
      { entryKey: 'a.relay', conversationId: 'ann', until: now + 60_000, by: 'operator' },
      { entryKey: 'a.relay', conversationId: 'old', until: now + 120_000, by: 'operator' },
    ]);
    expect((await activeHandoffs(store, now + 30_000)).map((h) => h.conversationId)).toEqual(['ann', 'old']);
    expect(await handedOffUntil(store, 'b.feishu', 'oc_group:1', now)).toBe(now + 30_000);
    expect(await handedOffUntil(store, 'a.relay', 'cy', now)).toBeUndefined();
  });

  it('forgets the state of hand-overs that ended, and keeps those that go on', async () => {
    store = openSqliteStore({ path: ':memory:' });
    await setHandoff(store, 'a.relay', 'ann', now + 60_000, now);
    await setHandoff(store, 'a.relay', 'bob', now - 1, now - 60_000); // ran out
    await setHandoff(store, 'a.relay', 'cy', 0, now); // given back
    await store.setChannelState('a.relay', 'cursor', 'c1', now);
    expect(await forgetEndedHandoffs(store, now)).toBe(2);
    expect((await store.listChannelState('')).map((r) => r.name)).toEqual(['cursor', 'handoff:ann']);
    expect(await forgetEndedHandoffs(store, now + 60_000)).toBe(1);
    expect((await store.listChannelState('')).map((r) => r.name)).toEqual(['cursor']);
  });
});
