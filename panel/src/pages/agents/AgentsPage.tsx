import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import { Banner } from '../../components/Banner';
import { ChannelIcon } from '../../components/ChannelIcon';
import { EmptyState } from '../../components/EmptyState';
import { PlusIcon } from '../../components/Icons';
import { errorText, usePolled } from '../../components/live';
import { ReadOnlyNote } from '../../components/ReadOnlyNote';
import { StatusBadge } from '../../components/StatusBadge';
import type { Agent, EntryStatus, Scene } from '../../components/types';
import { href } from '../../router';
import { useCanChangeSetup } from '../../role';

/** Agents and scenes, each with its entries' states; the place to create either. */
export function AgentsPage() {
  const agents = usePolled(() => api<{ agents: Agent[] }>('GET', '/agents').then((r) => r.agents), 5_000, []);
  const scenes = usePolled(() => api<{ scenes: Scene[] }>('GET', '/scenes').then((r) => r.scenes), 5_000, []);
  const canChange = useCanChangeSetup();
  const { t } = useTranslation('agents');
  return (
    <div className="page">
      <section aria-labelledby="agents-title">
        <div className="page-head">
          <h1 id="agents-title">{t('list.agentsTitle')}</h1>
          {canChange && (
            <a className="btn btn-primary" href={href(['agents'], { new: 'agent' })}>
              <PlusIcon /> {t('list.newAgent')}
            </a>
          )}
        </div>
        <p className="muted">{t('list.agentsIntro')}</p>
        {!canChange && <ReadOnlyNote />}
        {agents.error !== undefined && <Banner>{t('list.agentsFailed', { error: errorText(agents.error) })}</Banner>}
        {agents.data &&
          (agents.data.length === 0 ? (
            <EmptyState title={t('list.noAgents')}>
              <p>{t('list.noAgentsHelp')}</p>
            </EmptyState>
          ) : (
            <ul className="target-list">
              {agents.data.map((a) => (
                <TargetCard
                  key={a.id}
                  link={href(['agents', a.id])}
                  id={a.id}
                  name={typeof a.profile.name === 'string' ? a.profile.name : undefined}
                  detail={String(a.profile.provider ?? '')}
                  entries={a.entries}
                />
              ))}
            </ul>
          ))}
      </section>
      <section aria-labelledby="scenes-title" className="section-gap">
        <div className="page-head">
          <h2 id="scenes-title">{t('list.scenesTitle')}</h2>
          {canChange && (
            <a className="btn" href={href(['agents'], { new: 'scene' })}>
              <PlusIcon /> {t('list.newScene')}
            </a>
          )}
        </div>
        <p className="muted">{t('list.scenesIntro')}</p>
        {scenes.error !== undefined && <Banner>{t('list.scenesFailed', { error: errorText(scenes.error) })}</Banner>}
        {scenes.data &&
          (scenes.data.length === 0 ? (
            <EmptyState title={t('list.noScenes')} />
          ) : (
            <ul className="target-list">
              {scenes.data.map((s) => (
                <TargetCard key={s.id} link={href(['scenes', s.id])} id={s.id} name={s.scene.name} detail={t('list.roster', { roster: s.scene.roster.join(', ') })} entries={s.entries} />
              ))}
            </ul>
          ))}
      </section>
    </div>
  );
}

function TargetCard({ link, id, name, detail, entries }: { link: string; id: string; name?: string; detail: string; entries: EntryStatus[] }) {
  const { t } = useTranslation('agents');
  return (
    <li className="target-card">
      <a href={link} className="target-link">
        <span className="target-name">{name ?? id}</span>
        {name && <span className="muted small"> ({id})</span>}
      </a>
      <span className="muted small">{detail}</span>
      {entries.length === 0 ? (
        <span className="muted small">{t('list.noEntries')}</span>
      ) : (
        <ul className="mini-entries" aria-label={t('list.entriesOf', { id })}>
          {entries.map((e) => (
            <li key={e.key}>
              <ChannelIcon channel={e.channel} size={18} />
              <span>{e.id}</span>
              <StatusBadge state={e.state} enabled={e.enabled} />
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}
