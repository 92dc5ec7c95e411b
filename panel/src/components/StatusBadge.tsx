import { ago, exact, inTime } from './format';
import type { EntryState, EntryStatus } from './types';

const LABEL: Record<EntryState | 'disabled', string> = {
  running: 'running',
  starting: 'starting',
  standby: 'standby',
  error: 'error',
  stopped: 'stopped',
  disabled: 'disabled',
};

/** The state word with a coloured dot; the colour is never the only cue (the word is always there). */
export function StatusBadge({ state, enabled = true }: { state: EntryState; enabled?: boolean }) {
  const shown = !enabled && state === 'stopped' ? 'disabled' : state;
  return (
    <span className={`badge badge-${shown}`}>
      <span className="badge-dot" aria-hidden="true" />
      {LABEL[shown]}
    </span>
  );
}

/** State, since when, the reason of an error, and the reconnect count. */
export function EntryStatusLine({ status, now }: { status: EntryStatus; now: number }) {
  const reconnects = status.transport?.reconnects ?? status.restarts;
  const reason = status.state === 'error' ? status.lastError?.message : status.transport?.lastError?.message;
  return (
    <div className="status-line">
      <StatusBadge state={status.state} enabled={status.enabled} />
      <span className="muted" title={exact(status.since)}>
        since {ago(status.since, now)}
      </span>
      {reconnects > 0 && <span className="muted">{reconnects === 1 ? '1 reconnect' : `${reconnects} reconnects`}</span>}
      {status.transport && status.state === 'running' && status.transport.state !== 'connected' && status.transport.state !== 'listening' && (
        <span className="muted">link {status.transport.state}</span>
      )}
      {reason && (
        <p className={status.state === 'error' ? 'status-reason is-error' : 'status-reason'}>
          {reason}
          {status.state === 'error' && status.nextRestartAt !== undefined && status.nextRestartAt > now && <> — retrying {inTime(status.nextRestartAt, now)}</>}
        </p>
      )}
    </div>
  );
}
