import { useCallback, useEffect, useState } from 'react';
import { useCan } from '../../role';
import { EntrySelect } from './MessageFilters';
import { errorText, messagesApi } from './messages-api';
import { localTime, relativeTime } from './time';
import { useNow } from '../../components/live';
import type { DeadLetter, DeadLetterKind, EntryInfo } from './types';
import { Banner } from '../../components/Banner';

interface Props {
  entries?: EntryInfo[];
  entry: string;
  kind?: DeadLetterKind;
  onFilter: (f: { entry: string; kind?: DeadLetterKind }) => void;
  messageHref: (messageId: string) => string;
}

/**
 * Messages the gateway gave up on (inbound: the agent could not be run; outbound: a reply could
 * not be delivered), each with a Retry that puts it back in line.
 */
export function DeadLetters({ entries, entry, kind, onFilter, messageHref }: Props) {
  const [letters, setLetters] = useState<DeadLetter[]>();
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState<string>();
  const now = useNow(30_000);

  const load = useCallback(async () => {
    try {
      setLetters(await messagesApi.deadLetters(kind, entry || undefined));
      setError(undefined);
    } catch (err) {
      setError(errorText(err));
    }
  }, [kind, entry]);
  useEffect(() => {
    setLetters(undefined);
    void load();
  }, [load]);

  const canRetry = useCan('retry');
  const retry = async (d: DeadLetter) => {
    const key = `${d.kind}/${d.id}`;
    setBusy(key);
    setNotice(undefined);
    try {
      await messagesApi.retry(d.kind, d.id);
      setNotice(`Retried ${d.kind} #${d.id}: it is back in line.`);
      await load();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <section className="msg-dead" aria-label="Dead letters">
      <form className="msg-filters" aria-label="Filter dead letters" onSubmit={(e) => e.preventDefault()}>
        <label className="msg-field">
          <span>Entry</span>
          <EntrySelect entries={entries} value={entry} onChange={(v) => onFilter({ entry: v, kind })} />
        </label>
        <label className="msg-field">
          <span>Kind</span>
          <select value={kind ?? ''} onChange={(e) => onFilter({ entry, kind: (e.target.value || undefined) as DeadLetterKind | undefined })}>
            <option value="">inbound and outbound</option>
            <option value="inbound">inbound (not answered)</option>
            <option value="outbound">outbound (reply not delivered)</option>
          </select>
        </label>
        <div className="msg-filter-actions">
          <button type="button" className="btn btn-secondary" onClick={() => void load()}>
            Refresh
          </button>
        </div>
      </form>
      {notice && (
        <Banner kind="ok">{notice}</Banner>
      )}
      {error && (
        <Banner>{error}</Banner>
      )}
      {!letters && !error && <p className="msg-muted">Loading…</p>}
      {letters && letters.length === 0 && <p className="msg-muted">No dead letters. Nothing was given up on.</p>}
      {letters && letters.length > 0 && (
        <ul className="msg-dead-list">
          {letters.map((d) => {
            const key = `${d.kind}/${d.id}`;
            const messageId = d.kind === 'inbound' ? d.id : d.replyTo;
            return (
              <li key={key} className="msg-dead-item" data-dead={key}>
                <div className="msg-dead-head">
                  <span className={`msg-badge msg-badge-${d.kind === 'inbound' ? 'dead' : 'outbound'}`}>{d.kind}</span>
                  <strong>#{d.id}</strong>
                  <span>{d.entryKey}</span>
                  <span className="msg-muted">user {d.userId}</span>
                  <span className="msg-muted" title={localTime(d.deadAt)}>
                    dead {relativeTime(d.deadAt, now)} after {d.attempts} attempt{d.attempts === 1 ? '' : 's'}
                  </span>
                </div>
                <div className="msg-dead-text">{d.text}</div>
                <div className="msg-error-line">{d.error}</div>
                <div className="msg-dead-actions">
                  {canRetry && (
                    <button type="button" className="btn btn-primary" onClick={() => void retry(d)} disabled={busy === key} aria-label={`Retry ${d.kind} #${d.id}`}>
                      {busy === key ? 'Retrying…' : 'Retry'}
                    </button>
                  )}
                  {messageId && <a href={messageHref(messageId)}>Open message #{messageId}</a>}
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
