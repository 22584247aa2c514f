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
