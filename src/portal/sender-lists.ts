// Personal sender lists (issue 21): what a portal user allows or blocks, as
// entries that are a whole address ("friend@example.net") or a domain
// ("@example.net", that domain only, not its subdomains). Pure: validation
// of what a user sends, and matching a sender against a list. Entries and
// owners are compared in one form: lower case, the domain in A-labels.

import { checkDomain, domainKey, parsePath } from '../address/path.ts';

export interface SenderLists {
  allow: string[];
  block: string[];
}

export type ListKind = keyof SenderLists;
export const LIST_KINDS: readonly ListKind[] = ['allow', 'block'];

/** At most this many entries in one list (each of allow and block). */
export const MAX_LIST_ENTRIES = 1000;

/** The form an address is compared in (owners, senders, address entries): lower case, the domain in A-labels. */
export function addressKey(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address.toLowerCase();
  return `${address.slice(0, at).toLowerCase()}@${domainKey(address.slice(at + 1))}`;
}

/** One entry as typed → its stored form, or why it is refused. */
export function normaliseEntry(text: string): { ok: true; entry: string } | { ok: false; reason: string } {
  const t = text.trim();
  if (t === '') return { ok: false, reason: 'empty entry' };
  if (t.length > 256) return { ok: false, reason: 'longer than 256 characters' };
  if (t.startsWith('@')) {
    const d = checkDomain(t.slice(1));
    return d.ok ? { ok: true, entry: `@${domainKey(d.domain)}` } : { ok: false, reason: d.reason };
  }
  const p = parsePath(t, { requireBrackets: false });
  if (!p.ok) return { ok: false, reason: p.reason };
  if (p.kind !== 'mailbox') return { ok: false, reason: 'not an address or @domain' };
  if (p.mailbox.literal !== null) return { ok: false, reason: 'an address literal is not accepted' };
  if (p.mailbox.sourceRoute.length || p.mailbox.routingOperators.length) return { ok: false, reason: 'routing operators are not accepted' };
  return { ok: true, entry: addressKey(`${p.mailbox.localUnquoted}@${p.mailbox.domain}`) };
}

export type ListsCheck = { ok: true; lists: SenderLists } | { ok: false; errors: string[] };

/** Validates both lists: each entry normalised, duplicates dropped, at most MAX_LIST_ENTRIES each; an entry in both lists is refused. */
export function validateLists(input: SenderLists, max = MAX_LIST_ENTRIES): ListsCheck {
  const errors: string[] = [];
  const out: SenderLists = { allow: [], block: [] };
  for (const kind of LIST_KINDS) {
    const seen = new Set<string>();
    input[kind].forEach((raw, i) => {
      const n = normaliseEntry(raw);
      if (!n.ok) errors.push(`${kind}[${i}]: ${n.reason}`);
      else if (!seen.has(n.entry)) {
        seen.add(n.entry);
        out[kind].push(n.entry);
      }
    });
    if (out[kind].length > max) errors.push(`${kind}: ${out[kind].length} entries, at most ${max}`);
  }
  const allow = new Set(out.allow);
  for (const e of out.block) if (allow.has(e)) errors.push(`${e}: in both lists`);
  return errors.length ? { ok: false, errors: errors.slice(0, 50) } : { ok: true, lists: out };
}

/** The entry of `list` that matches `sender` (the address, else its domain), or null; the null sender <> matches nothing. */
export function matchSender(list: ReadonlySet<string>, sender: string): string | null {
  if (sender === '' || list.size === 0) return null;
  const key = addressKey(sender);
  if (list.has(key)) return key;
  const at = key.lastIndexOf('@');
  if (at < 0) return null;
  const domain = key.slice(at);
  return list.has(domain) ? domain : null;
}

/** Several owners' lists as one (a user with several addresses reads the union). */
export function unionLists(all: readonly SenderLists[]): SenderLists {
  const allow = new Set<string>();
  const block = new Set<string>();
  for (const l of all) {
    for (const e of l.allow) allow.add(e);
    for (const e of l.block) block.add(e);
  }
  return { allow: [...allow].sort(), block: [...block].sort() };
}
