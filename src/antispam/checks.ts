// The spam checks that look at where mail comes from (ARCHITECTURE.md rule
// 9): DNS blocklists, SPF, HELO checks and greylisting, each at the stage
// where its facts are known, on the origin address (the client, or for mail
// from an upstream host the first hop past our upstream hosts), never for
// relay clients, and skipped for the configured exceptions. Each method
// returns a refusal (or null) and the fields for the message's log line;
// the front end only replies and logs.

import { Resolver } from 'node:dns/promises';
import type { CheckName, Settings } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { durationMs } from '../core/duration.ts';
import { formatIp, parseIp } from '../objects/ip.ts';
import { checkDnsbl, type DnsblOutcome } from './dnsbl.ts';
import { dependsOnSender, skippedChecks } from './exceptions.ts';
import { tripletKey } from './greylist.ts';
import type { GreylistStore } from './greylist-store.ts';
import { checkHelo } from './helo-check.ts';
import { findOrigin, readReceivedFrom, type OriginResult } from './received-walk.ts';
import { checkSpf, type SpfOutcome } from './spf.ts';

export interface Refusal {
  code: number;
  enhanced: string;
  text: string;
  check: CheckName;
  /** The setting that decided, e.g. "antispam.dnsbl[0]". */
  rule: string;
  reason: string;
}

export interface CheckStep {
  refusal: Refusal | null;
  log: Record<string, unknown>;
}

/** What the end-of-DATA checks hand to the content decision. */
export interface OriginVerdict extends CheckStep {
  /** Points for the spam score (DNSBL entries with action score). */
  points: number;
  symbols: string[];
  /** Header fields to add (Authentication-Results). */
  headers: string[];
}

export interface ConnectionFacts {
  ip: bigint;
  text: string;
  /** Connected from an upstream host: the checks wait for the origin in the headers. */
  upstream: boolean;
  /** Host-based relay client: no check ever applies. */
  relayHost: boolean;
}

function dnsblRefusal(o: DnsblOutcome, s: Settings, who: string): Refusal | null {
  const hit = o.listed.find((h) => h.action === 'reject');
  if (!hit) return null;
  const i = s.antispam.dnsbl.findIndex((d) => d.zone === hit.zone);
  return { code: 554, enhanced: '5.7.1', text: `Service unavailable; ${who} listed at ${hit.zone}`, check: 'dnsbl', rule: `antispam.dnsbl[${i}]`, reason: `${who} listed at ${hit.zone} (${hit.answer})` };
}

function dnsblLog(o: DnsblOutcome): Record<string, unknown> {
  return { listed: o.listed.map((h) => ({ zone: h.zone, answer: h.answer, action: h.action })), clean: o.clean, skipped: o.skipped };
}

export class AntispamChecks {
  private readonly greylist: GreylistStore | null;
  private readonly now: () => number;
  private resolvers = new Map<string, Resolver>();

  constructor(deps: { greylist: GreylistStore | null; now?: () => number }) {
    this.greylist = deps.greylist;
    this.now = deps.now ?? Date.now;
  }

  private resolver(s: Settings): Resolver {
    const timeout = durationMs(s.antispam.dns_timeout);
    const key = `${timeout} ${s.dns.servers.join(',')}`;
    let r = this.resolvers.get(key);
    if (!r) {
      r = new Resolver({ timeout, tries: 1 });
      if (s.dns.servers.length) r.setServers([...s.dns.servers]);
      this.resolvers.set(key, r);
    }
    return r;
  }

  private dnsbl(s: Settings, ip: bigint): Promise<DnsblOutcome> {
    const r = this.resolver(s);
    return checkDnsbl(ip, s.antispam.dnsbl, (name) => r.resolve4(name));
  }

  /**
   * At connect, for a direct client: the blocklists. Refused here when the
   * answer cannot depend on later facts (no sender-based exception, no
   * authenticated relay that could exempt the client, an mx listener);
   * otherwise the outcome waits for MAIL FROM.
   */
  async atConnect(snap: Snapshot, c: ConnectionFacts, listenerMode: string): Promise<{ step: CheckStep; deferred: DnsblOutcome | null }> {
    const s = snap.settings;
    if (c.upstream || c.relayHost || s.antispam.dnsbl.length === 0) return { step: { refusal: null, log: {} }, deferred: null };
    const skip = skippedChecks(s.antispam.exceptions, snap.networks, { addresses: [c.ip], sender: null });
    if (skip.has('dnsbl')) return { step: { refusal: null, log: { dnsbl: { skipped_by: `antispam.exceptions[${skip.get('dnsbl')}]` } } }, deferred: null };
    const outcome = await this.dnsbl(s, c.ip);
    const log = { dnsbl: dnsblLog(outcome) };
    const final = listenerMode === 'mx' && !s.relaying.authenticated_relay.enabled && !dependsOnSender(s.antispam.exceptions, 'dnsbl');
    if (!final) return { step: { refusal: null, log }, deferred: outcome };
    return { step: { refusal: dnsblRefusal(outcome, s, `client [${c.text}]`), log }, deferred: outcome };
  }

