// System: the host name (in Received headers at once; the listeners' greeting
// takes it at the next start) and the SMTP listeners. The daemon binds its listeners at start only: a
// listener's name, address, port or mode changed here is recorded at once
// but used from the next start (its trusted proxies at once), so the page
// compares the settings with what each node runs and says when a restart is
// needed.

import { useCallback, useRef, useState } from 'preact/hooks';
import { get } from '../api.ts';
import { ErrorBox, Loading, NumberField, SelectField, TextField } from '../components/Fields.tsx';
import { ObjectField } from '../components/ObjectField.tsx';
import { Section } from '../components/Section.tsx';
import { useLoad } from '../hooks.ts';
import { useCanEdit } from '../session.ts';
import type { ClusterInfo, ListenerDef, ListenerMode, NetworkDef } from '../types.ts';
import { useSection, type SectionState } from '../useSection.ts';
import { labelled } from './screenLabels.ts';

const MODES: [ListenerMode, string][] = [
  ['mx', 'mx: STARTTLS offered, AUTH only after TLS (port 25)'],
  ['submission', 'submission: STARTTLS and AUTH required (port 587)'],
  ['smtps', 'smtps: implicit TLS (port 465)'],
];
const FIELD: Record<string, string> = { name: 'Name', address: 'Address', port: 'Port', mode: 'Mode', trusted_proxies: 'Trusted proxies (PROXY protocol)' };

/** Tells the page that this section applied a new revision, and whether it holds unapplied edits. */
interface Linked {
  onApplied: () => void;
  onDirty: (dirty: boolean) => void;
}

export function SystemPage() {
  // Each section applies against the revision it loaded: after the other one applied, it loads again
  // (unless it holds edits of its own; then its Apply says to reload), so that it is not refused as stale.
  const [gen, setGen] = useState({ hostname: 0, listeners: 0 });
  const dirty = useRef({ hostname: false, listeners: false });
  const link = (self: 'hostname' | 'listeners', other: 'hostname' | 'listeners'): Linked => ({
    onApplied: () => {
      if (!dirty.current[other]) setGen((g) => ({ ...g, [other]: g[other] + 1 }));
    },
    onDirty: (d) => {
      dirty.current[self] = d;
    },
  });
  return (
    <section class="page">
      <h1>System</h1>
      <p class="lead">The relay's host name and the addresses and ports it accepts SMTP connections on.</p>
      <HostnameSection key={`h${gen.hostname}`} {...link('hostname', 'listeners')} />
      <ListenersSection key={`l${gen.listeners}`} {...link('listeners', 'hostname')} />
    </section>
  );
}

/** Applies the section; on success tells the page. */
async function applyLinked<T>(s: SectionState<T>, link: Linked): Promise<void> {
  const r = await s.applyNow();
  if (r.ok) link.onApplied();
}

function HostnameSection(link: Linked) {
  const canEdit = useCanEdit();
  const s = useSection<string>('hostname');
  link.onDirty(s.dirty);
  if (!s.loaded) return s.error ? <ErrorBox message={s.error} /> : <Loading what="host name" />;
  return (
    <Section id="hostname" title="Host name" canEdit={canEdit} busy={s.busy} dirty={s.dirty} result={labelled(s.result, (p) => (p === 'hostname' ? 'Host name' : null))} onApply={() => void applyLinked(s, link)}>
      <TextField
        label="Host name"
        value={s.draft ?? ''}
        disabled={!canEdit}
        testid="field-hostname"
        onInput={(v) => s.replace(v.trim())}
        hint="Our name in the Received headers of new mail as soon as it is applied; the greeting (220) and the EHLO reply of the SMTP listeners use it from the next start. The self-signed certificate keeps the name it was made with."
      />
    </Section>
  );
}

/** "listeners[2].port" → 'Listener "smtps", Port' (the listener by its name in the draft). */
function listenerLabel(draft: ListenerDef[]): (path: string) => string | null {
  return (path) => {
    if (path === 'listeners') return 'Listeners';
    const m = /^listeners\[(\d+)\](?:\.(\w+))?/.exec(path);
    if (!m) return null;
    const l = draft[Number(m[1])];
    const who = l?.name ? `Listener "${l.name}"` : `Listener ${Number(m[1]) + 1}`;
    return m[2] ? `${who}, ${FIELD[m[2]] ?? m[2]}` : who;
  };
}

