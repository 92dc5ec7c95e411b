import { useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';
import { api } from '../../api';
import { Banner } from '../../components/Banner';
import { ago } from '../../components/format';
import { errorText, useNow, usePolled } from '../../components/live';
import type { NoticeView } from '../../server-types';

const SHOWN = 10;
const REFRESH_MS = 30_000;

/** Who heard it: the gateway's `notify`, or an agent's or a scene's own team chat. */
function receiverName(t: TFunction<'dashboard'>, receiver: string): string {
  if (receiver === '') return t('notices.teamChat');
  const [kind, id] = [receiver.slice(0, receiver.indexOf(':')), receiver.slice(receiver.indexOf(':') + 1)];
  if (kind === 'agent') return t('notices.agentChat', { id });
  if (kind === 'scene') return t('notices.sceneChat', { id });
  return t('notices.otherChat', { kind, id });
}

function state(t: TFunction<'dashboard'>, n: NoticeView): string {
  if (n.status === 'sent') return n.attempts > 1 ? t('notices.sentAfter', { attempts: n.attempts }) : t('notices.sent');
  if (n.status === 'failed') return t('notices.givenUp', { error: n.lastError ?? t('notices.unknownError') });
  if (n.status === 'sending') return t('notices.sending');
  return n.lastError ? t('notices.waitingTries', { count: n.attempts, error: n.lastError }) : t('notices.waiting');
}

/**
 * What the team's chats were told lately, and whether it went through: the answer to "did anyone
 * hear that this user asked for a person?". Hidden until there is a notice (no `notify`, nothing to show).
 */
export function RecentNotices() {
  const { t } = useTranslation('dashboard');
  const answer = usePolled(() => api<{ notices: NoticeView[] }>('GET', `/notices?limit=${SHOWN}`), REFRESH_MS, []);
  const now = useNow();
  const notices = answer.data?.notices ?? [];
  if (notices.length === 0 && answer.error === undefined) return null;
  return (
    <section className="card" aria-labelledby="notices-title">
      <h2 id="notices-title">{t('notices.title')}</h2>
      {answer.error !== undefined && <Banner>{t('notices.loadError', { error: errorText(answer.error) })}</Banner>}
      <ul className="notice-list" aria-label={t('notices.latest')}>
        {notices.map((n) => (
          <li key={n.id} data-status={n.status}>
            <span className="muted small">
              {ago(n.createdAt, now)} · {n.event} · {receiverName(t, n.receiver)}
            </span>
            <span className="notice-text">
              {n.more > 0 ? t('notices.withMore', { text: n.text.split('\n')[0], more: n.more }) : n.text.split('\n')[0]}
            </span>
            <span className={n.status === 'sent' ? 'muted small' : 'days-warn small'}>{state(t, n)}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
