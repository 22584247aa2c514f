// The user portal (#/portal): a local or directory user signs in and sees
// their own quarantined mail (release, delete; malware and what the
// administrator keeps are shown as not self-releasable) and keeps their
// personal allow and block lists. Its own sign-in form and a shell without
// the admin navigation; it talks only to /api/portal/* (portalApi.ts).

import { useEffect, useState } from 'preact/hooks';
import { ErrorBox, TextField } from '../components/Fields.tsx';
import { fmtSender, fmtTime } from '../format.ts';
import { PortalError, portalCall, setPortalCsrf, setSignedOutHandler, type PortalEntry, type PortalMe, type SenderLists } from './portalApi.ts';

export function PortalApp() {
  // undefined: asking; null: not signed in.
  const [me, setMe] = useState<PortalMe | null | undefined>(undefined);

  useEffect(() => {
    document.title = 'Your quarantine · mailwarden';
    setSignedOutHandler(() => {
      setPortalCsrf(null);
      setMe(null);
    });
    portalCall<PortalMe>('GET', '/api/portal/me')
      .then((m) => {
        setPortalCsrf(m.csrf);
        setMe(m);
      })
      .catch(() => setMe(null));
  }, []);

  if (me === undefined) return <p class="loading boot">Loading…</p>;
  if (me === null)
    return (
      <PortalSignIn
        onSignedIn={(m) => {
          setPortalCsrf(m.csrf);
          setMe(m);
        }}
      />
    );

  const signOut = async () => {
    try {
      await portalCall('POST', '/api/portal/logout');
    } catch {
      // Signed out either way.
    }
    setPortalCsrf(null);
    setMe(null);
  };

  return (
    <div class="portal">
      <header class="topbar">
        <span class="brand">
          mailwarden <span>quarantine</span>
        </span>
        <div class="who">
          <span data-testid="portal-whoami">{me.name}</span>
          <button type="button" class="link-button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" class="portal-main">
        <p class="muted" data-testid="portal-addresses">
          {me.addresses.length ? `Mail to ${me.addresses.join(', ')}` : 'No address of yours is known: there is nothing to show.'}
        </p>
        <QuarantineList />
        <SenderListsForm />
      </main>
    </div>
  );
}

