import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import { Banner } from '../../components/Banner';
import { Button } from '../../components/Button';
import { ChannelIcon } from '../../components/ChannelIcon';
import { channelDescription, channelName } from '../../components/channel-text';
import { Field, IdInput, SchemaForm } from '../../components/SchemaForm';
import type { ChannelType, Entry } from '../../components/types';
import { placeError, useSchemaDraft } from '../../components/useSchemaDraft';
import { targetPath, validId, type TargetKind } from './data';

interface EntryFormProps {
  kind: TargetKind;
  targetId: string;
  catalog: ChannelType[];
  /** The entry being edited; a new one otherwise. */
  entry?: Entry;
  takenIds: string[];
  onSaved(entry: Entry): void;
  onCancel(): void;
}

/**
 * Adds or edits an entry: the channel from the catalog, then a form drawn from that channel's
 * config schema. Secrets are write-only: an edit leaves them as they are unless replaced.
 */
export function EntryForm({ kind, targetId, catalog, entry, takenIds, onSaved, onCancel }: EntryFormProps) {
  const [channel, setChannel] = useState(entry?.channel ?? catalog[0]?.type ?? '');
  const type = catalog.find((c) => c.type === channel);
  const form = useSchemaDraft(type?.configSchema, entry?.config, entry?.secrets);
  const [entryId, setEntryId] = useState('');
  const [enabled, setEnabled] = useState(entry?.enabled ?? true);
  const [idError, setIdError] = useState<string>();
  const [banner, setBanner] = useState<string>();
  const [busy, setBusy] = useState(false);
  const { t } = useTranslation('agents');
  const prefix = `entry-${entry?.id ?? 'new'}`;

  const pickChannel = (next: string) => {
    setChannel(next);
    const nextType = catalog.find((c) => c.type === next);
    if (nextType) form.reset(nextType.configSchema);
    setIdError(undefined);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBanner(undefined);
    const id = entry ? entry.id : entryId.trim() || channel;
    const idProblem = entry ? undefined : entryId.trim() ? validId(id) : undefined;
    const clash = !entry && !idProblem && takenIds.includes(id) ? t('entryForm.clash', { id }) : undefined;
    setIdError(idProblem ?? clash);
    const config = form.validate();
    if (idProblem || clash || !config) return;
    setBusy(true);
    try {
      const base = `${targetPath(kind, targetId)}/entries`;
      const saved = entry
        ? await api<Entry>('PUT', `${base}/${encodeURIComponent(entry.id)}`, { channel, enabled, config })
        : await api<Entry>('POST', base, { ...(entryId.trim() ? { id } : {}), channel, enabled, config });
      onSaved(saved);
    } catch (err) {
      const inConfig = placeError(err, 'config.');
      if (inConfig.field && inConfig.field in form.draft) {
        form.setErrors({ [inConfig.field]: inConfig.message });
        return;
      }
      const placed = placeError(err);
      if (placed.field === 'id') setIdError(placed.message);
      else setBanner(placed.message);
    } finally {
      setBusy(false);
    }
  };

  const title = entry ? t('entryForm.editTitle', { id: entry.id }) : t('entryForm.addTitle');
  return (
    <section className="card entry-form" aria-labelledby={`${prefix}-title`}>
      <h3 id={`${prefix}-title`}>{title}</h3>
      <form className="form" onSubmit={submit} noValidate>
        {banner && <Banner onDismiss={() => setBanner(undefined)}>{banner}</Banner>}
        <Field id={`${prefix}-channel`} label={t('entryForm.channel')} required help={type && channelDescription(type)}>
          {(aria) => (
            <div className="channel-pick">
              <ChannelIcon channel={channel} />
              <select {...aria} value={channel} disabled={!!entry} onChange={(e) => pickChannel(e.target.value)}>
                {catalog.map((c) => (
                  <option key={c.type} value={c.type}>
                    {channelName(c)} ({c.type})
                  </option>
                ))}
              </select>
            </div>
          )}
        </Field>
        {!entry && (
          <Field
            id={`${prefix}-id`}
            label={t('entryForm.entryId')}
            help={t(kind === 'agent' ? 'entryForm.agentIdHelp' : 'entryForm.sceneIdHelp')}
            error={idError}
          >
            {(aria) => <IdInput aria={aria} placeholder={channel} value={entryId} onChange={(v) => (setEntryId(v), setIdError(undefined))} />}
          </Field>
        )}
        <Field id={`${prefix}-enabled`} label={t('entryForm.enabled')} help={t('entryForm.enabledHelp')} inline>
          {(aria) => <input {...aria} type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />}
        </Field>
        {type && (
          <fieldset className="config-fields">
            <legend>{t('entryForm.settings', { channel: channelName(type) })}</legend>
            <SchemaForm
              key={channel}
              schema={type.configSchema}
              draft={form.draft}
              onDraft={form.onDraft}
              errors={form.errors}
              secrets={entry?.secrets}
              secretModes={form.modes}
              onSecretMode={form.onSecretMode}
              idPrefix={`${prefix}-config`}
            />
          </fieldset>
        )}
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={busy}>
            {t(entry ? 'entryForm.save' : 'entryForm.add')}
          </Button>
          <Button onClick={onCancel}>{t('entryForm.cancel')}</Button>
        </div>
      </form>
    </section>
  );
}
