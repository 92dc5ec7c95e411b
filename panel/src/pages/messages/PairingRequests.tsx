import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';
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
  const { t } = useTranslation('messages');
  const polled = usePairingRequests();
  const canAnswer = useCan('pairing');
  const [outcome, setOutcome] = useState<{ error?: string; done?: string }>({});
  const { items: requests } = polled;
  const act = async (r: PairingInfo, approve: boolean) => {
    try {
      if (approve) {
        const answer = await messagesApi.approvePairing(r.code);
        setOutcome({ done: t(answer.notified ? 'pairing.approvedTold' : 'pairing.approved', { who: who(t, r) }) });
      } else {
        await messagesApi.rejectPairing(r.code);
        setOutcome({ done: t('pairing.rejected', { who: who(t, r) }) });
      }
    } catch (err) {
      setOutcome({ error: errorText(err) });
    }
    await polled.reload();
  };
  const error = outcome.error ?? (polled.error === undefined ? undefined : errorText(polled.error));
  if (requests.length === 0 && !error && !outcome.done) return null;
  return (
    <section className="msg-handoffs" aria-label={t('pairing.label')}>
      <h2>{t('pairing.title', { n: requests.length })}</h2>
      {error && <Banner>{error}</Banner>}
      {outcome.done && <p className="msg-muted" role="status">{outcome.done}</p>}
      <ul>
        {requests.map((r) => (
          <li key={`${r.entryKey}\n${r.agentId}\n${r.userId}`} data-code={r.code}>
            <code className="msg-pairing-code">{r.code}</code>
            <span className="msg-handoffs-who">
              {who(t, r)} <span className="msg-muted">{t('onEntry', { entry: r.entryKey })}</span>
            </span>
            <a href={linkTo(r.messageId)} className="msg-handoffs-text" aria-label={t('pairing.openMessage', { who: who(t, r) })}>
              {r.content || <em>{t('pairing.noText')}</em>}
            </a>
            <span className="msg-muted">{t('pairing.validUntil', { until: localTime(r.expiresAt) })}</span>
            {canAnswer && (
              <>
                <button type="button" className="btn btn-primary btn-small" onClick={() => void act(r, true)} aria-label={t('pairing.approveLabel', { code: r.code })}>
                  {t('pairing.approve')}
                </button>
                <button type="button" className="btn btn-secondary btn-small" onClick={() => void act(r, false)} aria-label={t('pairing.rejectLabel', { code: r.code })}>
                  {t('pairing.reject')}
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

const who = (t: TFunction<'messages'>, r: PairingInfo) => {
  const asker = r.userName ? `${r.userName} (${r.userId})` : r.userId;
  return r.group ? t('pairing.group', { group: r.conversationId, asker }) : asker;
};
