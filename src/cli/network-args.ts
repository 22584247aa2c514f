// `network add`'s arguments turned into a network object, or a usage error:
// the type decides which of --address, --from/--to and --member it takes, and
// an address that cannot be one is a bad argument (exit 2), said before the
// settings are opened. References (members) are the validator's to judge.

import type { NetworkDef, NetworkType } from '../config/document.ts';
import { parseCidr, parseIp } from '../objects/ip.ts';

export const NETWORK_TYPES: readonly NetworkType[] = ['host', 'network', 'range', 'group'];

export interface NetworkArgs {
  type?: string | undefined;
  address?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  member: string[];
  description?: string | undefined;
}

const USES: Record<NetworkType, string> = {
  host: '--address ADDRESS',
  network: '--address ADDRESS/PREFIX',
  range: '--from ADDRESS --to ADDRESS',
  group: '--member NAME (repeatable)',
};

export function networkFromArgs(name: string, a: NetworkArgs): { ok: true; value: NetworkDef } | { ok: false; reason: string } {
  const type = a.type as NetworkType | undefined;
  if (type === undefined) return { ok: false, reason: `give the type: --type ${NETWORK_TYPES.join('|')}` };
  if (!NETWORK_TYPES.includes(type)) return { ok: false, reason: `--type "${a.type}" is not one of ${NETWORK_TYPES.join(', ')}` };
  const given = { address: a.address !== undefined, from: a.from !== undefined, to: a.to !== undefined, member: a.member.length > 0 };
  const allowed: Record<NetworkType, (keyof typeof given)[]> = { host: ['address'], network: ['address'], range: ['from', 'to'], group: ['member'] };
  const stray = (Object.keys(given) as (keyof typeof given)[]).filter((k) => given[k] && !allowed[type].includes(k));
  if (stray.length > 0) return { ok: false, reason: `a ${type} takes ${USES[type]}, not ${stray.map((k) => `--${k}`).join(', ')}` };
  const def: NetworkDef = { name, type };
  if (type === 'host' || type === 'network') {
    if (a.address === undefined) return { ok: false, reason: `a ${type} takes ${USES[type]}` };
    if (type === 'host') {
      if (a.address.includes('/')) return { ok: false, reason: `a host is one address; use --type network for "${a.address}"` };
      const ip = parseIp(a.address);
      if (!ip.ok) return { ok: false, reason: `--address "${a.address}": ${ip.reason}` };
    } else {
      const c = parseCidr(a.address);
      if (!c.ok) return { ok: false, reason: `--address "${a.address}": ${c.reason}` };
    }
    def.address = a.address;
  } else if (type === 'range') {
    if (a.from === undefined || a.to === undefined) return { ok: false, reason: `a range takes ${USES.range}` };
    for (const [flag, text] of [['--from', a.from], ['--to', a.to]] as const) {
      const ip = parseIp(text);
      if (!ip.ok) return { ok: false, reason: `${flag} "${text}": ${ip.reason}` };
    }
    def.from = a.from;
    def.to = a.to;
  } else {
    if (a.member.length === 0) return { ok: false, reason: `a group takes ${USES.group}` };
    def.members = [...a.member];
  }
  if (a.description !== undefined && a.description !== '') def.comment = a.description;
  return { ok: true, value: def };
}
