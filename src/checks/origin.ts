// Where a message comes from, for the checks at the end of DATA (rule 9):
// the client itself, or for mail from an upstream host the first hop past
// the upstream hosts, read from its Received headers.

import type { Snapshot } from '../config/snapshot.ts';
import { findOrigin, type OriginResult } from '../antispam/received-walk.ts';
import { parseIp } from '../objects/ip.ts';
import type { Client } from '../policy/rules.ts';
import type { DataInput, Fields } from './check.ts';

export function originOf(snap: Snapshot, client: Client, upstream: boolean, received: readonly string[]): { origin: DataInput['origin']; found: OriginResult } {
  const found: OriginResult = upstream ? findOrigin(client.text, [...received], (ip) => isUpstream(snap, ip)) : { origin: client.text, via: [], fallback: null };
  const parsed = parseIp(found.origin);
  const header = found.headerIndex ?? (found.via.length > 0 ? found.via.length - 1 : null);
  return { origin: { text: found.origin, ip: parsed.ok ? parsed.value : client.ip, header }, found };
}

/** The origin's fields in a message's `checks` log. */
export function originLog(found: OriginResult): Fields {
  const log: Fields = { origin: found.origin };
  if (found.via.length) log.via = found.via;
  if (found.fallback) log.origin_fallback = found.fallback;
  return log;
}

function isUpstream(snap: Snapshot, ip: string): boolean {
  const p = parseIp(ip);
  return p.ok && snap.upstream.match(p.value) !== null;
}
