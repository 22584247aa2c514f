// A rate limit's subject (src/limits/rate-rules.ts) as it crosses the IPC
// channel between an SMTP worker and the primary. The subject answers
// inNetwork(name) with a function, and a function cannot be cloned: sent as
// is, every rate check of a worker failed to send (a 451 for every MAIL under
// any rate limit) and every count was lost. So the worker asks inNetwork for
// each network object the limits name and sends the answers; the primary
// rebuilds the question from them. Pure.

import type { RateLimit } from '../config/document.ts';
import type { RateSubject } from '../limits/rate-rules.ts';

/** The subject without its function: the network objects (named by the limits) the client is in. */
export interface WireRateSubject {
  readonly user: string | null;
  readonly groups: readonly string[];
  readonly client: string;
  readonly relayed: boolean;
  readonly senderDomain: string | null;
  readonly networks: readonly string[];
}

/** Only `network` and `client` limits ask inNetwork, and only of their `match`. */
export function toWire(limits: readonly RateLimit[], s: RateSubject): WireRateSubject {
  const networks = new Set<string>();
  for (const l of limits) if ((l.who === 'network' || l.who === 'client') && l.match !== undefined && s.inNetwork(l.match)) networks.add(l.match);
  return { user: s.user, groups: [...s.groups], client: s.client, relayed: s.relayed, senderDomain: s.senderDomain, networks: [...networks] };
}

export function fromWire(w: WireRateSubject): RateSubject {
  const networks = new Set(w.networks);
  return { user: w.user, groups: w.groups, client: w.client, relayed: w.relayed, senderDomain: w.senderDomain, inNetwork: (name) => networks.has(name) };
}
