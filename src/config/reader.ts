// The primitive reader of the settings document: each value read from an
// untrusted tree (parsed YAML or JSON) at a path, with its default when
// absent, and each problem recorded in the findings with that path (and a
// "did you mean" for a misspelt key). shape.ts reads the document's
// structure with it.

import { at, type Findings } from './issues.ts';

export type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`;
}

export class Reader {
  readonly f: Findings;
  constructor(f: Findings) {
    this.f = f;
  }

  object(path: string, v: unknown, keys: readonly string[]): Obj | null {
    if (v === undefined) return {};
    if (!isObj(v)) {
      this.f.error(path || '(document)', `expected a mapping, got ${describe(v)}`);
      return null;
    }
    for (const k of Object.keys(v)) {
      if (!keys.includes(k)) this.f.error(at(path, k), `unknown setting "${k}"${suggest(k, keys)}`);
    }
    return v;
  }

  string(path: string, v: unknown, opts: { required?: boolean; def?: string; max?: number } = {}): string | undefined {
    if (v === undefined || v === null) {
      if (opts.required) this.f.error(path, 'is required');
      return opts.def;
    }
    if (typeof v !== 'string') {
      this.f.error(path, `expected a string, got ${describe(v)}`);
      return opts.def;
    }
    if (opts.required && v.trim() === '') {
      this.f.error(path, 'must not be empty');
      return opts.def;
    }
    if (v.length > (opts.max ?? 1024)) {
      this.f.error(path, `longer than ${opts.max ?? 1024} characters`);
      return opts.def;
    }
    return v;
  }

  bool(path: string, v: unknown, def: boolean): boolean {
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') {
      this.f.error(path, `expected true or false, got ${describe(v)}`);
      return def;
    }
    return v;
  }

  int(path: string, v: unknown, def: number, min: number, max: number, required = false): number {
    if (v === undefined || v === null) {
      if (required) this.f.error(path, 'is required');
      return def;
    }
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.f.error(path, `expected a whole number, got ${describe(v)}`);
      return def;
    }
    if (v < min || v > max) {
      this.f.error(path, `must be between ${min} and ${max}, got ${v}`);
      return def;
    }
    return v;
  }

  num(path: string, v: unknown, def: number, min: number, max: number): number {
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.f.error(path, `expected a number, got ${describe(v)}`);
      return def;
    }
    if (v < min || v > max) {
      this.f.error(path, `must be between ${min} and ${max}, got ${v}`);
      return def;
    }
    return v;
  }

  oneOf<T extends string>(path: string, v: unknown, choices: readonly T[], def?: T): T | undefined {
    if (v === undefined || v === null) {
      if (def === undefined) this.f.error(path, `is required (one of ${choices.join(', ')})`);
      return def;
    }
    if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
      this.f.error(path, `must be one of ${choices.join(', ')}, got ${describe(v)}`);
      return def;
    }
    return v as T;
  }

  list<T>(path: string, v: unknown, each: (p: string, item: unknown) => T | undefined): T[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.f.error(path, `expected a list, got ${describe(v)}`);
      return [];
    }
    const out: T[] = [];
    v.forEach((item, i) => {
      const r = each(at(path, i), item);
      if (r !== undefined) out.push(r);
    });
    return out;
  }

  names(path: string, v: unknown): string[] {
    return this.list(path, v, (p, item) => this.string(p, item, { required: true, max: 128 }));
  }
}

/** "did you mean" for a misspelt key, when one known key is close. */
function suggest(key: string, keys: readonly string[]): string {
  let best: string | null = null;
  let bestDist = 3;
  for (const k of keys) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDist) {
      bestDist = d;
      best = k;
    }
  }
  return best ? ` (did you mean "${best}"?)` : '';
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = cur;
  }
  return prev[b.length] ?? 99;
}
