import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
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
  const { t } = useTranslation('messages');
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
      setNotice(t('deadLetters.retried', { kind: t(`deadLetters.kinds.${d.kind}`), id: d.id }));
      await load();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <section className="msg-dead" aria-label={t('deadLetters.label')}>
      <form className="msg-filters" aria-label={t('deadLetters.filter')} onSubmit={(e) => e.preventDefault()}>
        <label className="msg-field">
          <span>{t('deadLetters.entry')}</span>
          <EntrySelect entries={entries} value={entry} onChange={(v) => onFilter({ entry: v, kind })} />
        </label>
        <label className="msg-field">
          <span>{t('deadLetters.kind')}</span>
          <select value={kind ?? ''} onChange={(e) => onFilter({ entry, kind: (e.target.value || undefined) as DeadLetterKind | undefined })}>
            <option value="">{t('deadLetters.bothKinds')}</option>
            <option value="inbound">{t('deadLetters.inboundOption')}</option>
            <option value="outbound">{t('deadLetters.outboundOption')}</option>
          </select>
        </label>
        <div className="msg-filter-actions">
          <button type="button" className="btn btn-secondary" onClick={() => void load()}>
            {t('refresh')}
          </button>
        </div>
      </form>
      {notice && (
        <Banner kind="ok">{notice}</Banner>
      )}
      {error && (
        <Banner>{error}</Banner>
      )}
      {!letters && !error && <p className="msg-muted">{t('loading')}</p>}
      {letters && letters.length === 0 && <p className="msg-muted">{t('deadLetters.none')}</p>}
      {letters && letters.length > 0 && (
        <ul className="msg-dead-list">
          {letters.map((d) => {
            const key = `${d.kind}/${d.id}`;
            const messageId = d.kind === 'inbound' ? d.id : d.replyTo;
            return (
              <li key={key} className="msg-dead-item" data-dead={key}>
                <div className="msg-dead-head">
                  <span className={`msg-badge msg-badge-${d.kind === 'inbound' ? 'dead' : 'outbound'}`}>{t(`deadLetters.kinds.${d.kind}`)}</span>
                  <strong>#{d.id}</strong>
                  <span>{d.entryKey}</span>
                  <span className="msg-muted">{t('deadLetters.user', { user: d.userId })}</span>
                  <span className="msg-muted" title={localTime(d.deadAt)}>
                    {t('deadLetters.deadAfter', { when: relativeTime(d.deadAt, now), count: d.attempts })}
                  </span>
                </div>
                <div className="msg-dead-text">{d.text}</div>
                <div className="msg-error-line">{d.error}</div>
                <div className="msg-dead-actions">
                  {canRetry && (
                    <button type="button" className="btn btn-primary" onClick={() => void retry(d)} disabled={busy === key} aria-label={t('deadLetters.retryLabel', { kind: t(`deadLetters.kinds.${d.kind}`), id: d.id })}>
                      {busy === key ? t('deadLetters.retrying') : t('deadLetters.retry')}
                    </button>
                  )}
                  {messageId && <a href={messageHref(messageId)}>{t('deadLetters.openMessage', { id: messageId })}</a>}
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
