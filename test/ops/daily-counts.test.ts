import { describe, expect, it } from 'vitest';
import { DailyCounts, lastDays } from '../../src/ops/daily-counts.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { NewInbound } from '../../src/store/store.js';

const inbound = (dedup: string, entryKey = 'desk.web_api'): NewInbound => ({
  entryKey, channelType: 'web_api', targetKind: 'agent', targetId: 'desk', dedupKey: dedup, conversationKey: `${entryKey}/${dedup}`,
  message: { channelType: 'web_api', sceneId: 'desk', userId: dedup, conversationId: dedup, content: 'hi', msgType: 'text', msgId: dedup, timestamp: 0, isGroup: false, mentionsBot: true },
});

describe('daily counts', () => {
  it("lists the last days of a zone up to today's, with the midnights between them", () => {
    const now = Date.UTC(2026, 11, 6, 23, 30); // Monday 07:30 in Shanghai
    expect(lastDays('Asia/Shanghai', 3, now)).toEqual({
      dates: ['2026-12-05', '2026-12-06', '2026-12-07'],
      bounds: [Date.UTC(2026, 11, 4, 16), Date.UTC(2026, 11, 5, 16), Date.UTC(2026, 11, 6, 16), Date.UTC(2026, 11, 7, 16)],
    });
    expect(lastDays('UTC', 1, now)).toEqual({ dates: ['2026-12-06'], bounds: [Date.UTC(2026, 11, 6), Date.UTC(2026, 11, 7)] });
  });

  it('counts each day by status and entry, with the mean time to finish of answered ones', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const day = (d: number, h: number) => Date.UTC(2026, 11, d, h - 8); // Shanghai wall time
    const finish = async (dedup: string, at: number, tookMs: number, status: 'done' | 'fallback', entry?: string) => {
      const { id } = await store.enqueue(inbound(dedup, entry), at);
      const [item] = await store.claimInbound({ now: at, leaseMs: 60_000, limit: 1, owner: 'w' });
      expect(item?.id).toBe(id);
      const key = { agentId: 'desk', entryKey: item!.entryKey, conversationId: dedup };
      await store.completeInbound(id, item!.leaseToken, { now: at + tookMs, status, replies: [], history: { key, turns: [] } });
    };
    await finish('a', day(5, 9), 2_000, 'done');
    await finish('b', day(5, 23), 4_000, 'fallback', 'desk.feishu');
    await finish('c', day(7, 0), 6_000, 'done'); // just past Shanghai's midnight: the 7th
    await store.enqueue(inbound('d'), day(7, 7));
    const days = await new DailyCounts(store).days({ timeZone: 'Asia/Shanghai', days: 3, now: day(7, 8) });
    expect(days.map(({ date, received, done, fallback, dead, waiting, meanFinishMs }) => ({ date, received, done, fallback, dead, waiting, meanFinishMs }))).toEqual([
      { date: '2026-12-05', received: 2, done: 1, fallback: 1, dead: 0, waiting: 0, meanFinishMs: 3_000 },
      { date: '2026-12-06', received: 0, done: 0, fallback: 0, dead: 0, waiting: 0, meanFinishMs: null },
      { date: '2026-12-07', received: 2, done: 1, fallback: 0, dead: 0, waiting: 1, meanFinishMs: 6_000 },
    ]);
    expect(Object.keys(days[0]!.entries)).toEqual(['desk.feishu', 'desk.web_api']);
    expect(days[0]!.entries['desk.feishu']).toMatchObject({ received: 1, fallback: 1, meanFinishMs: 4_000 });
    // One entry only.
    const feishu = await new DailyCounts(store).days({ timeZone: 'Asia/Shanghai', days: 3, now: day(7, 8), entryKey: 'desk.feishu' });
    expect(feishu.map((d) => d.received)).toEqual([1, 0, 0]);
    // In UTC, c and d (16:00 and 23:00 UTC on the 6th) fall on the 6th, and the 7th has just begun.
    const utc = await new DailyCounts(store).days({ timeZone: 'UTC', days: 3, now: day(7, 8) });
    expect(utc.map((d) => [d.date, d.received])).toEqual([['2026-12-05', 2], ['2026-12-06', 2], ['2026-12-07', 0]]);
    await store.close();
  });

  it('counts today every time and the days before it again only every 10 minutes', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const counts = new DailyCounts(store);
    const now = Date.UTC(2026, 11, 7, 12);
    const asked = { timeZone: 'UTC', days: 3, now };
    await store.enqueue(inbound('a'), Date.UTC(2026, 11, 6, 9));
    expect((await counts.days(asked)).map((d) => d.received)).toEqual([0, 1, 0]);
    await store.enqueue(inbound('b'), Date.UTC(2026, 11, 6, 10)); // a late arrival on a past day (another process's clock)
    await store.enqueue(inbound('c'), Date.UTC(2026, 11, 7, 11));
    expect((await counts.days({ ...asked, now: now + 60_000 })).map((d) => d.received)).toEqual([0, 1, 1]);
    expect((await counts.days({ ...asked, now: now + 10 * 60_000 })).map((d) => d.received)).toEqual([0, 2, 1]);
    // Another zone or entry is counted on its own: the same days as a fresh count gives.
    expect(await counts.days({ ...asked, timeZone: 'Asia/Shanghai', now: now + 11 * 60_000 })).toEqual(await new DailyCounts(store).days({ ...asked, timeZone: 'Asia/Shanghai', now: now + 11 * 60_000 }));
    await store.close();
  });
});
