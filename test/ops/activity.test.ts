import { describe, expect, it } from 'vitest';
import { ACTIVITY_BUCKET_MS, ActivityLog } from '../../src/ops/activity.js';

const MIN = ACTIVITY_BUCKET_MS;
const t0 = 1_700_000_000_000 - (1_700_000_000_000 % MIN); // the start of a minute

describe('ActivityLog', () => {
  it('counts per entry and per minute, oldest bucket first, and sums all entries', () => {
    const log = new ActivityLog();
    log.record('a.web', 'in', t0);
    log.record('a.web', 'in', t0 + 59_999);
    log.record('a.web', 'out', t0 + MIN);
    log.record('b.mp', 'in', t0 + MIN + 1);
    const now = t0 + MIN + 30_000;
    const a = log.series(now, 'a.web');
    expect(a.start).toBe(t0 - 58 * MIN);
    expect(a.in.slice(-2)).toEqual([2, 0]);
    expect(a.out.slice(-2)).toEqual([0, 1]);
    expect(log.lastHour(now, 'a.web')).toEqual({ in: 2, out: 1 });
    expect(log.lastHour(now)).toEqual({ in: 3, out: 1 });
    expect(log.lastHour(now, 'nobody')).toEqual({ in: 0, out: 0 });
  });

  it('forgets minutes older than an hour, also when their ring slot is reused', () => {
    const log = new ActivityLog();
    log.record('a.web', 'in', t0);
    expect(log.lastHour(t0 + 59 * MIN, 'a.web').in).toBe(1);
    expect(log.lastHour(t0 + 60 * MIN, 'a.web').in).toBe(0);
    // Same slot (minute % 60), an hour later: starts from zero instead of adding to the old count.
    log.record('a.web', 'in', t0 + 60 * MIN);
    expect(log.series(t0 + 60 * MIN, 'a.web').in.at(-1)).toBe(1);
  });

  it('drops an entry that was removed', () => {
    const log = new ActivityLog();
    log.record('a.web', 'out', t0);
    log.forget('a.web');
    expect(log.lastHour(t0)).toEqual({ in: 0, out: 0 });
  });
});
