// "host[:port]" as written in routes and DNS server lists: a name, an IPv4
// address, or a bracketed IPv6 address ("[2001:db8::1]:25").

import { isIPv6 } from 'node:net';
import { parseIp } from '../objects/ip.ts';
import { isDomainName } from './path.ts';

export interface HostPort {
  host: string;
  port: number;
}

/** `allowZero`: port 0 (any free port, for a listener) is a port too. */
export function parseHostPort(text: string, defaultPort: number, opts: { allowZero?: boolean } = {}): { ok: true; value: HostPort } | { ok: false; reason: string } {
  let host = text;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) return { ok: false, reason: 'missing "]" after an IPv6 address' };
    host = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return { ok: false, reason: 'expected ":port" after "]"' };
    if (rest) portText = rest.slice(1);
    if (!isIPv6(host) || host.includes('%')) return { ok: false, reason: `"${host}" is not an IPv6 address` };
  } else {
    const colons = text.split(':').length - 1;
    if (colons > 1) return { ok: false, reason: 'write an IPv6 address in brackets: [2001:db8::1]:25' };
    if (colons === 1) [host = '', portText] = text.split(':');
    const looksNumeric = /^[0-9.]+$/.test(host);
    if (looksNumeric ? !parseIp(host).ok : !isDomainName(host)) return { ok: false, reason: `"${host}" is neither a host name nor an IP address` };
  }
  let port = defaultPort;
  if (portText !== undefined) {
    const min = opts.allowZero ? 0 : 1;
    if (!/^(0|[1-9][0-9]{0,4})$/.test(portText) || Number(portText) < min || Number(portText) > 65535) return { ok: false, reason: `"${portText}" is not a port number (${min}-65535)` };
    port = Number(portText);
  }
  return { ok: true, value: { host: host.toLowerCase(), port } };
}
