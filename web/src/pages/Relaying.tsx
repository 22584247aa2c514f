// Relaying: the product's sections in its order (Upstream Host List,
// Authenticated Relay, Host-based Relay, Host/Network Blacklist, Content Scan
// for Relayed Messages), then the rate limits (limits.rate, RateLimits.tsx,
// applied to the limits section on their own). Each Apply PUTs /api/settings/relaying with the
// whole relaying value as it was loaded, changed only in that section's
// fields, and the revision it was loaded from: when a colleague applied
// something since, the server refuses (409) instead of overwriting it. Object names are dragged in from the side panel or
// added with the keyboard; the open-relay caution shows the moment a list
// entry covers the whole Internet. Each field's "+" creates a new object in
// place; that is a revision of its own, so the page then moves its revision
// on, but only when the relaying value is still the one it loaded. While a
// section has a pending change, its impact on last week's recorded mail is
// shown beside its Apply button (a caution when it would refuse mail).

import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { apply, get, post } from '../api.ts';
import { CheckField, ErrorBox, Loading, SelectField } from '../components/Fields.tsx';
import { ObjectField } from '../components/ObjectField.tsx';
import { ObjectList } from '../components/ObjectPanel.tsx';
import { Section } from '../components/Section.tsx';
import { RateLimitsSection } from '../components/RateLimits.tsx';
import { useLoad } from '../hooks.ts';
import { sameValue } from '../sameValue.ts';
import { coversInternet, describeNetwork } from '../openRelay.ts';
import { useCanEdit } from '../session.ts';
import { useUnsavedChanges } from '../router.ts';
import type { ApplyResult, GroupDef, NetworkDef, Relaying, SectionValue, UserInfo } from '../types.ts';
import type { SenderLoginMode } from '../types.ts';
import { useImpactPreview, type ImpactState } from '../useImpactPreview.ts';

type SectionId = 'upstream' | 'authrelay' | 'hostrelay' | 'blacklist' | 'scan';

/** The relaying fields each section owns (and applies). */
const FIELDS: Record<SectionId, (keyof Relaying)[]> = {
  upstream: ['upstream_hosts', 'upstream_only'],
  authrelay: ['authenticated_relay', 'sender_login', 'header_from_login'],
  hostrelay: ['allowed_hosts', 'open_relay_acknowledged'],
  blacklist: ['blacklist'],
  scan: ['scan_relayed'],
};
const SECTIONS = Object.keys(FIELDS) as SectionId[];

const pick = (r: Relaying, id: SectionId) => FIELDS[id].map((f) => r[f]);
const same = (a: Relaying, b: Relaying, id: SectionId) => JSON.stringify(pick(a, id)) === JSON.stringify(pick(b, id));

/** What a section's Apply sends: the relaying value as it was loaded, changed only in this section's fields. */
function sectionValue(saved: Relaying, draft: Relaying, id: SectionId): Relaying {
  const value: Relaying = { ...saved };
  for (const f of FIELDS[id]) (value as unknown as Record<string, unknown>)[f] = structuredClone(draft[f]);
  return value;
}

