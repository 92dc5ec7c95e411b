import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, ApiError } from '../../api';
import { Button } from '../../components/Button';
import { Dialog } from '../../components/Dialog';
import { errorText } from '../../components/live';
import { QrCode } from '../../components/QrCode';
import type { EntryLogin, LoginStatus } from '../../components/types';

const POLL_MS = 1_000;

function pending(state: LoginStatus['state']): boolean {
  return state === 'waiting' || state === 'scanned';
}

interface LoginDialogProps {
  /** The entry's admin path, `/agents/<id>/entries/<entry>`. */
  path: string;
  entryId: string;
  onClose(): void;
  onConfirmed(login: EntryLogin): void;
}

/**
 * The QR-code login of one entry: starts it (POST), shows the code, follows it (GET about once a
 * second) until it is confirmed or ends, and cancels it (DELETE) when closed before that. Mounted
 * only while open, so each opening starts a fresh login.
 */
export function LoginDialog({ path, entryId, onClose, onConfirmed }: LoginDialogProps) {
  const { t } = useTranslation('agents');
  const [login, setLogin] = useState<EntryLogin>();
  // `final`: no request is still following the login (Try again starts a new one).
  const [error, setError] = useState<{ text: string; final: boolean }>();
  const [attempt, setAttempt] = useState(0);
  // Refs, not state: read by the unmount cleanup, which sees only the first render's values.
  const mounted = useRef(true);
  const waiting = useRef(false);
  const confirmed = useRef(onConfirmed);
  confirmed.current = onConfirmed;

  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      // Closed (or navigated away) before the scan was confirmed: the gateway stops waiting for it.
      if (waiting.current) void api('DELETE', `${path}/login`).catch(() => undefined);
    };
  }, [path]);

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setLogin(undefined);
    setError(undefined);
    waiting.current = false;
    const show = (next: EntryLogin) => {
      if (!live) {
        // The dialog was closed while the login was being started: cancel it now that it exists.
        // (Not when only this effect was replaced: that start is already superseded by a newer one.)
        if (!mounted.current && pending(next.state)) void api('DELETE', `${path}/login`).catch(() => undefined);
        return;
      }
      setLogin(next);
      setError(undefined);
      waiting.current = pending(next.state);
      if (waiting.current) timer = setTimeout(poll, POLL_MS);
      else if (next.state === 'confirmed') confirmed.current(next);
    };
    const poll = () =>
      api<EntryLogin>('GET', `${path}/login`).then(show, (err: unknown) => {
        if (!live) return;
        // A 4xx will not mend itself (404: the gateway no longer has this login); a blip may.
        const final = err instanceof ApiError && err.status < 500;
        setError({ text: errorText(err), final });
        if (final) waiting.current = false;
        else timer = setTimeout(poll, POLL_MS);
      });
    api<EntryLogin>('POST', `${path}/login`).then(show, (err: unknown) => live && setError({ text: errorText(err), final: true }));
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [path, attempt]);

  const state = login?.state;
  const failed = state !== undefined && !pending(state) && state !== 'confirmed';
  // What the person at the phone should do, or what happened, when the gateway gives no message.
  const said = (s: LoginStatus['state']) => t(`login.state.${s}`);
  return (
    <Dialog
      open
      title={t('login.title')}
      onClose={onClose}
      actions={
        <>
          {(failed || error?.final) && (
            <Button variant="primary" onClick={() => setAttempt((n) => n + 1)}>
              {t('login.tryAgain')}
            </Button>
          )}
          <Button onClick={onClose}>{t(state === undefined || pending(state) ? 'login.cancel' : 'login.close')}</Button>
        </>
      }
    >
      <div className="qr-login">
        <p className="muted">{t('login.intro', { id: entryId })}</p>
        {state === 'waiting' && login?.qrContent && <QrCode text={login.qrContent} label={t('login.qrLabel', { id: entryId })} />}
        <p className="qr-login-state" role="status">
          {state === undefined && !error && t('login.asking')}
          {state === 'confirmed'
            ? login?.account != null
              ? t('login.loggedInAs', { account: login.account })
              : t('login.loggedInScanned')
            : state && pending(state)
              ? said(state)
              : undefined}
        </p>
        {state === 'waiting' && <p className="muted small">{t('login.newCode')}</p>}
        {state === 'confirmed' && <p className="muted small">{t('login.restarts')}</p>}
        {failed && (
          <p className="field-error" role="alert">
            {login?.message ?? said(state)}
          </p>
        )}
        {error && (
          <p className="field-error" role="alert">
            {error.text}
          </p>
        )}
      </div>
    </Dialog>
  );
}
