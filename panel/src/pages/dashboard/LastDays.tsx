import { api } from '../../api';
import { Banner } from '../../components/Banner';
import { count } from '../../components/format';
import { errorText, usePolled } from '../../components/live';
import type { DayStats } from '../../server-types';

const DAYS = 7;
/** Days change slowly: read again each minute. */
const REFRESH_MS = 60_000;

interface DaysAnswer {
  timezone: string;
  retentionHours: number;
  days: DayStats[];
}

/** Messages per day over the last week, in the browser's time zone: what a team looks back on. */
export function LastDays() {
  const timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const answer = usePolled(() => api<DaysAnswer>('GET', `/stats/days?days=${DAYS}&timezone=${encodeURIComponent(timezone)}`), REFRESH_MS, [timezone]);
  const data = answer.data;
  // The store keeps messages for the dedup retention: days before it show only what is left.
  const incomplete = data && data.retentionHours < DAYS * 24;
  return (
    <section className="card" aria-labelledby="days-title">
      <h2 id="days-title">Last {DAYS} days</h2>
      {answer.error !== undefined && <Banner>Cannot load the days: {errorText(answer.error)}</Banner>}
      {data && (
        <div className="table-scroll">
          <table className="days-table">
            <caption className="muted small">
              Days in {data.timezone}.{incomplete ? ` Messages are kept ${data.retentionHours} h: earlier days are incomplete.` : ''}
            </caption>
            <thead>
              <tr>
                <th scope="col">Day</th>
                <th scope="col">Received</th>
                <th scope="col">Done</th>
                <th scope="col" title="The agent failed; the fallback reply went out">Fallback</th>
                <th scope="col" title="Given up on: see the dead letters on the Messages page">Dead</th>
                <th scope="col">Waiting</th>
                <th scope="col" title="Mean time from arrival to the answer (done and fallback)">Mean finish</th>
              </tr>
            </thead>
            <tbody>
              {[...data.days].reverse().map((d) => (
                <tr key={d.date}>
                  <th scope="row">{d.date}</th>
                  <td>{count(d.received)}</td>
                  <td>{count(d.done)}</td>
                  <td className={d.fallback > 0 ? 'days-warn' : undefined}>{count(d.fallback)}</td>
                  <td className={d.dead > 0 ? 'days-warn' : undefined}>{count(d.dead)}</td>
                  <td>{count(d.waiting)}</td>
                  <td>{d.meanFinishMs === null ? '–' : seconds(d.meanFinishMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function seconds(ms: number): string {
  if (ms < 100) return '< 0.1 s';
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
