// Where a recipient domain's mail goes, in this order: a local domain to its
// static route (hosts in order, failover to the next); anything else to the
// smarthost when one is set; otherwise to the domain's MX hosts (by
// preference, A/AAAA when there is no MX, RFC 7505 null MX fails at once with
// 5.1.10). `planRoute` is pure; `resolveTargets` asks DNS.

import { isIP } from 'node:net';
import { parseHostPort, type HostPort } from '../address/host-port.ts';
import { domainKey } from '../address/path.ts';
import type { Settings, TlsPolicy } from '../config/document.ts';
import type { Dns } from './resolver.ts';
import type { OutboundOptions, Target } from './outbound.ts';

export type RoutePlan =
  | { kind: 'local'; key: string; domain: string; hosts: HostPort[] }
  | { kind: 'smarthost'; key: string; hosts: HostPort[] }
  | { kind: 'mx'; key: string; domain: string }
  | { kind: 'literal'; key: string; target: Target };

/** The domain of a stored recipient ("user@Example.COM." → "example.com"); '' for bare "postmaster". */
export function recipientDomain(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : domainKey(address.slice(at + 1));
}

export function planRoute(s: Settings, domain: string): RoutePlan {
  const key = domainKey(domain);
  const local = s.domains.find((d) => domainKey(d.name) === key);
  if (local) {
    const hosts = local.route.hosts.flatMap((h) => {
      const hp = parseHostPort(h, 25);
      return hp.ok ? [hp.value] : [];
    });
    return { kind: 'local', key: `route:${key}`, domain: key, hosts };
  }
  if (s.delivery.smarthost) {
    const sh = s.delivery.smarthost;
    return { kind: 'smarthost', key: 'smarthost', hosts: [{ host: sh.host, port: sh.port }] };
  }
  if (key.startsWith('[')) {
    const ip = key.slice(1, -1).replace(/^ipv6:/, '');
    return { kind: 'literal', key: `literal:${ip}`, target: { host: ip, port: s.delivery.mx_port, name: ip } };
  }
  return { kind: 'mx', key: `mx:${key}`, domain: key };
}

/** The smarthost's TLS setting and the credentials of a route (the TLS level of each next hop is tls-policy.ts's decision). */
export type RouteOptions = Pick<OutboundOptions, 'auth'> & { tls: TlsPolicy; caFile?: string };

export function routeOptions(s: Settings, plan: RoutePlan): RouteOptions {
  const sh = s.delivery.smarthost;
  if (plan.kind === 'smarthost' && sh) {
    const out: RouteOptions = { tls: sh.tls };
    if (sh.username !== undefined) out.auth = { user: sh.username, pass: sh.password ?? '' };
    if (sh.ca !== undefined) out.caFile = sh.ca;
    return out;
  }
  return { tls: 'opportunistic' };
}

export type Targets = { ok: true; targets: Target[] } | { ok: false; fate: 'failed' | 'deferred'; status: string; reason: string };

async function hostTargets(dns: Dns, hosts: readonly HostPort[]): Promise<{ targets: Target[]; errors: string[] }> {
  const targets: Target[] = [];
  const errors: string[] = [];
  for (const h of hosts) {
    if (isIP(h.host)) {
      targets.push({ host: h.host, port: h.port, name: h.host });
      continue;
    }
    const a = await dns.addresses(h.host);
    if (a.kind === 'ok') for (const ip of a.value) targets.push({ host: ip, port: h.port, name: h.host });
    else errors.push(`${h.host}: ${a.kind === 'error' ? a.reason : a.kind === 'nxdomain' ? 'no such host' : 'no address records'}`);
  }
  return { targets, errors };
}

/** Equal preferences in random order (RFC 5321 5.1), lower preference first. */
function byPreference(records: { exchange: string; priority: number }[], random: () => number): { exchange: string; priority: number }[] {
  return records
    .map((r) => ({ r, k: random() }))
    .sort((a, b) => a.r.priority - b.r.priority || a.k - b.k)
    .map((x) => x.r);
}

export async function resolveTargets(plan: RoutePlan, dns: Dns, mxPort: number, random: () => number = Math.random): Promise<Targets> {
  if (plan.kind === 'literal') return { ok: true, targets: [plan.target] };
  if (plan.kind === 'local' || plan.kind === 'smarthost') {
    const { targets, errors } = await hostTargets(dns, plan.hosts);
    if (targets.length) return { ok: true, targets };
    return { ok: false, fate: 'deferred', status: '4.4.3', reason: `cannot resolve the route's hosts: ${errors.join('; ')}` };
  }
  const mx = await dns.mx(plan.domain);
  if (mx.kind === 'error') return { ok: false, fate: 'deferred', status: '4.4.3', reason: `MX lookup for ${plan.domain} failed: ${mx.reason}` };
  if (mx.kind === 'nxdomain') return { ok: false, fate: 'failed', status: '5.1.2', reason: `domain ${plan.domain} does not exist` };
  if (mx.kind === 'ok' && mx.value.length) {
    // RFC 7505: a single MX of "." means the domain accepts no mail.
    if (mx.value.some((m) => m.exchange === '' || m.exchange === '.')) {
      return { ok: false, fate: 'failed', status: '5.1.10', reason: `domain ${plan.domain} accepts no mail (null MX)` };
    }
    const { targets, errors } = await hostTargets(
      dns,
      byPreference(mx.value, random).map((m) => ({ host: m.exchange.toLowerCase(), port: mxPort })),
    );
    if (targets.length) return { ok: true, targets };
    return { ok: false, fate: 'deferred', status: '4.4.3', reason: `no address for the MX hosts of ${plan.domain}: ${errors.join('; ')}` };
  }
  // No MX: the domain's own address records (RFC 5321 5.1).
  const a = await dns.addresses(plan.domain);
  if (a.kind === 'ok') return { ok: true, targets: a.value.map((ip) => ({ host: ip, port: mxPort, name: plan.domain })) };
  if (a.kind === 'error') return { ok: false, fate: 'deferred', status: '4.4.3', reason: `address lookup for ${plan.domain} failed: ${a.reason}` };
  return { ok: false, fate: 'failed', status: '5.1.2', reason: `domain ${plan.domain} has no MX and no address records` };
}
