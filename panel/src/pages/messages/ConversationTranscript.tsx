import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import { usePolled } from '../../components/live';
import { Banner } from '../../components/Banner';
import { errorText } from './messages-api';
import { statusLabel } from './StatusBadge';
import { localTime } from './time';
import type { TranscriptTurn } from './types';

/** How many of the conversation's last messages the transcript shows. */
const MESSAGES = 30;

/**
 * The conversation this message belongs to, as the user saw it: its last messages and what went out
 * for each (the agent's or an operator's), oldest first. Loaded when opened, and again when
 * `version` changes (a reply was sent from this page).
 */
export function ConversationTranscript({ entryKey, conversationId, currentId, version, linkTo }: {
  entryKey: string;
  conversationId: string;
  currentId: string;
  version: number;
  linkTo: (id: string) => string;
}) {
  const { t } = useTranslation('messages');
  const [open, setOpen] = useState(false);
  const path = `/entries/${encodeURIComponent(entryKey)}/conversations/${encodeURIComponent(conversationId)}/transcript?limit=${MESSAGES}`;
  const loaded = usePolled(open ? () => api<{ turns: TranscriptTurn[] }>('GET', path) : undefined, 0, [open, path, version]);
  return (
    <details className="msg-conversation" onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>{t('transcript.summary', { count: MESSAGES })}</summary>
      {loaded.error !== undefined && <Banner>{errorText(loaded.error)}</Banner>}
      {open && !loaded.data && loaded.error === undefined && <p className="msg-muted">{t('loading')}</p>}
      {loaded.data && (
        <ol className="msg-conversation-turns" aria-label={t('transcript.label')}>
          {loaded.data.turns.map((turn, i) => (
            <li
              key={i}
              className={`msg-turn msg-turn-${turn.role}${turn.role === 'user' && turn.messageId === currentId ? ' msg-turn-current' : ''}`}
              data-role={turn.role === 'user' ? 'user' : turn.by}
            >
              <span className="msg-turn-who">
                {turn.role === 'user' ? (
                  <a href={linkTo(turn.messageId)}>{turn.userId}</a>
                ) : turn.by === 'operator' ? (
                  t('transcript.operator')
                ) : (
                  t('transcript.agent')
                )}
              </span>
              <span className="msg-turn-text">{turn.role === 'bot' && turn.image ? [t('transcript.image'), turn.text].filter(Boolean).join(' ') : turn.text || <em>{t('empty')}</em>}</span>
              <span className="msg-muted msg-turn-time" title={localTime(turn.at)}>
                {localTime(turn.at).slice(11)}
                {turn.role === 'bot' && turn.status !== 'sent' ? ` · ${statusLabel(t, turn.status)}` : ''}
              </span>
            </li>
          ))}
        </ol>
      )}
    </details>
  );
}
