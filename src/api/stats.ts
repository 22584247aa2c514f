// Traffic statistics for the dashboard, counted from the log events: messages
// accepted, relayed, refused and deferred per minute for the last hour, SMTP
// AUTH attempts that failed and succeeded, and the clients refused (or failing
// AUTH) most often. Counted in memory by each node; its minutes are handed
// to a StatsStore (attach()), and the dashboard's per-minute series is read
// back from the store, so that a cluster's store sums every node.

import type { LogFields } from '../log/logger.ts';
import type { StatsStore } from './stats-store.ts';

const MINUTES = 60;

export interface MinuteCounts {
  minute: string;
  accepted: number;
  relayed: number;
  refused: number;
  /** Messages with a deferred attempt, each counted once an hour (in the minute of its first deferral). */
  deferred: number;
  /** SMTP AUTH attempts refused: wrong password, unknown or disallowed user, or a client throttled for failing. */
  auth_failed: number;
  auth_succeeded: number;
  /** Rate limit trips (limits.rate): MAIL or RCPT refused, or a message held. */
  rate_limited: number;
}

/** AUTH over the last hour: `failed` includes `blocked` (attempts refused unheard because the client failed too often). */
export interface AuthSummary {
  failed: number;
  succeeded: number;
  blocked: number;
}

const FIELDS = ['accepted', 'relayed', 'refused', 'deferred', 'auth_failed', 'auth_succeeded', 'rate_limited'] as const;

const empty = (minute: string): MinuteCounts => ({ minute, accepted: 0, relayed: 0, refused: 0, deferred: 0, auth_failed: 0, auth_succeeded: 0, rate_limited: 0 });

/** Counts per client, bounded: the least counted are forgotten when the table grows. */
class Tally {
  private readonly counts = new Map<string, number>();

  add(client: unknown, n = 1): void {
    if (typeof client !== 'string') return;
    this.counts.set(client, (this.counts.get(client) ?? 0) + n);
    if (this.counts.size > 10_000) {
      const [least] = [...this.counts].sort((a, b) => a[1] - b[1]);
      if (least) this.counts.delete(least[0]);
    }
  }

  top(n: number): { client: string; count: number }[] {
    return [...this.counts]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, n)
      .map(([client, count]) => ({ client, count }));
  }
}

export class Stats {
  private readonly minutes = new Map<number, MinuteCounts>();
  /** Throttled AUTH attempts per minute (also counted in auth_failed). */
  private readonly blockedIn = new Map<number, number>();
  /** Messages counted as deferred, by id, with their minute: a message is counted once an hour, not once per recipient and attempt. */
  private readonly deferredIds = new Map<string, number>();
  private readonly refusedBy = new Tally();
  private readonly authFailedBy = new Tally();
  private readonly now: () => number;
  /** Minutes counted since they were last handed to the store. */
  private readonly dirty = new Set<number>();
  private sink: { store: StatsStore; node: string } | null = null;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** This node's stored minutes, added to ours before anything of ours is handed over. */
  private resumed: Promise<void> = Promise.resolve();

  /**
   * Hands this node's minutes to `store` from now on (flush(), perMinute()).
   * A restarted node first takes back its own minutes of the last hour from
   * the store and adds what it counted since: handing over only what it
   * counted since the start would replace the stored counts of those minutes.
   */
  attach(store: StatsStore, node: string): void {
    this.sink = { store, node };
    for (const k of this.minutes.keys()) this.dirty.add(k);
    const since = (this.minute() - MINUTES + 1) * 60_000;
    // A store that cannot answer: counting goes on from zero, as without a store.
    this.resumed = store.own ? store.own(node, since).then((rows) => this.addStored(rows), () => {}) : Promise.resolve();
  }

  private addStored(rows: readonly MinuteCounts[]): void {
    const oldest = this.minute() - MINUTES + 1;
    for (const r of rows) {
      const k = Math.floor(Date.parse(r.minute) / 60_000);
      if (!Number.isFinite(k) || k < oldest) continue;
      let b = this.minutes.get(k);
      if (!b) this.minutes.set(k, (b = empty(new Date(k * 60_000).toISOString())));
      for (const f of FIELDS) b[f] += r[f];
      this.dirty.add(k);
    }
  }

