// TrackingStore on the embedded SQLite file DATA/tracking.db. Written by the
// recorder in batches (one transaction each), without waiting on the disk
// (synchronous = OFF, as stats.db): a crash may lose the last moments of
// tracking, never mail. Searched newest first through one index per filter
// that ends in (at, key), so that a page is read in index order and a deep
// page (keyset cursor) costs what the first one does; figures in
// docs/tracking.md. Pruned in batches, yielding between them, so that a
// month's worth going at once does not stall the event loop; in the daemon
// the reads run in a worker thread (readsOffLoop, src/tracking/off-loop-reads.ts).

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { isSqliteBusy, openSqlite } from '../store/sqlite.ts';
import { OffLoopReads } from './off-loop-reads.ts';
import { QUEUE_ID } from '../queue/queue-id.ts';
import type { DecisionTuple, TopRow } from './tracking-reader.ts';
import { normalizeQuery, pageOf, sqlConditions } from './track-query.ts';
import { byKey, decisionOf, ENTRY_COLUMNS, entryRow, omittedOf, rowEntry, rowEvent, timelineCap, timelineSql, transactionKeys, updateColumns, type TimelineCap } from './track-rows.ts';
import { TrackingBusyError, type TrackBatch, type TrackEntry, type TrackingStore, type TrackPage, type TrackQuery, type TrackTimeline } from './tracking-store.ts';

/** Rows deleted per statement when pruning: a few milliseconds of the event loop each. */
const PRUNE_BATCH = 500;

