import { useTranslation } from 'react-i18next';
import { ago, exact, inTime } from './format';
import type { EntryState, EntryStatus } from './types';

/** The state word with a coloured dot; the colour is never the only cue (the word is always there). */
export function StatusBadge({ state, enabled = true }: { state: EntryState; enabled?: boolean }) {
  const { t } = useTranslation();
  const shown = !enabled && state === 'stopped' ? 'disabled' : state;
  return (
    <span className={`badge badge-${shown}`}>
      <span className="badge-dot" aria-hidden="true" />
      {t(`state.${shown}`)}
    </span>
  );
}

/** State, since when, the reason of an error, and the reconnect count. */
export function EntryStatusLine({ status, now }: { status: EntryStatus; now: number }) {
  const { t } = useTranslation();
  const reconnects = status.transport?.reconnects ?? status.restarts;
  const reason = status.state === 'error' ? status.lastError?.message : status.transport?.lastError?.message;
  return (
    <div className="status-line">
      <StatusBadge state={status.state} enabled={status.enabled} />
      <span className="muted" title={exact(status.since)}>
        {t('status.since', { when: ago(status.since, now) })}
      </span>
      {reconnects > 0 && <span className="muted">{t('status.reconnects', { count: reconnects })}</span>}
      {status.transport && status.state === 'running' && status.transport.state !== 'connected' && status.transport.state !== 'listening' && (
        <span className="muted">{t('status.link', { state: t(`link.${status.transport.state}`) })}</span>
      )}
      {reason && (
        <p className={status.state === 'error' ? 'status-reason is-error' : 'status-reason'}>
          {reason}
          {status.state === 'error' && status.nextRestartAt !== undefined && status.nextRestartAt > now && <> — {t('status.retrying', { when: inTime(status.nextRestartAt, now) })}</>}
        </p>
      )}
    </div>
  );
}
