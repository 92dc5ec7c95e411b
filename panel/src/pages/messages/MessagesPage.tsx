import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { href, navigate, useRoute } from '../../router';
import { DeadLetters } from './DeadLetters';
import { Handoffs } from './Handoffs';
import { PairingRequests } from './PairingRequests';
import { MessageDetailPanel } from './MessageDetailPanel';
import { MessageFilters } from './MessageFilters';
import { MessageLog } from './MessageLog';
import { messagesApi } from './messages-api';
import { INBOUND_STATUSES, type DeadLetterKind, type EntryInfo, type InboundStatus } from './types';
import './messages.css';

/**
 * `#/messages?entry=&user=&status=&text=&id=` (the log, one message's timeline) and
 * `#/messages?view=dead&entry=&kind=` (dead letters with retry). Everything the page shows is in
 * the hash, so a filtered view or an opened message can be reloaded and shared.
 */
export function MessagesPage() {
  const { t } = useTranslation('messages');
  const { query } = useRoute();
  const view = query.get('view') === 'dead' ? 'dead' : 'log';
  const entry = query.get('entry') ?? '';
  const userId = query.get('user') ?? '';
  const text = query.get('text') ?? '';
  const rawStatus = query.get('status') ?? '';
  const status = INBOUND_STATUSES.includes(rawStatus as InboundStatus) ? (rawStatus as InboundStatus) : undefined;
  const kindParam = query.get('kind');
  const kind: DeadLetterKind | undefined = kindParam === 'inbound' || kindParam === 'outbound' ? kindParam : undefined;
  const id = query.get('id') ?? '';
  const entries = useEntries();
  // Bumped when messages vanish from the store (a user forgotten): the log is read again.
  const [logVersion, setLogVersion] = useState(0);

  const logQuery = { entry, user: userId, status, text, id };

  return (
    <div className="msg-page">
      <h1 className="msg-title">{t('page.title')}</h1>
      <nav className="msg-tabs" aria-label={t('page.views')}>
        <a href={href(['messages'], { entry })} aria-current={view === 'log' ? 'page' : undefined}>
          {t('page.log')}
        </a>
        <a href={href(['messages'], { view: 'dead', entry })} aria-current={view === 'dead' ? 'page' : undefined}>
          {t('page.dead')}
        </a>
      </nav>
      {view === 'log' ? (
        <>
          <MessageFilters
            entries={entries}
            entry={entry}
            userId={userId}
            status={status ?? ''}
            text={text}
            onApply={(f) => navigate(['messages'], { entry: f.entry, user: f.userId, status: f.status, text: f.text })}
          />
          <Handoffs linkTo={(mid) => href(['messages'], { ...logQuery, id: mid })} />
          <PairingRequests linkTo={(mid) => href(['messages'], { ...logQuery, id: mid })} />
          <div className={id ? 'msg-split msg-split-open' : 'msg-split'}>
            <MessageLog
              filter={{ entry: entry || undefined, userId: userId || undefined, status, text: text || undefined }}
              version={logVersion}
              selected={id}
              linkTo={(mid) => href(['messages'], { ...logQuery, id: mid })}
            />
            {id && (
              <MessageDetailPanel
                key={id}
                id={id}
                closeHref={href(['messages'], { ...logQuery, id: undefined })}
                linkTo={(mid) => href(['messages'], { ...logQuery, id: mid })}
                onForgotten={() => {
                  setLogVersion((v) => v + 1);
                  navigate(['messages'], { ...logQuery, id: undefined });
                }}
              />
            )}
          </div>
        </>
      ) : (
        <DeadLetters
          entries={entries}
          entry={entry}
          kind={kind}
          onFilter={(f) => navigate(['messages'], { view: 'dead', entry: f.entry, kind: f.kind })}
          messageHref={(mid) => href(['messages'], { entry, id: mid })}
        />
      )}
    </div>
  );
}

/** All entries, for the filter selects (any channel, not only web_api). */
function useEntries(): EntryInfo[] | undefined {
  const [entries, setEntries] = useState<EntryInfo[]>();
  useEffect(() => {
    let live = true;
    messagesApi.entries().then(
      (e) => live && setEntries(e),
      () => live && setEntries([]),
    );
    return () => {
      live = false;
    };
  }, []);
  return entries;
}
