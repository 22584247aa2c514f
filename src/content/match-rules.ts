// The content rules' decision, pure: which rule matches which part of a
// walked message (inspect.ts), and what the message gets. A rule matches
// when every key it gives holds (AND). Keys about a file (extension,
// mime_type, filename, and size_over beside one of them) must hold for one
// and the same part, or, with archive: true, for one name inside an archive;
// header, body and a size_over alone are about the message. Several rules
// hit: the strongest action wins (reject > quarantine > strip > tag).

import type { ContentAction, ContentRule, ContentSettings } from '../config/content-settings.ts';
import type { ContentHit, PartInfo, StripPart } from './content-types.ts';
import { printable } from './file-names.ts';
import type { Inspection } from './inspect.ts';
import { compileRuleRegex } from './rule-regex.ts';
import { runExpressions } from './expression-match.ts';

/** A rule with its expressions compiled. */
export interface CompiledRule {
  readonly rule: ContentRule;
  readonly filename: RegExp | null;
  readonly header: { name: string; re: RegExp } | null;
  readonly body: RegExp | null;
  /** Whether it has a key about a file (its hits are parts). */
  readonly partLevel: boolean;
}

/** Hits kept per rule (the log shows fewer; strip removes each part once). */
export const MAX_HITS_PER_RULE = 100;
const STRENGTH: Record<ContentAction, number> = { tag: 1, strip: 2, quarantine: 3, reject: 4 };
/** The rule name of a hit for an archive the walk could not read (content.archive.on_error). */
export const ARCHIVE_ERROR_RULE = 'archive.on_error';

const compiled = new WeakMap<ContentRule, CompiledRule>();

/** Compiles once per rule object (a snapshot's settings are not changed in place). Throws on an expression validation let through. */
export function compileRule(rule: ContentRule): CompiledRule {
  let c = compiled.get(rule);
  if (c) return c;
  const re = (s: string | undefined): RegExp | null => {
    if (s === undefined) return null;
    const r = compileRuleRegex(s);
    if ('error' in r) throw new Error(`content rule ${rule.name}: ${r.error}`);
    return r.re;
  };
  const m = rule.match;
  c = {
    rule,
    filename: re(m.filename),
    header: m.header ? { name: m.header.name.toLowerCase(), re: re(m.header.regex)! } : null,
    body: re(m.body),
    partLevel: m.extension !== undefined || m.mime_type !== undefined || m.filename !== undefined,
  };
  compiled.set(rule, c);
  return c;
}

/** The enabled rules that apply to a message: inbound (the client has no relay right) or relayed. */
export function rulesFor(settings: ContentSettings, relayed: boolean): CompiledRule[] {
  if (!settings.enabled) return [];
  const want = relayed ? 'relayed' : 'inbound';
  return settings.rules.filter((r) => r.direction === 'both' || r.direction === want).map(compileRule);
}

/** What the walk must collect for these rules (nothing it need not: no text without a body rule). */
export function walkNeeds(rules: readonly CompiledRule[]): { archives: boolean; headers: string[]; text: boolean; partSize: boolean } {
  return {
    archives: rules.some((r) => r.rule.match.archive === true),
    headers: [...new Set(rules.flatMap((r) => (r.header ? [r.header.name] : [])))],
    text: rules.some((r) => r.body !== null),
    /** A part's decoded size counts (size_over beside a file key). */
    partSize: rules.some((r) => r.partLevel && r.rule.match.size_over !== undefined),
  };
}

/**
 * The header and body expressions of a message: the walk hands over each
 * text part (at most inspect.ts's TEXT_LIMIT of it, so a message's texts are
 * bounded by its size), and run() matches them and the header fields in the
 * worker thread (expression-match.ts), bounded in time. Unit tests that feed
 * onText without run() get the same answer from the expressions run here.
 */
export class BodyMatches {
  private readonly rules: readonly CompiledRule[];
  private readonly texts: { part: PartInfo; text: string }[] = [];
  readonly parts = new Map<string, PartInfo[]>();
  /** Per header rule, the value that matched; null until run(). */
  private headerHits: Map<string, string> | null = null;
  private ran = false;

  constructor(rules: readonly CompiledRule[]) {
    this.rules = rules;
  }

  readonly onText = (part: PartInfo, text: string): void => {
    this.texts.push({ part, text });
  };

