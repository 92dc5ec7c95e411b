/**
 * Messages per day, for a team looking back over its week: how many came, how many the agent
 * finished, gave the fallback reply to, or gave up on, and how long finishing took. Days are the
 * team's (an IANA time zone), counted in one pass over the store (`Store.countMessages`). The store
 * keeps messages for `limits.dedup_retention_hours` (7 days by default): older days are incomplete.
 */
import { dayAfter, dayBefore, localTime, startOfDay } from '../core/local-time.js';
import type { PeriodCount, Store } from '../store/store.js';

export const MAX_DAYS = 31;

export interface DayCounts {
  /** Messages received that day (duplicates of one already received are not counted again). */
  received: number;
  /** Finished: answered, or handled without the agent (a hand-over, a keyword reply, a refused sender…). */
  done: number;
  /** The agent failed; the fallback reply went out. */
  fallback: number;
  /** Given up on: dead letters. */
  dead: number;
  /** Not finished yet. */
  waiting: number;
  /** Mean time from arrival to finish of the done and fallback ones; null when none. */
  meanFinishMs: number | null;
}

export interface DayStats extends DayCounts {
  /** YYYY-MM-DD in the time zone asked for. */
  date: string;
  /** The day's first and past-last instants (epoch ms). */
  from: number;
  to: number;
  /** The same counts per entry key, for entries that had messages that day. */
  entries: Record<string, DayCounts>;
}

/** The last `days` dates in `timeZone` up to the one `now` falls on, oldest first, with their bounds (one more than dates). */
export function lastDays(timeZone: string, days: number, now: number): { dates: string[]; bounds: number[] } {
  const dates = [localTime(timeZone, now).date];
  while (dates.length < days) dates.unshift(dayBefore(dates[0]!));
  const bounds = [...dates, dayAfter(dates.at(-1)!)].map((date) => startOfDay(timeZone, date));
  return { dates, bounds };
}

export interface DaysAsked {
  timeZone: string;
  days: number;
  now: number;
  entryKey?: string;
}

/** How long the days before today are kept counted: only late finishes and pruning change them. */
const PAST_DAYS_TTL_MS = 10 * 60_000;
const MAX_CACHED = 32;

/**
 * The last `days` days in `timeZone`, optionally of one entry, for a panel that asks every minute:
 * the days before today are counted again every 10 minutes, today each time. A count reads every message of its days on the event loop (~1 s per
 * million, bench k), so a week of a busy store is not read again for each open dashboard.
 */
export class DailyCounts {
  private readonly past = new Map<string, { at: number; days: DayStats[] }>();

  constructor(private readonly store: Pick<Store, 'countMessages'>) {}

  async days(opts: DaysAsked): Promise<DayStats[]> {
    const { dates, bounds } = lastDays(opts.timeZone, opts.days, opts.now);
    const key = [opts.timeZone, opts.entryKey ?? '', dates[0], dates.length].join('\n');
    let past = this.past.get(key);
    if (dates.length > 1 && (!past || opts.now - past.at >= PAST_DAYS_TTL_MS)) {
      if (this.past.size >= MAX_CACHED) this.past.clear();
      past = { at: opts.now, days: await countDays(this.store, dates.slice(0, -1), bounds.slice(0, -1), opts.entryKey) };
      this.past.set(key, past);
    }
    const today = await countDays(this.store, dates.slice(-1), bounds.slice(-2), opts.entryKey);
    return [...(past?.days ?? []), ...today];
  }
}

async function countDays(store: Pick<Store, 'countMessages'>, dates: readonly string[], bounds: readonly number[], entryKey: string | undefined): Promise<DayStats[]> {
  const counts = (await store.countMessages(bounds)).filter((c) => entryKey === undefined || c.entryKey === entryKey);
  return dates.map((date, i) => {
    const ofDay = counts.filter((c) => c.period === i);
    const byEntry = new Map<string, PeriodCount[]>();
    for (const c of ofDay) byEntry.set(c.entryKey, [...(byEntry.get(c.entryKey) ?? []), c]);
    const entries = Object.fromEntries([...byEntry].sort(([a], [b]) => a.localeCompare(b)).map(([key, list]) => [key, summed(list)]));
    return { date, from: bounds[i]!, to: bounds[i + 1]!, ...summed(ofDay), entries };
  });
}

function summed(counts: readonly PeriodCount[]): DayCounts {
  const of = (...statuses: string[]) => counts.filter((c) => statuses.includes(c.status));
  const total = (list: readonly PeriodCount[], field: 'count' | 'finished' | 'finishedMs') => list.reduce((sum, c) => sum + c[field], 0);
  const answered = of('done', 'fallback');
  const finished = total(answered, 'finished');
  return {
    received: total(counts, 'count'),
    done: total(of('done'), 'count'),
    fallback: total(of('fallback'), 'count'),
    dead: total(of('dead'), 'count'),
    waiting: total(of('queued', 'leased'), 'count'),
    meanFinishMs: finished > 0 ? Math.round(total(answered, 'finishedMs') / finished) : null,
  };
}
