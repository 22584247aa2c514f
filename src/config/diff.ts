// Structural difference between two settings documents, by path, for
// `config diff`, the apply preview and the audit trail. Lists of named
// objects are matched by name, so inserting a network object shows as one
// addition, not as every later entry changing.

export interface Change {
  path: string;
  op: 'added' | 'removed' | 'changed';
  before?: unknown;
  after?: unknown;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function named(list: unknown[]): Map<string, unknown> | null {
  const m = new Map<string, unknown>();
  for (const item of list) {
    if (!isObj(item) || typeof item.name !== 'string' || m.has(item.name)) return null;
    m.set(item.name, item);
  }
  return m;
}

function join(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;
}

export function diffSettings(before: unknown, after: unknown, path = ''): Change[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  if (isObj(before) && isObj(after)) {
    const out: Change[] = [];
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const p = join(path, k);
      if (!(k in after)) out.push({ path: p, op: 'removed', before: before[k] });
      else if (!(k in before)) out.push({ path: p, op: 'added', after: after[k] });
      else out.push(...diffSettings(before[k], after[k], p));
    }
    return out;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const a = named(before);
    const b = named(after);
    if (a && b && (a.size > 0 || b.size > 0)) {
      const out: Change[] = [];
      for (const [name, item] of a) {
        const p = `${path}[${JSON.stringify(name)}]`;
        if (!b.has(name)) out.push({ path: p, op: 'removed', before: item });
        else out.push(...diffSettings(item, b.get(name), p));
      }
      for (const [name, item] of b) if (!a.has(name)) out.push({ path: `${path}[${JSON.stringify(name)}]`, op: 'added', after: item });
      return out;
    }
  }
  return [{ path, op: 'changed', before, after }];
}

export function formatChange(c: Change): string {
  const show = (v: unknown) => JSON.stringify(v);
  if (c.op === 'added') return `+ ${c.path}: ${show(c.after)}`;
  if (c.op === 'removed') return `- ${c.path}: ${show(c.before)}`;
  return `~ ${c.path}: ${show(c.before)} → ${show(c.after)}`;
}