export function RelayingPage() {
  const canEdit = useCanEdit();
  const nets = useLoad(() => get<NetworkDef[]>('/api/networks'));
  const users = useLoad(() => get<UserInfo[]>('/api/users'));
  const groups = useLoad(() => get<GroupDef[]>('/api/groups'));
  const [saved, setSaved] = useState<Relaying | null>(null);
  /** The revision `saved` was read from: what every Apply is made against. */
  const [revision, setRevision] = useState<number | null>(null);
  const [draft, setDraft] = useState<Relaying | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [results, setResults] = useState<Partial<Record<SectionId, ApplyResult>>>({});
  const [busy, setBusy] = useState<SectionId | null>(null);
  const serverOpen = useServerOpenCheck(canEdit ? (draft?.allowed_hosts ?? null) : null);
  // Each section's pending change, replayed over last week's recorded mail before it is applied (docs/preview.md).
  const pending = (id: SectionId): Relaying | null => (canEdit && saved && draft && !same(draft, saved, id) ? sectionValue(saved, draft, id) : null);
  const impacts: Record<SectionId, ImpactState> = {
    upstream: useImpactPreview('relaying', pending('upstream'), revision),
    authrelay: useImpactPreview('relaying', pending('authrelay'), revision),
    hostrelay: useImpactPreview('relaying', pending('hostrelay'), revision),
    blacklist: useImpactPreview('relaying', pending('blacklist'), revision),
    // Whether relayed mail is scanned decides no RCPT: nothing to replay.
    scan: useImpactPreview('relaying', null, revision),
  };
  /** Blacklist-overlap warnings already shown on this page: not repeated on every unrelated Apply. */
  const shownOverlaps = useRef(new Set<string>());
  useUnsavedChanges(saved !== null && draft !== null && JSON.stringify(saved) !== JSON.stringify(draft));
  /** `saved` of the latest render: a create ends after an Apply may have changed it. */
  const savedNow = useRef(saved);
  savedNow.current = saved;

  useEffect(() => {
    get<SectionValue<Relaying>>('/api/settings/relaying')
      .then((r) => {
        setSaved(r.value);
        setRevision(r.revision);
        setDraft(structuredClone(r.value));
      })
      .catch((err: Error) => setLoadError(err.message));
  }, []);

  if (loadError) return <Page><ErrorBox message={loadError} /></Page>;
  if (!saved || !draft) return <Page><Loading what="relaying settings" /></Page>;

  const networks = nets.data ?? [];
  // "Any" last in the Add lists: arrowing down a select must not start with it.
  const netNames = [...networks.map((n) => n.name), 'Any'];
  const userNames = (users.data ?? []).map((u) => u.name);
  // A directory's groups (directory:group, added on the Directories page) are known groups too, not "unknown" chips.
  const groupNames = [...(groups.data ?? []).map((g) => g.name), ...draft.authenticated_relay.groups.filter((g) => g.includes(':'))];
  const update = (patch: Partial<Relaying>) => setDraft({ ...draft, ...patch });
  const ar = draft.authenticated_relay;
  const openEntries = draft.allowed_hosts.filter((n) => coversInternet(n, networks));
  const open = openEntries.length > 0 || serverOpen;

  const applySection = async (id: SectionId) => {
    setBusy(id);
    try {
      // The relaying value as it was loaded, changed only in this section's fields, against the revision it was loaded from.
      const value = sectionValue(saved, draft, id);
      const r = withoutRepeatedOverlaps(await apply('PUT', '/api/settings/relaying', { value, comment: `Relaying: ${TITLES[id]} (web admin)`, ...(revision === null ? {} : { revision }) }), shownOverlaps.current);
      setResults((prev) => ({ ...prev, [id]: r }));
      if (!r.ok) return;
      // Read back value and revision together: the next Apply is made against what this one left.
      const current = await get<SectionValue<Relaying>>('/api/settings/relaying');
      const now = current.value;
      setRevision(current.revision);
      // Sections not being edited follow the server; edited ones keep their draft.
      setDraft((d) => {
        if (!d) return d;
        const next = structuredClone(d);
        for (const s of SECTIONS) {
          if (s === id || same(d, saved, s)) for (const f of FIELDS[s]) (next as unknown as Record<string, unknown>)[f] = structuredClone(now[f]);
        }
        return next;
      });
      setSaved(now);
    } catch (err) {
      setResults((prev) => ({ ...prev, [id]: { ok: false, errors: [{ path: '', message: (err as Error).message }], warnings: [], changes: [], revision: null } }));
    } finally {
      setBusy(null);
    }
  };

  /**
   * After a "+" created an object (a new revision): the lists are reloaded,
   * and the new revision is adopted only when the relaying value is still
   * the one loaded, so that the next Apply is not refused as stale. When a
   * colleague changed relaying meanwhile, the old revision stays and the
   * next Apply is refused (409) instead of overwriting their change.
   */
  const afterCreate =
    (...lists: { reload: () => Promise<void> }[]) =>
    async () => {
      await Promise.all(lists.map((l) => l.reload()));
      try {
        const current = await get<SectionValue<Relaying>>('/api/settings/relaying');
        if (savedNow.current && sameValue(current.value, savedNow.current)) setRevision(current.revision);
      } catch {
        // The old revision stays: at worst the next Apply is refused as stale, never applied over a change.
      }
    };
  const creates = canEdit ? { network: afterCreate(nets), user: afterCreate(users, groups), group: afterCreate(groups) } : null;

  const common = (id: SectionId) => {
    const dirty = !same(draft, saved, id);
    const r = results[id] ?? null;
    // "Applied as revision N" is about the draft as it was: once the section is edited again it would stand beside "Not applied yet".
    return { id, title: TITLES[id], canEdit, busy: busy === id, dirty, result: dirty && r?.ok ? null : r, onApply: () => void applySection(id), impact: impacts[id] };
  };

  return (
    <Page>
      <div class="with-panel">
        <div class="sections">
          <Section
            {...common('upstream')}
            intro={
              <p>
                Hosts that forward mail to you, such as your ISP or an external MX. Spam checks look past them. With <em>Allow upstream/relay hosts only</em>,
                everyone else is refused at connect; upstream hosts can still authenticate to get relay rights.
              </p>
            }
          >
            <ObjectField label="Upstream hosts" kind="network" testid="field-upstream_hosts" onCreate={creates?.network} value={draft.upstream_hosts} options={netNames} disabled={!canEdit} onChange={(v) => update({ upstream_hosts: v })} />
            <CheckField label="Allow upstream/relay hosts only" checked={draft.upstream_only} disabled={!canEdit} testid="field-upstream_only" onChange={(v) => update({ upstream_only: v })} />
          </Section>

          <Section
            {...common('authrelay')}
            intro={<p>SMTP clients can authenticate to get relay rights. Name the users and user groups that may use this.</p>}
          >
            <CheckField label="Allow authenticated relaying" checked={ar.enabled} disabled={!canEdit} testid="field-authenticated_relay-enabled" onChange={(v) => update({ authenticated_relay: { ...ar, enabled: v } })} />
            <ObjectField label="Users" kind="user" testid="field-authenticated_relay-users" onCreate={creates?.user} value={ar.users} options={userNames} disabled={!canEdit} onChange={(v) => update({ authenticated_relay: { ...ar, users: v } })} />
            <ObjectField label="User groups" kind="group" testid="field-authenticated_relay-groups" onCreate={creates?.group} value={ar.groups} options={groupNames} disabled={!canEdit} hint="Groups of a directory (LDAP, Active Directory) are added on the Directories page." onChange={(v) => update({ authenticated_relay: { ...ar, groups: v } })} />
            {!ar.enabled && (ar.users.length > 0 || ar.groups.length > 0) && (
              <p class="note" role="status" data-testid="authrelay-off-hint">
                <em>Allow authenticated relaying</em> is off: the users and groups named here cannot relay until it is on.
              </p>
            )}
            {draft.upstream_only && (
              <p class="note">
                Note: <em>Allow upstream/relay hosts only</em> is on, so authenticated relay works only from hosts that are upstream or relay hosts.
              </p>
            )}
            <fieldset class="group" data-testid="sender-login">
              <legend>Senders bound to their login</legend>
              <SelectField<SenderLoginMode>
                label="Logged-in users may send as"
                value={draft.sender_login}
                options={SENDER_LOGIN_CHOICES}
                disabled={!canEdit}
                testid="field-sender_login"
                hint="A user's addresses are set on the Users page (a directory user's come from the directory). MAIL FROM:<> is always allowed."
                onChange={(v) => update({ sender_login: v })}
              />
              <CheckField
                label="Check the header From: too"
                checked={draft.header_from_login}
                disabled={!canEdit || draft.sender_login === 'off'}
                testid="field-header_from_login"
                hint="Every address in From: must pass the same rule, or the message is refused at the end of DATA."
                onChange={(v) => update({ header_from_login: v })}
              />
            </fieldset>
          </Section>

          <Section
            {...common('hostrelay')}
            intro={<p>The networks and hosts listed here may send mail through the relay to any address: your own mail servers and clients only.</p>}
          >
            <ObjectField label="Allowed hosts/networks" kind="network" testid="field-allowed_hosts" onCreate={creates?.network} value={draft.allowed_hosts} options={netNames} disabled={!canEdit} onChange={(v) => update({ allowed_hosts: v })} />
            {open && (
              <div class="caution" role="alert" data-testid="open-relay-caution">
                <p>
                  <strong>Caution: this makes an OPEN RELAY.</strong>{' '}
                  {openEntries.length > 0 ? <>{openEntries.map((n) => `"${n}"`).join(', ')} {openEntries.length > 1 ? 'cover' : 'covers'} every address. </> : <>Together the entries cover most of the Internet. </>}
                  Anyone on the Internet could send mail through this relay. Spammers find open relays quickly, and you will end up on blacklists. Allow only the mail servers of
                  your own network.
                </p>
                <CheckField
                  label="I understand: allow an open relay anyway"
                  checked={draft.open_relay_acknowledged}
                  disabled={!canEdit}
                  testid="field-open_relay_acknowledged"
                  hint="Without this tick the server refuses the list."
                  onChange={(v) => update({ open_relay_acknowledged: v })}
                />
              </div>
            )}
            {!open && draft.open_relay_acknowledged && (
              <CheckField
                label="Open relay acknowledged"
                checked={draft.open_relay_acknowledged}
                disabled={!canEdit}
                testid="field-open_relay_acknowledged"
                hint="Not needed: the relay is not open. Clear it so that a future mistake is still caught."
                onChange={(v) => update({ open_relay_acknowledged: v })}
              />
            )}
          </Section>

          <Section {...common('blacklist')} intro={<p>Hosts and networks refused at connect (unless they are also upstream or relay hosts).</p>}>
            <ObjectField label="Blocked hosts/networks" kind="network" testid="field-blacklist" onCreate={creates?.network} value={draft.blacklist} options={netNames} disabled={!canEdit} onChange={(v) => update({ blacklist: v })} />
          </Section>

          <Section
            {...common('scan')}
            intro={
              <p>
                Also scan messages from authenticated and host-based relays for malware and spam. Turning this off can help with many outgoing messages. The global Malware and
                Antispam settings apply to relayed messages too.
              </p>
            }
          >
            <CheckField label="Scan relayed messages" checked={draft.scan_relayed} disabled={!canEdit} testid="field-scan_relayed" onChange={(v) => update({ scan_relayed: v })} />
          </Section>

          {/* limits.rate: its own section of the settings (limits), applied on its own. */}
          <RateLimitsSection canEdit={canEdit} />
        </div>

        <aside class="object-panel card" aria-label="Objects to drag into the fields">
          <h2>Objects</h2>
          <p class="hint">Drag an object into a field, or use a field's Add button.</p>
          <ErrorBox message={nets.error ?? users.error ?? groups.error} />
          <ObjectList
            title="Networks"
            kind="network"
            items={[{ name: 'Any', detail: 'every address (built in)', danger: true }, ...networks.map((n) => ({ name: n.name, detail: describeNetwork(n), danger: coversInternet(n.name, networks) }))]}
          />
          <ObjectList title="Users" kind="user" items={(users.data ?? []).map((u) => ({ name: u.name, detail: u.enabled ? u.groups.join(', ') : 'disabled' }))} open={false} />
          <ObjectList title="User groups" kind="group" items={(groups.data ?? []).map((g) => ({ name: g.name, detail: g.comment ?? '' }))} open={false} />
        </aside>
      </div>
    </Page>
  );
}

