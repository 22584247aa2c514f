// TrackingStore in PostgreSQL: the cluster's nodes record into one pair of
// tables (track_entry, track_event; schema migration 4), so that a search
// finds a message whichever node received or delivered it. The recorder
// writes a batch in one short transaction (multi-row inserts, then the
// updates); searches are the same SQL as the embedded store's
// (src/tracking/track-query.ts) with $n placeholders. Pruned in batches.

import { QUEUE_ID } from '../../queue/queue-id.ts';
import { normalizeQuery, pageOf, sqlConditions } from '../../tracking/track-query.ts';
import { byKey, decisionOf, ENTRY_COLUMNS, entryRow, omittedOf, rowEntry, rowEvent, timelineCap, timelineSql, transactionKeys, updateColumns, type TimelineCap } from '../../tracking/track-rows.ts';
import type { DecisionTuple, TopRow } from '../../tracking/tracking-reader.ts';
import type { TrackBatch, TrackEntry, TrackingStore, TrackPage, TrackQuery, TrackTimeline } from '../../tracking/tracking-store.ts';
import type { Sql } from './connect.ts';

/** Rows per INSERT (29 parameters each: well under the protocol's 65,535). */
const INSERT_ROWS = 1000;
const PRUNE_BATCH = 5000;

type Param = string | number | null;

export class PgTrackingStore implements TrackingStore {
  private readonly sql: Sql;
  private readonly cap: TimelineCap;

  /** `timelineEvents`: the most events a timeline shows (TIMELINE_EVENTS; lower in tests). */
  constructor(sql: Sql, opts: { timelineEvents?: number } = {}) {
    this.sql = sql;
    this.cap = timelineCap(opts.timelineEvents);
  }

  async write(batch: TrackBatch): Promise<void> {
    if (batch.entries.length + batch.updates.length + batch.events.length === 0) return;
    await this.sql.begin(async (tx) => {
      for (let i = 0; i < batch.entries.length; i += INSERT_ROWS) {
        const rows = batch.entries.slice(i, i + INSERT_ROWS).map(entryRow);
        await tx`INSERT INTO track_entry ${tx(rows, ...ENTRY_COLUMNS)} ON CONFLICT (key) DO NOTHING`;
      }
      for (const u of batch.updates) {
        const params: Param[] = [u.updated];
        const p = (v: Param) => {
          params.push(v);
          return `$${params.length}`;
        };
        const set = updateColumns(u).map(([c, v]) => `, ${c} = ${p(v)}`).join('');
        const cond = [`queue_id = ${p(u.queue_id)}`];
        if (u.recipient !== null) cond.push(`recipient = ${p(u.recipient)}`);
        if (u.onlyIf?.length) cond.push(`status IN (${u.onlyIf.map((s) => p(s)).join(', ')})`);
        await tx.unsafe(`UPDATE track_entry SET updated = $1${set} WHERE ${cond.join(' AND ')}`, params);
      }
      for (let i = 0; i < batch.events.length; i += INSERT_ROWS) {
        const rows = batch.events.slice(i, i + INSERT_ROWS).map((e) => ({ at: e.at, cid: e.cid, tx: e.tx ?? null, queue_id: e.queue_id, event: e.event, fields: e.json ?? JSON.stringify(e.fields) }));
        await tx`INSERT INTO track_event ${tx(rows, 'at', 'cid', 'tx', 'queue_id', 'event', 'fields')}`;
      }
    });
  }

  private where(q: TrackQuery): { text: string; params: Param[]; limit: number } {
    const n = normalizeQuery(q);
    const params: Param[] = [];
    const where = sqlConditions(n, 'postgresql', (v) => {
      params.push(v as Param);
      return `$${params.length}`;
    });
    return { text: `SELECT * FROM track_entry ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at DESC, key DESC LIMIT ${n.limit + 1}`, params, limit: n.limit };
  }

  async search(q: TrackQuery): Promise<TrackPage> {
    const { text, params, limit } = this.where(q);
    const rows = await this.sql.unsafe(text, params);
    return pageOf((rows as unknown as Record<string, unknown>[]).map(rowEntry), limit);
  }

  /** The plan PostgreSQL chooses for a search (the benchmark prints it). */
  async explain(q: TrackQuery): Promise<string> {
    const { text, params } = this.where(q);
    const rows = await this.sql.unsafe(`EXPLAIN ${text}`, params);
    return (rows as unknown as Record<string, string>[]).map((r) => r['QUERY PLAN']).join('\n');
  }

