// Who may send a bare LF in DATA and have it made a CRLF (limits.bare_newline):
// relay hosts, authenticated clients and the networks named in
// limits.bare_newline_networks, that is, our own applications, get the
// setting (default normalize); everybody else is always refused, because a
// bare LF from the Internet is how SMTP smuggling starts. Pure: no I/O.

import type { Snapshot } from '../config/snapshot.ts';
import type { Client } from '../policy/rules.ts';
import type { BareLfMode } from './data-guard.ts';

export function bareNewlineMode(snap: Snapshot, client: Client, authenticated: boolean): BareLfMode {
  const lim = snap.settings.limits;
  const ours = authenticated || snap.allowed.match(client.ip) !== null || lim.bare_newline_networks.some((n) => snap.networks.match(n, client.ip) !== null);
  return ours ? lim.bare_newline : 'reject';
}