/** A warning that a blocked network overlaps an allowed one (src/config/validate.ts). */
const isOverlap = (w: { path: string; message: string }) => w.path.startsWith('relaying.blacklist') && / overlaps /.test(w.message);

/**
 * The result without the blacklist-overlap warnings already shown on this
 * page: every Apply validates the whole document, so an old overlap would be
 * repeated under each unrelated section. A new or changed overlap (its text
 * names both objects) is shown; the ones shown are added to `shown`.
 */
export function withoutRepeatedOverlaps(r: ApplyResult, shown: Set<string>): ApplyResult {
  const warnings = r.warnings.filter((w) => {
    if (!isOverlap(w)) return true;
    const key = w.message;
    if (shown.has(key)) return false;
    if (r.ok) shown.add(key);
    return true;
  });
  return { ...r, warnings };
}

const SENDER_LOGIN_CHOICES: readonly (readonly [SenderLoginMode, string])[] = [
  ['address', 'only their own addresses'],
  ['domain', 'any address in the domains of their addresses'],
  ['off', 'any address (not bound)'],
];

const TITLES: Record<SectionId, string> = {
  upstream: 'Upstream Host List',
  authrelay: 'Authenticated Relay',
  hostrelay: 'Host-based Relay',
  blacklist: 'Host/Network Blacklist',
  scan: 'Content Scan for Relayed Messages',
};

