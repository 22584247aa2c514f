// Directories: the LDAP / Active Directory servers whose users may log in
// (list, add, edit, delete through /api/directories) and "Test connection",
// which binds, finds a user and lists the user's groups with the filters
// actually sent (POST /api/directories/test), for the form as it is, saved
// or not. The bind password is write-only: left empty on an edit, the saved
// one is kept (for the same URL and bind DN).

import { useState } from 'preact/hooks';
import { ApiError, get, post, seg } from '../api.ts';
import { ApplyResultView } from '../components/ApplyResultView.tsx';
import { CheckField, ErrorBox, NumberField, SelectField, TextField } from '../components/Fields.tsx';
import { CardForm, DeleteButton, EmptyRow, SaveActions } from '../components/Boilerplate.tsx';
import { useApply, useFormDirty, useLoad } from '../hooks.ts';
import { useCanEdit } from '../session.ts';
import type { DirectoryDef, DirectoryShown, DirectoryTestResult, DirectoryTls, Relaying, SectionValue } from '../types.ts';

interface Form {
  name: string;
  url: string;
  tls: DirectoryTls;
  ca: string;
  bind_dn: string;
  bind_password: string;
  base_dn: string;
  user_filter: string;
  group_filter: string;
  group_member_attribute: string;
  nested_group_depth: number;
  mail_attributes: string;
  timeout: string;
  cache: string;
  plaintext_acknowledged: boolean;
  comment: string;
}

const EMPTY: Form = {
  name: '',
  url: 'ldap://',
  tls: 'starttls',
  ca: '',
  bind_dn: '',
  bind_password: '',
  base_dn: '',
  user_filter: '(&(objectClass=inetOrgPerson)(uid={login}))',
  group_filter: '',
  group_member_attribute: 'member',
  nested_group_depth: 5,
  mail_attributes: 'mail',
  timeout: '5s',
  cache: '5m',
  plaintext_acknowledged: false,
  comment: '',
};

const TLS_OPTIONS = [
  ['starttls', 'StartTLS (ldap://)'],
  ['ldaps', 'TLS from the start (ldaps://)'],
  ['none', 'None: clear text (this machine only, unless acknowledged)'],
] as const;

function formOf(d: DirectoryShown): Form {
  return {
    name: d.name,
    url: d.url,
    tls: d.tls,
    ca: d.ca ?? '',
    bind_dn: d.bind_dn ?? '',
    bind_password: '',
    base_dn: d.base_dn,
    user_filter: d.user_filter,
    group_filter: d.group_filter ?? '',
    group_member_attribute: d.group_member_attribute,
    nested_group_depth: d.nested_group_depth,
    mail_attributes: d.mail_attributes.join(', '),
    timeout: d.timeout,
    cache: d.cache,
    plaintext_acknowledged: d.plaintext_acknowledged ?? false,
    comment: d.comment ?? '',
  };
}

/** The definition the form holds; empty optional fields are left out (the password: the saved one is kept). */
function definitionOf(f: Form): Partial<DirectoryDef> & { name: string } {
  const d: Partial<DirectoryDef> & { name: string } = {
    name: f.name.trim(),
    type: 'ldap',
    url: f.url.trim(),
    tls: f.tls,
    base_dn: f.base_dn.trim(),
    user_filter: f.user_filter.trim(),
    group_member_attribute: f.group_member_attribute.trim(),
    nested_group_depth: f.nested_group_depth,
    mail_attributes: f.mail_attributes
      .split(/[\s,]+/)
      .map((x) => x.trim())
      .filter(Boolean),
    timeout: f.timeout.trim(),
    cache: f.cache.trim(),
  };
  if (f.ca.trim()) d.ca = f.ca.trim();
  if (f.bind_dn.trim()) d.bind_dn = f.bind_dn.trim();
  if (f.bind_password) d.bind_password = f.bind_password;
  if (f.group_filter.trim()) d.group_filter = f.group_filter.trim();
  if (f.tls === 'none' && f.plaintext_acknowledged) d.plaintext_acknowledged = true;
  if (f.comment.trim()) d.comment = f.comment.trim();
  return d;
}