  /** At MAIL FROM, for a client without relay right: the HELO name, and the blocklist answer kept from connect. */
  /** `localAddress`: the address the client connected to (ours, whatever the listener is bound to). */
  atMail(snap: Snapshot, c: ConnectionFacts, helo: string, sender: string, deferred: DnsblOutcome | null, localAddress?: string): CheckStep {
    const s = snap.settings;
    const skip = skippedChecks(s.antispam.exceptions, snap.networks, { addresses: [c.ip], sender });
    const log: Record<string, unknown> = {};
    if (deferred) {
      if (skip.has('dnsbl')) log.dnsbl = { skipped_by: `antispam.exceptions[${skip.get('dnsbl')}]` };
      else {
        const refusal = dnsblRefusal(deferred, s, `client [${c.text}]`);
        if (refusal) return { refusal, log: { dnsbl: dnsblLog(deferred) } };
      }
    }
    if (s.antispam.helo_checks && !c.upstream) {
      if (skip.has('helo')) log.helo = { skipped_by: `antispam.exceptions[${skip.get('helo')}]` };
      else {
        const ours = [...s.listeners.map((l) => l.address), localAddress ?? ''].map((a) => parseIp(a)).flatMap((p) => (p.ok && p.value !== 0n ? [p.value] : []));
        const v = checkHelo(helo, { hostname: s.hostname, addresses: ours });
        log.helo = v.ok ? { verdict: 'pass' } : { verdict: 'fail', reason: v.reason };
        if (!v.ok) return { refusal: { code: 550, enhanced: '5.7.1', text: 'HELO/EHLO refused', check: 'helo', rule: 'antispam.helo_checks', reason: v.reason }, log };
      }
    }
    return { refusal: null, log };
  }

  /** At RCPT, for a direct client without relay right: greylisting on (client, sender, recipient). */
  async atRcpt(snap: Snapshot, c: ConnectionFacts, sender: string, recipient: string): Promise<CheckStep> {
    if (c.upstream) return { refusal: null, log: {} };
    return this.greylistStep(snap, c.ip, [c.ip], sender, [recipient]);
  }

  private async greylistStep(snap: Snapshot, origin: bigint, addresses: bigint[], sender: string, recipients: string[]): Promise<CheckStep> {
    const s = snap.settings;
    const g = s.antispam.greylisting;
    if (!g.enabled || !this.greylist) return { refusal: null, log: {} };
    const skip = skippedChecks(s.antispam.exceptions, snap.networks, { addresses, sender });
    if (skip.has('greylisting')) return { refusal: null, log: { greylisting: { skipped_by: `antispam.exceptions[${skip.get('greylisting')}]` } } };
    const times = { delayMs: durationMs(g.delay), expiryMs: durationMs(g.expiry), lifetimeMs: durationMs(g.lifetime) };
    const now = this.now();
    let wait = 0;
    let known = true;
    for (const r of recipients) {
      const v = await this.greylist.check(tripletKey(origin, sender, r), now, times);
      if (!v.pass) wait = Math.max(wait, v.retryInMs);
      else if (!v.known) known = false;
    }
    if (wait > 0) {
      const secs = Math.ceil(wait / 1000);
      return {
        refusal: { code: 451, enhanced: '4.7.1', text: `Greylisted, please try again in ${secs} second${secs === 1 ? '' : 's'}`, check: 'greylisting', rule: 'antispam.greylisting', reason: `first attempt from ${formatIp(origin)}` },
        log: { greylisting: { verdict: 'greylisted', retry_in_s: secs } },
      };
    }
    return { refusal: null, log: { greylisting: { verdict: known ? 'known' : 'passed' } } };
  }

