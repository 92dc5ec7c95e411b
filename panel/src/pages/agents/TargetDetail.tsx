import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, ApiError } from '../../api';
import { Banner, useToast } from '../../components/Banner';
import { Button } from '../../components/Button';
import { ConfirmDialog } from '../../components/Dialog';
import { errorText, usePolled } from '../../components/live';
import { ReadOnlyNote } from '../../components/ReadOnlyNote';
import type { Agent, Scene } from '../../components/types';
import { href, navigate } from '../../router';
import { useCanChangeSetup } from '../../role';
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
  const { t } = useTranslation('agents');

  if (item.error instanceof ApiError && item.error.status === 404) {
    return (
      <div className="page">
        <h1>{t('detail.notFound')}</h1>
        <p>
          {t(`detail.${kind}.missing`, { id })} <a href={href(['agents'])}>{t('detail.backToList')}</a>
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
      toast(t(`detail.${kind}.deleted`, { id }));
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
        <a href={href(['agents'])}>{t(`detail.${kind}.crumb`)}</a> /
      </p>
      <div className="page-head">
        <h1>
          {name}
          {name !== id && <span className="muted small"> ({id})</span>}
        </h1>
        {canChange && (
          <Button variant="danger" onClick={() => setConfirming(true)}>
            {t(`detail.${kind}.delete`)}
          </Button>
        )}
      </div>
      {data && 'profile' in data && <p className="muted">{t('detail.provider', { provider: String(data.profile.provider) })}</p>}
      {data && 'scene' in data && <p className="muted">{t('detail.roster', { roster: data.scene.roster.join(', ') })}</p>}
      {!canChange && <ReadOnlyNote />}
      {banner && <Banner onDismiss={() => setBanner(undefined)}>{banner}</Banner>}
      {item.error !== undefined && <Banner>{t(`detail.${kind}.failed`, { error: errorText(item.error) })}</Banner>}
      <EntriesSection kind={kind} id={id} />
      <section aria-labelledby="settings-title" className="section-gap page-narrow">
        <h2 id="settings-title">{t(`detail.${kind}.settings`)}</h2>
        {schemas.error !== undefined && <Banner>{t('detail.formFailed', { error: errorText(schemas.error) })}</Banner>}
        {data && schema && (
          <TargetForm
            key={formVersion}
            kind={kind}
            schema={schema}
            id={id}
            stored={stored}
            secrets={'secrets' in data ? data.secrets : undefined}
            submitLabel={t(`detail.${kind}.save`)}
            readOnly={!canChange}
            onSaved={async () => {
              toast(t('detail.saved'));
              await item.reload();
              setFormVersion((v) => v + 1);
            }}
          />
        )}
      </section>
      <ConfirmDialog
        open={confirming}
        title={t(`detail.${kind}.confirmTitle`, { id })}
        message={
          <p>{t(`detail.${kind}.confirmMessage`)}</p>
        }
        confirmLabel={t(`detail.${kind}.delete`)}
        busy={deleting}
        onCancel={() => setConfirming(false)}
        onConfirm={remove}
      />
    </div>
  );
}
