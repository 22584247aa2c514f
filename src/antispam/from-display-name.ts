// The "display name holding an address" trick of a forged From:
// `"ceo@bank.example" <me@attacker.example>` passes DMARC for
// attacker.example, and a mail program that shows only the name shows
// bank.example. DMARC cannot judge it (the name is free text; mailing lists
// rewrite From into `"Ann via List" <list@lists.example>`, some with her
// address in the name), so antispam.dmarc only reports it: the domains such
// names hold, for the log and, with action tag, the DMARC_FROM_NAME_ADDR
// symbol.

import addressparser from 'nodemailer/lib/addressparser';

// An address-like word in a display name: its domain (something@host.tld, the @ spelled plainly).
const ADDRESS_IN_NAME = /[^\s"'<>()[\]@,;:]+@((?:[a-z0-9-]+\.)+[a-z0-9-]{2,})/gi;

/**
 * The domains of addresses written in the display names (or comments) of the From fields'
 * mailboxes that are not the mailbox's own domain, lower case, each once. `fields`: the From
 * fields as they stand in the header ("From: …", folded or not).
 */
export function displayNameDomains(fields: readonly string[]): string[] {
  const found = new Set<string>();
  for (const field of fields) {
    const colon = field.indexOf(':');
    const value = field.slice(colon + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
    for (const m of addressparser(value, { flatten: true })) {
      const own = (m.address ?? '').split('@').pop()!.toLowerCase();
      for (const hit of (m.name ?? '').matchAll(ADDRESS_IN_NAME)) {
        const domain = hit[1]!.toLowerCase().replace(/\.$/, '');
        if (domain !== own) found.add(domain);
      }
    }
  }
  return [...found];
}