/** What differs between the applied listeners and what a node runs: a restart is needed for those. */
function pendingRestart(saved: ListenerDef[], cluster: ClusterInfo | null): string[] {
  if (!cluster) return [];
  const out: string[] = [];
  for (const node of cluster.nodes) {
    const prefix = cluster.nodes.length > 1 ? `${node.name}: ` : '';
    for (const l of saved) {
      const r = node.listeners.find((x) => x.name === l.name);
      if (!r) out.push(`${prefix}"${l.name}" is not running yet`);
      // Port 0 is the system's choice at each start: any bound port matches it.
      else if (r.address !== l.address || (l.port !== 0 && r.port !== l.port) || r.mode !== l.mode) out.push(`${prefix}"${l.name}" runs on ${r.address} port ${r.port} (${r.mode}); the settings say ${l.address} port ${l.port} (${l.mode})`);
    }
    for (const r of node.listeners) if (!saved.some((l) => l.name === r.name)) out.push(`${prefix}"${r.name}" (${r.address} port ${r.port}) still runs; it is no longer in the settings`);
  }
  return out;
}

function ListenersSection(link: Linked) {
  const canEdit = useCanEdit();
  const s = useSection<ListenerDef[]>('listeners');
  link.onDirty(s.dirty);
  const nets = useLoad(useCallback(() => get<NetworkDef[]>('/api/networks'), []), []);
  const cluster = useLoad(useCallback(() => get<ClusterInfo>('/api/cluster'), []), []);
  const list = s.draft;
  // The settings as the server has them: what the running listeners are compared with (refreshed after an Apply).
  const applied = useLoad(useCallback(() => get<{ value: ListenerDef[] }>('/api/settings/listeners'), [s.result]), [s.result]);
  if (!list) return s.error ? <ErrorBox message={s.error} /> : <Loading what="listeners" />;
  const netNames = (nets.data ?? []).map((n) => n.name);
  const setOne = (i: number, patch: Partial<ListenerDef>) => s.replace(list.map((l, j) => (j === i ? { ...l, ...patch } : l)));
  const pending = pendingRestart(applied.data?.value ?? [], cluster.data);
  return (
    <Section
      id="listeners"
      title="SMTP listeners"
      canEdit={canEdit}
      busy={s.busy}
      dirty={s.dirty}
      result={labelled(s.result, listenerLabel(list))}
      onApply={() => void applyLinked(s, link)}
      intro={
        <p>
          <strong>Listeners are bound when the daemon starts.</strong> A change of name, address, port or mode is recorded when you apply it and takes effect at the next start of
          mailwarden (<code>systemctl restart mailwarden</code>); trusted proxies take effect at once for new connections.
        </p>
      }
    >
      {pending.length > 0 && (
        <div class="caution" role="status" data-testid="restart-needed">
          <p>
            <strong>Restart needed</strong> for the listeners to match the settings:
          </p>
          <ul>
            {pending.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </div>
      )}
      {list.map((l, i) => (
        <fieldset key={i} class="listener" data-testid={`listener-${i}`}>
          <legend>{l.name || `Listener ${i + 1}`}</legend>
          <div class="form-grid">
            <TextField label="Name" value={l.name} disabled={!canEdit} testid={`field-listener-${i}-name`} onInput={(v) => setOne(i, { name: v.trim() })} />
            <TextField label="Address" value={l.address} disabled={!canEdit} testid={`field-listener-${i}-address`} onInput={(v) => setOne(i, { address: v.trim() })} hint="An IP address; 0.0.0.0 or :: for all." />
            <NumberField label="Port" value={l.port} disabled={!canEdit} testid={`field-listener-${i}-port`} onChange={(v) => setOne(i, { port: v ?? 0 })} hint="0 – 65535." />
            <SelectField<ListenerMode> label="Mode" value={l.mode} options={MODES} disabled={!canEdit} testid={`field-listener-${i}-mode`} onChange={(v) => setOne(i, { mode: v })} />
          </div>
          <ObjectField
            label="Trusted proxies (PROXY protocol)"
            kind="network"
            value={l.trusted_proxies}
            options={netNames}
            disabled={!canEdit}
            testid={`field-listener-${i}-trusted_proxies`}
            onChange={(v) => setOne(i, { trusted_proxies: v })}
            hint="Load balancers that may send a PROXY header (v1 or v2); the address in it is the client for every rule. Name only your own proxies."
          />
          {canEdit && (
            <button type="button" class="link-button danger" data-testid={`remove-listener-${i}`} onClick={() => s.replace(list.filter((_, j) => j !== i))}>
              Remove listener {l.name}
            </button>
          )}
        </fieldset>
      ))}
      {canEdit && (
        <p>
          <button type="button" data-testid="add-listener" onClick={() => s.replace([...list, { name: '', address: '127.0.0.1', port: 25, mode: 'mx', trusted_proxies: [] }])}>
            Add a listener
          </button>
        </p>
      )}
    </Section>
  );
}
