// Users & Groups: the SMTP users (name, password, groups, enabled, comment;
// passwords are never shown, only set) and the user groups, each listed,
// added, edited and deleted through /api/users and /api/groups. Leaving
// with unsaved input in either form asks first (useFormDirty).

import { useState } from 'preact/hooks';
import { get, seg } from '../api.ts';
import { ApplyResultView } from '../components/ApplyResultView.tsx';
import { CheckField, ErrorBox, TextField } from '../components/Fields.tsx';
import { ObjectField } from '../components/ObjectField.tsx';
import { useApply, useFormDirty, useLoad } from '../hooks.ts';
import { useCanEdit } from '../session.ts';
import type { GroupDef, SectionValue, UserInfo } from '../types.ts';
import { EmptyRow, CardForm, SaveActions, DeleteButton } from '../components/Boilerplate.tsx';

interface UserForm {
  name: string;
  password: string;
  groups: string[];
  enabled: boolean;
  comment: string;
  /** relaying.sender_login: as typed, addresses separated by commas, spaces or lines. */
  addresses: string;
}
const emptyUser = (): UserForm => ({ name: '', password: '', groups: [], enabled: true, comment: '', addresses: '' });
/** The typed addresses as a list (the server checks each one). */
const addressList = (text: string): string[] => text.split(/[\s,;]+/).filter((a) => a !== '');
/** The form as it would be sent: surrounding spaces are not sent. */
const userSent = (f: UserForm) => ({ ...f, name: f.name.trim(), comment: f.comment.trim(), addresses: addressList(f.addresses) });

export function Users() {
  const canEdit = useCanEdit();
  const users = useLoad(() => get<UserInfo[]>('/api/users'));
  const groups = useLoad(() => get<GroupDef[]>('/api/groups'));
  // The server judges passwords; the form only says what it will ask for.
  const limits = useLoad(() => get<SectionValue<{ min_password_length?: number }>>('/api/settings/limits'));
  const minLength = limits.data?.value.min_password_length ?? null;
  return (
    <section class="page">
      <h1>Users & Groups</h1>
      <p class="lead">SMTP users who can authenticate (and, when named under Relaying, relay), and the groups they belong to.</p>
      <ErrorBox message={users.error ?? groups.error} />
      <UsersPart
        canEdit={canEdit}
        users={users.data ?? []}
        groupNames={(groups.data ?? []).map((g) => g.name)}
        minLength={minLength}
        // A user may bring a new group with it: both lists change.
        reload={async () => {
          await users.reload();
          await groups.reload();
        }}
      />
      <GroupsPart
        canEdit={canEdit}
        groups={groups.data ?? []}
        reload={async () => {
          await groups.reload();
          await users.reload();
        }}
      />
    </section>
  );
}

function UsersPart({ canEdit, users, groupNames, minLength, reload }: { canEdit: boolean; users: UserInfo[]; groupNames: string[]; minLength: number | null; reload: () => Promise<void> }) {
  const save = useApply();
  const remove = useApply();
  const [form, setForm] = useState<UserForm>(emptyUser());
  const [editing, setEditing] = useState<string | null>(null);
  /** What the form started from: the empty form, or the user as loaded for editing. */
  const [base, setBase] = useState<UserForm>(emptyUser());
  useFormDirty(userSent(form), userSent(base));
  const set = (patch: Partial<UserForm>) => setForm({ ...form, ...patch });
  const reset = () => {
    setForm(emptyUser());
    setBase(emptyUser());
    setEditing(null);
  };

  const submit = async () => {
    let r;
    if (editing) {
      const b: Record<string, unknown> = { groups: form.groups, enabled: form.enabled, addresses: addressList(form.addresses) };
      // An empty comment is sent only to clear one the user has: an empty field is no comment, not a change.
      const comment = form.comment.trim();
      if (comment || users.find((u) => u.name === editing)?.comment) b.comment = comment;
      if (form.password) b.password = form.password;
      r = await save.run('PUT', `/api/users/${seg(editing)}`, b);
    } else {
      const b: Record<string, unknown> = { name: form.name.trim(), password: form.password, groups: form.groups, enabled: form.enabled };
      if (form.comment.trim()) b.comment = form.comment.trim();
      if (addressList(form.addresses).length > 0) b.addresses = addressList(form.addresses);
      r = await save.run('POST', '/api/users', b);
    }
    if (r.ok) {
      reset();
      await reload();
    }
  };

  return (
    <>
      <div class="card">
        <h2>Users</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Groups</th>
                <th scope="col">Enabled</th>
                <th scope="col">Comment</th>
                {canEdit && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.name} data-testid={`user-row-${u.name}`}>
                  <td>
                    <strong>{u.name}</strong>
                    {u.addresses && u.addresses.length > 0 && (
                      <small class="hint" data-testid={`user-addresses-${u.name}`}>
                        <br />
                        {u.addresses.join(', ')}
                      </small>
                    )}
                  </td>
                  <td>{u.groups.join(', ')}</td>
                  <td>{u.enabled ? 'yes' : <span class="badge warn">disabled</span>}</td>
                  <td>{u.comment}</td>
                  {canEdit && (
                    <td class="row-actions">
                      <button
                        type="button"
                        aria-label={`Edit ${u.name}`}
                        onClick={() => {
                          setEditing(u.name);
                          const loaded = { name: u.name, password: '', groups: [...u.groups], enabled: u.enabled, comment: u.comment ?? '', addresses: (u.addresses ?? []).join(', ') };
                          setForm(loaded);
                          setBase(loaded);
                          save.setResult(null);
                          document.getElementById('user-form')?.scrollIntoView({ block: 'start' });
                        }}
                      >
                        Edit
                      </button>
                      <DeleteButton
                        what={u.name}
                        busy={remove.busy}
                        onDelete={async () => {
                          if ((await remove.run('DELETE', `/api/users/${seg(u.name)}`)).ok) await reload();
                        }}
                      />
                    </td>
                  )}
                </tr>
              ))}
              <EmptyRow cols={5} show={users.length === 0}>No users yet.</EmptyRow>
            </tbody>
          </table>
        </div>
        <ApplyResultView result={remove.result} />
      </div>
      {canEdit && (
        <CardForm id="user-form" titleId="user-form-title" title={editing ? `Edit user ${editing}` : 'Add a user'} onSubmit={() => void submit()}>
          <TextField label="User name" value={form.name} onInput={(v) => set({ name: v })} required disabled={editing !== null} />
          <TextField
            label="Password"
            type="password"
            value={form.password}
            onInput={(v) => set({ password: v })}
            required={editing === null}
            autoComplete="new-password"
            hint={`${minLength ? `At least ${minLength} characters. ` : ''}${editing ? 'Leave empty to keep the current password.' : 'Stored only as a hash.'}`}
          />
          <ObjectField label="Groups" kind="group" value={form.groups} options={groupNames} onChange={(v) => set({ groups: v })} testid="field-user-groups" />
          <CheckField label="Enabled (may authenticate)" checked={form.enabled} onChange={(v) => set({ enabled: v })} />
          <TextField
            label="Addresses"
            value={form.addresses}
            onInput={(v) => set({ addresses: v })}
            testid="field-user-addresses"
            placeholder="kai@example.com, @example.org"
            hint="The sender addresses this user may use when Relaying binds senders to their login; separate them with commas. @example.org allows every address of that domain."
          />
          <TextField label="Comment" value={form.comment} onInput={(v) => set({ comment: v })} />
          <SaveActions
            label="Save user"
            busy={save.busy}
            editing={editing !== null}
            onCancel={() => {
              reset();
              save.setResult(null);
            }}
            result={save.result}
          />
        </CardForm>
      )}
    </>
  );
}

