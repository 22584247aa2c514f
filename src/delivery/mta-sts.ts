// MTA-STS look-ups (RFC 8461) for MX deliveries: the `_mta-sts.DOMAIN` TXT
// record through the relay's resolver (dns.servers), the policy over HTTPS
// from mta-sts.DOMAIN (its address asked of the same resolver, never the
// system's), and a cache per node in memory by domain, kept for the policy's
// max_age and refreshed when the TXT id changes. Not persisted: after a
// restart the first delivery to a domain fetches its policy again. Parsing
// and the cache rule are pure, in mta-sts-policy.ts.

import { Resolver } from 'node:dns/promises';
import { request } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { LookupAddress } from 'node:dns';
import type { Dns } from './resolver.ts';
import { afterTxt, isFresh, parseStsPolicy, parseStsTxt, type CachedPolicy, type MtaStsPolicy, type MtaStsReport, type TxtResult } from './mta-sts-policy.ts';

export type { MtaStsReport };

/** RFC 8461 3.3: a policy larger than this is not read. */
const MAX_POLICY_BYTES = 64 * 1024;

export interface MtaStsFetchOptions {
  port: number;
  timeoutMs: number;
  /** Extra trusted CAs (tests), PEM; the system's are trusted as well. */
  ca?: string | Buffer | undefined;
}

export type TxtLookup = (name: string) => Promise<{ ok: true; records: string[] } | { ok: false; reason: string; missing: boolean }>;

/** TXT look-ups through the resolvers of dns.servers (the system's when empty). */
export function txtLookup(servers: readonly string[], timeoutMs = 5000): TxtLookup {
  const r = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers.length) r.setServers([...servers]);
  return async (name) => {
    try {
      return { ok: true, records: (await r.resolveTxt(name)).map((parts) => parts.join('')) };
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'DNS error';
      return { ok: false, reason: `${code}: ${(err as Error).message}`, missing: code === 'ENODATA' || code === 'ENOTFOUND' };
    }
  };
}

/**
 * GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt, the host's address from `dns`. No redirects (RFC 8461 3.3).
 * `timeoutMs` is one deadline over the whole fetch (DNS, connect, TLS, every byte of the body): the
 * socket's idle timeout alone would let a server that trickles the policy hold it for as long as it likes.
 */