  /** Runs the expressions in the worker; throws ExpressionTimeout past the bound. */
  async run(headers: ReadonlyMap<string, readonly string[]>): Promise<void> {
    const headerRules = this.rules.filter((r) => r.header !== null);
    const bodyRules = this.rules.filter((r) => r.body !== null);
    const job = {
      headers: headerRules.flatMap((r) => {
        const values = headers.get(r.header!.name) ?? [];
        return values.length ? [{ rule: r.rule.name, source: r.rule.match.header!.regex, values: [...values] }] : [];
      }),
      bodies: this.texts.length ? bodyRules.map((r) => ({ rule: r.rule.name, source: r.rule.match.body! })) : [],
      texts: this.texts.map((t) => t.text),
    };
    const res = await runExpressions(job);
    this.headerHits = new Map();
    for (const h of job.headers) {
      const i = res.headers[h.rule];
      if (i !== undefined) this.headerHits.set(h.rule, h.values[i]!);
    }
    for (const [rule, idx] of Object.entries(res.bodies)) this.parts.set(rule, idx.slice(0, MAX_HITS_PER_RULE).map((i) => this.texts[i]!.part));
    this.texts.length = 0;
    this.ran = true;
  }

  /** The value of the rule's header field that matched, or undefined. */
  headerMatch(c: CompiledRule, values: readonly string[]): string | undefined {
    if (this.headerHits) return this.headerHits.get(c.rule.name);
    return values.find((s) => c.header!.re.test(s));
  }

  /** The text parts the rule's body expression matched. */
  bodyParts(c: CompiledRule): PartInfo[] {
    if (!this.ran && !this.parts.has(c.rule.name)) {
      const hit = this.texts.filter((t) => c.body!.test(t.text)).slice(0, MAX_HITS_PER_RULE).map((t) => t.part);
      if (hit.length) this.parts.set(c.rule.name, hit);
    }
    return this.parts.get(c.rule.name) ?? [];
  }
}

/** Every hit of every rule, in rule order; then the archives not read (when on_error is not accept). */
export function matchRules(rules: readonly CompiledRule[], x: Inspection, body: BodyMatches, onError: 'accept' | 'quarantine' | 'reject'): ContentHit[] {
  const hits: ContentHit[] = [];
  for (const r of rules) hits.push(...ruleHits(r, x, body));
  if (onError !== 'accept' && rules.some((r) => r.rule.match.archive === true)) {
    for (const p of x.archiveProblems.slice(0, MAX_HITS_PER_RULE)) {
      hits.push({ rule: ARCHIVE_ERROR_RULE, action: onError, part: x.parts[p.index - 1] ?? null, what: `archive ${p.chain.map((n) => printable(n, 80)).join(' › ')} not read: ${p.reason}` });
    }
  }
  return hits;
}

function ruleHits(c: CompiledRule, x: Inspection, body: BodyMatches): ContentHit[] {
  const m = c.rule.match;
  const said: string[] = [];
  // The message-level keys first: any that fails, and the rule does not match.
  if (c.header) {
    const values = x.headers.get(c.header.name) ?? [];
    const v = body.headerMatch(c, values);
    if (v === undefined) return [];
    said.push(`header ${m.header!.name} "${printable(v, 60)}" matches /${printable(m.header!.regex, 60)}/`);
  }
  if (m.size_over !== undefined && !c.partLevel) {
    if (x.size <= m.size_over) return [];
    said.push(`message of ${x.size} octets over ${m.size_over}`);
  }
  let bodyParts: PartInfo[] = [];
  if (c.body) {
    bodyParts = body.bodyParts(c);
    if (bodyParts.length === 0) return [];
  }
  const hit = (part: PartInfo | null, what: string[]): ContentHit => ({ rule: c.rule.name, action: c.rule.action, part, what: what.join(', ') });
  if (c.partLevel) {
    const candidates = m.archive ? [...x.parts, ...x.entries] : x.parts;
    const out: ContentHit[] = [];
    for (const p of candidates) {
      const why = partMatch(c, p);
      if (why === null) continue;
      out.push(hit(p, [...why, ...said, ...(c.body ? [`text of part ${bodyParts[0]!.index} matches /${printable(m.body!, 60)}/`] : [])]));
      if (out.length >= MAX_HITS_PER_RULE) break;
    }
    return out;
  }
  if (c.body) return bodyParts.map((p) => hit(p, [`text of part ${p.index} matches /${printable(m.body!, 60)}/`, ...said]));
  return [hit(null, said)];
}

