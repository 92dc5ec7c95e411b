import { useEffect, useRef, useState } from 'react';
import { Trans, useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';
import { errorText, messagesApi, type HandoffState } from './messages-api';
import { stageInfo } from './stages';
import { StatusBadge } from './StatusBadge';
import { clockTime, elapsed, localTime, relativeTime } from './time';
import { useNow, usePolled } from '../../components/live';
import type { MediaRef, MessageDetail, MessageView, OutboundItem, TimelineFacts } from './types';
import { Banner } from '../../components/Banner';
import { useCan, useCanChangeSetup } from '../../role';
import { ConversationTranscript } from './ConversationTranscript';
import { pastedFiles } from '../chat/attachments';
import { AttachButton, AttachmentStrip, useAttachments } from '../chat/ImageAttachments';

/** Still moving: worth polling until the message is finished and every reply chunk is settled. */
function unsettled(m: MessageDetail): boolean {
  return m.status === 'queued' || m.status === 'leased' || m.replies.some((r) => r.status === 'pending' || r.status === 'leased');
}

/** One message: what was received, its timeline (absolute and since received) and its replies. */
export function MessageDetailPanel({ id, closeHref, linkTo, onForgotten }: {
  id: string;
  closeHref: string;
  linkTo: (id: string) => string;
  /** The message's user was forgotten: the message is gone, and so are others in the log. */
  onForgotten: () => void;
}) {
  const { t } = useTranslation('messages');
  const loaded = usePolled(() => messagesApi.get(id), 0, [id]);
  const detail = loaded.data;
  const error = loaded.error === undefined ? undefined : errorText(loaded.error);
  const now = useNow(30_000);
  const canChange = useCanChangeSetup();
  const canReply = useCan('reply');

  // While the message is in flight, follow it (a few seconds at most for a healthy agent): each
  // answer, or failed try, schedules the next.
  const moving = detail ? unsettled(detail) : false;
  useEffect(() => {
    if (!moving) return;
    const timer = setTimeout(() => void loaded.reload(), 1500);
    return () => clearTimeout(timer);
  }, [moving, detail, loaded.error, loaded.reload]);

  return (
    <section className="msg-detail" aria-labelledby="msg-detail-title">
      <div className="msg-detail-head">
        <h2 id="msg-detail-title">{t('detail.title', { id })}</h2>
        <button type="button" className="btn btn-secondary" onClick={() => void loaded.reload()}>
          {t('refresh')}
        </button>
        <a className="btn btn-secondary" href={closeHref}>
          {t('detail.close')}
        </a>
      </div>
      {error && (
        <Banner>{error}</Banner>
      )}
      {!detail && !error && <p className="msg-muted">{t('loading')}</p>}
      {detail && (
        <>
          <dl className="msg-facts">
            <dt>{t('detail.status')}</dt>
            <dd>
              <Trans t={t} i18nKey="detail.afterAttempts" count={detail.attempts} components={{ badge: <StatusBadge status={detail.status} /> }} />
            </dd>
            <dt>{t('detail.entry')}</dt>
            <dd>
              {detail.entryKey} ({detail.channelType}) → {t(`detail.targetKinds.${detail.targetKind}`)} {detail.targetId}
            </dd>
            <dt>{t('detail.user')}</dt>
            <dd>
              {detail.userId}
              {detail.conversationId !== detail.userId && <span className="msg-muted"> {t('detail.inConversation', { conversation: detail.conversationId })}</span>}{' '}
              <SenderControls id={id} detail={detail} onChange={() => void loaded.reload()} />{' '}
              {canChange && <ForgetUser entryKey={detail.entryKey} userId={detail.userId} onForgotten={onForgotten} />}
            </dd>
            <dt>{t('detail.received')}</dt>
            <dd>
              {localTime(detail.createdAt)} <span className="msg-muted">({relativeTime(detail.createdAt, now)})</span>
            </dd>
            {detail.lastError && (
              <>
                <dt>{t('detail.lastError')}</dt>
                <dd className="msg-error-line">{detail.lastError}</dd>
              </>
            )}
          </dl>
          <blockquote className="msg-quote">{detail.content || <em>{t('empty')}</em>}</blockquote>
          {detail.message.media && detail.message.media.length > 0 && <MediaList id={id} media={detail.message.media} />}
          <h3>{t('detail.timeline')}</h3>
          <Timeline detail={detail} />
          <h3>{t('detail.replies')}</h3>
          <Replies id={id} replies={detail.replies} />
          <ConversationTranscript
            entryKey={detail.entryKey}
            conversationId={detail.conversationId}
            currentId={id}
            version={detail.replies.length}
            linkTo={linkTo}
          />
          <Handoff entryKey={detail.entryKey} conversationId={detail.conversationId} />
          {canReply && <OperatorReply id={id} onSent={() => void loaded.reload()} />}
        </>
      )}
    </section>
  );
}

/** An hour: what "Hand to a person" grants; the admin API takes up to a week. */
const HANDOFF_MINUTES = 60;

/** Until when, and who handed the conversation over, so a second operator leaves it to the first. */
function withPerson(t: TFunction<'messages'>, state: HandoffState | undefined, until: number): string {
  const at = clockTime(until);
  if (state?.actor) return t('handoff.withPersonByActor', { until: at, actor: state.actor });
  if (state?.by === 'user') return t('handoff.withPersonByUser', { until: at });
  return state?.by === 'agent' ? t('handoff.withPersonByAgent', { until: at }) : t('handoff.withPerson', { until: at });
}

/**
 * Whether the agent answers this conversation or has left it to a person (until when), with the
 * button that changes it. Messages that come in meanwhile are stored and shown, not answered.
 */
function Handoff({ entryKey, conversationId }: { entryKey: string; conversationId: string }) {
  const { t } = useTranslation('messages');
  const [state, setState] = useState<HandoffState | undefined>(undefined);
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    setState(undefined);
    messagesApi.handoff(entryKey, conversationId).then(setState, (err: unknown) => setError(errorText(err)));
  }, [entryKey, conversationId]);
  const until = state?.until;
  // An operator who may not hand over reads who answers, without the button.
  const canChange = useCan('handoff');
  const change = async (next: () => Promise<HandoffState>) => {
    setError(undefined);
    try {
      setState(await next());
    } catch (err) {
      setError(errorText(err));
    }
  };
  if (until === undefined && !error) return null;
  return (
    <div className="msg-handoff" role="group" aria-label={t('handoff.label')}>
      {until ? (
        <>
          <span role="status">{withPerson(t, state, until)}</span>
          {canChange && (
            <button type="button" className="btn btn-secondary btn-small" onClick={() => void change(() => messagesApi.giveBack(entryKey, conversationId))}>
              {t('handoff.giveBack')}
            </button>
          )}
        </>
      ) : (
        <>
          <span role="status">{t('handoff.agentAnswers')}</span>
          {canChange && (
            <button
              type="button"
              className="btn btn-secondary btn-small"
              onClick={() => void change(() => messagesApi.handOver(entryKey, conversationId, HANDOFF_MINUTES))}
            >
              {t('handoff.handOver')}
            </button>
          )}
        </>
      )}
      {error && <Banner>{error}</Banner>}
    </div>
  );
}

