// Senders bound to their login (relaying.sender_login), as pure functions:
// which envelope sender or header From: mailbox an authenticated user may
// use, given the addresses their identity carries. The check in
// src/checks/sender-login.ts asks these at MAIL and at the end of DATA.
//
// How two mailboxes compare (what an MTA administrator expects, as Postfix's
// reject_sender_login_mismatch does): the domain case-insensitively and in
// A-labels (bücher.example = xn--bcher-kva.example), the local part without
// its quoting and case-insensitively (no mail server in practice tells
// Kai@ from kai@, so refusing one would only confuse users), and a `+`
// sub-address counts as its base: owning kai@example.com allows
// kai+lists@example.com (never the reverse). An entry "@example.com" in
// the addresses owns every mailbox of that domain.

import { domainKey, parsePath, type Mailbox, type PathResult } from '../address/path.ts';
import type { SenderLoginMode } from '../config/document.ts';

/** What a user owns, read once from their identity's addresses. */
export interface Owned {
  /** Mailbox keys (see mailboxKey). */
  readonly mailboxes: ReadonlySet<string>;
  /** Domains given whole ("@example.com"), as domainKey. */
  readonly wholeDomains: ReadonlySet<string>;
  /** Every domain of the addresses (mailboxes and whole domains), as domainKey: what `domain` mode allows. */
  readonly domains: ReadonlySet<string>;
  /** Entries that are neither a mailbox nor "@domain" (a directory's odd mail attribute): ignored, reported for the log. */
  readonly ignored: readonly string[];
}

export type SenderVerdict = { readonly ok: true; readonly why: string } | { readonly ok: false; readonly why: string };

/**
 * A local part without case, ASCII letters only: toLowerCase() would also
 * fold look-alikes such as the Kelvin sign (U+212A) into "k", letting a user
 * send as a different mailbox that looks like their own.
 */
const foldLocal = (local: string): string => local.replace(/[A-Z]+/g, (c) => c.toLowerCase());

/** The form two mailboxes are compared in. */
export function mailboxKey(m: Mailbox): string {
  return `${foldLocal(m.localUnquoted)}@${domainKey(m.domain)}`;
}

/** Reads a user's addresses; anything unreadable owns nothing (fail closed). */
export function ownedBy(addresses: readonly string[]): Owned {
  const mailboxes = new Set<string>();
  const wholeDomains = new Set<string>();
  const domains = new Set<string>();
  const ignored: string[] = [];
  for (const raw of addresses) {
    const text = raw.trim();
    const whole = readWholeDomain(text);
    if (whole !== null) {
      wholeDomains.add(whole);
      domains.add(whole);
      continue;
    }
    const p = parsePath(text, { allowNull: false, requireBrackets: false });
    // An address literal is no domain anyone owns by name; routing operators make a mailbox mean two things.
    if (p.ok && p.kind === 'mailbox' && p.mailbox.literal === null && p.mailbox.routingOperators.length === 0) {
      mailboxes.add(mailboxKey(p.mailbox));
      domains.add(domainKey(p.mailbox.domain));
    } else ignored.push(raw);
  }
  return { mailboxes, wholeDomains, domains, ignored };
}

/** "@example.com" as domainKey, or null when the text is not of that form. */
export function readWholeDomain(text: string): string | null {
  if (!text.startsWith('@') || text.length < 2) return null;
  const p = parsePath(`postmaster${text}`, { allowNull: false, requireBrackets: false });
  return p.ok && p.kind === 'mailbox' && p.mailbox.literal === null ? domainKey(p.mailbox.domain) : null;
}

/** The base of a `+` sub-address ("kai+lists" → "kai"), or null when there is none. */
function baseOf(localLower: string): string | null {
  const i = localLower.indexOf('+');
  return i > 0 ? localLower.slice(0, i) : null;
}

/** Whether a mailbox is one the user owns under this mode; `off` owns everything. */
export function judgeMailbox(mode: SenderLoginMode, owned: Owned, m: Mailbox): SenderVerdict {
  if (mode === 'off') return { ok: true, why: 'relaying.sender_login is off' };
  const domain = domainKey(m.domain);
  if (owned.mailboxes.size === 0 && owned.wholeDomains.size === 0) return { ok: false, why: `${m.address}: the user has no addresses` };
  if (mode === 'domain') {
    return owned.domains.has(domain) ? { ok: true, why: `${m.address}: ${domain} is one of the user's domains` } : { ok: false, why: `${m.address}: ${domain} is not one of the user's domains` };
  }
  const local = foldLocal(m.localUnquoted);
  if (owned.mailboxes.has(`${local}@${domain}`)) return { ok: true, why: `${m.address} is one of the user's addresses` };
  const base = baseOf(local);
  if (base !== null && owned.mailboxes.has(`${base}@${domain}`)) return { ok: true, why: `${m.address} is a sub-address of the user's ${base}@${domain}` };
  if (owned.wholeDomains.has(domain)) return { ok: true, why: `${m.address}: the user's addresses include all of @${domain}` };
  return { ok: false, why: `${m.address} is not one of the user's addresses` };
}

/** MAIL FROM as parsed: `<>` is always allowed (bounces and notifications carry no sender to forge). */
export function judgeSender(mode: SenderLoginMode, owned: Owned, sender: PathResult): SenderVerdict {
  if (mode === 'off') return { ok: true, why: 'relaying.sender_login is off' };
  if (sender.ok && sender.kind === 'null') return { ok: true, why: 'sender <> is always allowed' };
  if (!sender.ok || sender.kind !== 'mailbox') return { ok: false, why: 'the sender is not a mailbox' };
  return judgeMailbox(mode, owned, sender.mailbox);
}

/**
 * Every mailbox of the header From: (it may hold several, RFC 5322 3.6.2),
 * each as a parsed address; an address that does not parse cannot be shown
 * to be owned, so it refuses (a reader's mail program may still display it).
 */
export function judgeHeaderFrom(mode: SenderLoginMode, owned: Owned, addresses: readonly string[]): SenderVerdict {
  if (mode === 'off') return { ok: true, why: 'relaying.sender_login is off' };
  const seen: string[] = [];
  for (const a of addresses) {
    const p = parsePath(a, { allowNull: false, requireBrackets: false });
    if (!p.ok || p.kind !== 'mailbox') return { ok: false, why: `header From: ${JSON.stringify(a)} is not an address that can be checked` };
    const v = judgeMailbox(mode, owned, p.mailbox);
    if (!v.ok) return { ok: false, why: `header From: ${v.why}` };
    seen.push(p.mailbox.address);
  }
  return { ok: true, why: seen.length === 0 ? 'no header From: address' : `header From: ${seen.join(', ')} owned by the user` };
}
