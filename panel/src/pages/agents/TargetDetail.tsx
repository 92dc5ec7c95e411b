import { useState } from 'react';
import { api, ApiError } from '../../api';
import { Banner, useToast } from '../../components/Banner';
import { Button } from '../../components/Button';
import { ConfirmDialog } from '../../components/Dialog';
import { errorText, usePolled } from '../../components/live';
import type { Agent, Scene } from '../../components/types';
import { href, navigate } from '../../router';
import { READ_ONLY_NOTE, useCanChangeSetup } from '../../role';
import { targetPath, useSchemas, type TargetKind } from './data';
import { EntriesSection } from './Entries';
import { withRosterChoices } from './NewTargetPage';
import { TargetForm } from './TargetForm';

/** One agent or scene: its entries first (what people come for), then its settings, then delete. */
export function TargetDetail({ kind, id }: { kind: TargetKind; id: string }) {
  const toast = useToast();
  const schemas = useSchemas();
  const item = usePolled(() => api<Agent | Scene>('GET', targetPath(kind, id)), 0, [kind, id]);
  const agents = usePolled(() => (kind === 'scene' ? api<{ agents: Agent[] }>('GET', '/agents').then((r) => r.agents.map((a) => a.id)) : Promise.resolve([])), 0, [kind]);
  const [formVersion, setFormVersion] = useState(0);
  const [confirming, setConfirming] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [banner, setBanner] = useState<string>();
  const canChange = useCanChangeSetup();

  if (item.error instanceof ApiError && item.error.status === 404) {
    return (
      <div className="page">
        <h1>Not found</h1>
        <p>
          There is no {kind} "{id}". <a href={href(['agents'])}>Back to the list</a>
        </p>
      </div>
    );
  }
  const data = item.data;
  const stored = data && ('profile' in data ? data.profile : data.scene);
  const name = stored && typeof stored.name === 'string' ? stored.name : id;
  const schema = schemas.value && (kind === 'agent' ? schemas.value.agentProfile : withRosterChoices(schemas.value.scene, agents.data ?? []));

  const remove = async () => {
    setDeleting(true);
    try {
      await api('DELETE', targetPath(kind, id));
      toast(`${kind === 'agent' ? 'Agent' : 'Scene'} "${id}" deleted`);
      navigate(['agents']);
    } catch (err) {
      setBanner(errorText(err));
      setConfirming(false);
    } finally {
      setDeleting(false);
    }
  };

  return (
    <div className="page">
      <p className="crumbs">
        <a href={href(['agents'])}>{kind === 'agent' ? 'Agents' : 'Scenes'}</a> /
      </p>
      <div className="page-head">
        <h1>
          {name}
          {name !== id && <span className="muted small"> ({id})</span>}
        </h1>
        {canChange && (
          <Button variant="danger" onClick={() => setConfirming(true)}>
            Delete {kind}
          </Button>
        )}
      </div>
      {data && 'profile' in data && <p className="muted">Provider: {String(data.profile.provider)}</p>}
      {data && 'scene' in data && <p className="muted">Roster: {data.scene.roster.join(', ')}</p>}
      {!canChange && <p className="muted read-only-note">{READ_ONLY_NOTE}</p>}
      {banner && <Banner onDismiss={() => setBanner(undefined)}>{banner}</Banner>}
      {item.error !== undefined && <Banner>Cannot load this {kind}: {errorText(item.error)}</Banner>}
      <EntriesSection kind={kind} id={id} />
      <section aria-labelledby="settings-title" className="section-gap page-narrow">
        <h2 id="settings-title">{kind === 'agent' ? 'Profile' : 'Scene settings'}</h2>
        {schemas.error !== undefined && <Banner>Cannot load the form: {errorText(schemas.error)}</Banner>}
        {data && schema && (
          <TargetForm
            key={formVersion}
            kind={kind}
            schema={schema}
            id={id}
            stored={stored}
            secrets={'secrets' in data ? data.secrets : undefined}
            submitLabel={kind === 'agent' ? 'Save profile' : 'Save scene'}
            readOnly={!canChange}
            onSaved={async () => {
              toast('Saved');
              await item.reload();
              setFormVersion((v) => v + 1);
            }}
          />
        )}
      </section>
      <ConfirmDialog
        open={confirming}
        title={`Delete ${kind} "${id}"?`}
        message={
          <p>
            Its folder is removed with {kind === 'agent' ? 'its profile, ' : 'its settings, '}all its entries and their stored secrets. Channels of those entries stop.
          </p>
        }
        confirmLabel={`Delete ${kind}`}
        busy={deleting}
        onCancel={() => setConfirming(false)}
        onConfirm={remove}
      />
    </div>
  );
}
