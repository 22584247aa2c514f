// ConfigStore in PostgreSQL: revisions and the active pointer (one row). An
// apply stores the revision, moves the pointer and notifies every node in one
// transaction, under a row lock on the pointer, so that two nodes applying at
// once are serialised and `expectActive` means what it says. Subscribers hear
// of every change through LISTEN/NOTIFY, with a poll as the fallback for a
// notification lost while the LISTEN connection was away.

import type { Settings } from '../../config/document.ts';
import { ConcurrentApplyError, type ConfigStore, type Revision, type RevisionInfo, type RevisionMeta } from '../config-store.ts';
import type { Sql } from './connect.ts';
import { Channel, CHANNEL_CONFIG } from './notify.ts';
import type { MigratableConfig, MigrationMarker } from '../migration.ts';

interface Row {
  number: number;
  created: string;
  author: string;
  comment: string;
  settings?: string;
}

const info = (r: Row): RevisionInfo => ({ number: r.number, created: r.created, author: r.author, comment: r.comment });
const revision = (r: Row): Revision => ({ ...info(r), settings: JSON.parse(r.settings ?? 'null') as Settings });

export class PgConfigStore implements ConfigStore, MigratableConfig, MigrationMarker {
  private readonly sql: Sql;
  private readonly channel: Channel;
  private readonly listeners = new Set<(n: number) => void>();
  /** The last number told to subscribers, so that each change is told once. */
  private told: number | null = null;
  private poll: NodeJS.Timeout | null = null;
  private readonly pollMs: number;
  private checking: Promise<void> | null = null;
  private again = false;

  /** `pollMs`: how often subscribers re-read the pointer when no notification came. */
  constructor(sql: Sql, opts: { pollMs?: number } = {}) {
    this.sql = sql;
    this.channel = new Channel(sql, CHANNEL_CONFIG);
    this.pollMs = opts.pollMs ?? 5_000;
    this.channel.add(() => void this.check());
  }

  async active(): Promise<Revision | null> {
    const [r] = await this.sql<Row[]>`SELECT r.number, r.created, r.author, r.comment, r.settings FROM active_revision a JOIN revision r ON r.number = a.number`;
    return r ? revision(r) : null;
  }

  async activeNumber(): Promise<number | null> {
    const [r] = await this.sql<{ number: number | null }[]>`SELECT number FROM active_revision`;
    return r?.number ?? null;
  }

  async get(number: number): Promise<Revision | null> {
    const [r] = await this.sql<Row[]>`SELECT number, created, author, comment, settings FROM revision WHERE number = ${number}`;
    return r ? revision(r) : null;
  }

  async history(limit = 50): Promise<RevisionInfo[]> {
    const rows = await this.sql<Row[]>`SELECT number, created, author, comment FROM revision ORDER BY number DESC LIMIT ${limit}`;
    return rows.map(info);
  }

  async apply(settings: Settings, meta: RevisionMeta, expectActive?: number | null): Promise<Revision> {
    const rev = await this.sql.begin(async (tx) => {
      const [a] = await tx<{ number: number | null }[]>`SELECT number FROM active_revision FOR UPDATE`;
      const current = a?.number ?? null;
      if (expectActive !== undefined && expectActive !== current) throw new ConcurrentApplyError(expectActive, current);
      const [m] = await tx<{ n: number }[]>`SELECT coalesce(max(number), 0) + 1 AS n FROM revision`;
      const number = m?.n ?? 1;
      const created = new Date().toISOString();
      await tx`INSERT INTO revision (number, created, author, comment, settings) VALUES (${number}, ${created}, ${meta.author}, ${meta.comment}, ${JSON.stringify(settings)})`;
      await tx`UPDATE active_revision SET number = ${number}`;
      await tx`SELECT pg_notify(${CHANNEL_CONFIG}, ${String(number)})`;
      return { number, created, author: meta.author, comment: meta.comment, settings } satisfies Revision;
    });
    // This process's subscribers hear before apply() resolves; the notification that follows is then a no-op.
    this.tell(rev.number);
    return structuredClone(rev);
  }

  subscribe(listener: (number: number) => void): () => void {
    if (this.listeners.size === 0) this.watch();
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.unwatch();
    };
  }

  private watch(): void {
    // No baseline is read here: an apply landing between this call and the LISTEN being in place would be
    // taken for the baseline and never told. Once listening, the pointer is read and told if it moved
    // from what this instance told last (a subscriber may so hear the revision active when it subscribed).
    this.channel.start().catch(() => {
      // The database is away: the poll below keeps trying, and the LISTEN is retried on the next check.
    });
    this.poll = setInterval(() => void this.check(), this.pollMs);
    this.poll.unref();
  }

  private unwatch(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    void this.channel.stop();
  }

  /**
   * Re-reads the pointer and tells subscribers when it moved: one read at a
   * time, and one more after it when asked meanwhile (that read may have
   * started before the apply it was asked for committed).
   */
  private check(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = (async () => {
      try {
        do {
          this.again = false;
          const n = await this.activeNumber();
          if (n !== null) this.tell(n);
        } while (this.again);
        if (this.listeners.size > 0) await this.channel.start();
      } catch {
        // Unreachable: the next poll tries again.
      } finally {
        this.checking = null;
      }
    })();
    return this.checking;
  }

  private tell(n: number): void {
    if (this.told === n) return;
    this.told = n;
    for (const fn of [...this.listeners]) {
      try {
        fn(n);
      } catch {
        // A listener's fault is its own.
      }
    }
  }

  /** Oldest first, a page at a time. */
  async *exportRevisions(): AsyncIterable<Revision> {
    let after = 0;
    for (;;) {
      const rows = await this.sql<Row[]>`SELECT number, created, author, comment, settings FROM revision WHERE number > ${after} ORDER BY number LIMIT 100`;
      for (const r of rows) yield revision(r);
      const last = rows.at(-1);
      if (!last) return;
      after = last.number;
    }
  }

  async importRevision(rev: Revision): Promise<boolean> {
    const rows = await this.sql`
      INSERT INTO revision (number, created, author, comment, settings)
      VALUES (${rev.number}, ${rev.created}, ${rev.author}, ${rev.comment}, ${JSON.stringify(rev.settings)})
      ON CONFLICT (number) DO NOTHING RETURNING number`;
    return rows.length > 0;
  }

  async importActive(number: number): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`UPDATE active_revision SET number = ${number}`;
      await tx`SELECT pg_notify(${CHANNEL_CONFIG}, ${String(number)})`;
    });
    this.tell(number);
  }

  async migrationSource(): Promise<string | null> {
    const [r] = await this.sql<{ source: string }[]>`SELECT source FROM store_migration`;
    return r?.source ?? null;
  }

  async markMigration(source: string): Promise<string> {
    // One row at most: of two runs marking at once, one wins and the other reads the winner's source.
    await this.sql`INSERT INTO store_migration (one, source, started) VALUES (true, ${source}, ${new Date().toISOString()}) ON CONFLICT (one) DO NOTHING`;
    return (await this.migrationSource()) ?? source;
  }

  async clearMigration(source: string): Promise<void> {
    await this.sql`DELETE FROM store_migration WHERE source = ${source}`;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.unwatch();
  }
}