/** 128 random bits in hex; `crypto.randomUUID` exists only on https or localhost, this everywhere. */
function newComposeKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Answers the user by hand, as the bot: the reply (text, images attached or pasted, or both) goes
 * out through the outbox like an agent's. A reply keeps its idempotency key until it is sent or
 * changed, so pressing Send again after a lost response does not send it twice.
 */
function OperatorReply({ id, onSent }: { id: string; onSent: () => void }) {
  const { t } = useTranslation('messages');
  const [text, setText] = useState('');
  const [state, setState] = useState<{ busy?: boolean; error?: string }>({});
  const attachments = useAttachments();
  const composeKey = useRef(newComposeKey());
  useEffect(() => {
    setText('');
    setState({});
    attachments.clear();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id]);
  // Another text or other images: another reply.
  useEffect(() => {
    composeKey.current = newComposeKey();
  }, [text, attachments.items]);
  const empty = text.trim() === '' && attachments.items.length === 0;
  const send = async () => {
    setState({ busy: true });
    try {
      await messagesApi.reply(id, text, attachments.items.map((a) => ({ data_base64: a.base64 })), composeKey.current);
      composeKey.current = newComposeKey();
      attachments.clear();
      setText('');
      setState({});
      onSent();
    } catch (err) {
      setState({ error: errorText(err) });
    }
  };
  return (
    <form
      className="msg-operator-reply"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      <label htmlFor="msg-operator-text">{t('reply.label')}</label>
      <AttachmentStrip attachments={attachments} />
      <textarea
        id="msg-operator-text"
        rows={3}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onPaste={(e) => {
          const files = pastedFiles(e.clipboardData.items);
          if (files.length === 0) return; // plain text: pasted as usual
          e.preventDefault();
          attachments.add(files);
        }}
        maxLength={20_000}
      />
      {state.error && <Banner>{state.error}</Banner>}
      <div className="msg-operator-actions">
        <AttachButton onFiles={attachments.add} disabled={state.busy} />
        <button type="submit" className="btn btn-primary" disabled={state.busy || empty || attachments.reading > 0}>
          {t('reply.send')}
        </button>
      </div>
    </form>
  );
}

