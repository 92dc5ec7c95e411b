import { api } from '../../api';
import { Banner } from '../../components/Banner';
import { ChannelIcon } from '../../components/ChannelIcon';
import { EmptyState } from '../../components/EmptyState';
import { PlusIcon } from '../../components/Icons';
import { errorText, usePolled } from '../../components/live';
import { StatusBadge } from '../../components/StatusBadge';
import type { Agent, EntryStatus, Scene } from '../../components/types';
import { href } from '../../router';
import { READ_ONLY_NOTE, useCanChangeSetup } from '../../role';

/** Agents and scenes, each with its entries' states; the place to create either. */
export function AgentsPage() {
  const agents = usePolled(() => api<{ agents: Agent[] }>('GET', '/agents').then((r) => r.agents), 5_000, []);
  const scenes = usePolled(() => api<{ scenes: Scene[] }>('GET', '/scenes').then((r) => r.scenes), 5_000, []);
  const canChange = useCanChangeSetup();
  return (
    <div className="page">
      <section aria-labelledby="agents-title">
        <div className="page-head">
          <h1 id="agents-title">Agents</h1>
          {canChange && (
            <a className="btn btn-primary" href={href(['agents'], { new: 'agent' })}>
              <PlusIcon /> New agent
            </a>
          )}
        </div>
        <p className="muted">An agent answers messages: a model (OpenAI-compatible), your own HTTP service, or echo for testing.</p>
        {!canChange && <p className="muted read-only-note">{READ_ONLY_NOTE}</p>}
        {agents.error !== undefined && <Banner>Cannot load agents: {errorText(agents.error)}</Banner>}
        {agents.data &&
          (agents.data.length === 0 ? (
            <EmptyState title="No agents yet">
              <p>Create one, then connect it to a channel.</p>
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
          <h2 id="scenes-title">Scenes</h2>
          {canChange && (
            <a className="btn" href={href(['agents'], { new: 'scene' })}>
              <PlusIcon /> New scene
            </a>
          )}
        </div>
        <p className="muted">A scene puts several agents behind one entry, with a shared context; the first agent of its roster answers.</p>
        {scenes.error !== undefined && <Banner>Cannot load scenes: {errorText(scenes.error)}</Banner>}
        {scenes.data &&
          (scenes.data.length === 0 ? (
            <EmptyState title="No scenes" />
          ) : (
            <ul className="target-list">
              {scenes.data.map((s) => (
                <TargetCard key={s.id} link={href(['scenes', s.id])} id={s.id} name={s.scene.name} detail={`roster: ${s.scene.roster.join(', ')}`} entries={s.entries} />
              ))}
            </ul>
          ))}
      </section>
    </div>
  );
}

function TargetCard({ link, id, name, detail, entries }: { link: string; id: string; name?: string; detail: string; entries: EntryStatus[] }) {
  return (
    <li className="target-card">
      <a href={link} className="target-link">
        <span className="target-name">{name ?? id}</span>
        {name && <span className="muted small"> ({id})</span>}
      </a>
      <span className="muted small">{detail}</span>
      {entries.length === 0 ? (
        <span className="muted small">No entries</span>
      ) : (
        <ul className="mini-entries" aria-label={`Entries of ${id}`}>
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
