// My account: the logged-in admin changes its own password (POST
// /api/me/password: the current one, then the new one, 8 to 1024 characters
// as for every admin account). This session stays logged in; the admin's
// other sessions (other browsers) are logged out.

import { useState } from 'preact/hooks';
import { ApiError, post } from '../api.ts';
import { ErrorBox, TextField } from '../components/Fields.tsx';
import { useSession } from '../session.ts';

/** The server's words for a field, as the form labels it. */
function onScreen(message: string): string {
  return message
    .replace(/body\.password: must NOT have fewer than 8 characters/, 'New password: at least 8 characters')
    .replace(/body\.password: must NOT have more than 1024 characters/, 'New password: at most 1024 characters');
}

export function AccountPage() {
  const me = useSession();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);

  const submit = async () => {
    setDone(false);
    if (next.length < 8) return setError('New password: at least 8 characters');
    if (next !== again) return setError('Repeat the new password: it is not the same');
    setBusy(true);
    try {
      await post('/api/me/password', { current, password: next });
      setError(null);
      setDone(true);
      setCurrent('');
      setNext('');
      setAgain('');
    } catch (err) {
      setError(onScreen(err instanceof ApiError ? err.message : `no answer from the server: ${(err as Error).message}`));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="page">
      <h1>My account</h1>
      <p class="lead">
        Logged in as <strong>{me?.name}</strong> ({me?.role}).
      </p>
      <section class="card" aria-labelledby="h-password">
        <h2 id="h-password">Change my password</h2>
        {me?.via === 'token' ? (
          <p>This page was opened with an API token: log in with your name and password to change the password.</p>
        ) : (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void submit();
            }}
          >
            <div class="form-grid">
              <TextField label="Current password" type="password" autoComplete="current-password" value={current} onInput={setCurrent} required testid="field-current-password" />
              <TextField label="New password" type="password" autoComplete="new-password" value={next} onInput={setNext} required testid="field-new-password" hint="8 to 1024 characters." />
              <TextField label="Repeat the new password" type="password" autoComplete="new-password" value={again} onInput={setAgain} required testid="field-repeat-password" />
            </div>
            <div class="actions">
              <button type="submit" class="primary" disabled={busy}>
                {busy ? 'Changing…' : 'Change password'}
              </button>
            </div>
          </form>
        )}
        <ErrorBox message={error} />
        {done && (
          <p class="apply-result ok" role="status" data-testid="password-changed">
            Password changed. You stay logged in here; your other sessions (other browsers or devices) were logged out.
          </p>
        )}
      </section>
    </section>
  );
}
