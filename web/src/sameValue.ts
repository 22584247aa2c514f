// Whether two JSON-like values are the same, as what a form would send:
// pure, so that it is tested without a browser (test/web/create-in-place).

/** Deep equality of JSON-like values; the order of an object's keys does not count, a list's order does. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameValue(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  // A key set to undefined is the same as an absent one (it is not sent either).
  const keys = new Set([...Object.keys(ao), ...Object.keys(bo)].filter((k) => ao[k] !== undefined || bo[k] !== undefined));
  return [...keys].every((k) => sameValue(ao[k], bo[k]));
}