  async timeline(idOrKey: string): Promise<TrackTimeline | null> {
    const sql = this.sql;
    let rows: Record<string, unknown>[];
    if (QUEUE_ID.test(idOrKey)) rows = await sql`SELECT * FROM track_entry WHERE queue_id = ${idOrKey} LIMIT 10000`;
    else {
      const [row] = await sql`SELECT * FROM track_entry WHERE key = ${idOrKey}`;
      if (!row) return null;
      const e = rowEntry(row);
      rows =
        e.queue_id !== null
          ? await sql`SELECT * FROM track_entry WHERE queue_id = ${e.queue_id} LIMIT 10000`
          : await sql`SELECT * FROM track_entry WHERE key >= ${transactionKeys(e)[0]} AND key < ${transactionKeys(e)[1]} AND queue_id IS NULL LIMIT 10000`;
    }
    const entries: TrackEntry[] = rows.map(rowEntry);
    if (entries.length === 0) return null;
    entries.sort(byKey);
    const ids = [...new Set(entries.map((e) => e.queue_id).filter((x) => x !== null))];
    const head = entries[0]!;
    const params: Param[] = [];
    const conds: string[] = [];
    if (ids.length) {
      conds.push(`queue_id IN (${ids.map((id) => (params.push(id), `$${params.length}`)).join(', ')})`);
    }
    if (head.cid !== null) {
      params.push(head.cid, head.tx ?? 0);
      conds.push(`(cid = $${params.length - 1} AND tx IN (0, $${params.length}))`);
    }
    const events = (await sql.unsafe(timelineSql(`FROM track_event WHERE ${conds.join(' OR ')}`, this.cap), params)) as unknown as Record<string, unknown>[];
    const omitted = omittedOf(events);
    return { entries, events: events.map(rowEvent), truncated: omitted > 0, omitted };
  }

  async prune(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const r = await this.sql`DELETE FROM track_entry WHERE ctid IN (SELECT ctid FROM track_entry WHERE at < ${before} LIMIT ${PRUNE_BATCH})`;
      total += r.count;
      if (r.count < PRUNE_BATCH) break;
    }
    for (;;) {
      const r = await this.sql`DELETE FROM track_event WHERE id IN (SELECT id FROM track_event WHERE at < ${before} LIMIT ${PRUNE_BATCH})`;
      if (r.count < PRUNE_BATCH) break;
    }
    return total;
  }

  async decisions(since: number, until: number, limit: number): Promise<{ tuples: DecisionTuple[]; truncated: boolean }> {
    // A week of a busy relay is a few hundred thousand rows in as many groups: with the default work_mem (4 MB) the
    // grouping spills to disk (3 s on a million entries, measured); in memory it does not.
    const rows = await this.sql.begin(async (tx) => {
      await tx`SET LOCAL work_mem = '64MB'`;
      return tx`
        SELECT client, listener, login, sender, recipient, rcpt_action, rcpt_rule, rcpt_code, count(*)::int AS n, min(at) AS first, max(at) AS last
        FROM track_entry WHERE at >= ${since} AND at < ${until} AND rcpt_action IS NOT NULL AND client IS NOT NULL AND sender IS NOT NULL AND recipient IS NOT NULL
        GROUP BY client, listener, login, sender, recipient, rcpt_action, rcpt_rule, rcpt_code ORDER BY n DESC, last DESC LIMIT ${limit + 1}`;
    });
    return { tuples: rows.slice(0, limit).map((r) => decisionOf(r)), truncated: rows.length > limit };
  }

  async top(what: 'refusal' | 'sender', since: number, n: number): Promise<TopRow[]> {
    const rows =
      what === 'refusal'
        ? await this.sql`SELECT coalesce(rule, 'unknown') COLLATE "C" AS k, count(*)::int AS n FROM track_entry
            WHERE at >= ${since} AND is_first = 1 AND status IN ('refused', 'tempfailed') GROUP BY k ORDER BY n DESC, k LIMIT ${n}`
        : await this.sql`SELECT (CASE WHEN sender = '' THEN '<>' ELSE lower(sender) END) COLLATE "C" AS k, count(*)::int AS n FROM track_entry
            WHERE at >= ${since} AND is_first = 1 AND cid IS NOT NULL AND sender IS NOT NULL AND status NOT IN ('refused', 'tempfailed') GROUP BY k ORDER BY n DESC, k LIMIT ${n}`;
    return rows.map((r) => ({ key: String(r.k), count: Number(r.n) }));
  }

  async close(): Promise<void> {}
}
