import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { Trans, useTranslation } from 'react-i18next';
import { subscribe } from '../../api';
import type { EntryInfo } from '../messages/types';
import { href, navigate, parseHash, useRoute } from '../../router';
import { usePolled, useNow } from '../../components/live';
import type { Attachment } from './attachments';
import { chatApi, errorText } from './chat-api';
import { chatReducer, emptyChat, type PartialEvent, type ReplyEvent } from './chat-state';
import { Composer } from './Composer';
import { ConversationList } from './ConversationList';
import { Transcript } from './Transcript';
import './chat.css';
import { Banner } from '../../components/Banner';
import { useCan } from '../../role';

const DEFAULT_USER = 'panel-user';

/**
 * `#/chat?entry=<entryKey>&user=<userId>`: talk to an agent through one of its web_api entries,
 * as the given user id, with replies streamed in over SSE (shown while the agent writes them, when it streams).
 */
export function ChatPage() {
  const { t } = useTranslation(['chat', 'common']);
  const { query } = useRoute();
  const entries = usePolled(chatApi.entries, 0, []);
  const entryKey = query.get('entry') ?? '';
  const userId = query.get('user') || DEFAULT_USER;
  const go = (entry: string, user: string) => navigate(['chat'], { entry, user: user === DEFAULT_USER ? undefined : user });

  // No entry chosen yet: take the first web_api entry, so the page is usable at once. Replacing
  // the history entry keeps the Back button working (a push would bring the user right back here).
  const first = entries.data?.[0]?.key;
  useEffect(() => {
    // Only while the address is still the chat's: leaving the page must not bring the user back.
    const onChat = parseHash(window.location.hash).parts[0] === 'chat';
    if (!entryKey && first && onChat) window.location.replace(href(['chat'], { entry: first, user: userId === DEFAULT_USER ? undefined : userId }));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [entryKey, first]);

  const entry = entries.data?.find((e) => e.key === entryKey);
  const entryDown = (e: EntryInfo) => {
    const state = t(`common:state.${e.enabled ? e.state : 'disabled'}`);
    return e.lastError ? t('entryDownError', { key: e.key, state, error: e.lastError.message }) : t('entryDown', { key: e.key, state });
  };
  const conversations = usePolled(entryKey ? () => chatApi.conversations(entryKey) : undefined, 0, [entryKey]);

  return (
    <div className="chat-page">
      <h1 className="chat-title">{t('title')}</h1>
      <ChatToolbar entries={entries.data} entryKey={entryKey} userId={userId} onChange={go} />
      {entries.error !== undefined && <Banner>{errorText(entries.error)}</Banner>}
      {entries.data && entries.data.length === 0 && (
        <p className="chat-empty">{t('noEntries')}</p>
      )}
      {entryKey && entries.data && !entry && <Banner>{t('unknownEntry', { key: entryKey })}</Banner>}
      {entry && entry.state !== 'running' && <Banner kind="info">{entryDown(entry)}</Banner>}
      {entryKey && (
        <div className="chat-layout">
          <ConversationList entryKey={entryKey} current={userId} data={conversations.data} error={conversations.error === undefined ? undefined : errorText(conversations.error)} linkTo={(user) => href(['chat'], { entry: entryKey, user })} />
          <ChatWindow key={`${entryKey}\n${userId}`} entryKey={entryKey} userId={userId} onActivity={conversations.reload} />
        </div>
      )}
    </div>
  );
}

function ChatToolbar(props: { entries?: EntryInfo[]; entryKey: string; userId: string; onChange: (entry: string, user: string) => void }) {
  const { t } = useTranslation(['chat', 'common']);
  const { entries, entryKey, userId, onChange } = props;
  const [draft, setDraft] = useState(userId);
  useEffect(() => setDraft(userId), [userId]);
  const commitUser = () => {
    const user = draft.trim() || DEFAULT_USER;
    if (user !== userId) onChange(entryKey, user);
  };
  return (
    <form
      className="chat-toolbar"
      onSubmit={(e) => {
        e.preventDefault();
        commitUser();
      }}
    >
      <label className="chat-field">
        <span>{t('toolbar.entry')}</span>
        <select value={entryKey} onChange={(e) => onChange(e.target.value, userId)}>
          {!entryKey && <option value="">{t('toolbar.chooseEntry')}</option>}
          {entries?.map((e) => (
            <option key={e.key} value={e.key}>
              {e.state === 'running'
                ? t('toolbar.option', { key: e.key, kind: t(`target.${e.target.kind}`), id: e.target.id })
                : t('toolbar.optionState', { key: e.key, kind: t(`target.${e.target.kind}`), id: e.target.id, state: t(`common:state.${e.state}`) })}
            </option>
          ))}
          {entries && entryKey && !entries.some((e) => e.key === entryKey) && <option value={entryKey}>{entryKey}</option>}
        </select>
      </label>
      <label className="chat-field">
        <span>{t('toolbar.userId')}</span>
        <input value={draft} maxLength={128} onChange={(e) => setDraft(e.target.value)} onBlur={commitUser} autoComplete="off" spellCheck={false} />
      </label>
      <button type="button" className="btn btn-secondary" onClick={() => onChange(entryKey, `panel-${Math.random().toString(36).slice(2, 8)}`)}>
        {t('toolbar.newConversation')}
      </button>
    </form>
  );
}

/** One conversation (entry + user id): transcript, live replies and the message box. */
function ChatWindow({ entryKey, userId, onActivity }: { entryKey: string; userId: string; onActivity: () => void }) {
  const { t } = useTranslation('chat');
  const canChat = useCan('chat');
  const [state, dispatch] = useReducer(chatReducer, emptyChat);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string>();
  const [stream, setStream] = useState<'connecting' | 'live' | 'down'>('connecting');
  // EventSource gives up for good on an HTTP error (entry stopped); "Reconnect" opens a new one.
  const [attempt, setAttempt] = useState(0);
  const lastSeq = useRef(0);
  lastSeq.current = state.lastSeq;
  const now = useNow(30_000);

  // History first, then the live stream: replies already in the transcript are dropped by messageId.
  useEffect(() => {
    let closed = false;
    let unsubscribe = () => {};
    setStream('connecting');
    chatApi.transcript(entryKey, userId).then(
      (transcript) => {
        if (closed) return;
        dispatch({ type: 'loaded', turns: transcript.turns, lastSeq: transcript.lastSeq });
        setLoaded(true);
        unsubscribe = subscribe(
          chatApi.eventsPath(entryKey, userId, transcript.lastSeq ?? lastSeq.current),
          {
            reply: (event: ReplyEvent) => dispatch({ type: 'reply', event }),
            // A reply while the agent writes it (whole text so far); the reply events replace it.
            partial: (event: PartialEvent) => dispatch({ type: 'partial', event, at: Date.now() }),
          },
          (open) => setStream(open ? 'live' : 'down'),
        );
      },
      (err: unknown) => {
        if (closed) return;
        setError(errorText(err));
        setLoaded(true);
      },
    );
    return () => {
      closed = true;
      unsubscribe();
    };
  }, [entryKey, userId, attempt]);

  // A finished reply changes the conversation list (count, last text).
  const streaming = state.bubbles.some((b) => b.role === 'user' && (b.state === 'waiting' || b.state === 'sending'));
  const wasStreaming = useRef(false);
  useEffect(() => {
    if (wasStreaming.current && !streaming) onActivity();
    wasStreaming.current = streaming;
  }, [streaming, onActivity]);

  const send = useCallback(
    async (content: string, images: Attachment[]) => {
      const key = `live-u${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;
      dispatch({ type: 'sending', key, text: content, at: Date.now(), images: images.map((a) => ({ url: a.url, name: a.name })) });
      setError(undefined);
      try {
        const res = await chatApi.send(entryKey, userId, content, images.map((a) => a.base64));
        dispatch({ type: 'accepted', key, messageId: res.messageId });
        onActivity();
      } catch (err) {
        const text = errorText(err, images.map((a) => a.name));
        dispatch({ type: 'failed', key, error: text });
        setError(text);
      }
    },
    [entryKey, userId, onActivity],
  );

  return (
    <section className="chat-window" aria-label={t('window.label', { user: userId })}>
      <header className="chat-window-head">
        <span>
          <Trans t={t} i18nKey="window.head" values={{ user: userId, entry: entryKey }} components={{ strong: <strong /> }} />
        </span>
        {stream === 'down' ? (
          <button type="button" className="chat-link-button chat-live" onClick={() => setAttempt((n) => n + 1)} title={t('window.downTitle')}>
            {t('window.reconnect')}
          </button>
        ) : (
          <span className={stream === 'live' ? 'chat-live chat-live-on' : 'chat-live'} title={t('window.liveTitle')}>
            {stream === 'live' ? t('window.live') : t('window.connecting')}
          </span>
        )}
      </header>
      {error && (
        <Banner onDismiss={() => setError(undefined)}>{error}</Banner>
      )}
      <Transcript bubbles={state.bubbles} loaded={loaded} now={now} />
      {canChat ? <Composer onSend={send} /> : <p className="chat-empty">{t('window.readOnly')}</p>}
    </section>
  );
}
