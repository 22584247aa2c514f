// DNS blocklists: the query name for an address (IPv4 octets reversed; IPv6
// as 32 reversed nibbles), which answers count (by default 127.0.0.0/8 but
// the 127.255.255.0/24 error codes), and the lookup itself. A DNS
// failure is never a reason to refuse mail: the zone is skipped and the
// caller logs it.

import type { DnsblDef } from '../config/document.ts';
import { formatIp, isV4, parseIp, rangeContains, type IpRange } from '../objects/ip.ts';

export type DnsblHit = { zone: string; answer: string; action: DnsblDef['action']; score: number };
export type DnsblOutcome = { listed: DnsblHit[]; skipped: { zone: string; reason: string }[]; clean: string[] };

/** "2.0.0.127.zen.example" for 127.0.0.2; nibbles for IPv6. */
export function dnsblQueryName(ip: bigint, zone: string): string {
  const z = zone.replace(/\.$/, '');
  if (isV4(ip)) return `${formatIp(ip).split('.').reverse().join('.')}.${z}`;
  const nibbles: string[] = [];
  for (let i = 0; i < 32; i++) nibbles.push(((ip >> BigInt(i * 4)) & 0xfn).toString(16));
  return `${nibbles.join('.')}.${z}`;
}

const LOOPBACK_V4: IpRange = { from: parseIpValue('127.0.0.0'), to: parseIpValue('127.255.255.255') };
/** Spamhaus and others answer errors here (e.g. 127.255.255.254: query through a public resolver): never a listing. */
const ERROR_CODES: IpRange = { from: parseIpValue('127.255.255.0'), to: parseIpValue('127.255.255.255') };

function parseIpValue(text: string): bigint {
  const p = parseIp(text);
  if (!p.ok) throw new Error(`bad address ${text}`);
  return p.value;
}

/** An entry of `answers`: one address or "first-last". */
export function parseAnswerRange(text: string): { ok: true; range: IpRange } | { ok: false; reason: string } {
  const [a = '', b, extra] = text.split('-').map((s) => s.trim());
  if (extra !== undefined) return { ok: false, reason: `"${text}": write one address or first-last` };
  const from = parseIp(a);
  if (!from.ok) return { ok: false, reason: `"${a}": ${from.reason}` };
  if (b === undefined) return { ok: true, range: { from: from.value, to: from.value } };
  const to = parseIp(b);
  if (!to.ok) return { ok: false, reason: `"${b}": ${to.reason}` };
  if (to.value < from.value) return { ok: false, reason: `"${text}": the range ends before it starts` };
  return { ok: true, range: { from: from.value, to: to.value } };
}

/** Whether an A record answer counts for this zone. */
export function answerCounts(def: DnsblDef, answer: string): boolean {
  const ip = parseIp(answer);
  if (!ip.ok) return false;
  if (def.answers.length === 0) return rangeContains(LOOPBACK_V4, ip.value) && !rangeContains(ERROR_CODES, ip.value);
  return def.answers.some((a) => {
    const r = parseAnswerRange(a);
    return r.ok && rangeContains(r.range, ip.value);
  });
}

export type ResolveA = (name: string) => Promise<string[]>;

/** Looks the address up in every zone at once. */
export async function checkDnsbl(ip: bigint, zones: readonly DnsblDef[], resolveA: ResolveA): Promise<DnsblOutcome> {
  const out: DnsblOutcome = { listed: [], skipped: [], clean: [] };
  await Promise.all(
    zones.map(async (def) => {
      try {
        const answers = await resolveA(dnsblQueryName(ip, def.zone));
        const hit = answers.find((a) => answerCounts(def, a));
        if (hit) out.listed.push({ zone: def.zone, answer: hit, action: def.action, score: def.score });
        else out.clean.push(def.zone);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'ENOTFOUND' || code === 'ENODATA') out.clean.push(def.zone);
        else out.skipped.push({ zone: def.zone, reason: `${code ?? 'error'}: ${(err as Error).message}` });
      }
    }),
  );
  // In the order of the settings, whatever order the answers came in.
  const order = (z: string) => zones.findIndex((d) => d.zone === z);
  out.listed.sort((a, b) => order(a.zone) - order(b.zone));
  return out;
}
