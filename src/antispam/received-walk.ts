// The origin of a message that came through our upstream hosts (rule 9):
// walk the Received headers from the top, each naming the host that handed
// the message to the one that wrote it, past every hop an upstream host
// wrote, to the first address that is not an upstream host. Only headers
// written by upstream hosts are believed: the walk stops at the first
// outside address, and a header it cannot read stops it too (the last
// address known is used, and the caller logs why).

export interface OriginResult {
  /** The address the checks use. */
  origin: string;
  /** Addresses walked past (upstream hosts), from the connecting one. */
  via: string[];
  /** Set when the walk stopped early and `origin` is the last address known. */
  fallback: string | null;
}

const V4 = String.raw`(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}`;
const V6 = String.raw`[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+`;

/**
 * The address of the sending host in one Received header's value (unfolded):
 * the bracketed literal of the "from" clause (Postfix, Sendmail, Exim, ours:
 * "[192.0.2.1]", "[IPv6:2001:db8::1]") or, as Exchange writes it, the
 * address in parentheses ("(10.0.0.5)"). Null when there is no "from" clause
 * or no address in it.
 */
export function receivedFromAddress(value: string): string | null {
  const text = value.replace(/\r?\n[ \t]+/g, ' ').trim();
  const from = /^from\s+(.*?)(?:\s+by\s+|;|$)/is.exec(text);
  if (!from?.[1]) return null;
  const clause = from[1];
  const bracketed = new RegExp(String.raw`\[(?:IPv6:)?(${V4}|${V6})\]`, 'i').exec(clause);
  if (bracketed?.[1]) return bracketed[1];
  const paren = new RegExp(String.raw`\((?:IPv6:)?(${V4}|${V6})\)`, 'i').exec(clause);
  if (paren?.[1]) return paren[1];
  // Exim with a bare address as the name: "from [192.0.2.1] (helo=...)" is caught above;
  // "from 192.0.2.1 by ..." (no brackets) last.
  const bare = new RegExp(String.raw`^(${V4})(?:\s|$)`).exec(clause);
  return bare?.[1] ?? null;
}

/**
 * `received` are the values of the message's Received headers from the top,
 * as the client sent them (without ours). `client` is the connecting address.
 */
export function findOrigin(client: string, received: readonly string[], isUpstream: (ip: string) => boolean): OriginResult {
  const via: string[] = [];
  let current = client;
  for (let i = 0; ; i++) {
    if (!isUpstream(current)) return { origin: current, via, fallback: null };
    via.push(current);
    const header = received[i];
    if (header === undefined) return { origin: current, via, fallback: `no Received header below upstream host ${current}` };
    const next = receivedFromAddress(header);
    if (next === null) return { origin: current, via, fallback: `cannot read the sending address in Received header ${i + 1}: ${header.replace(/\s+/g, ' ').slice(0, 120)}` };
    current = next;
  }
}
