// A small time-limited cache for directory lookups: who a login is and
// whether an address exists, remembered for the directory's `cache` setting
// so that a slow directory does not slow every RCPT. Answers, positive and
// negative, are kept; failures are not (the next call asks again). Calls for
// the same key while one is being answered share that one question. Bounded:
// beyond `max` entries the oldest goes first.

export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();
  private readonly pending = new Map<string, Promise<V>>();
  private readonly max: number;
  private readonly now: () => number;

  constructor(opts: { max?: number; now?: () => number } = {}) {
    this.max = opts.max ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** The remembered answer, or undefined when there is none (or it expired). */
  get(key: string): { value: V } | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.until <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return { value: e.value };
  }

  set(key: string, value: V, ttlMs: number): void {
    if (ttlMs <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, until: this.now() + ttlMs });
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  /** The remembered answer, or `load()`'s (then remembered for ttlMs); a rejection is passed on, not remembered. */
  async getOrLoad(key: string, ttlMs: number, load: () => Promise<V>): Promise<V> {
    const hit = this.get(key);
    if (hit) return hit.value;
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const p = load().then((value) => {
      this.set(key, value, ttlMs);
      return value;
    });
    this.pending.set(key, p);
    try {
      return await p;
    } finally {
      this.pending.delete(key);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
