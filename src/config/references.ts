// Who refers to an object: an object that is still used cannot be removed,
// and the refusal names every place that uses it.

import type { Settings } from './document.ts';

export type ObjectKind = 'network' | 'user' | 'group';

export function findReferences(s: Settings, kind: ObjectKind, name: string): string[] {
  const out: string[] = [];
  const scan = (path: string, list: readonly string[]) => list.forEach((n, i) => n === name && out.push(`${path}[${i}]`));
  if (kind === 'network') {
    s.networks.forEach((n, i) => n.type === 'group' && scan(`networks[${i}] (group "${n.name}").members`, n.members ?? []));
    scan('relaying.upstream_hosts', s.relaying.upstream_hosts);
    scan('relaying.allowed_hosts', s.relaying.allowed_hosts);
    scan('relaying.blacklist', s.relaying.blacklist);
    scan('limits.bare_newline_networks', s.limits.bare_newline_networks);
    s.listeners.forEach((l, i) => scan(`listeners[${i}] ("${l.name}").trusted_proxies`, l.trusted_proxies));
  } else if (kind === 'user') {
    scan('relaying.authenticated_relay.users', s.relaying.authenticated_relay.users);
  } else {
    s.users.forEach((u, i) => scan(`users[${i}] ("${u.name}").groups`, u.groups));
    scan('relaying.authenticated_relay.groups', s.relaying.authenticated_relay.groups);
  }
  return out;
}
