import { useState } from 'react';
import { Trans, useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';
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
  const { t } = useTranslation('dashboard');
  const { dashboard, mode, error } = useDashboard();
  const now = useNow();
  return (
    <div className="page">
      <div className="page-head">
        <h1>{t('title')}</h1>
        <LiveIndicator mode={mode} />
      </div>
      {error !== undefined && !dashboard && <Banner>{t('loadError', { error: errorText(error) })}</Banner>}
      {!dashboard ? (
        <p className="muted" aria-busy="true">
          {t('loading')}
        </p>
      ) : (
        <>
          {dashboard.problems.length > 0 && <WorkspaceProblems problems={dashboard.problems} />}
          {dashboard.failingAgents.length > 0 && <FailingAgents agents={dashboard.failingAgents} now={now} />}
          {dashboard.unsentNotices && <UnsentNotices unsent={dashboard.unsentNotices} now={now} />}
          <Totals dashboard={dashboard} />
          <section className="card" aria-labelledby="throughput-title">
            <h2 id="throughput-title">{t('throughput')}</h2>
            <ThroughputChart inbound={dashboard.series.in} outbound={dashboard.series.out} bucketMs={dashboard.series.bucketMs} />
          </section>
          <section aria-labelledby="entries-title">
            <h2 id="entries-title">{t('entries.title')}</h2>
            {dashboard.entries.length === 0 ? (
              <EmptyState title={t('entries.emptyTitle')}>
                <p>
                  <Trans t={t} i18nKey="entries.emptyHelp" components={{ link: <a href={href(['agents'])} /> }} />
                </p>
              </EmptyState>
            ) : (
              <ul className="entry-grid" aria-label={t('entries.title')}>
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
  const { t } = useTranslation('dashboard');
  return (
    <Banner>
      <strong>{t('failing.title')}</strong>
      <ul className="problems">
        {agents.map((a) => (
          <li key={a.agentId}>
            <Trans
              t={t}
              i18nKey="failing.item"
              values={{ agent: a.agentId, failures: a.failures, since: ago(a.since, now), reason: a.reason }}
              components={{ link: <a href={href(['agents', a.agentId])} /> }}
            />
          </li>
        ))}
      </ul>
    </Banner>
  );
}

/** The team's chat does not take the notices (a revoked robot key, an outage): nobody hears of what needs a person. */
function UnsentNotices({ unsent, now }: { unsent: NonNullable<Dashboard['unsentNotices']>; now: number }) {
  const { t } = useTranslation('dashboard');
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState<string>();
  const canRetry = useCan('retry');
  const tryNow = async () => {
    setBusy(true);
    try {
      const { retried } = await api<{ retried: number }>('POST', '/notices/retry');
      setSaid(retried > 0 ? t('unsent.tryingAgain') : t('unsent.nothingWaiting'));
    } catch (err) {
      setSaid(t('unsent.retryFailed', { error: errorText(err) }));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Banner>
      <strong>{t('unsent.title', { count: unsent.count, n: count(unsent.count), since: ago(unsent.since, now) })}</strong>{' '}
      <Trans t={t} i18nKey="unsent.help" values={{ error: unsent.lastError }} components={{ code: <code /> }} />{' '}
      {canRetry && (
        <Button small busy={busy} onClick={() => void tryNow()}>
          {t('unsent.tryNow')}
        </Button>
      )}
      {said && <span role="status"> {said}</span>}
    </Banner>
  );
}

/** Files on disk that failed validation: their entries or agents are not running as written. */
function WorkspaceProblems({ problems }: { problems: Dashboard['problems'] }) {
  const { t } = useTranslation('dashboard');
  return (
    <Banner>
      <strong>{t('problems.title', { count: problems.length })}</strong>
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
  const { t } = useTranslation('dashboard');
  const text = mode === 'live' ? t('live.live') : mode === 'polling' ? t('live.polling') : t('live.connecting');
  return (
    <span className={`live live-${mode}`} role="status">
      <span className="live-dot" aria-hidden="true" />
      {text}
    </span>
  );
}

/** A user has waited a minute or more for an answer: since when, else nothing. */
function waitingSince(t: TFunction<'dashboard'>, at: number | null, now: number): string | undefined {
  return at !== null && now - at >= 60_000 ? t('totals.waitingSince', { since: ago(at, now) }) : undefined;
}

function Totals({ dashboard }: { dashboard: Dashboard }) {
  const { t } = useTranslation('dashboard');
  const { totals } = dashboard;
  const items: [key: string, label: string, value: string, note?: string][] = [
    [
      'running',
      t('totals.running'),
      `${totals.entries.running} / ${dashboard.entries.length}`,
      totals.entries.error > 0 ? t('totals.inError', { n: totals.entries.error }) : undefined,
    ],
    ['in', t('totals.inLastHour'), count(totals.lastHour.in)],
    ['out', t('totals.outLastHour'), count(totals.lastHour.out)],
    ['mailbox', t('totals.waiting'), count(totals.mailbox), waitingSince(t, totals.oldestWaitingAt.inbound, dashboard.at)],
    ['dead', t('totals.dead'), count(totals.dead)],
  ];
  return (
    <dl className="totals">
      {items.map(([key, label, value, note]) => (
        <div key={key} className={`total${key === 'dead' && totals.dead > 0 ? ' is-warn' : ''}${note ? ' is-warn' : ''}`}>
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
  const { t } = useTranslation('dashboard');
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
            {t(entry.target.kind === 'agent' ? 'entry.toAgent' : 'entry.toScene', { channel: entry.channel, id: entry.target.id })}
          </span>
        </div>
      </div>
      <EntryStatusLine status={entry} now={now} />
      <dl className="entry-stats">
        <div>
          <dt>{t('entry.inOut')}</dt>
          <dd>
            {count(entry.lastHour.in)} / {count(entry.lastHour.out)}
          </dd>
        </div>
        <div>
          <dt>{t('entry.mailbox')}</dt>
          <dd>{count(entry.mailbox)}</dd>
        </div>
        <div className={entry.dead > 0 ? 'is-warn' : undefined}>
          <dt>{t('entry.dead')}</dt>
          <dd>{entry.dead > 0 ? <a href={href(['messages'], { entry: entry.key })}>{count(entry.dead)}</a> : '0'}</dd>
        </div>
      </dl>
      <div className="entry-links">
        {entry.channel === 'web_api' && <a href={href(['chat'], { entry: entry.key })}>{t('entry.chat')}</a>}
        <a href={href(['messages'], { entry: entry.key })}>{t('entry.messages')}</a>
      </div>
    </li>
  );
}