  /**
   * At the end of DATA, for mail without relay right: the origin (past the
   * upstream hosts), then for mail from upstream hosts the blocklists and
   * greylisting on it, and SPF for all.
   */
  async atDataEnd(snap: Snapshot, c: ConnectionFacts, m: { helo: string; sender: string; recipients: string[]; received: string[]; connectDnsbl: DnsblOutcome | null }): Promise<OriginVerdict & { origin: OriginResult }> {
    const s = snap.settings;
    const origin = c.upstream ? findOrigin(c.text, m.received, (ip) => isUpstream(snap, ip)) : { origin: c.text, via: [], fallback: null };
    const parsed = parseIp(origin.origin);
    const originIp = parsed.ok ? parsed.value : c.ip;
    const log: Record<string, unknown> = { origin: origin.origin };
    if (origin.via.length) log.via = origin.via;
    if (origin.fallback) log.origin_fallback = origin.fallback;
    const out: OriginVerdict & { origin: OriginResult } = { refusal: null, log, points: 0, symbols: [], headers: [], origin };
    const addresses = [c.ip, originIp];
    const skip = skippedChecks(s.antispam.exceptions, snap.networks, { addresses, sender: m.sender });

    if (c.upstream && s.antispam.dnsbl.length) {
      if (skip.has('dnsbl')) log.dnsbl = { skipped_by: `antispam.exceptions[${skip.get('dnsbl')}]` };
      else {
        const o = await this.dnsbl(s, originIp);
        log.dnsbl = dnsblLog(o);
        out.refusal = dnsblRefusal(o, s, `origin [${origin.origin}]`);
        if (out.refusal) return out;
        for (const h of o.listed) {
          out.points += h.score;
          out.symbols.push(`DNSBL_${h.zone}`);
        }
      }
    } else if (!c.upstream && m.connectDnsbl && !skip.has('dnsbl')) {
      // A direct client was looked up at connect; its score entries count here.
      for (const h of m.connectDnsbl.listed.filter((x) => x.action === 'score')) {
        out.points += h.score;
        out.symbols.push(`DNSBL_${h.zone}`);
      }
    }

    if (c.upstream) {
      const g = await this.greylistStep(snap, originIp, addresses, m.sender, m.recipients);
      Object.assign(log, g.log);
      if (g.refusal) {
        out.refusal = g.refusal;
        return out;
      }
    }

    if (s.antispam.spf.enabled) {
      if (skip.has('spf')) log.spf = { skipped_by: `antispam.exceptions[${skip.get('spf')}]` };
      else {
        // The origin's own HELO: never another host's (the upstream's) in its place.
        const helo = c.upstream && origin.origin !== c.text ? originHelo(m.received, indexOfOriginHeader(origin)) : m.helo;
        const r = this.resolver(s);
        let spf: SpfOutcome;
        if (m.sender === '' && !helo) {
          spf = { result: 'none', comment: 'no HELO name known for the origin of a message from <>', info: 'spf=none (no HELO name known for the origin) smtp.mailfrom=<>', receivedSpf: '' };
        } else {
          try {
            spf = await checkSpf({ ip: origin.origin, sender: m.sender, helo: helo ?? '', hostname: s.hostname, resolver: (name, type) => r.resolve(name, type), timeoutMs: durationMs(s.antispam.dns_timeout) * 2 });
          } catch (err) {
            spf = { result: 'temperror', comment: (err as Error).message, info: 'spf=temperror', receivedSpf: '' };
          }
        }
        log.spf = { result: spf.result, identity: m.sender === '' ? `helo ${helo}` : m.sender };
        // Folded before each property, so that a long comment does not make one long line.
        out.headers.push(`Authentication-Results: ${s.hostname};\r\n\t${spf.info.replace(/\s+/g, ' ').replace(/ (smtp\.[a-z]+=)/g, '\r\n\t$1')}`);
        if (spf.result === 'fail' && s.antispam.spf.action === 'reject') {
          out.refusal = { code: 550, enhanced: '5.7.23', text: `SPF check failed for ${m.sender === '' ? helo : m.sender}`, check: 'spf', rule: 'antispam.spf.action', reason: spf.comment };
          return out;
        }
      }
    }
    return out;
  }

  /** For `policy explain`: the blocklist answer for an address, now. */
  async explainDnsbl(snap: Snapshot, ip: bigint): Promise<DnsblOutcome> {
    return this.dnsbl(snap.settings, ip);
  }
}

/** Which Received header (from the top) named the origin: the one below the last upstream hop. */
function indexOfOriginHeader(o: OriginResult): number {
  return o.headerIndex ?? o.via.length - 1;
}

function isUpstream(snap: Snapshot, ip: string): boolean {
  const p = parseIp(ip);
  return p.ok && snap.upstream.match(p.value) !== null;
}

/** The HELO name the origin greeted with, as the Received header that names it says; null when it does not. */
function originHelo(received: readonly string[], index: number): string | null {
  const h = received[index];
  return h === undefined ? null : (readReceivedFrom(h)?.helo ?? null);
}
