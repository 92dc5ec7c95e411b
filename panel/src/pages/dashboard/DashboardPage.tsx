import { useState } from 'react';
import { api } from '../../api';
import { Banner } from '../../components/Banner';
import { Button } from '../../components/Button';
import { ChannelIcon } from '../../components/ChannelIcon';
import { EmptyState } from '../../components/EmptyState';
import { ago, count } from '../../components/format';
import { errorText, useDashboard, useNow, type LiveMode } from '../../components/live';
import { EntryStatusLine } from '../../components/StatusBadge';
import { ThroughputChart } from '../../components/ThroughputChart';
import type { Dashboard, DashboardEntry } from '../../components/types';
import { LastDays } from './LastDays';
import { RecentNotices } from './RecentNotices';
import { href } from '../../router';
import { useCan } from '../../role';

/** Every entry at a glance, live: state, traffic, queues; plus the last hour's throughput and the last week's days. */
export function DashboardPage() {
  const { dashboard, mode, error } = useDashboard();
  const now = useNow();
  return (
    <div className="page">
      <div className="page-head">
        <h1>Dashboard</h1>
        <LiveIndicator mode={mode} />
      </div>
      {error !== undefined && !dashboard && <Banner>Cannot load the dashboard: {errorText(error)}</Banner>}
      {!dashboard ? (
        <p className="muted" aria-busy="true">
          Loading…
        </p>
      ) : (
        <>
          {dashboard.problems.length > 0 && <WorkspaceProblems problems={dashboard.problems} />}
          {dashboard.failingAgents.length > 0 && <FailingAgents agents={dashboard.failingAgents} now={now} />}
          {dashboard.unsentNotices && <UnsentNotices unsent={dashboard.unsentNotices} now={now} />}
          <Totals dashboard={dashboard} />
          <section className="card" aria-labelledby="throughput-title">
            <h2 id="throughput-title">Throughput</h2>
            <ThroughputChart inbound={dashboard.series.in} outbound={dashboard.series.out} bucketMs={dashboard.series.bucketMs} />
          </section>
          <section aria-labelledby="entries-title">
            <h2 id="entries-title">Entries</h2>
            {dashboard.entries.length === 0 ? (
              <EmptyState title="No entries yet">
                <p>
                  An entry connects an agent to a channel. <a href={href(['agents'])}>Open Agents</a> to create an agent and add one.
                </p>
              </EmptyState>
            ) : (
              <ul className="entry-grid" aria-label="Entries">
                {dashboard.entries.map((entry) => (
                  <DashboardRow key={entry.key} entry={entry} now={now} />
                ))}
              </ul>
            )}
          </section>
          <LastDays />
          <RecentNotices />
        </>
      )}
    </div>
  );
}

/** Agents failing run after run now: their users get the fallback reply (or a failover agent's answer). */
function FailingAgents({ agents, now }: { agents: Dashboard['failingAgents']; now: number }) {
  return (
    <Banner>
      <strong>Failing now; their users get the fallback reply, or a failover agent's answer:</strong>
      <ul className="problems">
        {agents.map((a) => (
          <li key={a.agentId}>
            Agent <a href={href(['agents', a.agentId])}>{a.agentId}</a> failed its last {a.failures} runs (the first {ago(a.since, now)}): {a.reason}
          </li>
        ))}
      </ul>
    </Banner>
  );
}

