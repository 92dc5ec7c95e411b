import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import { Banner, useToast } from '../../components/Banner';
import { errorText, usePolled } from '../../components/live';
import { ReadOnlyNote } from '../../components/ReadOnlyNote';
import { fieldText } from '../../components/schema';
import type { JsonSchema } from '../../components/types';
import { currentLanguage, i18n } from '../../i18n';
import { href, navigate } from '../../router';
import { useCanChangeSetup } from '../../role';
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
  const { t } = useTranslation('agents');
  const schema = schemas.value && (kind === 'agent' ? schemas.value.agentProfile : withRosterChoices(schemas.value.scene, taken.data?.agents ?? []));
  return (
    <div className="page page-narrow">
      <p className="crumbs">
        <a href={href(['agents'])}>{t('list.agentsTitle')}</a> /
      </p>
      <h1>{t(`newTarget.${kind}.title`)}</h1>
      {!canChange && <ReadOnlyNote />}
      {schemas.error !== undefined && <Banner>{t('detail.formFailed', { error: errorText(schemas.error) })}</Banner>}
      {canChange && schema && taken.data && (
        <TargetForm
          kind={kind}
          schema={schema}
          takenIds={[...taken.data.agents, ...taken.data.scenes]}
          submitLabel={t(`newTarget.${kind}.create`)}
          onSaved={(id) => {
            toast(t(`newTarget.${kind}.created`, { id }));
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
  const hint = i18n.t(agents.length ? 'agents:newTarget.rosterPick' : 'agents:newTarget.rosterEmpty');
  // The hint follows the help in the language it is shown in; a sentence gets a full stop first.
  const { label, help = '' } = fieldText('roster', roster);
  const description = help === '' || /[.。]$/.test(help) ? `${help} ${hint}`.trim() : `${help}${currentLanguage() === 'zh' ? '。' : '.'} ${hint}`;
  return {
    ...schema,
    properties: { ...schema.properties, roster: { ...roster, title: label, description, 'x-i18n': undefined, items: { ...roster.items, enum: agents } } },
  };
}
