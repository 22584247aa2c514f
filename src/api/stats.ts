// Traffic statistics for the dashboard, counted from the log events: messages
// accepted, relayed, refused and deferred per minute for the last hour, and
// the clients refused most often. In memory: a restart starts from zero.

import type { LogFields } from '../log/logger.ts';

const MINUTES = 60;

export interface MinuteCounts {
  minute: string;
  accepted: number;
  relayed: number;
  refused: number;
  deferred: number;
}

export class Stats {
  private readonly minutes = new Map<number, MinuteCounts>();
  private readonly refusedBy = new Map<string, number>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  private bucket(): MinuteCounts {
    const m = Math.floor(this.now() / 60_000);
    let b = this.minutes.get(m);
    if (!b) {
      b = { minute: new Date(m * 60_000).toISOString(), accepted: 0, relayed: 0, refused: 0, deferred: 0 };
      this.minutes.set(m, b);
      for (const k of this.minutes.keys()) if (k <= m - MINUTES) this.minutes.delete(k);
    }
    return b;
  }

  private refused(client: unknown, n = 1): void {
    this.bucket().refused += n;
    if (typeof client !== 'string') return;
    this.refusedBy.set(client, (this.refusedBy.get(client) ?? 0) + n);
    // Bounded: forget the least refused when the table grows.
    if (this.refusedBy.size > 10_000) {
      const [least] = [...this.refusedBy].sort((a, b) => a[1] - b[1]);
      if (least) this.refusedBy.delete(least[0]);
    }
  }

  /** Takes one log event. */
  observe(event: string, f: LogFields): void {
    switch (event) {
      case 'queued':
      case 'quarantined':
        this.bucket().accepted++;
        if (f.relayed === true) this.bucket().relayed++;
        return;
      case 'connect':
      case 'mail':
      case 'rcpt':
        if (f.action === 'reject') this.refused(f.client);
        return;
      case 'data.refused':
      case 'scan.refused':
      case 'antispam.refused':
        this.refused(f.client);
        return;
      case 'connect.limit':
        // Throttled (src/log/log-throttle.ts): a later line stands for the `suppressed` refusals since the first.
        this.refused(f.client, typeof f.suppressed === 'number' ? f.suppressed : 1);
        return;
      case 'delivery':
        if (f.status === 'deferred') this.bucket().deferred++;
        return;
      default:
    }
  }

  /** The last hour, oldest minute first (minutes without traffic included). */
  series(): MinuteCounts[] {
    const m = Math.floor(this.now() / 60_000);
    const out: MinuteCounts[] = [];
    for (let k = m - MINUTES + 1; k <= m; k++) out.push(this.minutes.get(k) ?? { minute: new Date(k * 60_000).toISOString(), accepted: 0, relayed: 0, refused: 0, deferred: 0 });
    return out;
  }

  topRefused(n = 10): { client: string; count: number }[] {
    return [...this.refusedBy]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, n)
      .map(([client, count]) => ({ client, count }));
  }
}
