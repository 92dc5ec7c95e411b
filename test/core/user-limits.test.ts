import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { UserLimits } from '../../src/core/user-limits.js';
import { userLimitSchema } from '../../src/config/schema.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';

const limit = (l: Record<string, unknown>) => userLimitSchema.parse(l);
const verdicts = async (limits: UserLimits, key: string, l: ReturnType<typeof limit>, n: number) => {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = await limits.take(key, l);
    out.push(v.ok ? 'ok' : v.notify ? 'notice' : 'silent');
  }
  return out;
};

describe('user limits', () => {
  it('answers a burst up to per_minute, then one notice, then silence until the bucket refills', async () => {
    const clock = new ManualClock(0);
    const limits = new UserLimits(clock);
    const perMinute = limit({ per_minute: 3 });
    expect(await verdicts(limits, 'a:bot:e:u1', perMinute, 6)).toEqual(['ok', 'ok', 'ok', 'notice', 'silent', 'silent']);
    // Another user has their own bucket.
    expect(await verdicts(limits, 'a:bot:e:u2', perMinute, 1)).toEqual(['ok']);
    // 20 s refill one message (3 per minute); the next notice waits a minute after the last.
    await clock.advance(20_000);
    expect(await verdicts(limits, 'a:bot:e:u1', perMinute, 2)).toEqual(['ok', 'silent']);
    await clock.advance(40_000);
    expect(await verdicts(limits, 'a:bot:e:u1', perMinute, 4)).toEqual(['ok', 'ok', 'notice', 'silent']);
  });

  it('applies per_day on top of per_minute, and says which window was exceeded', async () => {
    const clock = new ManualClock(0);
    const limits = new UserLimits(clock);
    const both = limit({ per_minute: 2, per_day: 3 });
    expect(await verdicts(limits, 'k', both, 2)).toEqual(['ok', 'ok']);
    await clock.advance(60_000);
    expect(await limits.take('k', both)).toEqual({ ok: true });
    await clock.advance(60_000);
    expect(await limits.take('k', both)).toEqual({ ok: false, notify: true, why: 'over the user limit of 3 messages per day' });
    // A changed limit is a new bucket: it applies at once, starting full.
    expect(await verdicts(limits, 'k', limit({ per_minute: 1, per_day: 10 }), 2)).toEqual(['ok', 'silent']);
  });

  it("counts the tokens of each answer against tokens_per_day: the answer that crosses it is sent, the next is not", async () => {
    const clock = new ManualClock(0);
    const limits = new UserLimits(clock);
    const budget = limit({ tokens_per_day: 1_000 });
    expect(await limits.take('k', budget)).toEqual({ ok: true });
    await limits.spend('k', budget, 600);
    expect(await limits.take('k', budget)).toEqual({ ok: true });
    await limits.spend('k', budget, 600); // only 400 were left: the budget is used up, not overdrawn
    expect(await limits.take('k', budget)).toEqual({ ok: false, notify: true, why: 'over the user limit of 1000 tokens per day' });
    // A day's budget refills over the day: after 6 h, a quarter of it.
    await clock.advance(6 * 3_600_000);
    expect(await limits.take('k', budget)).toEqual({ ok: true });
    await limits.spend('k', budget, 250);
    expect(await limits.take('k', budget)).toMatchObject({ ok: false, why: 'over the user limit of 1000 tokens per day' });
    // Messages limits still apply alongside, each with its own bucket.
    const both = limit({ per_minute: 1, tokens_per_day: 1_000 });
    expect(await verdicts(limits, 'other', both, 2)).toEqual(['ok', 'notice']);
  });

  it('shares the token budget between processes on one store', async () => {
    const store = await openSqliteStore({ path: ':memory:' });
    try {
      const clock = new ManualClock(1_000);
      const one = new UserLimits(clock, store);
      const two = new UserLimits(clock, store);
      const budget = limit({ tokens_per_day: 500 });
      expect(await one.take('k', budget)).toEqual({ ok: true });
      await one.spend('k', budget, 500);
      expect(await two.take('k', budget)).toMatchObject({ ok: false, why: 'over the user limit of 500 tokens per day' });
    } finally {
      await store.close();
    }
  });

  it('needs a window, and keeps the default notice', () => {
    expect(userLimitSchema.safeParse({ notice: 'slow down' }).success).toBe(false);
    expect(limit({ per_day: 5 }).notice).toBe('I cannot answer more of your messages right now. Please try again later.');
  });

  it('holds for every process when they share the store: one bucket per user', async () => {
    const store = await openSqliteStore({ path: ':memory:' });
    try {
      const clock = new ManualClock(1_000);
      const one = new UserLimits(clock, store);
      const two = new UserLimits(clock, store);
      const perMinute = limit({ per_minute: 4 });
      const taken = [await verdicts(one, 'k', perMinute, 3), await verdicts(two, 'k', perMinute, 3)].flat();
      expect(taken).toEqual(['ok', 'ok', 'ok', 'ok', 'notice', 'silent']);
    } finally {
      await store.close();
    }
  });
});