/** The schema, shared in spirit with the PostgreSQL migration (src/store/pg/schema.ts). */
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS track_entry (key TEXT NOT NULL, at INTEGER NOT NULL, updated INTEGER NOT NULL, node TEXT NOT NULL, cid TEXT, tx INTEGER,
    queue_id TEXT, client TEXT, helo TEXT, listener TEXT, login TEXT, sender TEXT, sender_domain TEXT, recipient TEXT, recipient_domain TEXT,
    message_id TEXT, subject TEXT, size INTEGER, kind TEXT, status TEXT NOT NULL, rule TEXT, code INTEGER, reply TEXT, attempts INTEGER NOT NULL,
    relay TEXT, rcpt_action TEXT, rcpt_rule TEXT, rcpt_code INTEGER, is_first INTEGER NOT NULL)`,
  'CREATE UNIQUE INDEX IF NOT EXISTS track_entry_key ON track_entry (key)',
  'CREATE INDEX IF NOT EXISTS track_entry_at ON track_entry (at, key)',
  'CREATE INDEX IF NOT EXISTS track_entry_sender ON track_entry (lower(sender), at, key)',
  'CREATE INDEX IF NOT EXISTS track_entry_sender_domain ON track_entry (sender_domain, at, key)',
  'CREATE INDEX IF NOT EXISTS track_entry_recipient ON track_entry (lower(recipient), at, key)',
  'CREATE INDEX IF NOT EXISTS track_entry_recipient_domain ON track_entry (recipient_domain, at, key)',
  'CREATE INDEX IF NOT EXISTS track_entry_client ON track_entry (client, at, key)',
  'CREATE INDEX IF NOT EXISTS track_entry_status ON track_entry (status, at, key)',
  'CREATE INDEX IF NOT EXISTS track_entry_queue ON track_entry (queue_id) WHERE queue_id IS NOT NULL',
  'CREATE INDEX IF NOT EXISTS track_entry_message_id ON track_entry (message_id) WHERE message_id IS NOT NULL',
  // Subjects (recorded only with tracking.subject): a trigram full-text index, so that a part of a subject is found
  // without reading every entry (a LIKE over a month is seconds). Kept by triggers; the text lives in track_entry.
  `CREATE VIRTUAL TABLE IF NOT EXISTS track_subject USING fts5(subject, content='track_entry', content_rowid='rowid', tokenize='trigram')`,
  `CREATE TRIGGER IF NOT EXISTS track_subject_insert AFTER INSERT ON track_entry WHEN new.subject IS NOT NULL
    BEGIN INSERT INTO track_subject (rowid, subject) VALUES (new.rowid, new.subject); END`,
  `CREATE TRIGGER IF NOT EXISTS track_subject_delete AFTER DELETE ON track_entry WHEN old.subject IS NOT NULL
    BEGIN INSERT INTO track_subject (track_subject, rowid, subject) VALUES ('delete', old.rowid, old.subject); END`,
  `CREATE TABLE IF NOT EXISTS track_event (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, cid TEXT, tx INTEGER, queue_id TEXT, event TEXT NOT NULL, fields TEXT NOT NULL)`,
  'CREATE INDEX IF NOT EXISTS track_event_at ON track_event (at)',
  'CREATE INDEX IF NOT EXISTS track_event_conn ON track_event (cid, tx) WHERE cid IS NOT NULL',
  'CREATE INDEX IF NOT EXISTS track_event_queue ON track_event (queue_id) WHERE queue_id IS NOT NULL',
];

export class SqliteTrackingStore implements TrackingStore {
  private readonly db: DatabaseSync;
  private readonly insertEntry: StatementSync;
  private readonly insertEvent: StatementSync;
  private readonly updates = new Map<string, StatementSync>();
  private pruning = false;
  private readonly cap: TimelineCap;
  /** When set, the reads run in a worker thread (the daemon); otherwise here (the CLI, the benchmark, the worker itself). */
  private readonly offLoop: OffLoopReads | null;

  /** `timelineEvents`: the most events a timeline shows (TIMELINE_EVENTS; lower in tests). */
  constructor(file: string, opts: { timelineEvents?: number; readsOffLoop?: boolean } = {}) {
    this.cap = timelineCap(opts.timelineEvents);
    this.offLoop = opts.readsOffLoop ? new OffLoopReads(file) : null;
    this.db = openSqlite(file, false);
    // Statement journals (an insert that fires the subject index's trigger keeps one) in memory, not in a temporary
    // file: measured, they were 32 of the 34 write calls per message.
    this.db.exec('PRAGMA temp_store = MEMORY');
    for (const s of SCHEMA) this.db.exec(s);
    // The daemon writes and reads on its event loop (node:sqlite is synchronous): waiting for another process's
    // lock would stall mail, scrapes and the API for as long (5 s a batch, measured). A locked database fails at
    // once instead; the recorder keeps the batch for its next try, a read answers 503. WAL readers do not wait on
    // a writer, so in practice only writes meet the lock.
    this.db.exec('PRAGMA busy_timeout = 0');
    this.insertEntry = this.db.prepare(`INSERT OR IGNORE INTO track_entry (${ENTRY_COLUMNS.join(', ')}) VALUES (${ENTRY_COLUMNS.map(() => '?').join(', ')})`);
    this.insertEvent = this.db.prepare('INSERT INTO track_event (at, cid, tx, queue_id, event, fields) VALUES (?, ?, ?, ?, ?, ?)');
  }

  async write(batch: TrackBatch): Promise<void> {
    if (batch.entries.length + batch.updates.length + batch.events.length === 0) return;
    // One transaction per batch: a thousand rows cost about what one does.
    try {
      this.db.exec('BEGIN IMMEDIATE');
      for (const e of batch.entries) {
        const r = entryRow(e);
        this.insertEntry.run(...ENTRY_COLUMNS.map((c) => r[c]));
      }
      for (const u of batch.updates) {
        const set = updateColumns(u);
        const shape = `${set.map(([c]) => c).join(',')}|${u.recipient === null ? 'all' : 'one'}|${u.onlyIf?.length ?? 0}`;
        let st = this.updates.get(shape);
        if (!st) {
          const cond = ['queue_id = ?', ...(u.recipient === null ? [] : ['recipient = ?']), ...(u.onlyIf?.length ? [`status IN (${u.onlyIf.map(() => '?').join(', ')})`] : [])];
          st = this.db.prepare(`UPDATE track_entry SET updated = ?${set.map(([c]) => `, ${c} = ?`).join('')} WHERE ${cond.join(' AND ')}`);
          this.updates.set(shape, st);
        }
        st.run(u.updated, ...set.map(([, v]) => v), u.queue_id, ...(u.recipient === null ? [] : [u.recipient]), ...(u.onlyIf ?? []));
      }
      for (const ev of batch.events) this.insertEvent.run(ev.at, ev.cid, ev.tx ?? null, ev.queue_id, ev.event, ev.json ?? JSON.stringify(ev.fields));
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      // Nothing written: the same batch can be tried again.
      if (isSqliteBusy(err)) throw new TrackingBusyError(`tracking.db is locked by another process (${(err as Error).message})`);
      throw err;
    }
  }

  async search(q: TrackQuery): Promise<TrackPage> {
    const n = normalizeQuery(q);
    if (this.offLoop) return this.offLoop.call('search', [q]);
    const params: (string | number | null)[] = [];
    const where = sqlConditions(n, 'sqlite', (v) => {
      params.push(v as string | number);
      return '?';
    });
    const sql = `SELECT * FROM track_entry ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at DESC, key DESC LIMIT ${n.limit + 1}`;
    const rows = this.db.prepare(sql).all(...params) as Record<string, unknown>[];
    return pageOf(rows.map(rowEntry), n.limit);
  }

  /** The plan SQLite chooses for a search (the benchmark prints it). */
  explain(q: TrackQuery): string {
    const n = normalizeQuery(q);
    const params: (string | number | null)[] = [];
    const where = sqlConditions(n, 'sqlite', (v) => {
      params.push(v as string | number);
      return '?';
    });
    const sql = `EXPLAIN QUERY PLAN SELECT * FROM track_entry ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at DESC, key DESC LIMIT ${n.limit + 1}`;
    return (this.db.prepare(sql).all(...params) as { detail: string }[]).map((r) => r.detail).join('; ');
  }

  async timeline(idOrKey: string): Promise<TrackTimeline | null> {
    if (this.offLoop) return this.offLoop.call('timeline', [idOrKey]);
    let entries: TrackEntry[];
    if (QUEUE_ID.test(idOrKey)) entries = (this.db.prepare('SELECT * FROM track_entry WHERE queue_id = ? LIMIT 10000').all(idOrKey) as Record<string, unknown>[]).map(rowEntry);
    else {
      const row = this.db.prepare('SELECT * FROM track_entry WHERE key = ?').get(idOrKey) as Record<string, unknown> | undefined;
      if (!row) return null;
      const e = rowEntry(row);
      entries = (
        e.queue_id !== null
          ? this.db.prepare('SELECT * FROM track_entry WHERE queue_id = ? LIMIT 10000').all(e.queue_id)
          : this.db.prepare('SELECT * FROM track_entry WHERE key >= ? AND key < ? AND queue_id IS NULL LIMIT 10000').all(...transactionKeys(e))
      ).map((r) => rowEntry(r as Record<string, unknown>));
    }
    if (entries.length === 0) return null;
    entries.sort(byKey);
    const ids = [...new Set(entries.map((e) => e.queue_id).filter((x) => x !== null))];
    const head = entries[0]!;
    const conds: string[] = [];
    const params: (string | number | null)[] = [];
    if (ids.length) {
      conds.push(`queue_id IN (${ids.map(() => '?').join(', ')})`);
      params.push(...ids);
    }
    if (head.cid !== null) {
      conds.push('(cid = ? AND tx IN (0, ?))');
      params.push(head.cid, head.tx ?? 0);
    }
    const rows = this.db.prepare(timelineSql(`FROM track_event WHERE ${conds.join(' OR ')}`, this.cap)).all(...params) as Record<string, unknown>[];
    const omitted = omittedOf(rows);
    return { entries, events: rows.map(rowEvent), truncated: omitted > 0, omitted };
  }

  async prune(before: number): Promise<number> {
    // One prune at a time: the timer's next one finds the work done.
    if (this.pruning) return 0;
    this.pruning = true;
    try {
      const entries = this.db.prepare(`DELETE FROM track_entry WHERE rowid IN (SELECT rowid FROM track_entry WHERE at < ? LIMIT ${PRUNE_BATCH})`);
      const events = this.db.prepare(`DELETE FROM track_event WHERE id IN (SELECT id FROM track_event WHERE at < ? LIMIT ${PRUNE_BATCH})`);
      let total = 0;
      for (;;) {
        if (!this.db.isOpen) return total;
        const n = Number(entries.run(before).changes);
        total += n;
        if (n < PRUNE_BATCH) break;
        await yieldLoop();
      }
      for (;;) {
        if (!this.db.isOpen) return total;
        if (Number(events.run(before).changes) < PRUNE_BATCH) break;
        await yieldLoop();
      }
      return total;
    } finally {
      this.pruning = false;
    }
  }

  async decisions(since: number, until: number, limit: number): Promise<{ tuples: DecisionTuple[]; truncated: boolean }> {
    if (this.offLoop) return this.offLoop.call('decisions', [since, until, limit]);
    const rows = this.db
      .prepare(
        `SELECT client, listener, login, sender, recipient, rcpt_action, rcpt_rule, rcpt_code, count(*) AS n, min(at) AS first, max(at) AS last
         FROM track_entry WHERE at >= ? AND at < ? AND rcpt_action IS NOT NULL AND client IS NOT NULL AND sender IS NOT NULL AND recipient IS NOT NULL
         GROUP BY client, listener, login, sender, recipient, rcpt_action, rcpt_rule, rcpt_code ORDER BY n DESC, last DESC LIMIT ?`,
      )
      .all(since, until, limit + 1) as Record<string, unknown>[];
    const tuples = rows.slice(0, limit).map(decisionOf);
    return { tuples, truncated: rows.length > limit };
  }

  async top(what: 'refusal' | 'sender', since: number, n: number): Promise<TopRow[]> {
    if (this.offLoop) return this.offLoop.call('top', [what, since, n]);
    const sql =
      what === 'refusal'
        ? `SELECT coalesce(rule, 'unknown') AS k, count(*) AS n FROM track_entry WHERE at >= ? AND is_first = 1 AND status IN ('refused', 'tempfailed') GROUP BY k ORDER BY n DESC, k LIMIT ?`
        : `SELECT CASE WHEN sender = '' THEN '<>' ELSE lower(sender) END AS k, count(*) AS n FROM track_entry
           WHERE at >= ? AND is_first = 1 AND cid IS NOT NULL AND sender IS NOT NULL AND status NOT IN ('refused', 'tempfailed') GROUP BY k ORDER BY n DESC, k LIMIT ?`;
    return (this.db.prepare(sql).all(since, n) as { k: string; n: number }[]).map((r) => ({ key: r.k, count: Number(r.n) }));
  }

  async close(): Promise<void> {
    await this.offLoop?.close();
    if (this.db.isOpen) this.db.close();
  }
}
