// Domains & Routing: the local domains and the hosts their mail goes to, in
// order (host[:port], bracketed IPv6), through /api/domains. Leaving with
// unsaved input in the form asks first (useFormDirty).

import { useState } from 'preact/hooks';
import { get, seg } from '../api.ts';
import { ApplyResultView } from '../components/ApplyResultView.tsx';
import { ErrorBox, TextArea, TextField } from '../components/Fields.tsx';
import { useApply, useFormDirty, useLoad } from '../hooks.ts';
import { useCanEdit } from '../session.ts';
import type { DomainDef } from '../types.ts';
import { EmptyRow, CardForm, SaveActions, DeleteButton } from '../components/Boilerplate.tsx';
import { RecipientVerificationFields, verificationBody, verificationOf } from '../components/RecipientVerification.tsx';

const lines = (s: string) =>
  s
    .split(/[\n,]+/)
    .map((x) => x.trim())
    .filter(Boolean);

export function Domains() {
  const canEdit = useCanEdit();
  const list = useLoad(() => get<DomainDef[]>('/api/domains'));
  const save = useApply();
  const remove = useApply();
  const [name, setName] = useState('');
  const [hosts, setHosts] = useState('');
  const [editing, setEditing] = useState<string | null>(null);
  const [verify, setVerify] = useState(verificationOf(null));
  /** What the form started from: empty, or the domain as loaded for editing. */
  const [base, setBase] = useState<{ name: string; hosts: string[]; verify: ReturnType<typeof verificationBody> }>({ name: '', hosts: [], verify: verificationBody(verificationOf(null)) });
  useFormDirty({ name: name.trim(), hosts: lines(hosts), verify: verificationBody(verify) }, base);
  const reset = () => {
    setName('');
    setHosts('');
    setBase({ name: '', hosts: [], verify: verificationBody(verificationOf(null)) });
    setEditing(null);
    setVerify(verificationOf(null));
  };

  const submit = async () => {
    const b: DomainDef = { name: editing ?? name.trim(), route: { hosts: lines(hosts) }, ...verificationBody(verify) };
    const r = editing ? await save.run('PUT', `/api/domains/${seg(editing)}`, b) : await save.run('POST', '/api/domains', b);
    if (r.ok) {
      reset();
      await list.reload();
    }
  };

  return (
    <section class="page">
      <h1>Domains & Routing</h1>
      <p class="lead">Mail for these domains is inbound and goes to the route's hosts, tried in order. Mail for any other domain needs a relay right.</p>
      <ErrorBox message={list.error} />
      <div class="card">
        <h2>Local domains</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Domain</th>
                <th scope="col">Route hosts</th>
                {canEdit && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {(list.data ?? []).map((d) => (
                <tr key={d.name} data-testid={`domain-row-${d.name}`}>
                  <td>
                    <strong>{d.name}</strong>
                    {d.verify_recipients && <small class="hint" data-testid={`domain-verify-${d.name}`}> verifies recipients: {d.verify_recipients}</small>}
                  </td>
                  <td>{d.route.hosts.join(', ')}</td>
                  {canEdit && (
                    <td class="row-actions">
                      <button
                        type="button"
                        aria-label={`Edit ${d.name}`}
                        onClick={() => {
                          setEditing(d.name);
                          setName(d.name);
                          setHosts(d.route.hosts.join('\n'));
                          setVerify(verificationOf(d));
                          setBase({ name: d.name, hosts: lines(d.route.hosts.join('\n')), verify: verificationBody(verificationOf(d)) });
                          save.setResult(null);
                        }}
                      >
                        Edit
                      </button>
                      <DeleteButton
                        what={d.name}
                        busy={remove.busy}
                        onDelete={async () => {
                          if ((await remove.run('DELETE', `/api/domains/${seg(d.name)}`)).ok) await list.reload();
                        }}
                      />
                    </td>
                  )}
                </tr>
              ))}
              <EmptyRow cols={3} show={list.data && list.data.length === 0}>No local domains: every recipient needs a relay right.</EmptyRow>
            </tbody>
          </table>
        </div>
        <ApplyResultView result={remove.result} />
      </div>
      {canEdit && (
        <CardForm titleId="domain-form-title" title={editing ? `Edit domain ${editing}` : 'Add a domain'} onSubmit={() => void submit()}>
          <TextField label="Domain" value={name} onInput={setName} required disabled={editing !== null} placeholder="example.com" />
          <TextArea label="Route hosts (one per line, in order)" value={hosts} onInput={setHosts} rows={3} mono hint='host[:port], an IPv4 address or [IPv6]; port 25 unless given. Example: "10.1.2.3:25".' />
          <RecipientVerificationFields value={verify} onChange={setVerify} />
          <SaveActions
            label="Save domain"
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
    </section>
  );
}
