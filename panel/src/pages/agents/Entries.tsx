import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, ApiError } from '../../api';
import { Banner, useToast } from '../../components/Banner';
import { Button } from '../../components/Button';
import { ChannelIcon } from '../../components/ChannelIcon';
import { channelName } from '../../components/channel-text';
import { CopyButton } from '../../components/CopyButton';
import { ConfirmDialog } from '../../components/Dialog';
import { EmptyState } from '../../components/EmptyState';
import { PlusIcon } from '../../components/Icons';
import { errorText, useNow, usePolled } from '../../components/live';
import { fieldText } from '../../components/schema';
import { EntryStatusLine, StatusBadge } from '../../components/StatusBadge';
import type { ChannelType, Entry } from '../../components/types';
import { href, navigate, useRoute } from '../../router';
import { useCanChangeSetup } from '../../role';
import { targetPath, useChannelTypes, type TargetKind } from './data';
import { EntryForm } from './EntryForm';
import { LoginDialog } from './LoginDialog';

/**
 * The entries of an agent or scene, refreshed every 2 s so a saved entry is seen coming up
 * (it restarts in the background). `?add=1` opens the form for a new one, `?edit=<id>` for one.
 */
export function EntriesSection({ kind, id }: { kind: TargetKind; id: string }) {
  const route = useRoute();
  const toast = useToast();
  const catalog = useChannelTypes();
  const entries = usePolled(() => api<{ entries: Entry[] }>('GET', `${targetPath(kind, id)}/entries`).then((r) => r.entries), 2_000, [kind, id]);
  const [banner, setBanner] = useState<string>();
  const now = useNow(2_000);
  const here = [`${kind}s`, id];
  const adding = route.query.get('add') === '1';
  const editing = route.query.get('edit');
  const edited = editing ? entries.data?.find((e) => e.id === editing) : undefined;
  const closeForm = () => navigate(here);
  const canChange = useCanChangeSetup();
  const { t } = useTranslation('agents');

  return (
    <section aria-labelledby="entries-title" className="section-gap">
      <div className="page-head">
        <h2 id="entries-title">{t('entries.title')}</h2>
        {!adding && canChange && (
          <a className="btn btn-primary" href={href(here, { add: '1' })}>
            <PlusIcon /> {t('entries.add')}
          </a>
        )}
      </div>
      <p className="muted">{t(`entries.${kind}.intro`)}</p>
      {banner && <Banner onDismiss={() => setBanner(undefined)}>{banner}</Banner>}
      {catalog.error !== undefined && <Banner>{t('entries.catalogFailed', { error: errorText(catalog.error) })}</Banner>}
      {entries.error !== undefined && <Banner>{t('entries.entriesFailed', { error: errorText(entries.error) })}</Banner>}
      {(adding || edited) && catalog.value && canChange && (
        <EntryForm
          key={edited?.id ?? 'new'}
          kind={kind}
          targetId={id}
          catalog={catalog.value}
          entry={edited}
          takenIds={entries.data?.map((e) => e.id) ?? []}
          onCancel={closeForm}
          onSaved={(saved) => {
            toast(t('entries.saved', { id: saved.id }));
            closeForm();
            void entries.reload();
          }}
        />
      )}
      {entries.data &&
        (entries.data.length === 0 ? (
          !adding && (
            <EmptyState title={t('entries.empty')}>
              <p>{t(`entries.${kind}.emptyHelp`)}</p>
            </EmptyState>
          )
        ) : (
          <ul className="entry-grid" aria-label={t('entries.title')}>
            {entries.data.map((entry) => (
              <EntryRow
                key={entry.key}
                entry={entry}
                type={catalog.value?.find((c) => c.type === entry.channel)}
                base={targetPath(kind, id)}
                editHref={href(here, { edit: entry.id })}
                now={now}
                onChanged={(message) => (toast(message), void entries.reload())}
                onError={setBanner}
              />
            ))}
          </ul>
        ))}
    </section>
  );
}

interface EntryRowProps {
  entry: Entry;
  type?: ChannelType;
  base: string;
  editHref: string;
  now: number;
  onChanged(message: string): void;
  onError(message: string): void;
}