function TestResult({ r }: { r: DirectoryTestResult }) {
  return (
    <div class={r.ok ? 'apply-result ok' : 'apply-result refused'} data-testid="directory-test-result" role="status">
      <p>
        <strong>{r.ok ? 'The directory answers as configured.' : 'The test failed.'}</strong>
      </p>
      <ul>
        {r.steps.map((s) => (
          <li key={s.step} data-testid={`directory-step-${s.step}`}>
            {s.ok ? '✓' : '✗'} {s.text}
          </li>
        ))}
      </ul>
      <p>
        User filter sent: <code data-testid="directory-user-filter">{r.filters.user}</code>
        <br />
        Group filter: <code data-testid="directory-group-filter">{r.filters.group}</code>
      </p>
      {r.user && (
        <p>
          Groups: <span data-testid="directory-groups">{r.user.groups.length ? r.user.groups.join(', ') : '(none)'}</span>
          <br />
          Addresses: <span data-testid="directory-addresses">{r.user.addresses.length ? r.user.addresses.join(', ') : '(none)'}</span>
        </p>
      )}
    </div>
  );
}

/**
 * The directory groups named in relaying.authenticated_relay.groups
 * (`directory:group`): added and removed here, since the Relaying page can
 * only pick the local groups it can list (a directory's groups are only
 * known to the directory).
 */
function RelayGroups({ directories, canEdit }: { directories: string[]; canEdit: boolean }) {
  const relaying = useLoad(() => get<SectionValue<Relaying>>('/api/settings/relaying'));
  const change = useApply();
  const [dir, setDir] = useState('');
  const [group, setGroup] = useState('');
  const r = relaying.data;
  if (!r) return <ErrorBox message={relaying.error} />;
  const ar = r.value.authenticated_relay;
  const named = ar.groups.filter((g) => g.includes(':'));
  const chosen = directories.includes(dir) ? dir : (directories[0] ?? '');
  const put = async (groups: string[]) => {
    const res = await change.run('PUT', '/api/settings/relaying', { value: { ...r.value, authenticated_relay: { ...ar, groups } }, revision: r.revision, comment: 'directory groups that may relay (web admin)' });
    if (res.ok) {
      setGroup('');
      await relaying.reload();
    }
  };
  return (
    <div class="card">
      <h2>Directory groups that may relay</h2>
      <p>
        Members of these groups may relay after logging in (Relaying → authenticated relay, where local groups are chosen).
        {!ar.enabled && <strong> Authenticated relaying is off: nobody relays by logging in until it is on.</strong>}
      </p>
      <ul data-testid="directory-relay-groups">
        {named.map((g) => (
          <li key={g}>
            <code>{g}</code>{' '}
            {canEdit && (
              <button type="button" aria-label={`Remove ${g}`} disabled={change.busy} onClick={() => void put(ar.groups.filter((x) => x !== g))}>
                Remove
              </button>
            )}
          </li>
        ))}
        {named.length === 0 && <li>None.</li>}
      </ul>
      {canEdit && directories.length > 0 && (
        <form
          class="form-grid"
          aria-label="Allow a directory group to relay"
          onSubmit={(e) => {
            e.preventDefault();
            if (group.trim()) void put([...ar.groups, `${chosen}:${group.trim()}`]);
          }}
        >
          <SelectField label="Directory" value={chosen} options={directories.map((d) => [d, d] as const)} onChange={setDir} />
          <TextField label="Group (its cn)" value={group} onInput={setGroup} placeholder="mail-relay" testid="directory-relay-group" />
          <div class="actions">
            <button type="submit" data-testid="directory-relay-add" disabled={change.busy}>
              Allow to relay
            </button>
          </div>
        </form>
      )}
      <ApplyResultView result={change.result} />
    </div>
  );
}