function Page({ children }: { children: ComponentChildren }) {
  return (
    <section class="page">
      <h1>Relaying</h1>
      <p class="lead">Who may send mail through mailwarden to domains that are not local. Each section is applied on its own.</p>
      {children}
    </section>
  );
}

/**
 * Asks the server (POST /api/settings/validate) whether an allowed_hosts list
 * makes an open relay: its rule 8 also counts entries that cover the Internet
 * together. Admins only (validate is a POST); null input: not asked.
 */
function useServerOpenCheck(allowed: string[] | null): boolean {
  const [open, setOpen] = useState(false);
  const seq = useRef(0);
  const key = allowed ? JSON.stringify(allowed) : null;
  useEffect(() => {
    if (key === null) return;
    const n = ++seq.current;
    const t = window.setTimeout(async () => {
      try {
        const { document } = await get<{ document: Record<string, unknown> }>('/api/settings');
        const relaying = { ...(document.relaying as Relaying), allowed_hosts: JSON.parse(key) as string[], open_relay_acknowledged: false };
        const r = await post<ApplyResult>('/api/settings/validate', { document: { ...document, relaying } });
        if (n === seq.current) setOpen(r.errors.some((e) => e.path.startsWith('relaying.allowed_hosts') && /open relay/i.test(e.message)));
      } catch {
        // The client-side check still stands.
      }
    }, 300);
    return () => window.clearTimeout(t);
  }, [key]);
  return open;
}