  /** Hands the minutes changed since the last flush (the current one included: it is replaced later) to the store. */
  async flush(): Promise<void> {
    if (!this.sink) return;
    await this.resumed;
    if (this.dirty.size === 0) return;
    const changed: MinuteCounts[] = [];
    for (const k of this.dirty) {
      const b = this.minutes.get(k);
      if (b) changed.push({ ...b });
    }
    this.dirty.clear();
    await this.sink.store.record(this.sink.node, changed);
  }

  /** The last hour per minute, oldest first, as the store sums it (every node of a cluster); this node's own without a store. */
  async perMinute(): Promise<MinuteCounts[]> {
    if (!this.sink) return this.series();
    await this.flush();
    const m = this.minute();
    const stored = new Map((await this.sink.store.series((m - MINUTES + 1) * 60_000)).map((c) => [Date.parse(c.minute), c]));
    const out: MinuteCounts[] = [];
    for (let k = m - MINUTES + 1; k <= m; k++) out.push(stored.get(k * 60_000) ?? empty(new Date(k * 60_000).toISOString()));
    return out;
  }

  private minute(): number {
    return Math.floor(this.now() / 60_000);
  }

  private bucket(): MinuteCounts {
    const m = this.minute();
    if (this.sink) this.dirty.add(m);
    let b = this.minutes.get(m);
    if (!b) {
      b = empty(new Date(m * 60_000).toISOString());
      this.minutes.set(m, b);
      for (const k of this.minutes.keys()) if (k <= m - MINUTES) this.minutes.delete(k);
      for (const k of this.blockedIn.keys()) if (k <= m - MINUTES) this.blockedIn.delete(k);
      for (const [id, k] of this.deferredIds) if (k <= m - MINUTES) this.deferredIds.delete(id);
    }
    return b;
  }

  private refused(client: unknown, n = 1): void {
    this.bucket().refused += n;
    this.refusedBy.add(client, n);
  }

  /**
   * A message deferred: counted in the minute of its first deferral within the
   * hour, so that the hour's total is messages (as the dashboard's queue card
   * counts them), not recipients times attempts.
   */
  private deferred(id: unknown): void {
    const b = this.bucket();
    if (typeof id === 'string') {
      const m = this.minute();
      const seen = this.deferredIds.get(id);
      if (seen !== undefined && seen > m - MINUTES) return;
      this.deferredIds.set(id, m);
    }
    b.deferred++;
  }

  private authFailed(client: unknown): void {
    this.bucket().auth_failed++;
    this.authFailedBy.add(client);
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
      case 'auth':
        if (f.action === 'accept') this.bucket().auth_succeeded++;
        else this.authFailed(f.client);
        return;
      case 'auth.blocked': {
        this.authFailed(f.client);
        const m = this.minute();
        this.blockedIn.set(m, (this.blockedIn.get(m) ?? 0) + 1);
        return;
      }
      case 'delivery':
        if (f.status === 'deferred') this.deferred(f.id);
        return;
      case 'rate.limited':
        this.bucket().rate_limited++;
        return;
      default:
    }
  }

  /** The last hour, oldest minute first (minutes without traffic included). */
  series(): MinuteCounts[] {
    const m = this.minute();
    const out: MinuteCounts[] = [];
    for (let k = m - MINUTES + 1; k <= m; k++) out.push(this.minutes.get(k) ?? empty(new Date(k * 60_000).toISOString()));
    return out;
  }

  /** AUTH attempts over the last hour. */
  auth(): AuthSummary {
    const m = this.minute();
    const s: AuthSummary = { failed: 0, succeeded: 0, blocked: 0 };
    for (const c of this.series()) {
      s.failed += c.auth_failed;
      s.succeeded += c.auth_succeeded;
    }
    for (const [k, n] of this.blockedIn) if (k > m - MINUTES) s.blocked += n;
    return s;
  }

  topRefused(n = 10): { client: string; count: number }[] {
    return this.refusedBy.top(n);
  }

  /** The clients whose AUTH failed most often since the start. */
  topAuthFailed(n = 10): { client: string; count: number }[] {
    return this.authFailedBy.top(n);
  }
}
