// Which TLS level applies to one next hop of one destination. Pure: the
// settings, the route plan, the target and the destination's MTA-STS policy
// (when one was looked up) in; the level, where it came from and what
// certificate check it needs out. The order, first that applies wins:
//
//   1. the first `delivery.tls_policy` entry that matches: a `domain` entry
//      the destination's recipient domain (MX or a local route; never an
//      address literal, which a next_hop entry names, nor the smarthost, which carries many domains on one
//      connection), a `next_hop` entry the host connected to (its name or
//      IP address, and its port when the entry names one);
//   2. MTA-STS (MX deliveries only): `enforce` is `verify` for an MX host
//      that matches the policy and excludes one that does not; `testing`
//      changes nothing but is reported; `none` is ignored;
//   3. the smarthost's own `tls`: required is verify, opportunistic is may;
//   4. `may` (opportunistic STARTTLS, as before these settings existed).
//
// An explicit entry comes before MTA-STS so that an administrator can work
// around a destination whose published policy is broken.

import { isIP } from 'node:net';
import { parseHostPort } from '../address/host-port.ts';
import { domainKey } from '../address/path.ts';
import type { Settings, TlsLevel, TlsPolicyEntry } from '../config/document.ts';
import type { MtaStsPolicy } from './mta-sts-policy.ts';
import { mxMatches } from './mta-sts-policy.ts';
import type { RoutePlan } from './routes.ts';
import type { Target } from './outbound.ts';

export type TlsSource =
  | { kind: 'entry'; index: number; entry: TlsPolicyEntry }
  | { kind: 'mta-sts'; domain: string; id: string; mode: 'enforce' }
  | { kind: 'smarthost' }
  | { kind: 'default' };

export interface TlsDecision {
  level: TlsLevel;
  source: TlsSource;
  /** PEM file of the CAs for `verify` (an entry's or the smarthost's); absent: the system's (and the MTA-STS test CA for an MTA-STS verify). */
  caFile?: string;
  /** MTA-STS testing: what enforce would have required (reported, not applied). */
  testing?: { domain: string; id: string; mxMatches: boolean };
}

/** A target left out: an MX host that an enforced MTA-STS policy does not list. */
export type TargetDecision = { use: true; tls: TlsDecision } | { use: false; reason: string };

/** The recipient domain a `domain` entry is compared with; null for the smarthost (many domains share it) and an address literal (a next_hop entry names it). */
export function planDomain(plan: RoutePlan): string | null {
  return plan.kind === 'mx' || plan.kind === 'local' ? plan.domain : null;
}

/** `example.com` matches that domain; `.example.com` any domain below it (not itself). */
export function domainEntryMatches(pattern: string, domain: string): boolean {
  const p = domainKey(pattern);
  const d = domainKey(domain);
  if (p.startsWith('.')) return d.length > p.length && d.endsWith(p);
  return p === d;
}

/** A `next_hop` entry ("host", "host:port", "[v6]:port") against the target connected to. */
export function nextHopMatches(pattern: string, target: Target): boolean {
  const hp = parseHostPort(pattern, 0);
  if (!hp.ok) return false;
  if (hp.value.port !== 0 && hp.value.port !== target.port) return false;
  const host = hp.value.host;
  if (isIP(host)) return host === target.host.toLowerCase();
  return host === domainKey(target.name) || host === target.host.toLowerCase();
}

function entryMatches(e: TlsPolicyEntry, domain: string | null, target: Target): boolean {
  if (e.domain !== undefined) return domain !== null && domainEntryMatches(e.domain, domain);
  if (e.next_hop !== undefined) return nextHopMatches(e.next_hop, target);
  return false;
}

/** Whether a `domain` entry decides the whole destination (then MTA-STS need not be looked up). */
export function domainEntryFor(policy: readonly TlsPolicyEntry[], plan: RoutePlan): number {
  const domain = planDomain(plan);
  if (domain === null) return -1;
  return policy.findIndex((e) => e.domain !== undefined && domainEntryMatches(e.domain, domain));
}

export function decideTls(s: Settings, plan: RoutePlan, target: Target, sts: MtaStsPolicy | null): TargetDecision {
  const domain = planDomain(plan);
  const policy = s.delivery.tls_policy;
  const index = policy.findIndex((e) => entryMatches(e, domain, target));
  const entry = policy[index];
  if (entry) {
    const tls: TlsDecision = { level: entry.level, source: { kind: 'entry', index, entry } };
    if (entry.ca !== undefined) tls.caFile = entry.ca;
    return { use: true, tls };
  }
  if (plan.kind === 'mx' && sts && sts.mode !== 'none') {
    const matches = mxMatches(sts.mx, target.name);
    if (sts.mode === 'enforce') {
      if (!matches) return { use: false, reason: `${target.name} is not an MX host of the MTA-STS policy of ${plan.domain} (mx: ${sts.mx.join(', ')})` };
      return { use: true, tls: { level: 'verify', source: { kind: 'mta-sts', domain: plan.domain, id: sts.id, mode: 'enforce' } } };
    }
    return { use: true, tls: { level: 'may', source: { kind: 'default' }, testing: { domain: plan.domain, id: sts.id, mxMatches: matches } } };
  }
  const sh = s.delivery.smarthost;
  if (plan.kind === 'smarthost' && sh) {
    const tls: TlsDecision = { level: sh.tls === 'required' ? 'verify' : 'may', source: { kind: 'smarthost' } };
    if (sh.ca !== undefined) tls.caFile = sh.ca;
    return { use: true, tls };
  }
  return { use: true, tls: { level: 'may', source: { kind: 'default' } } };
}

/** Where a level came from, for diagnostics and log lines ("delivery.tls_policy[2] (domain example.com)"). */
export function describeSource(src: TlsSource): string {
  switch (src.kind) {
    case 'entry': {
      const e = src.entry;
      return `delivery.tls_policy[${src.index}] (${e.domain !== undefined ? `domain ${e.domain}` : `next_hop ${e.next_hop ?? ''}`}, level ${e.level})`;
    }
    case 'mta-sts':
      return `the MTA-STS policy of ${src.domain} (id ${src.id}, mode enforce)`;
    case 'smarthost':
      return 'delivery.smarthost.tls: required';
    case 'default':
      return 'the default level (may)';
  }
}
