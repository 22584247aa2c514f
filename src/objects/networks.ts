// Network definitions (host, network, range, group and the built-in Any)
// resolved to address ranges. Settings refer to these objects by name; the
// index answers "does this client match that object, and through which
// member?" so that a decision can name what matched.

import { at, type Findings } from '../config/issues.ts';
import { ANY, type NetworkDef } from '../config/document.ts';
import { ALL_ADDRESSES, formatRange, mergeRanges, parseCidr, parseIp, rangeContains, type IpRange } from './ip.ts';

interface Leaf {
  /** Names from the referenced object down to the leaf: ["trusted", "office"]. */
  readonly path: readonly string[];
  readonly range: IpRange;
}

/** Deeper nesting of groups is refused: no real network needs it, and it bounds every walk. */
export const MAX_GROUP_DEPTH = 32;

export class NetworkIndex {
  private readonly defs = new Map<string, NetworkDef>();
  private readonly leafCache = new Map<string, Leaf[]>();

  private constructor(defs: readonly NetworkDef[]) {
    for (const d of defs) if (!this.defs.has(d.name)) this.defs.set(d.name, d);
  }

  /**
   * Builds the index and reports every problem of the definitions into `f`
   * (under `networks[i]`). Broken objects resolve to no addresses, so a
   * half-valid document can still be inspected; it is never applied.
   */
  static build(defs: readonly NetworkDef[], f: Findings): NetworkIndex {
    const seen = new Map<string, number>();
    defs.forEach((d, i) => {
      const p = at('networks', i);
      if (!d.name) return;
      if (d.name.toLowerCase() === ANY.toLowerCase()) f.error(at(p, 'name'), `"${d.name}" is the built-in network object that matches every address; choose another name`);
      const lower = d.name.toLowerCase();
      const prev = seen.get(lower);
      if (prev !== undefined) f.error(at(p, 'name'), `network object "${d.name}" is already defined at networks[${prev}]`);
      else seen.set(lower, i);
      checkDefinition(d, p, f);
    });
    const index = new NetworkIndex(defs.filter((d) => d.name.toLowerCase() !== ANY.toLowerCase()));
    defs.forEach((d, i) => {
      if (d.type !== 'group') return;
      (d.members ?? []).forEach((m, j) => {
        if (!index.has(m)) f.error(at(at(at('networks', i), 'members'), j), `unknown network object "${m}"${index.suggest(m)}`);
      });
    });
    const { cycles, tooDeep } = index.cycles();
    for (const cycle of cycles) {
      const i = defs.findIndex((d) => d.name === cycle[0]);
      f.error(at(at('networks', i), 'members'), `groups contain each other in a cycle: ${cycle.join(' → ')}`);
    }
    if (tooDeep !== null) {
      const i = defs.findIndex((d) => d.name === tooDeep);
      f.error(at(at('networks', i), 'members'), `groups are nested more than ${MAX_GROUP_DEPTH} levels deep below "${tooDeep}"`);
    }
    return index;
  }

  has(name: string): boolean {
    return name === ANY || this.defs.has(name);
  }

  get(name: string): NetworkDef | undefined {
    return this.defs.get(name);
  }

  names(): string[] {
    return [...this.defs.keys()];
  }

  /** " (did you mean "office"?)" for a near miss, else "". */
  suggest(name: string): string {
    const lower = name.toLowerCase();
    for (const n of [ANY, ...this.defs.keys()]) if (n.toLowerCase() === lower) return ` (did you mean "${n}"?)`;
    return '';
  }

  /**
   * Every leaf object under an object, once each, with the first path (depth
   * first, in member order) that leads to it. Each group is expanded once per
   * call: groups that share members ("diamonds") cost their size, not the
   * number of paths through them, which doubles with every level; a cycle
   * (an error of the document) simply ends where it closes.
   */
  leaves(name: string): Leaf[] {
    const cached = this.leafCache.get(name);
    if (cached) return cached;
    const out: Leaf[] = [];
    const expanded = new Set<string>();
    const seenLeaf = new Set<string>();
    // An explicit stack: a chain of thousands of groups must not overflow the call stack.
    const stack: string[][] = [[name]];
    while (stack.length > 0) {
      const path = stack.pop() ?? [];
      const here = path[path.length - 1] ?? '';
      if (here === ANY) {
        if (!seenLeaf.has(ANY)) {
          seenLeaf.add(ANY);
          out.push({ path, range: ALL_ADDRESSES });
        }
        continue;
      }
      const d = this.defs.get(here);
      if (!d) continue;
      if (d.type === 'group') {
        if (expanded.has(here) || path.length > MAX_GROUP_DEPTH + 1) continue;
        expanded.add(here);
        const members = d.members ?? [];
        // Pushed in reverse, so that members are visited in their order.
        for (let i = members.length - 1; i >= 0; i--) stack.push([...path, members[i] ?? '']);
        continue;
      }
      if (seenLeaf.has(here)) continue;
      seenLeaf.add(here);
      const r = rangeOf(d);
      if (r) out.push({ path, range: r });
    }
    this.leafCache.set(name, out);
    return out;
  }