function EntryRow({ entry, type, base, editHref, now, onChanged, onError }: EntryRowProps) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState<string>();
  const [loggingIn, setLoggingIn] = useState(false);
  const canChange = useCanChangeSetup();
  const { t } = useTranslation('agents');
  const path = `${base}/entries/${encodeURIComponent(entry.id)}`;
  const run = async (action: string, call: () => Promise<unknown>, done: string) => {
    setBusy(action);
    try {
      await call();
      onChanged(done);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && action === 'restart') onError(t('entry.cannotReconnect'));
      else onError(errorText(err));
    } finally {
      setBusy(undefined);
    }
  };
  const secretNames = Object.entries(entry.secrets);
  // A QR-login channel's secrets are what the login writes: none set yet means never logged in.
  const canLogin = type?.login === true;
  const needsLogin = canLogin && secretNames.every(([, state]) => !state.set);
  const loginButton = (primary: boolean) => (
    <Button small variant={primary ? 'primary' : 'secondary'} onClick={() => setLoggingIn(true)}>
      {t('entry.logIn')}
    </Button>
  );
  return (
    <li className="entry-card" aria-label={t('entry.label', { id: entry.id })}>
      <div className="entry-card-head">
        <ChannelIcon channel={entry.channel} />
        <div className="entry-card-title">
          <span className="entry-key">{entry.id}</span>
          <span className="muted small">
            {type ? channelName(type) : entry.channel} · {entry.key}
          </span>
        </div>
      </div>
      {entry.status ? (
        <EntryStatusLine status={entry.status} now={now} />
      ) : (
        <div className="status-line">
          <StatusBadge state="stopped" enabled={entry.enabled} />
          {entry.enabled && <span className="muted">{t('entry.waitingStart')}</span>}
        </div>
      )}
      {needsLogin && (
        <div className="login-needed">
          <p>{t(canChange ? 'entry.notLoggedIn' : 'entry.notLoggedInOperator')}</p>
          {canChange && loginButton(true)}
        </div>
      )}
      {secretNames.length > 0 && (
        <ul className="secret-summary" aria-label={t('entry.secrets')}>
          {secretNames.map(([name, state]) => (
            <li key={name}>
              {fieldText(name, type?.configSchema.properties?.[name]).label}: <span className={state.set ? 'secret-state is-set' : 'secret-state is-unset'}>{t(state.set ? 'entry.secretSet' : 'entry.secretNotSet')}</span>
            </li>
          ))}
        </ul>
      )}
      {entry.webhookUrl && (
        <div className="webhook">
          <span className="small">{t('entry.webhook')}</span>
          <div className="webhook-row">
            <code>{entry.webhookUrl}</code>
            <CopyButton text={entry.webhookUrl} label={t('entry.copyUrl')} />
          </div>
        </div>
      )}
      <div className="entry-actions">
        {canChange && (
          <>
            <a className="btn btn-small" href={editHref} aria-label={t('entry.editLabel', { id: entry.id })}>
              {t('entry.edit')}
            </a>
            <Button
              small
              busy={busy === 'toggle'}
              onClick={() =>
                run('toggle', () => api('POST', `${path}/${entry.enabled ? 'disable' : 'enable'}`), t(entry.enabled ? 'entry.disabled' : 'entry.enabled', { id: entry.id }))
              }
            >
              {t(entry.enabled ? 'entry.disable' : 'entry.enable')}
            </Button>
            {entry.enabled && (
              <Button small busy={busy === 'restart'} onClick={() => run('restart', () => api('POST', `/entries/${encodeURIComponent(entry.key)}/restart`), t('entry.reconnecting', { id: entry.id }))}>
                {t(entry.status?.state === 'error' ? 'entry.connectNow' : 'entry.reconnect')}
              </Button>
            )}
            {canLogin && !needsLogin && loginButton(false)}
          </>
        )}
        {entry.channel === 'web_api' && (
          <a className="btn btn-small" href={href(['chat'], { entry: entry.key })}>
            {t('entry.chat')}
          </a>
        )}
        <a className="btn btn-small" href={href(['messages'], { entry: entry.key })}>
          {t('entry.messages')}
        </a>
        {canChange && (
          <Button small variant="danger" onClick={() => setConfirming(true)} aria-label={t('entry.deleteLabel', { id: entry.id })}>
            {t('entry.delete')}
          </Button>
        )}
      </div>
      <ConfirmDialog
        open={confirming}
        title={t('entry.confirmTitle', { id: entry.id })}
        message={<p>{t('entry.confirmMessage')}</p>}
        confirmLabel={t('entry.confirmDelete')}
        busy={busy === 'delete'}
        onCancel={() => setConfirming(false)}
        onConfirm={() => run('delete', () => api('DELETE', path), t('entry.deleted', { id: entry.id })).then(() => setConfirming(false))}
      />
      {loggingIn && (
        <LoginDialog
          path={path}
          entryId={entry.id}
          onClose={() => setLoggingIn(false)}
          onConfirmed={(login) =>
            onChanged(login.account != null ? t('entry.loggedIn', { id: entry.id, account: login.account }) : t('entry.loggedInScanned', { id: entry.id }))
          }
        />
      )}
    </li>
  );
}
