// The small form behind an object field's "+" (ObjectField): creates a new
// network object, user or user group in place, as the product modelled on
// has it. It POSTs to /api/networks, /api/users or /api/groups, which apply
// a new revision at once; a refusal is shown in the screen's words
// (ApplyResultView) and the form stays open with what was typed.
// It lives inside a page's <form> (a Relaying section), so it is a group of
// fields, not a form of its own: Enter creates here and never submits the
// section's Apply, and no field is `required`: an empty one must not block
// that Apply (the server says what is missing).

import { useEffect, useRef, useState } from 'preact/hooks';
import { apply } from '../api.ts';
import type { ApplyResult } from '../types.ts';
import { ApplyResultView } from './ApplyResultView.tsx';
import { SelectField, TextField } from './Fields.tsx';
import { KIND_WORDS, type ObjectKind } from './objectKinds.ts';

type NetType = 'host' | 'network' | 'range';
const NET_TYPES = [
  ['host', 'Host (one address)'],
  ['network', 'Network (address/prefix)'],
  ['range', 'Range (first – last)'],
] as const;

interface Draft {
  name: string;
  type: NetType;
  address: string;
  from: string;
  to: string;
  password: string;
  groups: string;
  comment: string;
}
const emptyDraft = (): Draft => ({ name: '', type: 'host', address: '', from: '', to: '', password: '', groups: '', comment: '' });

/** The body the API takes for this kind: only the keys that belong to it (the server refuses others). */
function createBody(kind: ObjectKind, d: Draft): Record<string, unknown> {
  const name = d.name.trim();
  const comment = d.comment.trim();
  if (kind === 'user') {
    const groups = d.groups
      .split(/[\s,]+/)
      .map((g) => g.trim())
      .filter(Boolean);
    return { name, password: d.password, groups };
  }
  const out: Record<string, unknown> = { name };
  if (kind === 'network') {
    out.type = d.type;
    if (d.type === 'range') {
      out.from = d.from.trim();
      out.to = d.to.trim();
    } else out.address = d.address.trim();
  }
  if (comment) out.comment = comment;
  return out;
}

interface Props {
  kind: ObjectKind;
  /** The label of the field the new object is for. */
  fieldLabel: string;
  /** Called once the server has created the object (the answer is its new revision). */
  onCreated: (name: string, result: ApplyResult) => Promise<void> | void;
  onClose: () => void;
}

export function CreateObject({ kind, fieldLabel, onCreated, onClose }: Props) {
  const [d, setD] = useState<Draft>(emptyDraft());
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<ApplyResult | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const { what, path } = KIND_WORDS[kind];
  const set = (patch: Partial<Draft>) => setD((prev) => ({ ...prev, ...patch }));

  useEffect(() => {
    box.current?.querySelector<HTMLInputElement>('input')?.focus();
  }, []);

  const create = async () => {
    if (busy) return;
    const body = createBody(kind, d);
    setBusy(true);
    try {
      const r = await apply('POST', path, body);
      if (!r.ok) {
        setResult(r);
        return;
      }
      setResult(null);
      await onCreated(String(body.name), r);
    } finally {
      setBusy(false);
    }
  };

  const title = `New ${what} for ${fieldLabel}`;
  return (
    <div
      ref={box}
      class="create-object"
      role="group"
      aria-label={title}
      data-testid={`create-${kind}`}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          onClose();
        } else if (e.key === 'Enter' && (e.target as HTMLElement).tagName === 'INPUT') {
          // The section's form would take Enter as Apply.
          e.preventDefault();
          void create();
        }
      }}
    >
      <p class="create-title">{title}</p>
      <div class="create-fields">
        {kind === 'network' && (
          <>
            <TextField label="Name" value={d.name} onInput={(v) => set({ name: v })} />
            <SelectField<NetType> label="Type" value={d.type} options={NET_TYPES} onChange={(v) => set({ type: v })} />
            {d.type === 'range' ? (
              <>
                <TextField label="First address" value={d.from} onInput={(v) => set({ from: v })} placeholder="10.2.0.10" />
                <TextField label="Last address" value={d.to} onInput={(v) => set({ to: v })} placeholder="10.2.0.20" />
              </>
            ) : (
              <TextField
                label={d.type === 'host' ? 'Address' : 'Network (address/prefix)'}
                value={d.address}
                onInput={(v) => set({ address: v })}
                placeholder={d.type === 'host' ? '192.0.2.10' : '10.1.0.0/16'}
              />
            )}
            <TextField label="Comment" value={d.comment} onInput={(v) => set({ comment: v })} />
          </>
        )}
        {kind === 'user' && (
          <>
            <TextField label="User name" value={d.name} onInput={(v) => set({ name: v })} />
            <TextField label="Password" type="password" value={d.password} onInput={(v) => set({ password: v })} autoComplete="new-password" hint="Stored only as a hash." />
            <TextField label="Groups (optional)" value={d.groups} onInput={(v) => set({ groups: v })} hint="Separated by commas; a group that does not exist yet is created." />
          </>
        )}
        {kind === 'group' && (
          <>
            <TextField label="Group name" value={d.name} onInput={(v) => set({ name: v })} />
            <TextField label="Comment" value={d.comment} onInput={(v) => set({ comment: v })} />
          </>
        )}
      </div>
      <p class="hint">Created at once, as a new revision; adding it to {fieldLabel} still needs that section's Apply.</p>
      <div class="actions">
        <button type="button" class="primary" disabled={busy} onClick={() => void create()}>
          {busy ? 'Creating…' : 'Create and add'}
        </button>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
      <ApplyResultView result={result} />
    </div>
  );
}