  /** The merged ranges an object covers. */
  ranges(name: string): IpRange[] {
    return mergeRanges(this.leaves(name).map((l) => l.range));
  }

  /** The path to the first leaf of `name` that contains `ip`, or null. */
  match(name: string, ip: bigint): readonly string[] | null {
    for (const leaf of this.leaves(name)) if (rangeContains(leaf.range, ip)) return leaf.path;
    return null;
  }

  /** Groups that list `name` as a member. */
  groupsContaining(name: string): string[] {
    return [...this.defs.values()].filter((d) => d.type === 'group' && (d.members ?? []).includes(name)).map((d) => d.name);
  }

  /** Cycles of groups, and groups nested deeper than MAX_GROUP_DEPTH (reported once, as "too deep"). */
  private cycles(): { cycles: string[][]; tooDeep: string | null } {
    const found: string[][] = [];
    let tooDeep: string | null = null;
    const done = new Set<string>();
    const stack: string[] = [];
    const visit = (name: string): void => {
      const d = this.defs.get(name);
      if (!d || d.type !== 'group' || done.has(name)) return;
      const k = stack.indexOf(name);
      if (k >= 0) {
        found.push([...stack.slice(k), name]);
        return;
      }
      // Bounded recursion: a chain of thousands of groups must not overflow the stack.
      if (stack.length > MAX_GROUP_DEPTH) {
        tooDeep ??= stack[0] ?? name;
        return;
      }
      stack.push(name);
      for (const m of d.members ?? []) visit(m);
      stack.pop();
      done.add(name);
    };
    for (const name of this.defs.keys()) visit(name);
    return { cycles: found, tooDeep };
  }
}

/** The range a non-group definition covers, or null when it is malformed. */
function rangeOf(d: NetworkDef): IpRange | null {
  if (d.type === 'host') {
    const ip = parseIp(d.address ?? '');
    return ip.ok ? { from: ip.value, to: ip.value } : null;
  }
  if (d.type === 'network') {
    const c = parseCidr(d.address ?? '');
    return c.ok ? c.range : null;
  }
  if (d.type === 'range') {
    const a = parseIp(d.from ?? '');
    const b = parseIp(d.to ?? '');
    if (!a.ok || !b.ok || a.family !== b.family || a.value > b.value) return null;
    return { from: a.value, to: b.value };
  }
  return null;
}

function checkDefinition(d: NetworkDef, p: string, f: Findings): void {
  if (d.type === 'host' && d.address !== undefined) {
    if (d.address.includes('/')) {
      f.error(at(p, 'address'), `a host is one address; use type network for "${d.address}"`);
      return;
    }
    const ip = parseIp(d.address);
    if (!ip.ok) f.error(at(p, 'address'), `"${d.address}": ${ip.reason}`);
  } else if (d.type === 'network' && d.address !== undefined) {
    const c = parseCidr(d.address);
    if (!c.ok) f.error(at(p, 'address'), `"${d.address}": ${c.reason}`);
  } else if (d.type === 'range' && d.from !== undefined && d.to !== undefined) {
    const a = parseIp(d.from);
    const b = parseIp(d.to);
    if (!a.ok) f.error(at(p, 'from'), `"${d.from}": ${a.reason}`);
    if (!b.ok) f.error(at(p, 'to'), `"${d.to}": ${b.reason}`);
    if (a.ok && b.ok) {
      if (a.family !== b.family) f.error(p, 'from and to must be of the same address family');
      else if (a.value > b.value) f.error(p, `"${d.from}" comes after "${d.to}"; a range goes from the lower address to the higher`);
    }
  }
}

export function describeRanges(ranges: readonly IpRange[]): string {
  return ranges.map(formatRange).join(', ');
}