export function Directories() {
  const canEdit = useCanEdit();
  const list = useLoad(() => get<DirectoryShown[]>('/api/directories'));
  const save = useApply();
  const remove = useApply();
  const [form, setForm] = useState<Form>(EMPTY);
  const [editing, setEditing] = useState<DirectoryShown | null>(null);
  const [login, setLogin] = useState('');
  const [testing, setTesting] = useState(false);
  const [tested, setTested] = useState<DirectoryTestResult | null>(null);
  const [testError, setTestError] = useState<string | null>(null);
  const set = <K extends keyof Form>(k: K) => (v: Form[K]) => setForm((f) => ({ ...f, [k]: v }));
  // Leaving with a definition typed but not saved asks first (what would be sent against what the form started from).
  useFormDirty(definitionOf(form), definitionOf(editing ? formOf(editing) : EMPTY));
  const reset = () => {
    setForm(EMPTY);
    setEditing(null);
    setTested(null);
    setTestError(null);
  };

  const submit = async () => {
    const body = definitionOf(form);
    const r = editing ? await save.run('PUT', `/api/directories/${seg(editing.name)}`, body) : await save.run('POST', '/api/directories', body);
    if (r.ok) {
      reset();
      await list.reload();
    }
  };

  const test = async () => {
    setTesting(true);
    setTested(null);
    setTestError(null);
    try {
      setTested(await post<DirectoryTestResult>('/api/directories/test', { directory: definitionOf(form), ...(login.trim() ? { login: login.trim() } : {}) }));
    } catch (err) {
      setTestError(err instanceof ApiError ? `The definition cannot be tested: ${err.message}` : String(err));
    } finally {
      setTesting(false);
    }
  };

  return (
    <section class="page">
      <h1>Directories</h1>
      <p class="lead">
        LDAP or Active Directory servers whose users may log in (AUTH): a user is found with the service account, then bound as themselves (the password is never stored). Their groups are named <code>directory:group</code> wherever a user group is named, e.g. in
        Relaying → authenticated relay.
      </p>
      <ErrorBox message={list.error} />
      <div class="card">
        <h2>Directories</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Server</th>
                <th scope="col">Base DN</th>
                <th scope="col">Service account</th>
                {canEdit && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {(list.data ?? []).map((d) => (
                <tr key={d.name} data-testid={`directory-row-${d.name}`}>
                  <td>
                    <strong>{d.name}</strong>
                  </td>
                  <td>
                    {d.url} ({d.tls})
                  </td>
                  <td>{d.base_dn}</td>
                  <td>{d.bind_dn ? `${d.bind_dn}${d.has_bind_password ? '' : ' (no password)'}` : 'anonymous'}</td>
                  {canEdit && (
                    <td class="row-actions">
                      <button
                        type="button"
                        aria-label={`Edit ${d.name}`}
                        onClick={() => {
                          setEditing(d);
                          setForm(formOf(d));
                          setTested(null);
                          setTestError(null);
                          save.setResult(null);
                        }}
                      >
                        Edit
                      </button>
                      <DeleteButton
                        what={d.name}
                        busy={remove.busy}
                        onDelete={async () => {
                          if ((await remove.run('DELETE', `/api/directories/${seg(d.name)}`)).ok) await list.reload();
                        }}
                      />
                    </td>
                  )}
                </tr>
              ))}
              <EmptyRow cols={5} show={list.data && list.data.length === 0}>
                No directory: only the local users (Users & Groups) can log in.
              </EmptyRow>
            </tbody>
          </table>
        </div>
        <ApplyResultView result={remove.result} />
      </div>
      {list.data && list.data.length > 0 && <RelayGroups directories={list.data.map((d) => d.name)} canEdit={canEdit} />}
      {canEdit && (
        <CardForm titleId="directory-form-title" title={editing ? `Edit directory ${editing.name}` : 'Add a directory'} onSubmit={() => void submit()}>
          <TextField label="Name" value={form.name} onInput={set('name')} required disabled={editing !== null} placeholder="corp" testid="directory-name" hint="Letters, digits, . _ -; its groups are written name:group." />
          <TextField label="URL" value={form.url} onInput={set('url')} required placeholder="ldap://ldap.example.com or ldaps://dc1.example.com" testid="directory-url" />
          <SelectField label="TLS" value={form.tls} options={TLS_OPTIONS} onChange={set('tls')} testid="directory-tls" />
          {form.tls === 'none' && (
            <CheckField
              label="I accept that every user's password crosses the network in clear text"
              checked={form.plaintext_acknowledged}
              onChange={set('plaintext_acknowledged')}
              hint="Only needed when the directory is not on this machine."
            />
          )}
          <TextField label="CA file (PEM)" value={form.ca} onInput={set('ca')} placeholder="/etc/mailwarden/directory-ca.pem" testid="directory-ca" hint="The CA that signs the directory's certificate; empty: the system's CAs." />
          <TextField label="Bind DN (service account)" value={form.bind_dn} onInput={set('bind_dn')} placeholder="cn=mailwarden,ou=services,dc=example,dc=com" testid="directory-bind-dn" hint="Empty: anonymous searches." />
          <TextField
            label="Bind password"
            type="password"
            value={form.bind_password}
            onInput={set('bind_password')}
            autoComplete="new-password"
            testid="directory-bind-password"
            placeholder={editing?.has_bind_password ? 'unchanged' : ''}
            hint={editing?.has_bind_password ? 'Write-only. Leave empty to keep the saved password (give it again when the URL or bind DN change).' : 'Write-only: it is never shown again.'}
          />
          <TextField label="Base DN" value={form.base_dn} onInput={set('base_dn')} required placeholder="dc=example,dc=com" testid="directory-base-dn" />
          <TextField label="User filter" value={form.user_filter} onInput={set('user_filter')} required testid="directory-user-filter-input" hint={<>{'{login}'} is replaced by the login, escaped. Active Directory: (&(objectClass=user)(|(sAMAccountName={'{login}'})(userPrincipalName={'{login}'})))</>} />
          <TextField label="Group filter" value={form.group_filter} onInput={set('group_filter')} placeholder={`(${form.group_member_attribute || 'member'}={dn})`} testid="directory-group-filter-input" hint={<>Empty: ({form.group_member_attribute || 'member'}={'{dn}'}). Active Directory, nested groups in one search: (member:1.2.840.113556.1.4.1941:={'{dn}'})</>} />
          <TextField label="Group member attribute" value={form.group_member_attribute} onInput={set('group_member_attribute')} />
          <NumberField label="Nested groups followed (levels)" value={form.nested_group_depth} onChange={(v) => set('nested_group_depth')(v ?? 0)} min={0} max={10} hint="0: direct groups only (enough with Active Directory's matching rule above)." />
          <TextField label="Mail attributes" value={form.mail_attributes} onInput={set('mail_attributes')} hint="Comma separated. Active Directory: mail, proxyAddresses (smtp: prefixes are dropped)." />
          <TextField label="Timeout" value={form.timeout} onInput={set('timeout')} hint="For connecting and for each answer, e.g. 5s." />
          <TextField label="Cache" value={form.cache} onInput={set('cache')} hint="How long lookups are remembered, e.g. 5m; passwords are always checked by the directory." />
          <TextField label="Comment" value={form.comment} onInput={set('comment')} />
          <SaveActions label="Save directory" busy={save.busy} editing={editing !== null} onCancel={reset} result={save.result} />
        </CardForm>
      )}
      {canEdit && (
        <div class="card">
          <h2>Test connection</h2>
          <p>Tests the form above as it is (saved or not): connect, bind, then find the login, its groups and addresses.</p>
          <TextField label="Login to look up (optional)" value={login} onInput={setLogin} placeholder="alice" testid="directory-test-login" />
          <div class="actions">
            <button type="button" data-testid="directory-test" disabled={testing} onClick={() => void test()}>
              {testing ? 'Testing…' : 'Test connection'}
            </button>
          </div>
          <ErrorBox message={testError} />
          {tested && <TestResult r={tested} />}
        </div>
      )}
    </section>
  );
}
