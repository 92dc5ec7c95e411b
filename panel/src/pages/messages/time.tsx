import { i18n } from '../../i18n';

/** Local date and time with seconds, e.g. "2026-01-31 14:05:09". */
export function localTime(at: number): string {
  const d = new Date(at);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Local time of day with milliseconds, for timelines where steps are milliseconds apart. */
export function clockTime(at: number): string {
  const d = new Date(at);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** "just now", "3 min ago", "2 h ago", "5 d ago", in the panel's language. */
export function relativeTime(at: number, now: number): string {
  const s = Math.round((now - at) / 1000);
  if (s < 0) return i18n.t('time.inTheFuture');
  if (s < 45) return i18n.t('time.justNow');
  const m = Math.round(s / 60);
  if (m < 60) return i18n.t('time.minutesAgo', { n: m });
  const h = Math.round(m / 60);
  if (h < 36) return i18n.t('time.hoursAgo', { n: h });
  return i18n.t('time.daysAgo', { n: Math.round(h / 24) });
}

/** "+12 ms", "+1.4 s", "+3 min" since a start. */
export function elapsed(ms: number): string {
  if (ms < 1000) return `+${ms} ms`;
  if (ms < 60_000) return `+${(ms / 1000).toFixed(1)} s`;
  return `+${Math.round(ms / 60_000)} min`;
}


/** A <time> element showing the local time, with the relative time beside it. */
export function When({ at, now }: { at: number; now: number }) {
  return (
    <time dateTime={new Date(at).toISOString()} title={localTime(at)}>
      {localTime(at)} <span className="msg-muted">({relativeTime(at, now)})</span>
    </time>
  );
}
