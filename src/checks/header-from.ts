// Reads the mailboxes of a spooled message's header From: fields for the
// sender binding at the end of DATA. Only the header section is read (a
// small message is still in memory; a larger one's first chunk is read back
// from the spool and the read stops there), and the addresses are taken
// apart by nodemailer's addressparser (groups flattened, display names and
// comments dropped), the parser mailauth's DMARC alignment uses too.

import addressparser from 'nodemailer/lib/addressparser';
import { splitFields } from '../scan/header-edit.ts';
import type { DataInput } from './check.ts';

/** More header than this is not a message a user's mail program wrote; it is refused rather than half read. */
const MAX_HEADER = 1024 * 1024;

export type HeaderFrom = { ok: true; addresses: string[] } | { ok: false; why: string };

/** The header section (up to its empty line, or the whole message when it has no body), or null past MAX_HEADER. */
async function headerSection(x: DataInput): Promise<string | null> {
  const parts: Buffer[] = [];
  let size = 0;
  const source = await x.contents();
  for await (const chunk of source.chunks()) {
    parts.push(chunk);
    size += chunk.length;
    const all = Buffer.concat(parts);
    const end = all.indexOf('\r\n\r\n');
    if (end >= 0) return all.subarray(0, end + 2).toString('utf8');
    if (size > MAX_HEADER) return null;
  }
  return Buffer.concat(parts).toString('utf8');
}

/**
 * Whether a From: value says no more addresses than the parser returned: with
 * each returned address taken out, no "@" may be left. A broken field
 * (`<boss@bank.example<kai@example.com>>`, two addresses run together, a folded
 * second address) is read differently by other mail programs than by the
 * parser, which silently drops what it cannot place; and a display name or
 * comment that is another address (`"boss@bank.example" <kai@example.com>`)
 * is how a From: is spoofed in a mail program that shows only the name. A
 * display name equal to the address itself, as many mail programs write it,
 * stays allowed.
 */
function nothingElseAt(value: string, addresses: readonly string[]): boolean {
  let rest = value.toLowerCase();
  for (const a of addresses) if (a) rest = rest.split(a.toLowerCase()).join('');
  return !rest.includes('@');
}

/** Every address of every From: field, in order; '' for a mailbox the parser could not read (or a field holding more than it returned). */
export function fromAddresses(section: string): string[] {
  const out: string[] = [];
  for (const f of splitFields(section.endsWith('\r\n') ? section : `${section}\r\n`)) {
    const colon = f.indexOf(':');
    if (colon < 0 || f.slice(0, colon).trim().toLowerCase() !== 'from') continue;
    const value = f.slice(colon + 1).replace(/\r\n[ \t]+/g, ' ').trim();
    const found = addressparser(value, { flatten: true });
    if (found.length === 0 && value !== '') out.push('');
    const addresses = found.map((a) => a.address ?? '');
    if (!nothingElseAt(value, addresses)) out.push('');
    out.push(...addresses);
  }
  return out;
}

export async function readHeaderFrom(x: DataInput): Promise<HeaderFrom> {
  const section = await headerSection(x);
  if (section === null) return { ok: false, why: `header section longer than ${MAX_HEADER} octets: From: not checked` };
  return { ok: true, addresses: fromAddresses(section) };
}
