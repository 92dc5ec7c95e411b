import { describe, expect, it } from 'vitest';
import { handoffHoursSchema } from '../../src/config/schema.js';
import { describeHours, outsideHours, withinHours } from '../../src/core/business-hours.js';

/** 2026-12-07 is a Monday. Times are given in Shanghai (UTC+8). */
const shanghai = (day: number, hh: number, mm = 0) => Date.UTC(2026, 11, day, hh - 8, mm);

describe('withinHours', () => {
  it('reads the day and time in the profile\'s time zone: Mon-Fri 09:00-18:00 by default, from inclusive, to exclusive', () => {
    const hours = handoffHoursSchema.parse({ timezone: 'Asia/Shanghai' });
    expect(withinHours(hours, shanghai(7, 9))).toBe(true);
    expect(withinHours(hours, shanghai(7, 8, 59))).toBe(false);
    expect(withinHours(hours, shanghai(7, 17, 59))).toBe(true);
    expect(withinHours(hours, shanghai(7, 18))).toBe(false);
    // Saturday morning in Shanghai is still Friday night in UTC: the zone decides.
    expect(withinHours(hours, shanghai(12, 10))).toBe(false);
    expect(withinHours(hours, shanghai(11, 10))).toBe(true);
    expect(describeHours(hours)).toBe('mon,tue,wed,thu,fri 09:00-18:00 Asia/Shanghai');
  });

  it('runs a window that ends before it starts past midnight, belonging to the day it starts on', () => {
    const nights = handoffHoursSchema.parse({ timezone: 'Asia/Shanghai', days: ['fri'], from: '22:00', to: '06:00' });
    expect(withinHours(nights, shanghai(11, 23))).toBe(true); // Friday 23:00
    expect(withinHours(nights, shanghai(12, 5, 59))).toBe(true); // Saturday 05:59, Friday's night
    expect(withinHours(nights, shanghai(12, 6))).toBe(false);
    expect(withinHours(nights, shanghai(12, 23))).toBe(false); // Saturday night: not a listed day
    expect(withinHours(nights, shanghai(11, 5))).toBe(false); // Friday 05:00 is Thursday's night
  });

  it('keeps holidays closed, opens weekend workdays (调休), and closes breaks, saying why', () => {
    // National Day week 2026 in China: Oct 1–7 off; Sunday Sep 27 and Saturday Oct 10 worked instead.
    const hours = handoffHoursSchema.parse({
      breaks: ['12:00-13:30'],
      closed_dates: ['2026-10-01..2026-10-07', '2027-01-01'],
      open_dates: ['2026-09-27', '2026-10-10', '2026-10-05'],
    });
    const at = (month: number, day: number, hh: number, mm = 0) => Date.UTC(2026, month - 1, day, hh - 8, mm);
    expect(outsideHours(hours, at(10, 1, 10))).toBe('2026-10-01 is a closed date'); // Thursday
    expect(outsideHours(hours, at(10, 7, 17, 59))).toBe('2026-10-07 is a closed date'); // the range's last day
    expect(outsideHours(hours, at(10, 5, 10))).toBe('2026-10-05 is a closed date'); // closed wins over open
    expect(outsideHours(hours, at(10, 8, 9))).toBeUndefined(); // back on Thursday
    expect(outsideHours(hours, at(9, 27, 10))).toBeUndefined(); // a Sunday worked
    expect(outsideHours(hours, at(10, 10, 17))).toBeUndefined(); // a Saturday worked
    expect(outsideHours(hours, at(10, 11, 10))).toBe('not a working day'); // an ordinary Sunday
    expect(outsideHours(hours, at(10, 10, 19))).toBe('outside the times of day'); // the worked Saturday's evening
    expect(outsideHours(hours, at(9, 30, 12, 30))).toBe('in the break 12:00-13:30');
    expect(outsideHours(hours, at(9, 30, 13, 30))).toBeUndefined();
    expect(outsideHours(hours, Date.UTC(2027, 0, 1, 2))).toBe('2027-01-01 is a closed date');
    expect(describeHours(hours)).toBe('mon,tue,wed,thu,fri 09:00-18:00 Asia/Shanghai, breaks 12:00-13:30, 2 closed date(s), 3 open date(s)');
  });

  it("reads an overnight window's date from the evening it starts on", () => {
    const nights = handoffHoursSchema.parse({ days: ['fri'], from: '22:00', to: '06:00', closed_dates: ['2026-12-11'], open_dates: ['2026-12-12'] });
    const shanghaiAt = (day: number, hh: number) => Date.UTC(2026, 11, day, hh - 8);
    expect(outsideHours(nights, shanghaiAt(11, 23))).toBe('2026-12-11 is a closed date'); // Friday night, closed
    expect(outsideHours(nights, shanghaiAt(12, 3))).toBe('2026-12-11 is a closed date'); // still Friday's night
    expect(outsideHours(nights, shanghaiAt(12, 23))).toBeUndefined(); // Saturday night, an open date
    expect(outsideHours(nights, shanghaiAt(13, 5))).toBeUndefined(); // Saturday's night goes on past midnight
    expect(outsideHours(nights, shanghaiAt(13, 7))).toBe('outside the times of day');
  });

  it('refuses a bad date, range or break, naming the field', () => {
    const issues = (v: unknown) => handoffHoursSchema.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ closed_dates: ['2026-02-30'] })).toEqual(['closed_dates.0: must be a date as YYYY-MM-DD, or a range YYYY-MM-DD..YYYY-MM-DD']);
    expect(issues({ open_dates: ['2026-10-01', '2026/10/02'] })).toEqual(['open_dates.1: must be a date as YYYY-MM-DD, or a range YYYY-MM-DD..YYYY-MM-DD']);
    expect(issues({ closed_dates: ['2026-10-07..2026-10-01'] })).toEqual(['closed_dates.0: a range must end on or after its first day']);
    expect(issues({ closed_dates: ['2026-01-01..2027-06-01'] })).toEqual(['closed_dates.0: a range may span at most 366 days']);
    expect(issues({ breaks: ['13:30-12:00'] })).toEqual(['breaks.0: must end after it starts (within one day)']);
    expect(issues({ breaks: ['12:00'] })).toEqual(['breaks.0: must be a span of the day as HH:MM-HH:MM, e.g. 12:00-13:30']);
  });

  it('refuses an unknown time zone, a bad time and an empty window, naming the field', () => {
    const issues = (v: unknown) => handoffHoursSchema.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ timezone: 'Mars/Olympus' })).toEqual(['timezone: must be an IANA time zone, e.g. Asia/Shanghai']);
    expect(issues({ from: '9:00' })).toEqual(['from: must be a time of day as HH:MM, e.g. 09:00']);
    expect(issues({ from: '10:00', to: '10:00' })).toEqual(['to: must differ from from']);
    expect(issues({ days: ['monday'] })?.[0]).toMatch(/^days\.0: /);
  });
});
