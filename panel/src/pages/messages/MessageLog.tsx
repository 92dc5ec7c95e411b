import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { errorText, messagesApi, PAGE_SIZE, type LogFilter } from './messages-api';
import { StatusBadge } from './StatusBadge';
import { relativeTime, localTime } from './time';
import { useNow } from '../../components/live';
import type { MessageSummary } from './types';
import { Banner } from '../../components/Banner';

/**
 * The inbound messages matching the filter, newest first, a page at a time ("Load more" asks for
 * the ones before the last id shown). A table on wide screens, cards on phones (CSS only).
 */
export function MessageLog({ filter, version, selected, linkTo }: { filter: LogFilter; version: number; selected: string; linkTo: (id: string) => string }) {
  const { t } = useTranslation('messages');
  const [messages, setMessages] = useState<MessageSummary[]>();
  // Where the next page starts (null: nothing older), and whether the last read ended its search window short of a page.
  const [next, setNext] = useState<{ before: string | null; windowEnded: boolean }>({ before: null, windowEnded: false });
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string>();
  const now = useNow(30_000);
  const key = `${filter.entry ?? ''}\n${filter.userId ?? ''}\n${filter.status ?? ''}\n${filter.text ?? ''}\n${version}`;

  const load = useCallback(
    async (before?: string) => {
      setLoading(true);
      try {
        const page = await messagesApi.list(filter, before);
        setMessages((prev) => (before ? [...(prev ?? []), ...page.messages] : page.messages));
        setNext({ before: page.next, windowEnded: page.next !== null && page.messages.length < PAGE_SIZE });
        setError(undefined);
      } catch (err) {
        setError(errorText(err));
      } finally {
        setLoading(false);
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [key],
  );

  useEffect(() => {
    setMessages(undefined);
    void load();
  }, [load]);

  return (
    <section className="msg-log" aria-label={t('log.label')}>
      <div className="msg-log-head">
        <h2>{t('log.title')}</h2>
        <button type="button" className="btn btn-secondary" onClick={() => void load()} disabled={loading}>
          {t('refresh')}
        </button>
      </div>
      {error && (
        <Banner>{error}</Banner>
      )}
      {!messages && !error && <p className="msg-muted">{t('loading')}</p>}
      {messages && messages.length === 0 && !next.windowEnded && <p className="msg-muted">{t('log.none')}</p>}
      {messages && messages.length > 0 && (
        <table className="msg-table">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">{t('log.columns.received')}</th>
              <th scope="col">{t('log.columns.entry')}</th>
              <th scope="col">{t('log.columns.user')}</th>
              <th scope="col">{t('log.columns.message')}</th>
              <th scope="col">{t('log.columns.status')}</th>
              <th scope="col">{t('log.columns.attempts')}</th>
            </tr>
          </thead>
          <tbody>
            {messages.map((m) => (
              <tr key={m.id} className={m.id === selected ? 'msg-row msg-row-selected' : 'msg-row'} data-message-id={m.id}>
                <td data-label="#">{m.id}</td>
                <td data-label={t('log.columns.received')}>
                  <time dateTime={new Date(m.createdAt).toISOString()} title={localTime(m.createdAt)}>
                    {relativeTime(m.createdAt, now)}
                  </time>
                </td>
                <td data-label={t('log.columns.entry')}>{m.entryKey}</td>
                <td data-label={t('log.columns.user')}>{m.userId}</td>
                <td data-label={t('log.columns.message')} className="msg-content">
                  <a href={linkTo(m.id)} aria-current={m.id === selected ? 'true' : undefined} aria-label={t('log.rowLabel', { id: m.id, text: m.content.slice(0, 80) })}>
                    {m.content || <em>{t('empty')}</em>}
                  </a>
                  {m.lastError && <span className="msg-error-line">{m.lastError}</span>}
                </td>
                <td data-label={t('log.columns.status')}>
                  <StatusBadge status={m.status} />
                </td>
                <td data-label={t('log.columns.attempts')}>{m.attempts}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {/* A search reads a window of messages per request: older ones are searched on request. */}
      {next.windowEnded && <p className="msg-muted">{t(messages?.length ? 'log.searched' : 'log.searchedNone', { id: next.before })}</p>}
      {next.before !== null && (
        <button type="button" className="btn btn-secondary msg-more" onClick={() => void load(next.before ?? undefined)} disabled={loading}>
          {loading ? t('loading') : next.windowEnded ? t('log.searchOlder') : t('log.loadMore')}
        </button>
      )}
    </section>
  );
}