function GroupsPart({ canEdit, groups, reload }: { canEdit: boolean; groups: GroupDef[]; reload: () => Promise<void> }) {
  const save = useApply();
  const remove = useApply();
  const [name, setName] = useState('');
  const [comment, setComment] = useState('');
  const [editing, setEditing] = useState<string | null>(null);
  /** What the form started from: empty, or the group as loaded for editing. */
  const [base, setBase] = useState({ name: '', comment: '' });
  useFormDirty({ name: name.trim(), comment: comment.trim() }, base);
  const reset = () => {
    setName('');
    setComment('');
    setBase({ name: '', comment: '' });
    setEditing(null);
  };

  const submit = async () => {
    const b: GroupDef = { name: editing ?? name.trim() };
    if (comment.trim()) b.comment = comment.trim();
    const r = editing ? await save.run('PUT', `/api/groups/${seg(editing)}`, b) : await save.run('POST', '/api/groups', b);
    if (r.ok) {
      reset();
      await reload();
    }
  };

  return (
    <>
      <div class="card">
        <h2>User groups</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Comment</th>
                {canEdit && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {groups.map((g) => (
                <tr key={g.name} data-testid={`group-row-${g.name}`}>
                  <td>
                    <strong>{g.name}</strong>
                  </td>
                  <td>{g.comment}</td>
                  {canEdit && (
                    <td class="row-actions">
                      <button
                        type="button"
                        aria-label={`Edit group ${g.name}`}
                        onClick={() => {
                          setEditing(g.name);
                          setName(g.name);
                          setComment(g.comment ?? '');
                          setBase({ name: g.name, comment: (g.comment ?? '').trim() });
                          save.setResult(null);
                        }}
                      >
                        Edit
                      </button>
                      <DeleteButton
                        what={`group ${g.name}`}
                        busy={remove.busy}
                        onDelete={async () => {
                          if ((await remove.run('DELETE', `/api/groups/${seg(g.name)}`)).ok) await reload();
                        }}
                      />
                    </td>
                  )}
                </tr>
              ))}
              <EmptyRow cols={3} show={groups.length === 0}>No groups yet.</EmptyRow>
            </tbody>
          </table>
        </div>
        <ApplyResultView result={remove.result} />
      </div>
      {canEdit && (
        <CardForm titleId="group-form-title" title={editing ? `Edit group ${editing}` : 'Add a group'} onSubmit={() => void submit()}>
          <TextField label="Group name" value={name} onInput={setName} required disabled={editing !== null} />
          <TextField label="Group comment" value={comment} onInput={setComment} />
          <SaveActions
            label="Save group"
            busy={save.busy}
            editing={editing !== null}
            onCancel={() => {
              reset();
              save.setResult(null);
            }}
            result={save.result}
          />
        </CardForm>
      )}
    </>
  );
}
