import { useState } from 'react';
import { useCan } from '../../role';
import { Banner } from '../../components/Banner';
import { errorText, messagesApi } from './messages-api';
import { usePairingRequests } from './pairing-state';
import { localTime } from './time';
import type { PairingInfo } from './types';

/**
 * Strangers asking to talk to a private agent (`access.pairing`): each with the code they were given,
 * what they wrote, and buttons to approve (onto `allow_users`, and they are told) or reject. The
 * person who asked tells the operator their code, so the operator knows which request is theirs.
 * Nothing when there are none.
 */
export function PairingRequests({ linkTo }: { linkTo: (id: string) => string }) {
  const polled = usePairingRequests();
  const canAnswer = useCan('pairing');
  const [outcome, setOutcome] = useState<{ error?: string; done?: string }>({});
  const { items: requests } = polled;
  const act = async (r: PairingInfo, approve: boolean) => {
    try {
      if (approve) {
        const answer = await messagesApi.approvePairing(r.code);
        setOutcome({ done: `Approved ${who(r)}${answer.notified ? ', and told them so' : ''}.` });
      } else {
        await messagesApi.rejectPairing(r.code);
        setOutcome({ done: `Rejected the request of ${who(r)}.` });
      }
    } catch (err) {
      setOutcome({ error: errorText(err) });
    }
    await polled.reload();
  };
  const error = outcome.error ?? (polled.error === undefined ? undefined : errorText(polled.error));
  if (requests.length === 0 && !error && !outcome.done) return null;
  return (
    <section className="msg-handoffs" aria-label="Pairing requests">
      <h2>Asking to talk: {requests.length}</h2>
      {error && <Banner>{error}</Banner>}
      {outcome.done && <p className="msg-muted" role="status">{outcome.done}</p>}
      <ul>
        {requests.map((r) => (
          <li key={`${r.entryKey}\n${r.agentId}\n${r.userId}`} data-code={r.code}>
            <code className="msg-pairing-code">{r.code}</code>
            <span className="msg-handoffs-who">
              {who(r)} <span className="msg-muted">on {r.entryKey}</span>
            </span>
            <a href={linkTo(r.messageId)} className="msg-handoffs-text" aria-label={`Open the message of ${who(r)}`}>
              {r.content || <em>(no text)</em>}
            </a>
            <span className="msg-muted">code valid until {localTime(r.expiresAt)}</span>
            {canAnswer && (
              <>
                <button type="button" className="btn btn-primary btn-small" onClick={() => void act(r, true)} aria-label={`Approve ${r.code}`}>
                  Approve
                </button>
                <button type="button" className="btn btn-secondary btn-small" onClick={() => void act(r, false)} aria-label={`Reject ${r.code}`}>
                  Reject
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

const who = (r: PairingInfo) => {
  const asker = r.userName ? `${r.userName} (${r.userId})` : r.userId;
  return r.group ? `group ${r.conversationId} (asked by ${asker})` : asker;
};
