// Bounds the work the unauthenticated link pages can be made to do: at most
// `perWindow` requests per client address per window, at most `concurrent`
// store operations at once for everyone, and a bounded table of addresses
// (when full, the oldest window is dropped first: an attacker with many
// addresses only competes with itself for the global cap). Pure, clock given.

export class LinkLimiter {
  private readonly hits = new Map<string, { start: number; n: number }>();
  private running = 0;
  private readonly o: { perWindow: number; windowMs: number; concurrent: number; maxClients: number };

  constructor(o: Partial<LinkLimiter['o']> = {}) {
    this.o = { perWindow: 30, windowMs: 60_000, concurrent: 8, maxClients: 10_000, ...o };
  }

  /** Whether `client` may make one more request at `now` (counted when yes). */
  admit(client: string, now: number): boolean {
    const h = this.hits.get(client);
    if (h && now - h.start < this.o.windowMs) {
      if (h.n >= this.o.perWindow) return false;
      h.n++;
      return true;
    }
    if (h) this.hits.delete(client);
    while (this.hits.size >= this.o.maxClients) {
      const oldest = this.hits.keys().next().value;
      if (oldest === undefined) break;
      this.hits.delete(oldest);
    }
    // Re-inserted: the map's order is the windows' start order.
    this.hits.set(client, { start: now, n: 1 });
    return true;
  }

  /** Runs `work` unless `concurrent` run already (then null: the caller says "busy"). */
  async run<T>(work: () => Promise<T>): Promise<T | null> {
    if (this.running >= this.o.concurrent) return null;
    this.running++;
    try {
      return await work();
    } finally {
      this.running--;
    }
  }
}
