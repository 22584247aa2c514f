// Findings as the command line prints them: the settings path, and the name
// of every named object on it, looked up in the document the findings are
// about: `networks[4] ("legacy").address: "010.1.2.3" …` (the style of the
// remove refusals, `users[0] ("alice").groups[0]`). The paths themselves are
// the validator's, unchanged, as the REST API returns them.

import type { Finding } from '../config/issues.ts';

type Step = { key: string } | { index: number };

/** `a.b[2].c` → steps; null for anything else (a path is then left as it is). */
function steps(path: string): Step[] | null {
  const out: Step[] = [];
  let rest = path;
  let first = true;
  while (rest.length > 0) {
    const m = (first ? /^([A-Za-z_][A-Za-z0-9_]*)/ : /^(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[([0-9]+)\])/).exec(rest);
    if (!m) return null;
    if (first) out.push({ key: m[1] ?? '' });
    else if (m[1] !== undefined) out.push({ key: m[1] });
    else out.push({ index: Number(m[2]) });
    rest = rest.slice(m[0].length);
    first = false;
  }
  return out;
}

/** What a list element is called: its `name`, else a blocklist's `zone`. */
function nameOf(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.name === 'string' && o.name !== '') return o.name;
  if (typeof o.zone === 'string' && o.zone !== '') return o.zone;
  return null;
}

/** The path with the name of each named object on it, as found in `doc`. */
export function labelPath(path: string, doc: unknown): string {
  const parsed = steps(path);
  if (!parsed) return path;
  let node: unknown = doc;
  let out = '';
  for (const s of parsed) {
    if ('key' in s) {
      out += out ? `.${s.key}` : s.key;
      node = typeof node === 'object' && node !== null && !Array.isArray(node) ? (node as Record<string, unknown>)[s.key] : undefined;
    } else {
      out += `[${s.index}]`;
      node = Array.isArray(node) ? node[s.index] : undefined;
      const name = nameOf(node);
      if (name !== null) out += ` (${JSON.stringify(name)})`;
    }
  }
  return out;
}

/** The findings with their paths labelled from `doc` (the document they were found in). */
export function labelFindings(findings: readonly Finding[], doc: unknown): Finding[] {
  return findings.map((f) => (f.path ? { path: labelPath(f.path, doc), message: f.message } : f));
}
