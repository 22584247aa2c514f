// The login page: POST /api/login {name, password}; shows a wrong password
// (401) and the throttle (429, with the server's message).

import { useState } from 'preact/hooks';
import { ApiError, post } from '../api.ts';
import { ErrorBox, TextField } from '../components/Fields.tsx';
import type { Me } from '../types.ts';

export function Login({ onLoggedIn }: { onLoggedIn: (me: Me) => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await post<{ name: string; role: Me['role']; csrf: string }>('/api/login', { name, password });
      onLoggedIn({ name: r.name, role: r.role, via: 'session', csrf: r.csrf });
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      const message = (err as Error).message;
      // 429: the server says how long to wait ("too many failed logins from …; try again in N s").
      setError(status === 401 ? 'Wrong name or password.' : message.charAt(0).toUpperCase() + message.slice(1));
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login" id="main">
      <form class="card login-card" onSubmit={(e) => void submit(e)} aria-labelledby="login-title">
        <h1 id="login-title">
          mailwarden <span>admin</span>
        </h1>
        <TextField label="Name" name="username" value={name} onInput={setName} required autoComplete="username" />
        <TextField label="Password" name="password" type="password" value={password} onInput={setPassword} required autoComplete="current-password" />
        <ErrorBox message={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
        <p class="portal-link">
          <a href="/#/portal" data-testid="portal-link">
            Users: sign in to your quarantine
          </a>
        </p>
      </form>
    </main>
  );
}
