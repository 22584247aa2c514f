// MTA-STS (RFC 8461) without I/O: the `_mta-sts` TXT record, the policy file
// served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt, MX patterns, and
// the cache rule (which policy to use given the TXT answer, the cached
// policy and the clock). The look-ups themselves are in mta-sts.ts.

export type StsMode = 'enforce' | 'testing' | 'none';

export interface MtaStsPolicy {
  /** The id of the TXT record the policy was fetched for. */
  id: string;
  mode: StsMode;
  /** MX patterns: "mail.example.com" or "*.example.net" (one leftmost label). */
  mx: string[];
  /** Seconds. */
  maxAge: number;
}

/** The longest max_age a policy may have (RFC 8461 3.2: about a year). */
export const MAX_AGE_LIMIT = 31_557_600;

export type TxtResult = { ok: true; id: string } | { ok: false; reason: string };

/**
 * The `_mta-sts` TXT records of a domain (each record's strings joined).
 * Records not starting with v=STSv1 are not ours; more than one of ours is no
 * record at all (RFC 8461 3.1).
 */
export function parseStsTxt(records: readonly string[]): TxtResult {
  const ours = records.filter((r) => /^v=STSv1\s*(;|$)/.test(r));
  if (ours.length === 0) return { ok: false, reason: 'no v=STSv1 record' };
  if (ours.length > 1) return { ok: false, reason: 'more than one v=STSv1 record' };
  const fields = new Map<string, string>();
  for (const part of (ours[0] ?? '').split(';')) {
    const t = part.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    if (eq <= 0) return { ok: false, reason: `malformed field "${t}"` };
    fields.set(t.slice(0, eq).trim(), t.slice(eq + 1).trim());
  }
  const id = fields.get('id');
  if (id === undefined || !/^[A-Za-z0-9]{1,32}$/.test(id)) return { ok: false, reason: 'no valid id (1 to 32 letters and digits)' };
  return { ok: true, id };
}

export type PolicyResult = { ok: true; policy: MtaStsPolicy } | { ok: false; reason: string };

/** The policy file (RFC 8461 3.2): "key: value" lines, CRLF or LF; unknown keys ignored. */
export function parseStsPolicy(text: string, id: string): PolicyResult {
  let version: string | null = null;
  let mode: string | null = null;
  let maxAge: string | null = null;
  const mx: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return { ok: false, reason: `malformed line "${line.slice(0, 80)}"` };
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === 'version') version ??= value;
    else if (key === 'mode') mode ??= value;
    else if (key === 'max_age') maxAge ??= value;
    else if (key === 'mx') mx.push(value.toLowerCase().replace(/\.$/, ''));
  }
  if (version !== 'STSv1') return { ok: false, reason: `version is ${version === null ? 'missing' : `"${version}"`}, not STSv1` };
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') return { ok: false, reason: `mode is ${mode === null ? 'missing' : `"${mode}"`}` };
  if (maxAge === null || !/^[0-9]{1,10}$/.test(maxAge)) return { ok: false, reason: 'max_age is missing or not a number of seconds' };
  if (mode !== 'none' && mx.length === 0) return { ok: false, reason: `mode ${mode} without any mx` };
  const bad = mx.find((p) => !/^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(p));
  if (bad !== undefined) return { ok: false, reason: `mx pattern "${bad}" is not a host name or "*." and a host name` };
  return { ok: true, policy: { id, mode, mx, maxAge: Math.min(Number(maxAge), MAX_AGE_LIMIT) } };
}

/** An MX host name against the policy's patterns; "*.example.net" stands for exactly one more label. */
export function mxMatches(patterns: readonly string[], host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return patterns.some((p) => {
    if (!p.startsWith('*.')) return p === h;
    const dot = h.indexOf('.');
    return dot > 0 && h.slice(dot + 1) === p.slice(2);
  });
}

export interface CachedPolicy {
  policy: MtaStsPolicy;
  /** When it was fetched (or last confirmed by a TXT id equal to its own), epoch ms. */
  fetchedAt: number;
}

export function isFresh(c: CachedPolicy, now: number): boolean {
  return now < c.fetchedAt + c.policy.maxAge * 1000;
}

/**
 * What to do after the TXT look-up (RFC 8461 5.1):
 * - a record whose id is the cached policy's, the cache still fresh: use the cache;
 * - a record with another id (or nothing cached, or stale): fetch;
 * - no record (or a failed look-up) with a fresh cache: use the cache (an
 *   attacker who removes the record must not turn MTA-STS off);
 * - no record and nothing fresh: no policy.
 */
export function afterTxt(txt: TxtResult, cached: CachedPolicy | undefined, now: number): { use: 'cache' } | { use: 'fetch'; id: string } | { use: 'none' } {
  const fresh = cached !== undefined && isFresh(cached, now);
  if (txt.ok) return fresh && cached.policy.id === txt.id ? { use: 'cache' } : { use: 'fetch', id: txt.id };
  return fresh ? { use: 'cache' } : { use: 'none' };
}

/** What `GET /api/delivery/mta-sts/DOMAIN` answers: a fresh look-up, not the delivery cache. */
export interface MtaStsReport {
  domain: string;
  /** The TXT record's id, or why there is none. */
  record: { id: string } | { error: string };
  policy: { id: string; mode: string; mx: string[]; max_age: number } | null;
  /** Why the policy could not be fetched or read. */
  error: string | null;
  /** What an MX delivery would do with it. */
  effect: string;
}
