/**
 * When people are there to take a conversation (`handoff.hours`): a user who asks for a person at
 * night is told when people are there, and the agent keeps answering, instead of being handed to
 * an empty desk for an hour. Read on the profile's own time zone (IANA), not the gateway's.
 */
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
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** The weekday and minute of the day at `at` in `timeZone`. */
function localTime(timeZone: string, at: number): { day: number; minute: number } {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formats.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
  const day = WEEKDAYS.indexOf(String(parts.weekday).slice(0, 3).toLowerCase() as Weekday);
  return { day, minute: Number(parts.hour) * 60 + Number(parts.minute) };
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * Whether `at` falls in the hours: on one of `days`, from `from` up to (not including) `to`. A
 * window that ends before it starts (22:00–06:00) runs past midnight and belongs to the day it starts on.
 */
export function withinHours(hours: WorkingHours, at: number): boolean {
  const { day, minute } = localTime(hours.timezone, at);
  const from = minutesOf(hours.from);
  const to = minutesOf(hours.to);
  const open = (d: number) => hours.days.includes(WEEKDAYS[(d + 7) % 7]!);
  if (from < to) return open(day) && minute >= from && minute < to;
  return (minute >= from && open(day)) || (minute < to && open(day - 1));
}

/** "mon-fri 09:00-18:00 Asia/Shanghai", for the message log. */
export function describeHours(hours: WorkingHours): string {
  return `${hours.days.join(',')} ${hours.from}-${hours.to} ${hours.timezone}`;
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