/**
 * Whether the agent answers this sender, from its profile as it is now: when `access` refuses them,
 * why, and "Allow sender" (off the block list, onto the allow list of the chat's kind); otherwise
 * "Block sender", after a confirmation. Either says what it did.
 */
function SenderControls({ id, detail, onChange }: { id: string; detail: MessageView; onChange: () => void }) {
  const { t } = useTranslation('messages');
  const [state, setState] = useState<{ busy?: boolean; done?: string; error?: string }>({});
  useEffect(() => setState({}), [id]);
  const access = detail.senderAccess;
  const canChange = useCan('senders');
  const act = async (run: () => Promise<string>) => {
    setState({ busy: true });
    try {
      setState({ done: await run() });
      onChange();
    } catch (err) {
      setState({ error: errorText(err) });
    }
  };
  const block = () => {
    if (!window.confirm(t('sender.confirmBlock', { user: detail.userId }))) return;
    void act(async () => {
      const r = await messagesApi.blockSender(id);
      return t(r.alreadyBlocked ? 'sender.alreadyBlocked' : 'sender.blocked', { agent: r.agentId });
    });
  };
  const allow = () =>
    void act(async () => {
      const r = await messagesApi.allowSender(id);
      return r.changes.length > 0 ? t('sender.allowed', { agent: r.agentId, changes: r.changes.join('; ') }) : t('sender.alreadyAllowed', { agent: r.agentId });
    });
  return (
    <>
      {access?.refused && <span className="msg-refused">{t('sender.refused', { reason: access.refused })} </span>}
      {!canChange ? null : state.done ? (
        <span className="msg-muted" role="status">
          {state.done}
        </span>
      ) : access?.refused ? (
        <button type="button" className="btn btn-secondary btn-small" onClick={allow} disabled={state.busy}>
          {detail.message.isGroup && !access.blocked ? t('sender.allowGroup') : t('sender.allow')}
        </button>
      ) : (
        <button type="button" className="btn btn-secondary btn-small" onClick={block} disabled={state.busy}>
          {t('sender.block')}
        </button>
      )}
      {state.error && <span className="msg-error-line" role="alert"> {state.error}</span>}
    </>
  );
}

/**
 * Deletes what the gateway keeps of this user on this entry (their request to be forgotten), after
 * a confirmation; the message shown goes with it, so the page goes back to the log (read again). Messages still
 * in flight are kept and counted: asking again once they are done deletes them too.
 */
function ForgetUser({ entryKey, userId, onForgotten }: { entryKey: string; userId: string; onForgotten: () => void }) {
  const { t } = useTranslation('messages');
  const [state, setState] = useState<{ busy?: boolean; done?: string; error?: string }>({});
  const forget = async () => {
    const question = t('forget.confirm', { user: userId, entry: entryKey });
    if (!window.confirm(question)) return;
    setState({ busy: true });
    try {
      const r = await messagesApi.forgetUser(entryKey, userId);
      if (r.kept === 0) return onForgotten();
      setState({ done: t('forget.partly', { messages: r.messages, kept: r.kept }) });
    } catch (err) {
      setState({ error: errorText(err) });
    }
  };
  if (state.done) return <span className="msg-muted" role="status">{state.done}</span>;
  return (
    <>
      <button type="button" className="btn btn-secondary btn-small" onClick={() => void forget()} disabled={state.busy}>
        {t('forget.button')}
      </button>
      {state.error && <span className="msg-error-line" role="alert"> {state.error}</span>}
    </>
  );
}

/** What the user sent besides text: each image as a thumbnail, downloaded from the platform by the gateway. */
function MediaList({ id, media }: { id: string; media: MediaRef[] }) {
  const { t } = useTranslation('messages');
  return (
    <ul className="msg-media" aria-label={t('media.label')}>
      {media.map((m, n) => (
        <li key={n} className="msg-media-item" data-media-index={n}>
          {m.kind === 'image' && (
            <Thumbnail src={`/api/admin/messages/${encodeURIComponent(id)}/media/${n}`} alt={t('media.userImage', { n: n + 1 })} missing={t('media.userImageMissing')} />
          )}
          <span className="msg-muted">
            {t(`media.kinds.${m.kind}`, { defaultValue: m.kind })}
            {m.mimeType && ` · ${m.mimeType}`}
            {m.name && ` · ${m.name}`}
          </span>
        </li>
      ))}
    </ul>
  );
}

