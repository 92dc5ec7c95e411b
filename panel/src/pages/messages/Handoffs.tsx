import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';
import { useCan } from '../../role';
import { Banner } from '../../components/Banner';
import { useHandoffs } from './handoffs-state';
import { errorText, messagesApi } from './messages-api';
import { localTime } from './time';
import type { HandoffInfo } from './types';

/** Until when, and who handed it over: the operator who took it (so two do not answer one user), the user, or the agent. */
function handedOverUntil(t: TFunction<'messages'>, h: HandoffInfo): string {
  const until = localTime(h.until);
  if (h.by === 'user') return t('handoffs.untilByUser', { until });
  if (h.by === 'agent') return t('handoffs.untilByAgent', { until });
  return h.actor ? t('handoffs.untilByActor', { actor: h.actor, until }) : t('handoffs.until', { until });
}

/**
 * The conversations operators have now (hand-overs), each with its newest message, marked when
 * that message still waits for an answer, and a button to give it back. Nothing when there are none.
 */
export function Handoffs({ linkTo }: { linkTo: (id: string) => string }) {
  const { t } = useTranslation('messages');
  const { items: handoffs, error: readError, reload } = useHandoffs();
  const canGiveBack = useCan('handoff');
  const [giveBackError, setGiveBackError] = useState<string>();
  // A failed give-back shows until the list is next read, as a failed read does.
  useEffect(() => setGiveBackError(undefined), [handoffs]);
  const error = giveBackError ?? (readError === undefined ? undefined : errorText(readError));
  const giveBack = async (h: HandoffInfo) => {
    try {
      await messagesApi.giveBack(h.entryKey, h.conversationId);
      setGiveBackError(undefined);
      await reload();
    } catch (err) {
      setGiveBackError(errorText(err));
    }
  };
  if (handoffs.length === 0 && !error) return null;
  const waiting = handoffs.filter((h) => h.awaitingReply).length;
  return (
    <section className="msg-handoffs" aria-label={t('handoffs.label')}>
      <h2>
        {t('handoffs.title', { n: handoffs.length })}
        {waiting > 0 && <span className="msg-badge msg-badge-fallback">{t('handoffs.waitingCount', { n: waiting })}</span>}
      </h2>
      {error && <Banner>{error}</Banner>}
      <ul>
        {handoffs.map((h) => (
          <li key={`${h.entryKey}\n${h.conversationId}`} data-conversation={h.conversationId}>
            <span className="msg-handoffs-who">
              {h.conversationId} <span className="msg-muted">{t('onEntry', { entry: h.entryKey })}</span>
            </span>
            {h.latest ? (
              <a href={linkTo(h.latest.id)} className="msg-handoffs-text" aria-label={t('handoffs.openNewest', { conversation: h.conversationId })}>
                {h.latest.content || <em>{t('empty')}</em>}
              </a>
            ) : (
              <span className="msg-muted">{t('handoffs.noMessage')}</span>
            )}
            {h.awaitingReply && <span className="msg-badge msg-badge-fallback">{t('handoffs.waiting')}</span>}
            <span className="msg-muted">{handedOverUntil(t, h)}</span>
            {canGiveBack && (
              <button type="button" className="btn btn-secondary btn-small" onClick={() => void giveBack(h)} aria-label={t('handoffs.giveBackLabel', { conversation: h.conversationId })}>
                {t('handoffs.giveBack')}
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
