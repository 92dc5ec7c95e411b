import type { DayStats } from '../../ops/daily-counts.js';
import { refusal, unreachable } from '../admin-client.js';
import { connect, fail, type EntriesOptions } from './entries.js';

const COLUMNS = ['day', 'received', 'done', 'fallback', 'dead', 'waiting', 'mean finish'] as const;

/**
 * Prints the running gateway's messages per day (`GET /api/admin/stats/days`): the last `days` days
 * in `timeZone` (the machine's by default), oldest first, optionally of one entry.
 */
export async function statsCommand(opts: EntriesOptions & { days?: string; entryKey?: string; timeZone?: string }): Promise<number> {
  const client = connect(opts);
  if (typeof client === 'string') return fail(opts, client, 2);
  const query = new URLSearchParams({ timezone: opts.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone });
  if (opts.days !== undefined) query.set('days', opts.days);
  if (opts.entryKey !== undefined) query.set('entry', opts.entryKey);
  try {
    const answer = await client.call<{ timezone: string; retentionHours: number; days: DayStats[] }>('GET', `/stats/days?${query}`);
    if (answer.status !== 200) return fail(opts, refusal(answer), answer.status === 400 ? 2 : 1);
    const { days, timezone, retentionHours } = answer.body;
    const rows = days.map((d) => [d.date, d.received, d.done, d.fallback, d.dead, d.waiting].map(String).concat(meanFinish(d.meanFinishMs)));
    const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
    // The day left-aligned, the figures right-aligned under their headings.
    const line = (cells: readonly string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
    opts.print(line(COLUMNS));
    for (const row of rows) opts.print(line(row));
    opts.print(`(${opts.entryKey ?? 'all entries'}; days in ${timezone}; messages are kept ${retentionHours} h, so older days are incomplete)`);
    return 0;
  } catch (err) {
    return fail(opts, unreachable(client.base, err), 2);
  }
}

function meanFinish(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 100) return '< 0.1 s';
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
