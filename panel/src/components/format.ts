import { i18n, locale } from '../i18n';

/** "just now", "3 min ago", "2 h ago", or a date for older times, in the panel's language. */
export function ago(at: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 10) return i18n.t('time.justNow');
  if (s < 60) return i18n.t('time.secondsAgo', { n: s });
  const m = Math.round(s / 60);
  if (m < 60) return i18n.t('time.minutesAgo', { n: m });
  const h = Math.round(m / 60);
  if (h < 48) return i18n.t('time.hoursAgo', { n: h });
  return new Date(at).toLocaleDateString(locale());
}

/** "in 4 s", for a restart that is due. */
export function inTime(at: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((at - now) / 1000));
  return s < 60 ? i18n.t('time.inSeconds', { n: s }) : i18n.t('time.inMinutes', { n: Math.round(s / 60) });
}

export function exact(at: number): string {
  return new Date(at).toLocaleString(locale());
}

export function count(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(n >= 100_000 ? 0 : 1)}k` : String(n);
}
