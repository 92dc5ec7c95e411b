import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import { Banner } from '../../components/Banner';
import { Button } from '../../components/Button';
import { Field, IdInput, SchemaForm } from '../../components/SchemaForm';
import type { JsonSchema, SecretState } from '../../components/types';
import { placeError, useSchemaDraft } from '../../components/useSchemaDraft';
import { targetPath, validId, type TargetKind } from './data';

interface TargetFormProps {
  kind: TargetKind;
  schema: JsonSchema;
  /** Set when editing; a new item asks for its id. */
  id?: string;
  stored?: Record<string, unknown>;
  secrets?: Record<string, SecretState>;
  /** Ids already taken (agents and scenes share one namespace): PUT would replace, so refuse here. */
  takenIds?: string[];
  submitLabel: string;
  /** Shown, not editable (an operator's session): no save. */
  readOnly?: boolean;
  onSaved(id: string): void;
}

/** An agent's profile or a scene, drawn from the server's JSON Schema and saved with PUT. */
export function TargetForm({ kind, schema, id, stored, secrets, takenIds = [], submitLabel, readOnly = false, onSaved }: TargetFormProps) {
  const form = useSchemaDraft(schema, stored, secrets);
  const [newId, setNewId] = useState('');
  const [idError, setIdError] = useState<string>();
  const [banner, setBanner] = useState<string>();
  const [busy, setBusy] = useState(false);
  const { t } = useTranslation('agents');
  const prefix = `${kind}-${id ?? 'new'}`;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBanner(undefined);
    const targetId = id ?? newId.trim();
    const idProblem = id ? undefined : validId(targetId) ?? (takenIds.includes(targetId) ? t('targetForm.idTaken', { id: targetId }) : undefined);
    setIdError(idProblem);
    const value = form.validate();
    if (idProblem || !value) return;
    setBusy(true);
    try {
      await api('PUT', targetPath(kind, targetId), value);
      onSaved(targetId);
    } catch (err) {
      const placed = placeError(err);
      if (placed.field === 'id') setIdError(placed.message);
      else if (placed.field && placed.field.split('.')[0]! in form.draft) form.setErrors({ [placed.field.split('.')[0]!]: placed.message });
      else setBanner(placed.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form" onSubmit={submit} noValidate>
      {banner && <Banner onDismiss={() => setBanner(undefined)}>{banner}</Banner>}
      {!id && (
        <Field id={`${prefix}-id`} label={t(kind === 'agent' ? 'targetForm.agentId' : 'targetForm.sceneId')} help={t('targetForm.idHelp')} error={idError} required>
          {(aria) => <IdInput aria={aria} value={newId} onChange={(v) => (setNewId(v), setIdError(undefined))} />}
        </Field>
      )}
      {/* A disabled fieldset keeps every field readable and none editable. */}
      <fieldset className="form-fieldset" disabled={readOnly}>
        <SchemaForm
          schema={schema}
          draft={form.draft}
          onDraft={form.onDraft}
          errors={form.errors}
          secrets={id ? secrets : undefined}
          secretModes={form.modes}
          onSecretMode={form.onSecretMode}
          idPrefix={prefix}
        />
      </fieldset>
      {!readOnly && (
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={busy}>
            {submitLabel}
          </Button>
        </div>
      )}
    </form>
  );
}