/** `missing`: the likely reason, shown when the image does not load. */
function Thumbnail({ src, alt, missing }: { src: string; alt: string; missing: string }) {
  const { t } = useTranslation('messages');
  const [failed, setFailed] = useState(false);
  useEffect(() => setFailed(false), [src]);
  if (failed) return <span className="msg-media-missing">{t('media.unavailable', { reason: missing })}</span>;
  return (
    <a href={src} target="_blank" rel="noopener noreferrer" title={t('media.openFull')}>
      <img className="msg-media-thumb" src={src} loading="lazy" alt={alt} onError={() => setFailed(true)} />
    </a>
  );
}

function Timeline({ detail }: { detail: MessageDetail }) {
  const { t } = useTranslation('messages');
  const start = detail.timeline[0]?.at ?? detail.createdAt;
  return (
    <ol className="msg-timeline" aria-label={t('detail.timeline')}>
      {detail.timeline.map((e, i) => {
        const info = stageInfo(e.stage);
        return (
          <li key={i} className={`msg-stage msg-tone-${info.tone}`} data-stage={e.stage}>
            <span className="msg-stage-name">{info.label}</span>
            <span className="msg-stage-time">
              <time dateTime={new Date(e.at).toISOString()} title={localTime(e.at)}>
                {clockTime(e.at)}
              </time>{' '}
              <span className="msg-muted">{i === 0 ? '' : elapsed(e.at - start)}</span>
            </span>
            {e.facts ? (
              <span className="msg-stage-detail">
                {stepFacts(t, e.facts)}
                {e.facts.more && <span data-from-server>{e.facts.more}</span>}
              </span>
            ) : (
              // The gateway's own record of the step (an error, a reason), shown as it wrote it.
              e.detail && (
                <span className="msg-stage-detail" data-from-server>
                  {e.detail}
                </span>
              )
            )}
          </li>
        );
      })}
    </ol>
  );
}

/** A stock step's figures in the panel's language: "attempt 2 by host-1", "chunk 1/2, platform id 42", "1 attempt(s), 12 ms". */
function stepFacts(t: TFunction<'messages'>, f: TimelineFacts): string {
  if (f.chunk !== undefined && f.of !== undefined) {
    return f.platformId === undefined ? t('stepFacts.chunk', { chunk: f.chunk, of: f.of }) : t('stepFacts.chunkSent', { chunk: f.chunk, of: f.of, platformId: f.platformId });
  }
  if (f.attempts !== undefined && f.ms !== undefined) return t('stepFacts.answered', { attempts: f.attempts, ms: f.ms });
  if (f.attempt !== undefined) return f.by === undefined ? t('stepFacts.attempt', { attempt: f.attempt }) : t('stepFacts.attemptBy', { attempt: f.attempt, by: f.by });
  return '';
}

function Replies({ id, replies }: { id: string; replies: OutboundItem[] }) {
  const { t } = useTranslation('messages');
  if (replies.length === 0) return <p className="msg-muted">{t('replies.none')}</p>;
  return (
    <ul className="msg-replies">
      {replies.map((r) => (
        <li key={r.id} className="msg-reply" data-reply-id={r.id}>
          <div className="msg-reply-head">
            <StatusBadge status={r.status} />
            <span className="msg-muted">
              {t('replies.chunk', { index: r.chunkIndex + 1, total: r.chunkCount, count: r.attempts })}
              {r.sentAt !== undefined && ` · ${t('replies.sentAt', { time: clockTime(r.sentAt) })}`}
            </span>
          </div>
          {r.image ? <ReplyImage id={id} reply={r} image={r.image} /> : <div className="msg-reply-text">{r.text}</div>}
          {r.lastError && <div className="msg-error-line">{r.lastError}</div>}
        </li>
      ))}
    </ul>
  );
}

/**
 * An image chunk of the answer: a thumbnail the gateway serves from the store (bytes the agent gave)
 * or downloads again (a URL; the API shows it without its query), with its alt text and origin.
 */
function ReplyImage({ id, reply, image }: { id: string; reply: OutboundItem; image: NonNullable<OutboundItem['image']> }) {
  const src = `/api/admin/messages/${encodeURIComponent(id)}/replies/${encodeURIComponent(reply.id)}/image`;
  const { t } = useTranslation('messages');
  const missing = 'url' in image ? t('replies.linkExpired') : t('replies.unreadable');
  return (
    <div className="msg-media-item msg-reply-image">
      <Thumbnail src={src} alt={reply.text || t('replies.imageAlt', { n: reply.chunkIndex + 1 })} missing={missing} />
      {reply.text && <span className="msg-reply-text">{reply.text}</span>}
      <span className="msg-muted">{'url' in image ? image.url : `${image.mimeType} · ${image.data.replace(/^… \((.*)\)$/, '$1')}`}</span>
    </div>
  );
}
