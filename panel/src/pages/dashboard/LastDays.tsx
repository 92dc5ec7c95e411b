import { useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';
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
  const { t } = useTranslation('dashboard');
  const timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const answer = usePolled(() => api<DaysAnswer>('GET', `/stats/days?days=${DAYS}&timezone=${encodeURIComponent(timezone)}`), REFRESH_MS, [timezone]);
  const data = answer.data;
  // The store keeps messages for the dedup retention: days before it show only what is left.
  const incomplete = data && data.retentionHours < DAYS * 24;
  return (
    <section className="card" aria-labelledby="days-title">
      <h2 id="days-title">{t('days.title', { count: DAYS })}</h2>
      {answer.error !== undefined && <Banner>{t('days.loadError', { error: errorText(answer.error) })}</Banner>}
      {data && (
        <div className="table-scroll">
          <table className="days-table">
            <caption className="muted small">
              {incomplete
                ? t('days.captionIncomplete', { timezone: data.timezone, hours: data.retentionHours })
                : t('days.caption', { timezone: data.timezone })}
            </caption>
            <thead>
              <tr>
                <th scope="col">{t('days.day')}</th>
                <th scope="col">{t('days.received')}</th>
                <th scope="col">{t('days.done')}</th>
                <th scope="col" title={t('days.fallbackTitle')}>
                  {t('days.fallback')}
                </th>
                <th scope="col" title={t('days.deadTitle')}>
                  {t('days.dead')}
                </th>
                <th scope="col">{t('days.waiting')}</th>
                <th scope="col" title={t('days.meanFinishTitle')}>
                  {t('days.meanFinish')}
                </th>
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
                  <td>{d.meanFinishMs === null ? '–' : seconds(t, d.meanFinishMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function seconds(t: TFunction<'dashboard'>, ms: number): string {
  if (ms < 100) return t('days.underTenth');
  return t('days.seconds', { n: ms < 10_000 ? (ms / 1000).toFixed(1) : Math.round(ms / 1000) });
}
