// Keeps every label value bounded, whatever an event carries: a value that
// looks like an address (IP, mail address), is too long or holds odd
// characters becomes "other", and each label of each metric takes at most
// MAX_VALUES distinct values (later new ones are "other" too). The event map
// only ever passes rule names, listener names, engines, states and outcomes;
// this guard is what makes "a label never carries a client address" hold
// even for a rule name that a future check might build from its input.

export const OTHER = 'other';
/** Distinct values one label of one metric may take. */
export const MAX_VALUES = 100;
const MAX_LENGTH = 64;
/** Rule names ("rule 4", "limits.rate[0]", "antispam.dnsbl[2]"), listener and limit names, enums. */
const SAFE = /^[A-Za-z0-9 _.:\[\]()\/-]+$/;
const IPV4_INSIDE = /\d{1,3}(?:\.\d{1,3}){3}/;
const IPV6_INSIDE = /[0-9a-f]*:[0-9a-f]*:/i;

/** Whether `v` may be a label value at all (pure; the count per label is LabelGuard's). */
export function acceptableValue(v: string): boolean {
  if (v.length === 0 || v.length > MAX_LENGTH || !SAFE.test(v)) return false;
  // Anything holding an IPv4 or IPv6 address (a network, host:port, [v6]) is a client's, never a label.
  return !IPV4_INSIDE.test(v) && !IPV6_INSIDE.test(v);
}

export class LabelGuard {
  private readonly seen = new Map<string, Set<string>>();

  /** The value to use for `label` of `metric`. */
  value(metric: string, label: string, raw: unknown): string {
    const v = typeof raw === 'string' ? raw : typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : '';
    if (!acceptableValue(v)) return v === '' ? 'none' : OTHER;
    const key = `${metric}\u0000${label}`;
    let set = this.seen.get(key);
    if (!set) this.seen.set(key, (set = new Set()));
    if (set.has(v)) return v;
    if (set.size >= MAX_VALUES) return OTHER;
    set.add(v);
    return v;
  }
}
