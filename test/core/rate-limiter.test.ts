import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { localRateLimiter, RATE_LEASE_MS, SharedRateLimiter, type RateDecision, type RateLimit } from '../../src/core/rate-limiter.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import type { RateBucket } from '../../src/store/store.js';

/** The store, counting the round trips the limiters make to it. */
function countingStore(store: SqliteStore) {
  const counted = {
    trips: 0,
    takeRateTokens(key: string, want: number, bucket: RateBucket) {
      counted.trips++;
      return store.takeRateTokens(key, want, bucket);
    },
  };
  return counted;
}

const okCount = (decisions: RateDecision[]) => decisions.filter((d) => d.ok).length;

describe('SharedRateLimiter', () => {
  let store: SqliteStore;
  afterEach(async () => {
    await store.close();
  });

  /** Two limiters on one bucket: two gateway processes sharing the store. */
  function twoProcesses(limit: RateLimit) {
    store = openSqliteStore({ path: ':memory:' });
    const counted = countingStore(store);
    const clock = new ManualClock();
    const a = new SharedRateLimiter(counted, 'bot.web_api:requests', limit, clock);
    const b = new SharedRateLimiter(counted, 'bot.web_api:requests', limit, clock);
    return { a, b, clock, counted };
  }

  it('lets both processes together take the burst once, then answers with the time until the next token', async () => {
    const { a, b, clock } = twoProcesses({ capacity: 6, perSecond: 1 });
    const decisions: RateDecision[] = [];
    for (let i = 0; i < 10; i++) decisions.push(await (i % 2 === 0 ? a : b).take());
    expect(okCount(decisions)).toBe(6);
    expect(decisions.slice(6)).toEqual(Array(4).fill({ ok: false, retryAfterMs: 1_000 }));
    await clock.advance(1_000);
    expect(await b.take()).toEqual({ ok: true });
    expect(await a.take()).toMatchObject({ ok: false });
    // Local limiters, as each process had before: twice the burst.
    const local = [localRateLimiter({ capacity: 6, perSecond: 1 }, clock), localRateLimiter({ capacity: 6, perSecond: 1 }, clock)];
    const alone: RateDecision[] = [];
    for (let i = 0; i < 20; i++) alone.push(await local[i % 2]!.take());
    expect(okCount(alone)).toBe(12);
  });

  it('takes tokens from the store in blocks of about 100 ms of the rate, and lets unused ones lapse', async () => {
    // 600 a second: blocks of 60 (an eighth of the burst of 6 000 would be 750).
    const { a, clock, counted } = twoProcesses({ capacity: 6_000, perSecond: 600 });
    const decisions: RateDecision[] = [];
    for (let i = 0; i < 600; i++) decisions.push(await a.take());
    expect(okCount(decisions)).toBe(600);
    expect(counted.trips).toBe(10);
    await a.take(); // a new block: 59 left here
    await clock.advance(RATE_LEASE_MS);
    await a.take(); // those 59 lapsed: another trip
    expect(counted.trips).toBe(12);
    expect(await store.takeRateTokens('bot.web_api:requests', 10_000, { capacity: 6_000, perSecond: 600, now: clock.now() })).toMatchObject({
      taken: 6_000 - 720 + 600, // what the two blocks after the first 600 left, refilled for one second
    });
  });

  it('answers a store failure as a retryable 503, not as a refusal or an unexplained error', async () => {
    const { a } = twoProcesses({ capacity: 6, perSecond: 1 });
    await store.close();
    await expect(Promise.resolve(a.take())).rejects.toMatchObject({ code: 'COCO_ERR_STORE', statusCode: 503, retryAfterMs: 1_000 });
    store = openSqliteStore({ path: ':memory:' }); // for afterEach
  });

  it('gives concurrent callers in two processes exactly what the bucket holds, and refuses the rest only when it is empty', async () => {
    const { a, b } = twoProcesses({ capacity: 5, perSecond: 0.01 });
    const decisions = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 4 === 0 ? b : a).take()));
    expect(okCount(decisions)).toBe(5);
    expect(decisions.filter((d) => !d.ok)).toEqual(Array(15).fill({ ok: false, retryAfterMs: 100_000 }));
  });
});
