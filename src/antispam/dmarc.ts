// DKIM verification, ARC verification and DMARC evaluation of one message
// with mailauth, through the relay's own resolver (dns.servers): the results
// for Authentication-Results, and the facts the DMARC decision needs
// (dmarc-policy.ts). SPF is not looked up here: the caller gives the SPF
// result it has (the spf check's, or its own). Every DNS question is bounded
// by one deadline for the whole message; past it a question fails at once,
// so DNS trouble ends as temperror, never as a hang or a refusal.

import { Readable } from 'node:stream';
import type { AuthPart } from './auth-results.ts';
import type { DmarcFacts, DmarcPolicy } from './dmarc-policy.ts';
import type { TxtResolver } from './spf.ts';

// Loaded on the first message checked: a relay that does not check DMARC does not carry it.
let loaded: Promise<[typeof import('mailauth/lib/dkim/verify.js'), typeof import('mailauth/lib/dmarc/index.js'), typeof import('mailauth/lib/arc/index.js')]> | null = null;

export interface DmarcVerification {
  /** dkim (one per signature, or dkim=none), arc, dmarc: in the order they go into the field. */
  parts: AuthPart[];
  dmarc: DmarcFacts & { from: string | null; reason: string | null };
  dkim: { domain: string; result: string }[];
  arc: string;
}

/** A resolver whose questions all end by `deadline` (ms since the epoch): later ones fail at once with ETIMEOUT. */
export function deadlineResolver(resolve: TxtResolver, deadline: number, now: () => number = Date.now): TxtResolver {
  const timeout = (): Error => Object.assign(new Error('DNS time limit for the message reached'), { code: 'ETIMEOUT' });
  return (name, type) => {
    const left = deadline - now();
    if (left <= 0) return Promise.reject(timeout());
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([resolve(name, type), new Promise<never>((_, fail) => (timer = setTimeout(() => fail(timeout()), left)))]).finally(() => clearTimeout(timer));
  };
}

const POLICIES = new Set<string>(['none', 'quarantine', 'reject']);

export async function verifyDmarc(opts: { message: AsyncIterable<Buffer>; spf: { result: string; domain: string }; resolver: TxtResolver; minBitLength?: number }): Promise<DmarcVerification> {
  loaded ??= Promise.all([import('mailauth/lib/dkim/verify.js'), import('mailauth/lib/dmarc/index.js'), import('mailauth/lib/arc/index.js')]);
  const [{ dkimVerify }, { evaluateDmarc }, { arc }] = await loaded;
  const resolver = opts.resolver as never;
  const dkim = await dkimVerify(Readable.from(opts.message), { resolver, minBitLength: opts.minBitLength ?? 1024 });
  const parts: AuthPart[] = [];
  const signatures: { domain: string; result: string }[] = [];
  for (const r of dkim.results ?? []) {
    const row = r as { info?: string; signingDomain?: string; status?: { result?: string } };
    const result = row.status?.result ?? 'none';
    parts.push({ method: 'dkim', result, info: row.info ?? `dkim=${result}`, domain: row.signingDomain ?? '' });
    if (row.signingDomain) signatures.push({ domain: row.signingDomain, result });
  }
  if (parts.length === 0) parts.push({ method: 'dkim', result: 'none', info: 'dkim=none (message not signed)' });

  const arcResult = dkim.arc ? await arc(dkim.arc as never, { resolver, minBitLength: opts.minBitLength ?? 1024 }) : null;
  const arcStatus = String(arcResult?.status?.result ?? 'none');
  if (arcResult?.info) parts.push({ method: 'arc', result: arcStatus, info: arcResult.info });

  const { response, reason } = await evaluateDmarc({
    headerFrom: dkim.headerFrom,
    fromFields: dkim.fromFields,
    spfDomains: opts.spf.result === 'pass' && opts.spf.domain ? [opts.spf.domain] : [],
    dkimDomains: (dkim.results ?? []).filter((r) => (r as { status?: { result?: string } }).status?.result === 'pass').map((r) => ({ id: r.id, domain: r.signingDomain ?? '' })),
    ...(arcResult ? { arcResult } : {}),
    resolver,
  });
  if (!response) {
    // No single author domain (no From, several From fields or domains): DMARC cannot be evaluated (RFC 9989 5.3.1).
    parts.push({ method: 'dmarc', result: 'permerror', info: `dmarc=permerror (${reason ?? 'no author domain'})` });
    return { parts, dkim: signatures, arc: arcStatus, dmarc: { result: 'permerror', policy: null, pct: 100, from: null, reason: reason ?? 'no author domain' } };
  }
  const result = String(response.status.result);
  const from = response.status.header?.from ?? null;
  parts.push({ method: 'dmarc', result, info: String(response.info ?? `dmarc=${result}`), ...(from ? { domain: from } : {}) });
  // The record itself is a hidden property: mailauth follows RFC 9989, which dropped pct; RFC 7489 honours it.
  const record = (response as { record?: { pct?: number } }).record;
  const pct = typeof record?.pct === 'number' ? record.pct : 100;
  const policy = POLICIES.has(response.policy) && (result === 'pass' || result === 'fail') ? (response.policy as DmarcPolicy) : null;
  return { parts, dkim: signatures, arc: arcStatus, dmarc: { result, policy, pct, from, reason: (response as { error?: string }).error ?? null } };
}
