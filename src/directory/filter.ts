// LDAP search filters from the settings' templates: `{login}` and `{dn}` are
// replaced by values escaped as RFC 4515 says, so that a login such as
// `*)(uid=*` is one literal value and never widens the search. Pure: no I/O,
// and no LDAP client: validation (every CLI command, every apply) checks a
// template's syntax with the small RFC 4515 reader below, without loading one.

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
  return filterSyntaxProblem(fillFilter(trimmed, { login: 'x', dn: 'cn=x' }));
}

const ATTR = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)/;
const RULE = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)/;

/** Why a filter is not RFC 4515 syntax (and, or, not, equality, ~=, >=, <=, presence, substrings, extensible match), or null. */
export function filterSyntaxProblem(filter: string): string | null {
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`${why} at character ${i + 1}`);
  };
  const value = (allowStar: boolean): void => {
    while (i < filter.length && filter[i] !== ')') {
      const c = filter[i] as string;
      if (c === '(' || c === '\0') fail(`"${c}" in a value must be escaped (\\28, \\00)`);
      if (c === '*' && !allowStar) fail('"*" in this value must be escaped (\\2a)');
      if (c === '\\') {
        if (!/^[0-9A-Fa-f]{2}$/.test(filter.slice(i + 1, i + 3))) fail('"\\" must be followed by two hexadecimal digits');
        i += 3;
      } else i++;
    }
  };
  const item = (): void => {
    const rest = filter.slice(i);
    const attr = ATTR.exec(rest)?.[0] ?? '';
    i += attr.length;
    if (filter.startsWith(':dn', i)) i += 3;
    let rule = '';
    if (filter[i] === ':' && filter[i + 1] !== '=') {
      i++;
      rule = RULE.exec(filter.slice(i))?.[0] ?? fail('a matching rule is expected after ":"');
      i += rule.length;
    }
    if (filter.startsWith(':=', i)) {
      if (!attr && !rule) fail('an extensible match needs an attribute or a matching rule');
      i += 2;
      return value(false);
    }
    if (!attr) fail('an attribute name is expected');
    for (const op of ['~=', '>=', '<=']) {
      if (filter.startsWith(op, i)) {
        i += 2;
        return value(false);
      }
    }
    if (filter[i] !== '=') fail('"=", "~=", ">=", "<=" or ":=" is expected');
    i++;
    value(true);
  };
  const one = (): void => {
    if (filter[i] !== '(') fail('"(" is expected');
    i++;
    const c = filter[i];
    if (c === '&' || c === '|') {
      i++;
      if (filter[i] !== '(') fail(`"${c}" needs at least one filter in parentheses`);
      while (filter[i] === '(') one();
    } else if (c === '!') {
      i++;
      one();
    } else item();
    if (filter[i] !== ')') fail('")" is expected');
    i++;
  };
  try {
    one();
    if (i !== filter.length) fail('text after the filter');
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
