// HELO/EHLO checks for clients without relay rights: a greeting with our own
// host name or one of our addresses (nobody outside is us), or a name that is
// neither a host name nor an address literal, is refused.

import { isDomainName } from '../address/path.ts';
import { parseIp } from '../objects/ip.ts';

export type HeloVerdict = { ok: true } | { ok: false; reason: string };

export function checkHelo(helo: string, ours: { hostname: string; addresses: readonly bigint[] }): HeloVerdict {
  const name = helo.trim();
  if (name === '') return { ok: false, reason: 'empty HELO' };
  const literal = /^\[(?:IPv6:)?([^\]]+)\]$/i.exec(name);
  if (literal) {
    const ip = parseIp(literal[1] ?? '');
    if (!ip.ok) return { ok: false, reason: `invalid address literal ${name}` };
    if (ours.addresses.includes(ip.value)) return { ok: false, reason: `HELO with our own address ${name}` };
    return { ok: true };
  }
  const bareIp = parseIp(name);
  if (bareIp.ok) {
    if (ours.addresses.includes(bareIp.value)) return { ok: false, reason: `HELO with our own address ${name}` };
    return { ok: false, reason: `an address must be written in brackets: [${name}]` };
  }
  if (!isDomainName(name.replace(/\.$/, ''))) return { ok: false, reason: `invalid host name ${JSON.stringify(name.slice(0, 100))}` };
  if (name.replace(/\.$/, '').toLowerCase() === ours.hostname.toLowerCase()) return { ok: false, reason: `HELO with our own name ${name}` };
  return { ok: true };
}