/** The team's chat does not take the notices (a revoked robot key, an outage): nobody hears of what needs a person. */
function UnsentNotices({ unsent, now }: { unsent: NonNullable<Dashboard['unsentNotices']>; now: number }) {
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState<string>();
  const canRetry = useCan('retry');
  const tryNow = async () => {
    setBusy(true);
    try {
      const { retried } = await api<{ retried: number }>('POST', '/notices/retry');
      setSaid(retried > 0 ? 'Trying again now.' : 'Nothing was waiting for a retry.');
    } catch (err) {
      setSaid(`Could not try again: ${errorText(err)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Banner>
      <strong>
        {unsent.count === 1 ? '1 notice' : `${count(unsent.count)} notices`} to the team not sent yet (the oldest {ago(unsent.since, now)}):
      </strong>{' '}
      {unsent.lastError}. They are tried again, and given up on an hour after their event; check <code>notify.url</code> in cococat.yaml (a change is tried at once).{' '}
      {canRetry && (
        <Button small busy={busy} onClick={() => void tryNow()}>
          Try now
        </Button>
      )}
      {said && <span role="status"> {said}</span>}
    </Banner>
  );
}

/** Files on disk that failed validation: their entries or agents are not running as written. */
function WorkspaceProblems({ problems }: { problems: Dashboard['problems'] }) {
  return (
    <Banner>
      <strong>
        The workspace has {problems.length === 1 ? '1 problem' : `${problems.length} problems`}; what they concern does not run until they are fixed:
      </strong>
      <ul className="problems">
        {problems.map((p, i) => (
          <li key={i}>
            <code>{p.file}</code>
            {p.field ? (
              <>
                {' '}
                <code>{p.field}</code>
              </>
            ) : null}
            : {p.message}
          </li>
        ))}
      </ul>
    </Banner>
  );
}

export function LiveIndicator({ mode }: { mode: LiveMode }) {
  const text = mode === 'live' ? 'Live' : mode === 'polling' ? 'Polling every 2 s' : 'Connecting…';
  return (
    <span className={`live live-${mode}`} role="status">
      <span className="live-dot" aria-hidden="true" />
      {text}
    </span>
  );
}

/** A user has waited a minute or more for an answer: since when, else nothing. */
function waitingSince(at: number | null, now: number): string | undefined {
  return at !== null && now - at >= 60_000 ? `oldest waiting since ${ago(at, now)}` : undefined;
}

function Totals({ dashboard }: { dashboard: Dashboard }) {
  const { totals } = dashboard;
  const items: [string, string, string?][] = [
    ['Running', `${totals.entries.running} / ${dashboard.entries.length}`, totals.entries.error > 0 ? `${totals.entries.error} in error` : undefined],
    ['In, last hour', count(totals.lastHour.in)],
    ['Out, last hour', count(totals.lastHour.out)],
    ['Waiting in mailboxes', count(totals.mailbox), waitingSince(totals.oldestWaitingAt.inbound, dashboard.at)],
    ['Dead letters', count(totals.dead)],
  ];
  return (
    <dl className="totals">
      {items.map(([label, value, note]) => (
        <div key={label} className={`total${label === 'Dead letters' && totals.dead > 0 ? ' is-warn' : ''}${note ? ' is-warn' : ''}`}>
          <dt>{label}</dt>
          <dd>
            {value}
            {note && <span className="total-note">{note}</span>}
          </dd>
        </div>
      ))}
    </dl>
  );
}

function DashboardRow({ entry, now }: { entry: DashboardEntry; now: number }) {
  const targetHref = href([entry.target.kind === 'agent' ? 'agents' : 'scenes', entry.target.id]);
  return (
    <li className="entry-card">
      <div className="entry-card-head">
        <ChannelIcon channel={entry.channel} label={entry.channel} />
        <div className="entry-card-title">
          <a href={targetHref} className="entry-key">
            {entry.key}
          </a>
          <span className="muted small">
            {entry.channel} → {entry.target.kind} {entry.target.id}
          </span>
        </div>
      </div>
      <EntryStatusLine status={entry} now={now} />
      <dl className="entry-stats">
        <div>
          <dt>In / out (1 h)</dt>
          <dd>
            {count(entry.lastHour.in)} / {count(entry.lastHour.out)}
          </dd>
        </div>
        <div>
          <dt>Mailbox</dt>
          <dd>{count(entry.mailbox)}</dd>
        </div>
        <div className={entry.dead > 0 ? 'is-warn' : undefined}>
          <dt>Dead letters</dt>
          <dd>{entry.dead > 0 ? <a href={href(['messages'], { entry: entry.key })}>{count(entry.dead)}</a> : '0'}</dd>
        </div>
      </dl>
      <div className="entry-links">
        {entry.channel === 'web_api' && <a href={href(['chat'], { entry: entry.key })}>Chat</a>}
        <a href={href(['messages'], { entry: entry.key })}>Messages</a>
      </div>
    </li>
  );
}
