// A min-heap of (due time, queue id) for the single node's queue store: what
// the scheduler asks for next without keeping envelopes in memory. Entries
// are never removed in place; a caller checks a popped entry against its own
// index and drops it when stale (lazy deletion), and compact() rebuilds the
// heap from the index when stale entries pile up.

export interface DueEntry {
  due: number;
  id: string;
}

export class DueHeap {
  private items: DueEntry[] = [];

  get length(): number {
    return this.items.length;
  }

  push(due: number, id: string): void {
    const a = this.items;
    a.push({ due, id });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i] as DueEntry, a[p] as DueEntry)) break;
      swap(a, i, p);
      i = p;
    }
  }

  peek(): DueEntry | undefined {
    return this.items[0];
  }

  pop(): DueEntry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l] as DueEntry, a[m] as DueEntry)) m = l;
        if (r < a.length && less(a[r] as DueEntry, a[m] as DueEntry)) m = r;
        if (m === i) break;
        swap(a, i, m);
        i = m;
      }
    }
    return top;
  }

  /** Rebuilds the heap from the live entries only. */
  rebuild(entries: Iterable<[string, number]>): void {
    this.items = [];
    for (const [id, due] of entries) this.push(due, id);
  }
}

const less = (x: DueEntry, y: DueEntry): boolean => x.due < y.due || (x.due === y.due && x.id < y.id);

function swap(a: DueEntry[], i: number, j: number): void {
  const t = a[i] as DueEntry;
  a[i] = a[j] as DueEntry;
  a[j] = t;
}
