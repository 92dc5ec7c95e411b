/**
 * Dates and times of day in an IANA time zone (a profile's, the panel's), from the runtime's Intl
 * data: working hours are read in the team's zone, and days are counted from its midnights.
 */

const formats = new Map<string, Intl.DateTimeFormat>();
const WEEKDAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** The local date (YYYY-MM-DD), weekday (0 = Sunday) and minute of the day at `at` in `timeZone`. */
export function localTime(timeZone: string, at: number): { date: string; day: number; minute: number } {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formats.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
  return { date: `${parts.year}-${parts.month}-${parts.day}`, day: WEEKDAY_NAMES.indexOf(String(parts.weekday)), minute: Number(parts.hour) * 60 + Number(parts.minute) };
}

/** The calendar day before `date` (YYYY-MM-DD). */
export function dayBefore(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
}

/** The calendar day after `date` (YYYY-MM-DD). */
export function dayAfter(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

/** The instant `date` (YYYY-MM-DD) begins in `timeZone`: its local midnight (or the first minute after, where a clock change skips it). */
export function startOfDay(timeZone: string, date: string): number {
  const wall = Date.parse(`${date}T00:00:00Z`);
  // The zone's offset at an instant: its local wall time read as UTC, minus the instant.
  const offset = (at: number) => {
    const local = localTime(timeZone, at);
    return Date.parse(`${local.date}T00:00:00Z`) + local.minute * 60_000 - at;
  };
  const first = wall - offset(wall);
  // Once more from the first guess: the offset may differ between the two instants (a clock change that day).
  return wall - offset(first);
}
