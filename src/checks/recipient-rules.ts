// Recipient verification's pure decisions (domains[].verify_recipients):
// which recipients are verified at all, how a `recipients` list entry reads,
// whether a list knows an address, and the reply each answer gets. No I/O
// here: src/checks/recipient-verify.ts asks the list, the directory or the
// callout (src/delivery/callout.ts) and maps their answers through this file.
//
// Matching, as an MTA administrator expects it: the domain is compared in
// its normalised A-label form (domainKey); the local part case-insensitively
// (Exchange, Postfix's lookup tables and most mailbox servers fold it, even
// though RFC 5321 lets a server tell "Bob" from "bob"), unquoted, and exactly
// otherwise: no sub-addressing ("user+tag" must be listed itself).

import { domainKey, parsePath, type Mailbox, type PathResult } from '../address/path.ts';
import type { DomainDef, VerifyRecipients } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { MailError } from '../core/mail-error.ts';

/** What a lookup said about one address. */
export type Answer = 'exists' | 'unknown' | 'temporary';

/** What a `recipients` entry stands for: one local part of the domain, or the whole domain ("@domain"). */
export type ListEntry = { kind: 'address'; local: string } | { kind: 'domain' };

/**
 * One `recipients` entry of `domain`: "user@domain", "user" (this domain),
 * or "@domain" (every address of the domain: a catch-all, verification off
 * in effect, for a domain being migrated). An address of another domain is
 * an error: it could never match.
 */
export function parseListEntry(text: string, domain: string): { ok: true; entry: ListEntry } | { ok: false; reason: string } {
  const t = text.trim();
  if (t.startsWith('@')) {
    if (domainKey(t.slice(1)) !== domainKey(domain)) return { ok: false, reason: `"${t}" is not this domain (${domain})` };
    return { ok: true, entry: { kind: 'domain' } };
  }
  const p = parsePath(t.includes('@') ? t : `${t}@${domain}`, { requireBrackets: false });
  if (!p.ok) return { ok: false, reason: `"${t}" is not an address: ${p.reason}` };
  if (p.kind !== 'mailbox') return { ok: false, reason: `"${t}" is not an address` };
  const m = p.mailbox;
  if (m.literal !== null || domainKey(m.domain) !== domainKey(domain)) return { ok: false, reason: `"${t}" is not an address of this domain (${domain})` };
  if (m.sourceRoute.length > 0) return { ok: false, reason: `"${t}" has a source route` };
  return { ok: true, entry: { kind: 'address', local: foldLocal(m.localUnquoted) } };
}

/** The form two local parts are compared in. */
export function foldLocal(local: string): string {
  return local.toLowerCase();
}

/** A domain's list, compiled once per snapshot (its DomainDef objects are the snapshot's own). */
interface CompiledList {
  all: boolean;
  locals: ReadonlySet<string>;
}
const lists = new WeakMap<DomainDef, CompiledList>();

function compiled(d: DomainDef): CompiledList {
  let c = lists.get(d);
  if (!c) {
    const locals = new Set<string>();
    let all = false;
    for (const text of d.recipients ?? []) {
      const e = parseListEntry(text, d.name);
      // Validation refused anything unreadable; one that slips through matches nothing.
      if (!e.ok) continue;
      if (e.entry.kind === 'domain') all = true;
      else locals.add(e.entry.local);
    }
    c = { all, locals };
    lists.set(d, c);
  }
  return c;
}

/** `list` mode: whether the domain's recipients list has this mailbox. */
export function listHas(d: DomainDef, m: Mailbox): boolean {
  const c = compiled(d);
  return c.all || c.locals.has(foldLocal(m.localUnquoted));
}

/** The local domains by key, once per snapshot. */
const byKey = new WeakMap<Snapshot, ReadonlyMap<string, DomainDef>>();

function localDomain(snap: Snapshot, domain: string): DomainDef | null {
  let m = byKey.get(snap);
  if (!m) {
    m = new Map(snap.settings.domains.map((d) => [domainKey(d.name), d]));
    byKey.set(snap, m);
  }
  return m.get(domainKey(domain)) ?? null;
}

/** The mode a domain verifies with ("off" when the key is absent). */
export function modeOf(d: DomainDef): VerifyRecipients {
  return d.verify_recipients ?? 'off';
}

/** Whether any local domain verifies with one of these modes (the check's enabled()). */
const usesCache = new WeakMap<Snapshot, ReadonlySet<VerifyRecipients>>();
export function anyDomainUses(snap: Snapshot, modes: readonly VerifyRecipients[]): boolean {
  let used = usesCache.get(snap);
  if (!used) {
    used = new Set(snap.settings.domains.map(modeOf));
    usesCache.set(snap, used);
  }
  return modes.some((m) => used.has(m));
}

export interface Target {
  domain: DomainDef;
  mode: Exclude<VerifyRecipients, 'off'>;
  mailbox: Mailbox;
  /** The address as it is looked up and probed: the local part as sent, the domain normalised. */
  address: string;
}

/**
 * The recipient to verify, or null when there is nothing to verify: not a
 * mailbox (the relay rules answered that), `<postmaster>` (rule 6), an
 * address literal or a domain that is not local, a domain whose verification
 * is off, and postmaster@ a local domain (RFC 5321 4.5.1: every domain has
 * one; the internal server must accept it, and a sender who reports a
 * problem to it must not be refused because a probe failed).
 */
export function verificationTarget(snap: Snapshot, p: PathResult): Target | null {
  if (!p.ok || p.kind !== 'mailbox') return null;
  const m = p.mailbox;
  if (m.literal !== null) return null;
  const d = localDomain(snap, m.domain);
  if (!d) return null;
  const mode = modeOf(d);
  if (mode === 'off') return null;
  if (foldLocal(m.localUnquoted) === 'postmaster') return null;
  return { domain: d, mode, mailbox: m, address: `${m.local}@${domainKey(m.domain)}` };
}

export const UNKNOWN_TEXT = 'Recipient address rejected: User unknown';
export const UNVERIFIED_TEXT = 'Recipient address rejected: unverified address, please try again later';
export const UNAVAILABLE_TEXT = 'Recipient address verification is temporarily unavailable, please try again later';

/**
 * The reply for an answer other than "exists" (the texts never name the
 * internal host: `reason` is for the log only):
 * - unknown: 550 5.1.1;
 * - the internal server reachable but answering 4xx to RCPT (a mailbox it
 *   cannot say about now): 450 4.1.1, as Postfix answers an unverified address;
 * - nobody to ask (the route host unreachable or timing out, the directory
 *   throwing or not there): 451 4.4.3, "directory server failure" (RFC 3463).
 * `busy` is the second case: the server answered, only not yes or no.
 */
export function refusal(answer: Exclude<Answer, 'exists'>, busy: boolean, mode: string, reason: string): MailError {
  const rule = 'domains.verify_recipients';
  if (answer === 'unknown') return new MailError(550, '5.1.1', UNKNOWN_TEXT, { rule, reason: `${mode}: ${reason}` });
  if (busy) return new MailError(450, '4.1.1', UNVERIFIED_TEXT, { rule, reason: `${mode}: ${reason}` });
  return new MailError(451, '4.4.3', UNAVAILABLE_TEXT, { rule, reason: `${mode}: ${reason}` });
}