export function fetchPolicyText(domain: string, dns: Dns, o: MtaStsFetchOptions): Promise<string> {
  const host = `mta-sts.${domain}`;
  return new Promise((done, fail) => {
    let settled = false;
    const finish = () => {
      settled = true;
      clearTimeout(deadline);
    };
    const resolve = (text: string) => {
      if (settled) return;
      finish();
      done(text);
    };
    const reject = (err: Error) => {
      if (settled) return;
      finish();
      fail(err);
    };
    const deadline = setTimeout(() => {
      const err = new Error(`fetching the policy of ${domain} took longer than ${o.timeoutMs} ms`);
      reject(err);
      req.destroy(err);
    }, o.timeoutMs);
    const req = request(
      {
        host,
        port: o.port,
        path: '/.well-known/mta-sts.txt',
        method: 'GET',
        servername: host,
        ca: o.ca ? [...rootCertificates, String(o.ca)] : undefined,
        rejectUnauthorized: true,
        agent: false,
        headers: { 'user-agent': 'mailwarden' },
        lookup: (hostname: string, opts: { all?: boolean }, cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
          void dns.addresses(hostname).then((a) => {
            if (settled) return cb(Object.assign(new Error('fetch abandoned'), { code: 'ECANCELED' }), opts.all ? [] : '');
            if (a.kind !== 'ok') return cb(Object.assign(new Error(`cannot resolve ${hostname}: ${a.kind === 'error' ? a.reason : 'no address records'}`), { code: 'ENOTFOUND' }), opts.all ? [] : '');
            const list = a.value.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
            if (opts.all) return cb(null, list);
            const first = list[0] as LookupAddress;
            cb(null, first.address, first.family);
          });
        },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`${host} answered HTTP ${res.statusCode ?? '?'}`));
        }
        const type = String(res.headers['content-type'] ?? '');
        if (!/^text\/plain\s*(;|$)/i.test(type)) {
          res.resume();
          return reject(new Error(`${host} served the policy as "${type}", not text/plain`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_POLICY_BYTES) {
            req.destroy(new Error(`the policy of ${domain} is larger than ${MAX_POLICY_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export interface StsAnswer {
  policy: MtaStsPolicy | null;
  /** How it was got: fetched now, from the cache, or no policy (and why). */
  from: 'fetched' | 'cache' | 'none';
  note?: string;
}

export interface MtaStsDeps {
  txt: (name: string) => ReturnType<TxtLookup>;
  fetch: (domain: string) => Promise<string>;
  now?: () => number;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

/** The MTA-STS policies of the destinations of one node: look-up, fetch, cache. */
export class MtaStsCache {
  private readonly cache = new Map<string, CachedPolicy>();
  /** A fetch under way per domain: workers of the same destination share it. */
  private readonly inflight = new Map<string, Promise<StsAnswer>>();

  /** The policy to apply to `domain` (null: none), per RFC 8461 5.1. */
  policyFor(domain: string, deps: MtaStsDeps): Promise<StsAnswer> {
    const running = this.inflight.get(domain);
    if (running) return running;
    const p = this.lookup(domain, deps).finally(() => this.inflight.delete(domain));
    this.inflight.set(domain, p);
    return p;
  }

  /** For the admin look-up and tests: what is cached for a domain. */
  cached(domain: string): CachedPolicy | undefined {
    return this.cache.get(domain);
  }

  private async lookup(domain: string, deps: MtaStsDeps): Promise<StsAnswer> {
    const now = (deps.now ?? Date.now)();
    const answer = await deps.txt(`_mta-sts.${domain}`);
    let txt: TxtResult;
    if (answer.ok) txt = parseStsTxt(answer.records);
    else txt = { ok: false, reason: answer.missing ? 'no _mta-sts record' : answer.reason };
    const cached = this.cache.get(domain);
    const step = afterTxt(txt, cached, now);
    if (step.use === 'cache') {
      if (cached) return { policy: cached.policy, from: 'cache' };
      return { policy: null, from: 'none' };
    }
    if (step.use === 'none') return { policy: null, from: 'none', note: txt.ok ? '' : txt.reason };
    try {
      const parsed = parseStsPolicy(await deps.fetch(domain), step.id);
      if (!parsed.ok) throw new Error(`the policy of ${domain} is not valid: ${parsed.reason}`);
      this.cache.set(domain, { policy: parsed.policy, fetchedAt: now });
      deps.log?.('mta_sts.fetched', { domain, id: parsed.policy.id, mode: parsed.policy.mode, mx: parsed.policy.mx, max_age: parsed.policy.maxAge });
      return { policy: parsed.policy, from: 'fetched' };
    } catch (err) {
      // RFC 8461 5.1: a policy that cannot be fetched leaves a fresh cached one in force; without one, no policy.
      const fresh = cached !== undefined && isFresh(cached, now);
      const error = (err as Error).message;
      deps.log?.('mta_sts.fetch_failed', { domain, id: step.id, error, using: fresh ? 'cache' : 'none' });
      if (fresh) return { policy: cached.policy, from: 'cache', note: error };
      return { policy: null, from: 'none', note: error };
    }
  }
}

export async function lookUpMtaSts(domain: string, txt: TxtLookup, fetch: (domain: string) => Promise<string>): Promise<MtaStsReport> {
  const answer = await txt(`_mta-sts.${domain}`);
  const record = answer.ok ? parseStsTxt(answer.records) : { ok: false as const, reason: answer.missing ? 'no _mta-sts record' : answer.reason };
  if (!record.ok) return { domain, record: { error: record.reason }, policy: null, error: null, effect: 'no MTA-STS policy: opportunistic TLS (may)' };
  try {
    const parsed = parseStsPolicy(await fetch(domain), record.id);
    if (!parsed.ok) throw new Error(`the policy is not valid: ${parsed.reason}`);
    const p = parsed.policy;
    const effect = p.mode === 'enforce' ? `only the MX hosts matching ${p.mx.join(', ')}, certificate checked (verify)` : p.mode === 'testing' ? 'delivered as without a policy; what enforce would refuse is logged' : 'ignored (mode none)';
    return { domain, record: { id: record.id }, policy: { id: p.id, mode: p.mode, mx: p.mx, max_age: p.maxAge }, error: null, effect };
  } catch (err) {
    return { domain, record: { id: record.id }, policy: null, error: (err as Error).message, effect: 'policy not fetched: a cached one stays in force, else opportunistic TLS (may)' };
  }
}
