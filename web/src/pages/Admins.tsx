// Admins: the accounts of the web admin and the REST API (admin or viewer),
// and the API tokens (a new token is shown once, then only its id). Leaving
// with unsaved input in the add forms asks first (useFormDirty).

import { useState } from 'preact/hooks';
import { call, get, post, seg } from '../api.ts';
import { ConfirmButton } from '../components/ConfirmButton.tsx';
import { ErrorBox, SelectField, TextField } from '../components/Fields.tsx';
import { fmtTime } from '../format.ts';
import { useFormDirty, useLoad } from '../hooks.ts';
import { useCanEdit, useSession } from '../session.ts';
import type { AdminInfo, Role, TokenInfo } from '../types.ts';
import { EmptyRow } from '../components/Boilerplate.tsx';

const ROLES = [
  ['admin', 'admin (may change settings)'],
  ['viewer', 'viewer (read only)'],
] as const;

export function Admins() {
  return (
    <section class="page">
      <h1>Admins</h1>
      <p class="lead">Who may use this admin and the REST API. These accounts are not SMTP users.</p>
      <Accounts />
      <Tokens />
    </section>
  );
}

function Accounts() {
  const canEdit = useCanEdit();
  const me = useSession();
  const list = useLoad(() => get<AdminInfo[]>('/api/admins'));
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('admin');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  useFormDirty({ name: name.trim(), password, role }, { name: '', password: '', role: 'admin' });

  const run = async (fn: () => Promise<unknown>, ok: string) => {
    setError(null);
    setDone(null);
    try {
      await fn();
      setDone(ok);
      await list.reload();
      return true;
    } catch (err) {
      setError((err as Error).message);
      return false;
    }
  };

  return (
    <div class="card">
      <h2>Accounts</h2>
      <ErrorBox message={list.error ?? error} />
      {done ? (
        <p class="outcome ok" role="status">
          {done}
        </p>
      ) : null}
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Created</th>
              {canEdit && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((a) => (
              <tr key={a.name} data-testid={`admin-row-${a.name}`}>
                <td>
                  <strong>{a.name}</strong> {a.name === me?.name ? <span class="muted">(you)</span> : null}
                </td>
                <td>{a.role}</td>
                <td>{fmtTime(a.created)}</td>
                {canEdit && (
                  <td class="row-actions">
                    <ConfirmButton label="Delete" confirmLabel="Confirm delete" what={a.name} onConfirm={() => void run(() => call('DELETE', `/api/admins/${seg(a.name)}`), `Admin ${a.name} deleted.`)} />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {canEdit && (
        <form
          class="form-grid subform"
          aria-labelledby="add-admin-title"
          onSubmit={async (e) => {
            e.preventDefault();
            if (await run(() => post('/api/admins', { name: name.trim(), password, role }), `Admin ${name.trim()} added.`)) {
              setName('');
              setPassword('');
              setRole('admin');
            }
          }}
        >
          <h3 id="add-admin-title">Add an admin</h3>
          <TextField label="Admin name" value={name} onInput={setName} required />
          <TextField label="Admin password" type="password" value={password} onInput={setPassword} required autoComplete="new-password" hint="At least 8 characters." />
          <SelectField<Role> label="Role" value={role} options={ROLES} onChange={setRole} />
          <div class="actions">
            <button type="submit" class="primary">
              Add admin
            </button>
          </div>
        </form>
      )}
    </div>
  );
}

function Tokens() {
  const canEdit = useCanEdit();
  const list = useLoad(() => get<TokenInfo[]>('/api/tokens'));
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [error, setError] = useState<string | null>(null);
  useFormDirty({ name: name.trim(), role }, { name: '', role: 'viewer' });
  const [created, setCreated] = useState<{ token: string; info: TokenInfo } | null>(null);

  const create = async () => {
    setError(null);
    try {
      const t = await post<{ token: string; info: TokenInfo }>('/api/tokens', { name: name.trim(), role });
      setCreated(t);
      setName('');
      setRole('viewer');
      await list.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const revoke = async (id: string) => {
    setError(null);
    try {
      await call('DELETE', `/api/tokens/${seg(id)}`);
      await list.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <div class="card">
      <h2>API tokens</h2>
      <p class="intro">
        For scripts: <code>Authorization: Bearer TOKEN</code>. A token has its own role and ends when revoked or when its owner is removed.
      </p>
      <ErrorBox message={list.error ?? error} />
      {created && (
        <div class="new-token" role="status" data-testid="new-token">
          <p>
            <strong>New token "{created.info.name}"</strong> ({created.info.role}). Copy it now: it is shown only once.
          </p>
          <code class="token">{created.token}</code>
          <div class="actions">
            <button type="button" onClick={() => void navigator.clipboard?.writeText(created.token)}>
              Copy
            </button>
            <button type="button" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        </div>
      )}
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">ID</th>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Owner</th>
              <th scope="col">Created</th>
              <th scope="col">Status</th>
              {canEdit && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((t) => (
              <tr key={t.id} data-testid={`token-row-${t.id}`} class={t.revoked ? 'muted' : ''}>
                <td class="mono">{t.id}</td>
                <td>{t.name}</td>
                <td>{t.role}</td>
                <td>{t.owner}</td>
                <td>{fmtTime(t.created)}</td>
                <td>{t.revoked ? `revoked ${fmtTime(t.revoked)}` : 'active'}</td>
                {canEdit && <td class="row-actions">{!t.revoked && <ConfirmButton label="Revoke" confirmLabel="Confirm revoke" onConfirm={() => void revoke(t.id)} />}</td>}
              </tr>
            ))}
            <EmptyRow cols={7} show={list.data && list.data.length === 0}>No tokens.</EmptyRow>
          </tbody>
        </table>
      </div>
      {canEdit && (
        <form
          class="form-grid subform"
          aria-labelledby="add-token-title"
          onSubmit={(e) => {
            e.preventDefault();
            void create();
          }}
        >
          <h3 id="add-token-title">Create a token</h3>
          <TextField label="Token name" value={name} onInput={setName} required />
          <SelectField<Role> label="Token role" value={role} options={ROLES} onChange={setRole} />
          <div class="actions">
            <button type="submit" class="primary">
              Create token
            </button>
          </div>
        </form>
      )}
    </div>
  );
}
