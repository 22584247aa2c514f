// Where a scanning daemon listens, as an admin writes it: "host:port" for TCP
// (an IPv6 address in brackets) or an absolute path for a Unix socket.

import { parseHostPort } from '../address/host-port.ts';

export type EngineAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export function parseEngineAddress(text: string, defaultPort: number): { ok: true; value: EngineAddress } | { ok: false; reason: string } {
  if (text.startsWith('/')) {
    if (text.includes('\0')) return { ok: false, reason: 'a socket path cannot contain NUL' };
    return { ok: true, value: { kind: 'unix', path: text } };
  }
  const hp = parseHostPort(text, defaultPort);
  if (!hp.ok) return { ok: false, reason: `${hp.reason} (give "host:port" or the absolute path of a Unix socket)` };
  return { ok: true, value: { kind: 'tcp', ...hp.value } };
}

/** The options node:net's connect() takes for it. */
export function connectOptions(a: EngineAddress): { host: string; port: number } | { path: string } {
  return a.kind === 'tcp' ? { host: a.host, port: a.port } : { path: a.path };
}

export function describeEngineAddress(a: EngineAddress): string {
  return a.kind === 'unix' ? a.path : a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
