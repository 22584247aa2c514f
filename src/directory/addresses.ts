// A directory entry's mail attributes as the addresses a user may send as.
// Active Directory's proxyAddresses hold typed values: `SMTP:` (the primary
// address) and `smtp:` (aliases) are mail addresses, with the prefix taken
// off; other types (X500:, SIP:, X400:) are not mail addresses and are left
// out. Pure: no I/O.

/** The addresses among the attributes' values, each once (compared without case), in order. */
export function addressesFrom(values: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const raw of values) {
    let v = raw.trim();
    const typed = /^([A-Za-z0-9]+):(.*)$/.exec(v);
    if (typed) {
      if (typed[1]?.toLowerCase() !== 'smtp') continue;
      v = (typed[2] ?? '').trim();
    }
    const at = v.lastIndexOf('@');
    if (at <= 0 || at === v.length - 1 || /\s/.test(v)) continue;
    const key = v.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(v);
  }
  return out;
}

/**
 * The assertion value an address is searched with in one mail attribute:
 * in proxyAddresses it is stored with its `smtp:` type (case-insensitively
 * matched, so it finds `SMTP:` primaries too).
 */
export function addressAssertion(attribute: string, address: string): string {
  return attribute.toLowerCase() === 'proxyaddresses' ? `smtp:${address}` : address;
}
