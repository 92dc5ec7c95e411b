import { useEffect, useState } from 'react';
import { useCan } from '../../role';
import { Banner } from '../../components/Banner';
import { useHandoffs } from './handoffs-state';
import { errorText, messagesApi } from './messages-api';
import { localTime } from './time';
import type { HandoffInfo } from './types';

/** Who handed it over: the operator who took it (so two do not answer one user), the user, or the agent. */
function handedOverBy(h: HandoffInfo): string {
  if (h.by === 'user') return 'asked for by the user, ';
  if (h.by === 'agent') return 'handed over by the agent, ';
  return h.actor ? `taken by ${h.actor}, ` : '';
}

/**
 * The conversations operators have now (hand-overs), each with its newest message, marked when
 * that message still waits for an answer, and a button to give it back. Nothing when there are none.
 */
export function Handoffs({ linkTo }: { linkTo: (id: string) => string }) {
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
    <section className="msg-handoffs" aria-label="Conversations with a person">
      <h2>
        With a person: {handoffs.length}
        {waiting > 0 && <span className="msg-badge msg-badge-fallback">{waiting} waiting for a reply</span>}
      </h2>
      {error && <Banner>{error}</Banner>}
      <ul>
        {handoffs.map((h) => (
          <li key={`${h.entryKey}\n${h.conversationId}`} data-conversation={h.conversationId}>
            <span className="msg-handoffs-who">
              {h.conversationId} <span className="msg-muted">on {h.entryKey}</span>
            </span>
            {h.latest ? (
              <a href={linkTo(h.latest.id)} className="msg-handoffs-text" aria-label={`Open the newest message of ${h.conversationId}`}>
                {h.latest.content || <em>(empty)</em>}
              </a>
            ) : (
              <span className="msg-muted">no message yet</span>
            )}
            {h.awaitingReply && <span className="msg-badge msg-badge-fallback">waiting for a reply</span>}
            <span className="msg-muted">
              {handedOverBy(h)}until {localTime(h.until)}
            </span>
            {canGiveBack && (
              <button type="button" className="btn btn-secondary btn-small" onClick={() => void giveBack(h)} aria-label={`Give ${h.conversationId} back to the agent`}>
                Give back
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
