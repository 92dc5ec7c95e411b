import { api } from '../../api';
import { Banner } from '../../components/Banner';
import { useToast } from '../../components/Banner';
import { errorText, usePolled } from '../../components/live';
import type { JsonSchema } from '../../components/types';
import { href, navigate } from '../../router';
import { READ_ONLY_NOTE, useCanChangeSetup } from '../../role';
import { useSchemas, type TargetKind } from './data';
import { TargetForm } from './TargetForm';

/** `#/agents?new=agent|scene`: a new agent's profile, or a new scene. */
export function NewTargetPage({ kind }: { kind: TargetKind }) {
  const schemas = useSchemas();
  const toast = useToast();
  // Agents and scenes share one id space; the agents also make the roster's choices.
  const taken = usePolled(
    async () => {
      const [a, s] = await Promise.all([api<{ agents: { id: string }[] }>('GET', '/agents'), api<{ scenes: { id: string }[] }>('GET', '/scenes')]);
      return { agents: a.agents.map((x) => x.id), scenes: s.scenes.map((x) => x.id) };
    },
    0,
    [],
  );
  const canChange = useCanChangeSetup();
  const schema = schemas.value && (kind === 'agent' ? schemas.value.agentProfile : withRosterChoices(schemas.value.scene, taken.data?.agents ?? []));
  return (
    <div className="page page-narrow">
      <p className="crumbs">
        <a href={href(['agents'])}>Agents</a> /
      </p>
      <h1>{kind === 'agent' ? 'New agent' : 'New scene'}</h1>
      {!canChange && <p className="muted read-only-note">{READ_ONLY_NOTE}</p>}
      {schemas.error !== undefined && <Banner>Cannot load the form: {errorText(schemas.error)}</Banner>}
      {canChange && schema && taken.data && (
        <TargetForm
          kind={kind}
          schema={schema}
          takenIds={[...taken.data.agents, ...taken.data.scenes]}
          submitLabel={kind === 'agent' ? 'Create agent' : 'Create scene'}
          onSaved={(id) => {
            toast(`${kind === 'agent' ? 'Agent' : 'Scene'} "${id}" created`);
            navigate([`${kind}s`, id]);
          }}
        />
      )}
    </div>
  );
}

/** Makes the roster a pick-list of the existing agents (the form draws checkboxes for it). */
export function withRosterChoices(schema: JsonSchema, agents: string[]): JsonSchema {
  const roster = schema.properties?.roster;
  if (!roster?.items) return schema;
  const hint = agents.length ? 'Tick agents in the order they should serve.' : 'Create an agent first.';
  return {
    ...schema,
    properties: { ...schema.properties, roster: { ...roster, description: `${roster.description ?? ''}. ${hint}`, items: { ...roster.items, enum: agents } } },
  };
}
