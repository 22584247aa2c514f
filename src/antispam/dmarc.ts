// DKIM verification, ARC verification and DMARC evaluation of one message
// with mailauth, through the relay's own resolver (dns.servers): the results
// for Authentication-Results, and the facts the DMARC decision needs
// (dmarc-policy.ts). SPF is not looked up here: the caller gives the SPF
// result it has (the spf check's, or its own). Every DNS question is bounded
// by a deadline (one for the DKIM keys and ARC, one for the DMARC records);
// past it a question fails at once, so DNS trouble ends as temperror, never
// as a hang or a refusal.

import { Readable } from 'node:stream';
import type { AuthPart } from './auth-results.ts';
import { displayNameDomains } from './from-display-name.ts';
import { authorsPlan, strictest, type AuthorResult, type DmarcFacts, type DmarcPolicy } from './dmarc-policy.ts';
import type { TxtResolver } from './spf.ts';

// Loaded on the first message checked: a relay that does not check DMARC does not carry it.
let loaded: Promise<[typeof import('mailauth/lib/dkim/verify.js'), typeof import('mailauth/lib/dmarc/index.js'), typeof import('mailauth/lib/arc/index.js')]> | null = null;

export interface DmarcVerification {
  /** dkim (one per signature, or dkim=none), arc, dmarc: in the order they go into the field. */
  parts: AuthPart[];
  /**
   * The facts the decision uses. With several author domains (several From fields, several domains in
   * one, an unreadable address beside a readable one) they are the strictest domain's; `malformed`
   * says which of these it was (null for a From with one domain) and `authors` lists every domain's result.
   */
  dmarc: DmarcFacts & { from: string | null; reason: string | null; malformed: string | null; authors: AuthorResult[] };
  dkim: { domain: string; result: string }[];
  arc: string;
  /** Domains of addresses written in a From display name other than the mailbox's own (from-display-name.ts). */
  nameDomains: string[];
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

/**
 * `resolver` answers the DKIM key and ARC questions; `policyResolver`, made when they are done, the
 * DMARC record questions. Separate deadlines: the signatures' domains are the sender's to choose,
 * and a key look-up the sender makes slow must not use up the time of the From domain's policy
 * look-up (a temperror there would let a p=reject domain be forged).
 */
export async function verifyDmarc(opts: { message: AsyncIterable<Buffer>; spf: { result: string; domain: string }; resolver: TxtResolver; policyResolver?: () => TxtResolver; minBitLength?: number }): Promise<DmarcVerification> {
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

  const policyResolver = (opts.policyResolver?.() ?? opts.resolver) as never;
  const spfDomains = opts.spf.result === 'pass' && opts.spf.domain ? [opts.spf.domain] : [];
  const dkimDomains = (dkim.results ?? []).filter((r) => (r as { status?: { result?: string } }).status?.result === 'pass').map((r) => ({ id: r.id, domain: r.signingDomain ?? '' }));
  const arcOpt = arcResult ? { arcResult } : {};
  // The parsed header is a hidden property of mailauth's result.
  const header = (dkim as { headers?: { parsed?: { key: string; line: Buffer }[] } }).headers?.parsed ?? [];
  const nameDomains = displayNameDomains(header.filter((h) => h.key === 'from').map((h) => h.line.toString()));
  const { response, reason, authorDomains } = await evaluateDmarc({ headerFrom: dkim.headerFrom, fromFields: dkim.fromFields, spfDomains, dkimDomains, ...arcOpt, resolver: policyResolver });
  if (response) {
    const one = facts(response);
    parts.push(one.part);
    return { parts, dkim: signatures, arc: arcStatus, nameDomains, dmarc: { ...one.facts, malformed: null, authors: [one.author] } };
  }

  // No single author domain (RFC 9989 5.3.1 gives up here): authorsPlan() says how we judge it instead.
  const plan = authorsPlan(reason ?? 'no-author-domain', dkim.fromFields, authorDomains ?? []);
  if (plan.kind !== 'evaluate') {
    // permerror: nothing a reader sees names a domain; fail: too many domains to look up, judged as p=reject.
    const result = plan.kind;
    parts.push({ method: 'dmarc', result, info: `dmarc=${result} (${plan.why})` });
    const policy = result === 'fail' ? 'reject' : null;
    return { parts, dkim: signatures, arc: arcStatus, nameDomains, dmarc: { result, policy, pct: 100, from: null, reason: plan.why, malformed: result === 'fail' ? plan.why : null, authors: [] } };
  }
  const credit = plan.credit ? { spfDomains, dkimDomains } : { spfDomains: [], dkimDomains: [] };
  // Side by side: one slow domain does not use up the message's DNS time before the others are asked.
  const each = await Promise.all(
    plan.domains.map(async (domain) => {
      const r = await evaluateDmarc({ headerFrom: [domain], fromFields: 1, ...credit, ...arcOpt, resolver: policyResolver });
      return r.response ? facts(r.response) : null;
    }),
  );
  for (const one of each) {
    if (one) parts.push({ ...one.part, info: one.part.info.replace(/^dmarc=([\w-]+)(?: \(([^)]*)\))?/, (_, res: string, comment?: string) => `dmarc=${res} (${[plan.why, comment].filter(Boolean).join('; ')})`) });
  }
  const authors = each.flatMap((one) => (one ? [one.author] : []));
  const decided = strictest(authors);
  const pick = each.find((one) => one?.author.domain === decided.from);
  return {
    parts,
    dkim: signatures,
    arc: arcStatus,
    nameDomains,
    dmarc: { result: decided.result, policy: decided.policy, pct: pick?.facts.pct ?? 100, from: decided.from, reason: pick?.facts.reason ?? null, malformed: plan.why, authors },
  };
}

type DmarcResponse = Exclude<Awaited<ReturnType<typeof import('mailauth/lib/dmarc/index.js').evaluateDmarc>>['response'], false>;

/** One evaluated author domain: its Authentication-Results part, the decision facts and the log line's entry. */
function facts(response: DmarcResponse): { part: AuthPart; facts: DmarcFacts & { from: string | null; reason: string | null }; author: AuthorResult } {
  const result = String(response.status.result);
  const from = response.status.header?.from ?? null;
  // The record itself is a hidden property: mailauth follows RFC 9989, which dropped pct; RFC 7489 honours it.
  const record = (response as { record?: { pct?: number } }).record;
  const pct = typeof record?.pct === 'number' ? record.pct : 100;
  const policy = POLICIES.has(response.policy) && (result === 'pass' || result === 'fail') ? (response.policy as DmarcPolicy) : null;
  return {
    part: { method: 'dmarc', result, info: String(response.info ?? `dmarc=${result}`), ...(from ? { domain: from } : {}) },
    facts: { result, policy, pct, from, reason: (response as { error?: string }).error ?? null },
    author: { domain: from ?? '', result, policy, pct },
  };
}
