// LDAP search filters from the settings' templates: `{login}` and `{dn}` are
// replaced by values escaped as RFC 4515 says, so that a login such as
// `*)(uid=*` is one literal value and never widens the search. Pure: no I/O.
// The template's syntax is checked with the LDAP client's own parser, the
// one that later encodes the filter, so what validation accepts is what is sent.

import { FilterParser } from 'ldapts';

export type Placeholder = 'login' | 'dn';

/** RFC 4515 section 3: the characters a value must not carry as they are. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The template with each `{name}` replaced by its escaped value. */
export function fillFilter(template: string, values: Partial<Record<Placeholder, string>>): string {
  return template.replace(/\{(login|dn)\}/g, (whole, name: Placeholder) => {
    const v = values[name];
    return v === undefined ? whole : escapeFilterValue(v);
  });
}

/**
 * Why a template is not a usable filter, or null: it must parse once its
 * placeholders are filled, use only the placeholders allowed, and contain
 * each one that is required.
 */
export function filterProblem(template: string, allowed: readonly Placeholder[], required: readonly Placeholder[] = []): string | null {
  const used = [...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1] ?? '');
  const unknown = used.find((u) => !(allowed as readonly string[]).includes(u));
  if (unknown !== undefined) return `unknown placeholder {${unknown}} (only ${allowed.map((a) => `{${a}}`).join(' and ')})`;
  const missing = required.find((r) => !used.includes(r));
  if (missing) return `must contain {${missing}}`;
  const trimmed = template.trim();
  if (!trimmed.startsWith('(') || !trimmed.endsWith(')')) return 'an LDAP filter is written in parentheses, e.g. (uid={login})';
  if (!balanced(trimmed)) return 'its parentheses do not match';
  try {
    FilterParser.parseString(fillFilter(trimmed, { login: 'x', dn: 'cn=x' }));
  } catch (err) {
    return `not an LDAP filter: ${(err as Error).message}`;
  }
  return null;
}

/** One outer pair of parentheses, every inner pair closed (a value's parentheses are escaped as \\28 and \\29). */
function balanced(filter: string): boolean {
  let depth = 0;
  for (let i = 0; i < filter.length; i++) {
    const c = filter[i];
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth < 0 || (depth === 0 && i !== filter.length - 1)) return false;
    }
  }
  return depth === 0;
}

/** An attribute description: a name (letters, digits, hyphens) or an OID. */
export function isAttributeName(name: string): boolean {
  return /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$/.test(name);
}
