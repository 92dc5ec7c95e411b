/**
 * When people are there to take a conversation (`handoff.hours`): a user who asks for a person at
 * night is told when people are there, and the agent keeps answering, instead of being handed to
 * an empty desk for an hour. Read on the profile's own time zone (IANA), not the gateway's.
 */
import { dayBefore, localTime } from './local-time.js';

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Working hours as `handoff.hours` in a profile gives them (the schema fills in the defaults). */
export interface WorkingHours {
  timezone: string;
  days: readonly Weekday[];
  /** HH:MM */
  from: string;
  /** HH:MM */
  to: string;
  /** Times of day nobody is there within the hours (lunch), "HH:MM-HH:MM". */
  breaks?: readonly string[];
  /** Dates nobody is there whatever the day (holidays): "YYYY-MM-DD" or "YYYY-MM-DD..YYYY-MM-DD". */
  closed_dates?: readonly string[];
  /** Dates people are there though the day is not one of `days` (a weekend made a workday), same forms. */
  open_dates?: readonly string[];
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Whether `date` is one of the dates or ranges listed (ISO dates compare as strings). */
export function listsDate(list: readonly string[] | undefined, date: string): boolean {
  return (list ?? []).some((item) => {
    const [first, last = first] = item.split('..');
    return date >= first! && date <= last!;
  });
}

/**
 * Why `at` falls outside the hours, or undefined when people are there: on one of `days` (or an
 * `open_dates` date) that is not a `closed_dates` date, from `from` up to (not including) `to`, and
 * not in a break. A window that ends before it starts (22:00–06:00) runs past midnight and belongs to
 * the day it starts on, its date included.
 */
export function outsideHours(hours: WorkingHours, at: number): string | undefined {
  const { date, day, minute } = localTime(hours.timezone, at);
  const from = minutesOf(hours.from);
  const to = minutesOf(hours.to);
  // The date the current window started on: today, or yesterday in the small hours of an overnight window.
  const started = from < to || minute >= from ? { date, day } : minute < to ? { date: dayBefore(date), day: day - 1 } : undefined;
  if (!started) return 'outside the times of day';
  if (from < to && (minute < from || minute >= to)) return 'outside the times of day';
  if (listsDate(hours.closed_dates, started.date)) return `${started.date} is a closed date`;
  const open = hours.days.includes(WEEKDAYS[(started.day + 7) % 7]!) || listsDate(hours.open_dates, started.date);
  if (!open) return 'not a working day';
  const pause = hours.breaks?.find((b) => minute >= minutesOf(b.slice(0, 5)) && minute < minutesOf(b.slice(6, 11)));
  return pause ? `in the break ${pause}` : undefined;
}

/** Whether people are there at `at` (see outsideHours). */
export function withinHours(hours: WorkingHours, at: number): boolean {
  return outsideHours(hours, at) === undefined;
}

/** "mon,tue 09:00-18:00 Asia/Shanghai", and what else is set, for the message log. */
export function describeHours(hours: WorkingHours): string {
  const extra = [
    ...(hours.breaks?.length ? [`breaks ${hours.breaks.join(',')}`] : []),
    ...(hours.closed_dates?.length ? [`${hours.closed_dates.length} closed date(s)`] : []),
    ...(hours.open_dates?.length ? [`${hours.open_dates.length} open date(s)`] : []),
  ];
  return `${hours.days.join(',')} ${hours.from}-${hours.to} ${hours.timezone}${extra.length ? `, ${extra.join(', ')}` : ''}`;
}

/** Whether the runtime knows the IANA time zone. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
