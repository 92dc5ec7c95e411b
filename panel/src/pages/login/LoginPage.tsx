import { useState, type FormEvent } from 'react';
import { ApiError, session } from '../../api';
import { Button } from '../../components/Button';
import { Logo } from '../../components/Icons';

/** The admin token, exchanged for an HttpOnly session cookie; the token itself is not kept. */
export function LoginPage({ onLogin }: { onLogin(): void }) {
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
      setError(err instanceof ApiError ? err.message : 'Cannot reach the gateway. Is it running?');
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
        </div>
        <p className="muted">Sign in with the gateway's admin token (printed when the gateway starts, or set as COCOCAT_ADMIN_TOKEN), or with your operator token.</p>
        <div className={`field${error ? ' field-invalid' : ''}`}>
          <label htmlFor="admin-token">Admin token</label>
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
          Log in
        </Button>
      </form>
    </main>
  );
}
