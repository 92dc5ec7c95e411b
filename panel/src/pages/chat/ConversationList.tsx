import { useTranslation } from 'react-i18next';
import { relativeTime } from '../messages/time';
import { useNow } from '../../components/live';
import type { Conversation } from './chat-api';
import { Banner } from '../../components/Banner';

/** The users who talked to this entry, newest activity first; each links to its conversation. */
export function ConversationList(props: { entryKey: string; current: string; data?: Conversation[]; error?: string; linkTo: (userId: string) => string }) {
  const { t } = useTranslation('chat');
  const { current, data, error, linkTo } = props;
  const now = useNow(30_000);
  const sorted = [...(data ?? [])].sort((a, b) => b.lastAt - a.lastAt);
  return (
    <nav className="chat-conversations" aria-label={t('conversations.title')}>
      <h2>{t('conversations.title')}</h2>
      {error && <Banner>{error}</Banner>}
      {!data && !error && <p className="chat-muted">{t('conversations.loading')}</p>}
      {data && sorted.length === 0 && <p className="chat-muted">{t('conversations.none')}</p>}
      <ul>
        {sorted.map((c) => (
          <li key={c.userId}>
            <a href={linkTo(c.userId)} aria-current={c.userId === current ? 'page' : undefined} className="chat-conversation">
              <span className="chat-conversation-user">{c.userId}</span>
              <span className="chat-conversation-time">{relativeTime(c.lastAt, now)}</span>
              <span className="chat-conversation-text">{c.lastText}</span>
              <span className="chat-conversation-count">{t('conversations.messages', { count: c.messages })}</span>
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