function PortalSignIn({ onSignedIn }: { onSignedIn: (me: PortalMe) => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await portalCall<PortalMe>('POST', '/api/portal/login', { name, password }));
    } catch (err) {
      const status = err instanceof PortalError ? err.status : 0;
      const message = (err as Error).message;
      setError(status === 401 ? 'Wrong name or password.' : status === 404 ? 'The user portal is turned off.' : message.charAt(0).toUpperCase() + message.slice(1));
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login" id="main">
      <form class="card login-card" onSubmit={(e) => void submit(e)} aria-labelledby="portal-title">
        <h1 id="portal-title">
          mailwarden <span>quarantine</span>
        </h1>
        <p class="muted">Sign in with your mail account to see the messages held for you.</p>
        <TextField label="Name" name="username" value={name} onInput={setName} required autoComplete="username" />
        <TextField label="Password" name="password" type="password" value={password} onInput={setPassword} required autoComplete="current-password" />
        <ErrorBox message={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

const REASONS: Record<PortalEntry['category'], string> = { malware: 'Malware', spam: 'Spam', content: 'Content rule', other: 'Held' };

function QuarantineList() {
  const [entries, setEntries] = useState<PortalEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const load = () =>
    portalCall<{ entries: PortalEntry[] }>('GET', '/api/portal/quarantine')
      .then((r) => setEntries(r.entries))
      .catch((err) => setError((err as Error).message));
  useEffect(() => void load(), []);

  const act = async (e: PortalEntry, action: 'release' | 'delete') => {
    setBusy(e.id);
    setError(null);
    setNotice(null);
    try {
      await portalCall('POST', `/api/portal/quarantine/${encodeURIComponent(e.id)}/${action}`);
      setNotice(action === 'release' ? `Released: "${e.subject ?? '(no subject)'}" is on its way to you.` : `Deleted: "${e.subject ?? '(no subject)'}".`);
      await load();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(null);
    }
  };

  return (
    <section class="card" aria-labelledby="portal-q-title">
      <h2 id="portal-q-title">Held for you</h2>
      <ErrorBox message={error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {entries === null ? (
        <p class="loading">Loading…</p>
      ) : entries.length === 0 ? (
        <p data-testid="portal-empty">Nothing is held for you.</p>
      ) : (
        <div class="table-wrap">
          <table class="stack" data-testid="portal-quarantine">
            <thead>
              <tr>
                <th scope="col">Sender</th>
                <th scope="col">Subject</th>
                <th scope="col">Reason</th>
                <th scope="col">Date</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id} data-id={e.id}>
                  <td data-label="Sender" class="addr">
                    {fmtSender(e.sender)}
                  </td>
                  <td data-label="Subject">{e.subject ?? <span class="muted">(no subject)</span>}</td>
                  <td data-label="Reason" title={e.reason}>
                    {REASONS[e.category]}
                    <div class="muted small">{e.reason}</div>
                  </td>
                  <td data-label="Date" class="nowrap">
                    {fmtTime(e.received_at)}
                  </td>
                  <td data-label="Actions" class="row-actions wrap">
                    {e.releasable ? (
                      <button type="button" disabled={busy !== null} onClick={() => void act(e, 'release')}>
                        Release
                      </button>
                    ) : (
                      <span class="muted small" data-testid="not-releasable">
                        {e.category === 'malware' ? 'Malware: only your administrator can release it' : 'Only your administrator can release it'}
                      </span>
                    )}{' '}
                    <button type="button" class="danger" disabled={busy !== null} onClick={() => void act(e, 'delete')}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

const lines = (text: string): string[] =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');

function SenderListsForm() {
  const [allow, setAllow] = useState<string | null>(null);
  const [block, setBlock] = useState('');
  const [errors, setErrors] = useState<string[]>([]);
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    portalCall<SenderLists>('GET', '/api/portal/senders')
      .then((l) => {
        setAllow(l.allow.join('\n'));
        setBlock(l.block.join('\n'));
      })
      .catch((err) => setErrors([(err as Error).message]));
  }, []);

  const save = async (e: Event) => {
    e.preventDefault();
    setErrors([]);
    setSaved(false);
    try {
      const l = await portalCall<SenderLists>('PUT', '/api/portal/senders', { allow: lines(allow ?? ''), block: lines(block) });
      setAllow(l.allow.join('\n'));
      setBlock(l.block.join('\n'));
      setSaved(true);
    } catch (err) {
      setErrors(err instanceof PortalError && err.errors.length ? err.errors : [(err as Error).message]);
    }
  };

  if (allow === null) return <p class="loading">Loading your lists…</p>;
  return (
    <form class="card" onSubmit={(e) => void save(e)} aria-labelledby="portal-lists-title">
      <h2 id="portal-lists-title">Your sender lists</h2>
      <p class="muted">
        One address (friend@example.net) or domain (@example.net) per line, at most 1,000 each. Mail from a sender you block is refused; mail from a sender you allow is not
        held as spam (malware still is).
      </p>
      <div class="field">
        <label for="portal-allow">Allow</label>
        <textarea id="portal-allow" rows={6} value={allow} onInput={(e) => setAllow((e.target as HTMLTextAreaElement).value)} />
      </div>
      <div class="field">
        <label for="portal-block">Block</label>
        <textarea id="portal-block" rows={6} value={block} onInput={(e) => setBlock((e.target as HTMLTextAreaElement).value)} />
      </div>
      {errors.length > 0 && (
        <ul class="error-box" role="alert" data-testid="portal-list-errors">
          {errors.map((m) => (
            <li key={m}>{m}</li>
          ))}
        </ul>
      )}
      {saved && (
        <p class="notice" role="status">
          Saved.
        </p>
      )}
      <button type="submit" class="primary">
        Save lists
      </button>
    </form>
  );
}
