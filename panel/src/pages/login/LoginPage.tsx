import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { ApiError, session } from '../../api';
import { Button } from '../../components/Button';
import { Logo } from '../../components/Icons';
import { LanguageSwitcher } from '../../components/LanguageSwitcher';

/** The admin token, exchanged for an HttpOnly session cookie; the token itself is not kept. */
export function LoginPage({ onLogin }: { onLogin(): void }) {
  const { t } = useTranslation('login');
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await session.login(token.trim());
      setToken('');
      onLogin();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : t('unreachable'));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="login">
      <form className="login-card" onSubmit={submit} noValidate>
        <div className="login-brand">
          <Logo size={40} />
          <h1>CocoCat</h1>
          {/* Chosen before logging in, so the whole panel opens in it. */}
          <LanguageSwitcher />
        </div>
        <p className="muted">{t('help')}</p>
        <div className={`field${error ? ' field-invalid' : ''}`}>
          <label htmlFor="admin-token">{t('token')}</label>
          <input
            id="admin-token"
            type="password"
            autoComplete="current-password"
            autoFocus
            required
            value={token}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? 'admin-token-error' : undefined}
            onChange={(e) => setToken(e.target.value)}
          />
          {error && (
            <p className="field-error" id="admin-token-error" role="alert">
              {error}
            </p>
          )}
        </div>
        <Button type="submit" variant="primary" busy={busy} disabled={!token.trim()}>
          {t('submit')}
        </Button>
      </form>
    </main>
  );
}
