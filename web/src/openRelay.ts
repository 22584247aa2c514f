// Client-side check for the open-relay caution on the Relaying page: does a
// network object (or `Any`) cover the whole Internet? The server's own rule 8
// (docs/relay-rules.md) is finer (half of the public space, several entries
// together); this catches the obvious cases the moment they are added, and
// the page also asks the server (POST /api/settings/validate).

import type { NetworkDef } from './types.ts';

const ALL_V4 = ['0.0.0.0', '255.255.255.255'];

function isWholeSpace(n: NetworkDef): boolean {
  if (n.type === 'network' && n.address) {
    const [addr, prefix] = n.address.split('/');
    const p = Number(prefix);
    if (p === 0) return true;
    // The IPv4-mapped block and the global unicast block are the Internet too.
    if (addr?.toLowerCase() === '::ffff:0.0.0.0' && p === 96) return true;
    if (addr?.toLowerCase() === '2000::' && p <= 3) return true;
  }
  if (n.type === 'range' && n.from && n.to) {
    if (n.from === ALL_V4[0] && n.to === ALL_V4[1]) return true;
    if (n.from === '::' && /^ffff(:ffff){7}$/i.test(n.to)) return true;
  }
  return false;
}

/** True when the named object is `Any` or covers every address (groups followed, cycles ignored). */
export function coversInternet(name: string, networks: NetworkDef[], seen: Set<string> = new Set()): boolean {
  if (name.toLowerCase() === 'any') return true;
  if (seen.has(name)) return false;
  seen.add(name);
  const n = networks.find((x) => x.name === name);
  if (!n) return false;
  if (n.type === 'group') return (n.members ?? []).some((m) => coversInternet(m, networks, seen));
  return isWholeSpace(n);
}

/** A short description of a network object for lists. */
export function describeNetwork(n: NetworkDef): string {
  switch (n.type) {
    case 'host':
    case 'network':
      return n.address ?? '';
    case 'range':
      return `${n.from ?? '?'} – ${n.to ?? '?'}`;
    case 'group':
      return `group: ${(n.members ?? []).join(', ') || 'empty'}`;
  }
}

/** The open-relay report as the API sends it (POST /api/policy/open-relay-test). */
export interface OpenRelayReport {
  client: string;
  domain: string;
  relayed: number;
  results: { to: string; relayed: boolean; action: string; code: number; enhanced: string; kind: string | null; rule: string }[];
  /** Set when the client is a trusted proxy: its rows are for the address it can claim. */
  proxy?: { listener: string; entry: string; claims: string | null; claims_as: 'relay host' | 'upstream host' | null } | null;
}

export interface RelayVerdict {
  /** ok: nothing relayed; intended: relayed by a rule meant to allow it; bad: relayed and no rule means it. */
  tone: 'ok' | 'intended' | 'bad';
  text: string;
}

/**
 * What the open-relay test means for this client. `right` is the relay
 * right the rules give it (explain's relay_right for a relayed recipient):
 * a relay host or an allowed user is meant to relay, so that is said plainly
 * and not in red; red is for relaying no rule means to allow, such as a
 * trusted proxy claiming a relay host's address.
 */
export function openRelayVerdict(r: OpenRelayReport, right: 'host' | 'auth' | null, user: string | null): RelayVerdict {
  const n = `${r.relayed} of ${r.results.length} addresses`;
  if (r.relayed === 0) return { tone: 'ok', text: `Not an open relay for ${r.client}: none of the ${r.results.length} addresses would be relayed (our domain: ${r.domain}).` };
  if (r.proxy?.claims) {
    return {
      tone: 'bad',
      text: `${n} would be relayed: ${r.client} is a trusted proxy of listener "${r.proxy.listener}" (${r.proxy.entry}) and can claim to be ${r.proxy.claims_as ?? 'another client'} ${r.proxy.claims} in its PROXY header.`,
    };
  }
  if (right === 'host') return { tone: 'intended', text: `${r.client} is allowed to relay by Host-based Relay (Allowed hosts/networks): ${n} are relayed, as meant for a relay host.` };
  if (right === 'auth') return { tone: 'intended', text: `${user ?? 'The user'} is allowed to relay by Authenticated Relay: ${n} are relayed, as meant for an authenticated user.` };
  return { tone: 'bad', text: `${n} would be relayed for ${r.client}, and no relay rule means to allow it.` };
}