/** Why one part (or archive entry) satisfies every file key of the rule, or null. */
export function partMatch(c: CompiledRule, p: PartInfo): string[] | null {
  const m = c.rule.match;
  const why: string[] = [];
  const where = p.inArchive ? ` (inside ${p.inArchive.map((n) => printable(n, 80)).join(' › ')})` : '';
  const name = p.filename === null ? `part ${p.index}` : printable(p.filename, 120);
  if (m.extension) {
    const x = p.extensions.find((e) => m.extension!.includes(e));
    if (x === undefined) return null;
    why.push(`extension ${x} of ${name}${where}`);
  }
  if (m.mime_type) {
    // A name inside an archive has no MIME type of its own.
    if (p.inArchive) return null;
    const t = m.mime_type.find((t) => mimeMatches(t, p.mimeType));
    if (t === undefined) return null;
    why.push(`type ${p.mimeType} of ${name}`);
  }
  if (c.filename) {
    const names = p.names ?? (p.filename === null ? [] : [p.filename]);
    const n = names.find((s) => c.filename!.test(s));
    if (n === undefined) return null;
    why.push(`file name ${printable(n, 120)}${where} matches /${printable(m.filename!, 60)}/`);
  }
  if (m.size_over !== undefined) {
    if (p.size <= m.size_over) return null;
    why.push(`${name}${where} of ${p.size} octets over ${m.size_over}`);
  }
  return why;
}

export function mimeMatches(pattern: string, type: string): boolean {
  if (pattern.endsWith('/*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}

/** What the message gets. */
export type ContentDecision =
  | { readonly action: 'accept'; readonly hits: readonly ContentHit[] }
  | { readonly action: 'reject'; readonly hits: readonly ContentHit[]; readonly decisive: ContentHit }
  /** `instead`: a strip that could not be done (the part cannot be removed alone), said why. */
  | { readonly action: 'quarantine'; readonly hits: readonly ContentHit[]; readonly decisive: ContentHit; readonly instead?: string }
  | { readonly action: 'strip'; readonly hits: readonly ContentHit[]; readonly decisive: ContentHit; readonly parts: StripPart[] }
  | { readonly action: 'tag'; readonly hits: readonly ContentHit[]; readonly decisive: ContentHit; readonly fields: string[] };

/** At most this many X-Mailwarden-Content fields on one message. */
export const MAX_TAG_FIELDS = 10;

/** The strongest action among the hits; strip becomes quarantine when a part cannot be removed alone. */
export function decide(hits: readonly ContentHit[], unstrippable: (index: number) => string | null = () => null): ContentDecision {
  if (hits.length === 0) return { action: 'accept', hits };
  let decisive = hits[0]!;
  for (const h of hits) if (STRENGTH[h.action] > STRENGTH[decisive.action]) decisive = h;
  const of = hits.filter((h) => h.action === decisive.action);
  switch (decisive.action) {
    case 'reject':
      return { action: 'reject', hits, decisive };
    case 'quarantine':
      return { action: 'quarantine', hits, decisive };
    case 'strip': {
      // A part strip.ts cannot remove alone (the root, a container, a part of a signed message...): quarantined instead.
      for (const h of of) {
        const why = h.part === null ? 'the message as a whole' : h.part.multipart && h.part.index !== 1 ? `the multipart container ${h.part.index}` : (unstrippable(h.part.index) ?? (h.part.index === 1 ? 'the root of the message' : null));
        if (why !== null) return { action: 'quarantine', hits, decisive: h, instead: `strip cannot remove ${why === 'the message as a whole' ? why : `part ${h.part!.index}, ${why},`} alone` };
      }
      const parts = new Map<number, StripPart>();
      for (const h of of) if (!parts.has(h.part!.index)) parts.set(h.part!.index, { index: h.part!.index, reason: `${h.rule}: ${h.what}` });
      return { action: 'strip', hits, decisive, parts: [...parts.values()].sort((a, b) => a.index - b.index) };
    }
    case 'tag': {
      const fields = of.slice(0, MAX_TAG_FIELDS).map((h) => `X-Mailwarden-Content: ${h.rule} (${headerSafe(h.what)})`);
      return { action: 'tag', hits, decisive, fields };
    }
  }
}

/** A description fit for one header field line: printable ASCII, no parenthesis that would end the comment, bounded. */
function headerSafe(s: string): string {
  const ascii = s.normalize('NFKD').replace(/\p{M}/gu, '').replace(/[^\x20-\x7e]/g, '?').replace(/[()\\]/g, '');
  return ascii.length > 200 ? `${ascii.slice(0, 199)}~` : ascii;
}

/** For the log line and `content test`: the hits, bounded. */
export function hitsForLog(hits: readonly ContentHit[], max = 10): Record<string, unknown>[] {
  return hits.slice(0, max).map((h) => ({ rule: h.rule, action: h.action, part: h.part?.index ?? null, what: printable(h.what, 300) }));
}
