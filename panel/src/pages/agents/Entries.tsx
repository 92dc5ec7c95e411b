import { useState } from 'react';
import { api, ApiError } from '../../api';
import { Banner, useToast } from '../../components/Banner';
import { Button } from '../../components/Button';
import { ChannelIcon } from '../../components/ChannelIcon';
import { CopyButton } from '../../components/CopyButton';
import { ConfirmDialog } from '../../components/Dialog';
import { EmptyState } from '../../components/EmptyState';
import { PlusIcon } from '../../components/Icons';
import { errorText, useNow, usePolled } from '../../components/live';
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

  return (
    <section aria-labelledby="entries-title" className="section-gap">
      <div className="page-head">
        <h2 id="entries-title">Entries</h2>
        {!adding && canChange && (
          <a className="btn btn-primary" href={href(here, { add: '1' })}>
            <PlusIcon /> Add entry
          </a>
        )}
      </div>
      <p className="muted">Each entry connects this {kind} to one channel: a Web API key, a WeChat account, a Feishu app, a WeCom robot…</p>
      {banner && <Banner onDismiss={() => setBanner(undefined)}>{banner}</Banner>}
      {catalog.error !== undefined && <Banner>Cannot load the channel catalog: {errorText(catalog.error)}</Banner>}
      {entries.error !== undefined && <Banner>Cannot load the entries: {errorText(entries.error)}</Banner>}
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
            toast(`Entry "${saved.id}" saved; it restarts now`);
            closeForm();
            void entries.reload();
          }}
        />
      )}
      {entries.data &&
        (entries.data.length === 0 ? (
          !adding && (
            <EmptyState title="No entries yet">
              <p>Add one to reach this {kind} from a chat platform. Web API is the quickest to try.</p>
            </EmptyState>
          )
        ) : (
          <ul className="entry-grid" aria-label="Entries">
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
  const path = `${base}/entries/${encodeURIComponent(entry.id)}`;
  const run = async (action: string, call: () => Promise<unknown>, done: string) => {
    setBusy(action);
    try {
      await call();
      onChanged(done);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && action === 'restart') onError('This gateway cannot reconnect an entry on request yet; disable and enable it instead.');
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
      Log in with WeChat
    </Button>
  );
  return (
    <li className="entry-card" aria-label={`Entry ${entry.id}`}>
      <div className="entry-card-head">
        <ChannelIcon channel={entry.channel} />
        <div className="entry-card-title">
          <span className="entry-key">{entry.id}</span>
          <span className="muted small">
            {type?.displayName ?? entry.channel} · {entry.key}
          </span>
        </div>
      </div>
      {entry.status ? (
        <EntryStatusLine status={entry.status} now={now} />
      ) : (
        <div className="status-line">
          <StatusBadge state="stopped" enabled={entry.enabled} />
          {entry.enabled && <span className="muted">waiting for the gateway to start it</span>}
        </div>
      )}
      {needsLogin && (
        <div className="login-needed">
          <p>{canChange ? 'Not logged in yet: scan a QR code with WeChat to connect this account.' : 'Not logged in yet: the admin logs this account in with WeChat.'}</p>
          {canChange && loginButton(true)}
        </div>
      )}
      {secretNames.length > 0 && (
        <ul className="secret-summary" aria-label="Secrets">
          {secretNames.map(([name, state]) => (
            <li key={name}>
              {name}: <span className={state.set ? 'secret-state is-set' : 'secret-state is-unset'}>{state.set ? 'set' : 'not set'}</span>
            </li>
          ))}
        </ul>
      )}
      {entry.webhookUrl && (
        <div className="webhook">
          <span className="small">Webhook URL — paste it into the platform's console:</span>
          <div className="webhook-row">
            <code>{entry.webhookUrl}</code>
            <CopyButton text={entry.webhookUrl} label="Copy URL" />
          </div>
        </div>
      )}
      <div className="entry-actions">
        {canChange && (
          <>
            <a className="btn btn-small" href={editHref} aria-label={`Edit ${entry.id}`}>
              Edit
            </a>
            <Button
              small
              busy={busy === 'toggle'}
              onClick={() =>
                run('toggle', () => api('POST', `${path}/${entry.enabled ? 'disable' : 'enable'}`), entry.enabled ? `"${entry.id}" disabled` : `"${entry.id}" enabled`)
              }
            >
              {entry.enabled ? 'Disable' : 'Enable'}
            </Button>
            {entry.enabled && (
              <Button small busy={busy === 'restart'} onClick={() => run('restart', () => api('POST', `/entries/${encodeURIComponent(entry.key)}/restart`), `"${entry.id}" reconnecting`)}>
                {entry.status?.state === 'error' ? 'Connect now' : 'Reconnect'}
              </Button>
            )}
            {canLogin && !needsLogin && loginButton(false)}
          </>
        )}
        {entry.channel === 'web_api' && (
          <a className="btn btn-small" href={href(['chat'], { entry: entry.key })}>
            Chat
          </a>
        )}
        <a className="btn btn-small" href={href(['messages'], { entry: entry.key })}>
          Messages
        </a>
        {canChange && (
          <Button small variant="danger" onClick={() => setConfirming(true)} aria-label={`Delete ${entry.id}`}>
            Delete
          </Button>
        )}
      </div>
      <ConfirmDialog
        open={confirming}
        title={`Delete entry "${entry.id}"?`}
        message={<p>The channel stops and the entry is removed from entries.json, with its stored secrets. Messages already received stay in the store.</p>}
        confirmLabel="Delete entry"
        busy={busy === 'delete'}
        onCancel={() => setConfirming(false)}
        onConfirm={() => run('delete', () => api('DELETE', path), `"${entry.id}" deleted`).then(() => setConfirming(false))}
      />
      {loggingIn && (
        <LoginDialog
          path={path}
          entryId={entry.id}
          onClose={() => setLoggingIn(false)}
          onConfirmed={(login) => onChanged(`"${entry.id}" logged in as ${login.account ?? 'the scanned account'}; it restarts now`)}
        />
      )}
    </li>
  );
}
