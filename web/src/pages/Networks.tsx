// Network Definitions: the network objects (host, network, range, group)
// listed, added, edited and deleted through /api/networks. Deleting an
// object still in use is refused by the server, which names where it is used.
// Leaving with unsaved input in the form asks first (useFormDirty).

import { useState } from 'preact/hooks';
import { get, seg } from '../api.ts';
import { ApplyResultView } from '../components/ApplyResultView.tsx';
import { ErrorBox, Loading, SelectField, TextField } from '../components/Fields.tsx';
import { ObjectField } from '../components/ObjectField.tsx';
import { useApply, useFormDirty, useLoad } from '../hooks.ts';
import { describeNetwork } from '../openRelay.ts';
import { useCanEdit } from '../session.ts';
import type { NetworkDef, NetworkType } from '../types.ts';
import { EmptyRow, CardForm, SaveActions, DeleteButton } from '../components/Boilerplate.tsx';

const TYPES = [
  ['host', 'Host (one address)'],
  ['network', 'Network (address/prefix)'],
  ['range', 'Range (first – last)'],
  ['group', 'Group of objects'],
] as const;

const empty = (): NetworkDef => ({ name: '', type: 'host', address: '', from: '', to: '', members: [], comment: '' });

/** Only the keys that belong to the type (the server refuses others). */
function body(n: NetworkDef): NetworkDef {
  const out: NetworkDef = { name: n.name.trim(), type: n.type };
  if (n.type === 'host' || n.type === 'network') out.address = (n.address ?? '').trim();
  if (n.type === 'range') {
    out.from = (n.from ?? '').trim();
    out.to = (n.to ?? '').trim();
  }
  if (n.type === 'group') out.members = n.members ?? [];
  if (n.comment?.trim()) out.comment = n.comment.trim();
  return out;
}

export function Networks() {
  const canEdit = useCanEdit();
  const list = useLoad(() => get<NetworkDef[]>('/api/networks'));
  const save = useApply();
  const remove = useApply();
  const [form, setForm] = useState<NetworkDef>(empty());
  const [editing, setEditing] = useState<string | null>(null);
  /** What the form started from: the empty form, or the object as loaded for editing. */
  const [base, setBase] = useState<NetworkDef>(empty());
  useFormDirty(body(form), body(base));
  const nets = list.data ?? [];
  const reset = () => {
    setForm(empty());
    setBase(empty());
    setEditing(null);
  };

  const submit = async () => {
    const b = body(form);
    const r = editing ? await save.run('PUT', `/api/networks/${seg(editing)}`, b) : await save.run('POST', '/api/networks', b);
    if (r.ok) {
      reset();
      await list.reload();
    }
  };
  const edit = (n: NetworkDef) => {
    setEditing(n.name);
    const loaded = { ...empty(), ...n, members: n.members ?? [] };
    setForm(loaded);
    setBase(loaded);
    save.setResult(null);
    document.getElementById('network-form')?.scrollIntoView({ block: 'start' });
  };
  const del = async (name: string) => {
    const r = await remove.run('DELETE', `/api/networks/${seg(name)}`);
    if (r.ok) await list.reload();
  };
  const set = (patch: Partial<NetworkDef>) => setForm({ ...form, ...patch });

  return (
    <section class="page">
      <h1>Network Definitions</h1>
      <p class="lead">Hosts, networks, ranges and groups that the relaying rules and exceptions refer to by name. The built-in object Any matches every address.</p>
      <ErrorBox message={list.error} />
      <div class="card" data-testid="network-list">
        <h2>Network objects</h2>
        {list.loading && !list.data ? <Loading what="network objects" /> : null}
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Type</th>
                <th scope="col">Definition</th>
                <th scope="col">Comment</th>
                {canEdit && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {nets.map((n) => (
                <tr key={n.name} data-testid={`network-row-${n.name}`}>
                  <td data-label="Name">
                    <strong>{n.name}</strong>
                  </td>
                  <td data-label="Type">{n.type}</td>
                  <td data-label="Definition">{describeNetwork(n)}</td>
                  <td data-label="Comment">{n.comment}</td>
                  {canEdit && (
                    <td data-label="Actions" class="row-actions">
                      <button type="button" onClick={() => edit(n)} aria-label={`Edit ${n.name}`}>
                        Edit
                      </button>
                      <DeleteButton what={n.name} busy={remove.busy} onDelete={() => void del(n.name)} />
                    </td>
                  )}
                </tr>
              ))}
              <EmptyRow cols={5} show={list.data && nets.length === 0}>No network objects yet.</EmptyRow>
            </tbody>
          </table>
        </div>
        <ApplyResultView result={remove.result} />
      </div>

      {canEdit && (
        <CardForm id="network-form" titleId="network-form-title" title={editing ? `Edit network object ${editing}` : 'Add a network object'} onSubmit={() => void submit()}>
          <TextField label="Name" value={form.name} onInput={(v) => set({ name: v })} required disabled={editing !== null} hint={editing ? 'To rename, add a new object and delete this one.' : undefined} />
          <SelectField<NetworkType> label="Type" value={form.type} options={TYPES} onChange={(v) => set({ type: v })} />
          {(form.type === 'host' || form.type === 'network') && (
            <TextField
              label={form.type === 'host' ? 'Address' : 'Network (address/prefix)'}
              value={form.address ?? ''}
              onInput={(v) => set({ address: v })}
              required
              placeholder={form.type === 'host' ? '192.0.2.10' : '10.1.0.0/16'}
            />
          )}
          {form.type === 'range' && (
            <>
              <TextField label="First address" value={form.from ?? ''} onInput={(v) => set({ from: v })} required placeholder="10.2.0.10" />
              <TextField label="Last address" value={form.to ?? ''} onInput={(v) => set({ to: v })} required placeholder="10.2.0.20" />
            </>
          )}
          {form.type === 'group' && (
            <ObjectField
              label="Members"
              kind="network"
              value={form.members ?? []}
              options={['Any', ...nets.map((n) => n.name).filter((n) => n !== editing)]}
              onChange={(v) => set({ members: v })}
              testid="field-members"
            />
          )}
          <TextField label="Comment" value={form.comment ?? ''} onInput={(v) => set({ comment: v })} />
          <SaveActions
            label="Save network"
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
