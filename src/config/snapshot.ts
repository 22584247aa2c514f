// An immutable, pre-resolved view of one applied revision: what every
// connection pins for its whole life and what the relay rules read. Names are
// resolved to address ranges once here, not per command.

import type { ListenerDef, Settings, UserDef } from './document.ts';
import { NetworkIndex } from '../objects/networks.ts';
import { Findings } from './issues.ts';
import { domainKey } from '../address/path.ts';

/** A relaying list (upstream hosts, allowed hosts, blacklist) ready to match. */
export interface NetworkList {
  /** Which entry a client matches, as a phrase for the trail: `"trusted" > "office"`; null when none. */
  match(ip: bigint): string | null;
}

export interface Snapshot {
  readonly revision: number;
  readonly settings: Settings;
  readonly networks: NetworkIndex;
  readonly upstream: NetworkList;
  readonly allowed: NetworkList;
  readonly blacklist: NetworkList;
  /** Keys as `domainKey` makes them. */
  readonly localDomains: ReadonlySet<string>;
  readonly users: ReadonlyMap<string, UserDef>;
  readonly listeners: ReadonlyMap<string, ListenerDef>;
}

function listOf(networks: NetworkIndex, names: readonly string[]): NetworkList {
  return {
    match(ip: bigint): string | null {
      for (const name of names) {
        const path = networks.match(name, ip);
        if (path) return path.map((n) => `"${n}"`).join(' > ');
      }
      return null;
    },
  };
}

/** Compiles settings that passed validation. */
export function compileSnapshot(settings: Settings, revision: number, networks?: NetworkIndex): Snapshot {
  const index = networks ?? NetworkIndex.build(settings.networks, new Findings());
  const r = settings.relaying;
  return {
    revision,
    settings,
    networks: index,
    upstream: listOf(index, r.upstream_hosts),
    allowed: listOf(index, r.allowed_hosts),
    blacklist: listOf(index, r.blacklist),
    localDomains: new Set(settings.domains.map((d) => domainKey(d.name))),
    users: new Map(settings.users.map((u) => [u.name, u])),
    listeners: new Map(settings.listeners.map((l) => [l.name, l])),
  };
}
