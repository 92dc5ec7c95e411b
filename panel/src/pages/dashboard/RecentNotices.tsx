import { api } from '../../api';
import { Banner } from '../../components/Banner';
import { ago } from '../../components/format';
import { errorText, useNow, usePolled } from '../../components/live';
import type { NoticeView } from '../../server-types';

const SHOWN = 10;
const REFRESH_MS = 30_000;

/** Who heard it: the gateway's `notify`, or an agent's or a scene's own team chat. */
function receiverName(receiver: string): string {
  if (receiver === '') return 'team chat';
  const [kind, id] = [receiver.slice(0, receiver.indexOf(':')), receiver.slice(receiver.indexOf(':') + 1)];
  return `${kind} ${id}'s chat`;
}

function state(n: NoticeView): string {
  if (n.status === 'sent') return n.attempts > 1 ? `sent (try ${n.attempts})` : 'sent';
  if (n.status === 'failed') return `given up: ${n.lastError ?? 'unknown'}`;
  if (n.status === 'sending') return 'sending…';
  return n.lastError ? `waiting (${n.attempts} ${n.attempts === 1 ? 'try' : 'tries'}): ${n.lastError}` : 'waiting';
}

/**
 * What the team's chats were told lately, and whether it went through: the answer to "did anyone
 * hear that this user asked for a person?". Hidden until there is a notice (no `notify`, nothing to show).
 */
export function RecentNotices() {
  const answer = usePolled(() => api<{ notices: NoticeView[] }>('GET', `/notices?limit=${SHOWN}`), REFRESH_MS, []);
  const now = useNow();
  const notices = answer.data?.notices ?? [];
  if (notices.length === 0 && answer.error === undefined) return null;
  return (
    <section className="card" aria-labelledby="notices-title">
      <h2 id="notices-title">Notices to the team</h2>
      {answer.error !== undefined && <Banner>Cannot load the notices: {errorText(answer.error)}</Banner>}
      <ul className="notice-list" aria-label="Latest notices">
        {notices.map((n) => (
          <li key={n.id} data-status={n.status}>
            <span className="muted small">
              {ago(n.createdAt, now)} · {n.event} · {receiverName(n.receiver)}
            </span>
            <span className="notice-text">
              {n.text.split('\n')[0]}
              {n.more > 0 ? ` (and ${n.more} more)` : ''}
            </span>
            <span className={n.status === 'sent' ? 'muted small' : 'days-warn small'}>{state(n)}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
