import { describe, expect, it } from 'vitest';
import { dayAfter, dayBefore, localTime, startOfDay } from '../../src/core/local-time.js';

describe('local time', () => {
  it("reads the date, weekday and minute in the zone, not the machine's", () => {
    // 2026-12-06 23:30 UTC is Monday 07:30 in Shanghai and Sunday 18:30 in New York.
    const at = Date.UTC(2026, 11, 6, 23, 30);
    expect(localTime('Asia/Shanghai', at)).toEqual({ date: '2026-12-07', day: 1, minute: 7 * 60 + 30 });
    expect(localTime('America/New_York', at)).toEqual({ date: '2026-12-06', day: 0, minute: 18 * 60 + 30 });
  });

  it('finds the instant a local day begins, across clock changes', () => {
    expect(startOfDay('Asia/Shanghai', '2026-12-07')).toBe(Date.UTC(2026, 11, 6, 16));
    expect(startOfDay('UTC', '2026-12-07')).toBe(Date.UTC(2026, 11, 7));
    // New York leaves summer time on 2026-11-01 at 02:00: that day starts at UTC-4 and lasts 25 hours.
    expect(startOfDay('America/New_York', '2026-11-01')).toBe(Date.UTC(2026, 10, 1, 4));
    expect(startOfDay('America/New_York', '2026-11-02')).toBe(Date.UTC(2026, 10, 2, 5));
    // It enters summer time on 2026-03-08: a day of 23 hours.
    expect(startOfDay('America/New_York', '2026-03-09') - startOfDay('America/New_York', '2026-03-08')).toBe(23 * 3_600_000);
  });

  it('steps calendar days across months and years', () => {
    expect([dayBefore('2026-03-01'), dayBefore('2027-01-01'), dayAfter('2028-02-28'), dayAfter('2026-12-31')]).toEqual(['2026-02-28', '2026-12-31', '2028-02-29', '2027-01-01']);
  });
});
