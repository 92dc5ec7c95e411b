import { describe, expect, it } from 'vitest';
import { handoffHoursSchema } from '../../src/config/schema.js';
import { describeHours, withinHours } from '../../src/core/business-hours.js';

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

  it('refuses an unknown time zone, a bad time and an empty window, naming the field', () => {
    const issues = (v: unknown) => handoffHoursSchema.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ timezone: 'Mars/Olympus' })).toEqual(['timezone: must be an IANA time zone, e.g. Asia/Shanghai']);
    expect(issues({ from: '9:00' })).toEqual(['from: must be a time of day as HH:MM, e.g. 09:00']);
    expect(issues({ from: '10:00', to: '10:00' })).toEqual(['to: must differ from from']);
    expect(issues({ days: ['monday'] })?.[0]).toMatch(/^days\.0: /);
  });
});
