// Settings as text: YAML in (JSON too, being YAML) and YAML or JSON out.
// Duplicate keys are errors, as a second "allowed_hosts" silently winning is
// exactly the kind of surprise a relay must not have.

import { parseDocument, stringify } from 'yaml';
import type { Finding } from './issues.ts';

export function parseSettingsText(text: string): { ok: true; value: unknown } | { ok: false; errors: Finding[] } {
  // Text that looks like JSON must be JSON: YAML would read `{"a": }` as a null.
  if (/^\s*[{[]/.test(text)) {
    try {
      JSON.parse(text);
    } catch (err) {
      return { ok: false, errors: [{ path: '', message: `not valid JSON: ${(err as Error).message}` }] };
    }
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, strict: true, schema: 'core' });
  if (doc.errors.length > 0) {
    return { ok: false, errors: doc.errors.map((e) => ({ path: `line ${(e.linePos?.[0]?.line ?? 0)}`, message: e.message.split('\n')[0] ?? e.message })) };
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  return { ok: true, value: value ?? {} };
}

export function formatSettings(value: unknown, format: 'yaml' | 'json'): string {
  if (format === 'json') return JSON.stringify(value, null, 2) + '\n';
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}
