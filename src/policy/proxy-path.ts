// The proxy path: a client inside a listener's trusted_proxies sends a PROXY
// header first, and the address in that header is the client every rule
// sees. So what such a client may do is decided by the address it can claim:
// `policy explain` and the open-relay test ask here which one that is.

import type { ListenerDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { formatIp } from '../objects/ip.ts';
import type { Client } from './rules.ts';

/** What a trusted proxy would claim to get the most from the rules. */
export interface Claim {
  readonly client: Client;
  readonly as: 'relay host' | 'upstream host';
  /** The setting and entry the claimed address matches, for the trail. */
  readonly entry: string;
}

/** The trusted_proxies entry of `listener` that `ip` matches (`"lb" > "haproxy"`), or null. */
export function trustedProxyEntry(snap: Snapshot, listener: ListenerDef, ip: bigint): string | null {
  for (const name of listener.trusted_proxies) {
    const path = snap.networks.match(name, ip);
    if (path) return path.map((n) => `"${n}"`).join(' > ');
  }
  return null;
}

/** The first listener that takes PROXY headers from `ip`, or null. */
export function listenerTrusting(snap: Snapshot, ip: bigint): ListenerDef | null {
  return snap.settings.listeners.find((l) => trustedProxyEntry(snap, l, ip) !== null) ?? null;
}

/**
 * The address a trusted proxy would claim: a relay host's (a relay right for
 * anything it sends), else an upstream host's (no refusal by upstream_only,
 * no spam checks); null when neither list names any address.
 */
export function bestClaim(snap: Snapshot): Claim | null {
  const r = snap.settings.relaying;
  for (const [as, names, setting] of [['relay host', r.allowed_hosts, 'relaying.allowed_hosts'], ['upstream host', r.upstream_hosts, 'relaying.upstream_hosts']] as const) {
    for (const name of names) {
      const leaf = snap.networks.leaves(name)[0];
      if (!leaf) continue;
      return { client: { ip: leaf.range.from, text: formatIp(leaf.range.from) }, as, entry: `${setting}: ${leaf.path.map((n) => `"${n}"`).join(' > ')}` };
    }
  }
  return null;
}
