// QueueStore in PostgreSQL: the queue and the quarantine of every node in two
// tables. A message's body goes into queue_chunk while it arrives (keyed by a
// writer id, so memory stays flat for a 50 MB message); its first 256 KiB stay
// in memory until commit so that a header edit can rewrite them. commit()
// inserts the head chunk, the last partial chunk and the queue_message row in
// one short transaction: that row is the commit point, and chunks of a writer
// that never committed are swept. Delivery work is claimed with
// FOR UPDATE SKIP LOCKED and a lease (claim_node, claim_token, lease_until):
// a claim taken over after its lease expired gets a new token, so the old
// holder's settle finds it changed and writes nothing. Leases are set and
// judged on the database's clock, never a node's: a node whose clock is off
// cannot take a live lease (the `now` the port's callers pass is theirs, used
// for due times and to give `until` back in their clock). New work is
// announced with NOTIFY; the scheduler's own timer (nextDue) is the fallback.

import { newQueueId } from '../../queue/queue-id.ts';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { dueAt, type Envelope } from '../../queue/envelope.ts';
import { ClaimLostError, QuarantineChanged, type Admission, type Claim, type ClaimRequest, type Committed, type MessageWriter, type QueueArea, type QueueCensus, type QueueStore, type StoredBody } from '../../queue/queue-store.ts';
import { editHeaders, isEmptyEdit, type HeaderEdit } from '../../scan/header-edit.ts';
import type { MessageSource } from '../../scan/spam-verdict.ts';
import type { Logger } from '../../log/logger.ts';
import { isUnreachable, syncWaitsCancelled, type Sql, type Tx } from './connect.ts';
import { Channel, CHANNEL_QUEUE } from './notify.ts';
import { bodyParam } from './body-param.ts';

/** The start of a message kept in memory until commit, for a header edit. */
export const HEAD_MAX = 256 * 1024;
/** The size of the chunks written while a message arrives. */
export const CHUNK = 256 * 1024;
/** Chunks of a writer that has not committed for this long are swept (no SMTP transaction lasts a day). */
const SWEEP_AFTER_MS = 24 * 3_600_000;

interface MessageRow {
  id: string;
  envelope: string;
  due: number | null;
  claim_token: string;
}

const parse = (s: string): Envelope => JSON.parse(s) as Envelope;

/** The database's clock in epoch ms, for leases: one value per statement (statement_timestamp()). */
const dbNow = (q: Sql | Tx) => q`(extract(epoch from statement_timestamp()) * 1000)::bigint`;

/** The probe's error when the pool reached a server in recovery (a standby): no primary answers. */
const standbyError = () => Object.assign(new Error('the server reached is a standby (in recovery): no primary answers'), { code: '25006' });

export interface PgQueueOptions {
  logger?: Logger;
  /** How often a store that found the database away checks whether it is back (admits() answers from that). */
  probeMs?: number;
  /** This process's clock (epoch ms), in which nextDue() answers; Date.now by default. Leases never use it. */
  now?: () => number;
}

export class PgQueueStore implements QueueStore {
  readonly sql: Sql;
  private readonly channel: Channel;
  private readonly logger: Logger | undefined;
  private readonly probeMs: number;
  readonly now: () => number;
  private reachable = true;
  /** Bumped at each change of `reachable`: a call's outcome moves the state only when no change came while it ran. */
  private epoch = 0;
  private probe: NodeJS.Timeout | null = null;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(sql: Sql, opts: PgQueueOptions = {}) {
    this.sql = sql;
    this.channel = new Channel(sql, CHANNEL_QUEUE);
    this.logger = opts.logger;
    this.probeMs = opts.probeMs ?? 1_000;
    this.now = opts.now ?? Date.now;
  }

  async open(): Promise<void> {
    await this.channel.start();
    await this.sweep(Date.now() - SWEEP_AFTER_MS);
    this.sweeper = setInterval(() => void this.sweep(Date.now() - SWEEP_AFTER_MS).catch(() => {}), 3_600_000);
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.probe) clearInterval(this.probe);
    this.sweeper = this.probe = null;
    await this.channel.stop();
  }

  /**
   * Runs a call, noting whether the database answered (admits() reports it).
   * Only a call that began after the last change of state may change it: a
   * call begun during an outage and failing after the store came back must
   * not take the node down again (it refused MAIL once just after
   * `store.reachable`), and one begun before an outage and answered after it
   * was noticed (an old connection's late reply) must not bring it up.
   */
  async track<T>(fn: () => Promise<T>): Promise<T> {
    const epoch = this.epoch;
    try {
      const r = await fn();
      if (epoch === this.epoch) this.up();
      return r;
    } catch (err) {
      if (epoch === this.epoch && isUnreachable(err)) this.down(err);
      throw err;
    }
  }

  private up(): void {
    if (this.reachable) return;
    this.reachable = true;
    this.epoch++;
    if (this.probe) clearInterval(this.probe);
    this.probe = null;
    this.logger?.log('store.reachable', { store: 'postgresql' });
  }

  private down(err: unknown): void {
    if (!this.reachable) return;
    this.reachable = false;
    this.epoch++;
    this.logger?.log('store.unreachable', { store: 'postgresql', error: (err as Error).message });
    // Back only when a primary answers: a URL that lets the pool reach a standby (postgres.js's read-write does)
    // must not bring the node up to fail every commit.
    const probe = async () => {
      const [r] = await this.sql<{ standby: boolean }[]>`SELECT pg_is_in_recovery() AS standby`;
      if (r?.standby) throw standbyError();
    };
    this.probe = setInterval(() => void this.track(probe).catch(() => {}), this.probeMs);
    this.probe.unref();
  }

  /** A commit went through on the primary alone (its wait for the synchronous standby was cancelled). */
  syncUnconfirmed(id: string): void {
    this.logger?.log('store.sync_unconfirmed', { store: 'postgresql', id, note: 'committed on the primary but not confirmed by the synchronous standby: answered 4xx; delivered all the same' });
  }

  nextId(): string {
    return newQueueId();
  }

  begin(id: string): MessageWriter {
    return new PgMessageWriter(this, id);
  }

  /** The database's disk is not ours to watch: new mail is refused only while the database is known to be away. */
  admits(_minFreeBytes: number): Admission {
    return this.reachable ? { ok: true } : { ok: false, reason: 'the queue database cannot be reached', cause: 'unavailable' };
  }

  isOutage(err: unknown): boolean {
    return isUnreachable(err);
  }

  /** Deletes chunks of writers that never committed, older than `before` (epoch ms); returns how many chunks went. */
  async sweep(before: number): Promise<number> {
    const r = await this.sql`
      DELETE FROM queue_chunk c
      WHERE c.writer IN (SELECT writer FROM queue_chunk WHERE at < ${before} GROUP BY writer)
        AND NOT EXISTS (SELECT 1 FROM queue_message m WHERE m.writer = c.writer)`;
    if (r.count > 0) this.logger?.log('queue.swept', { chunks: r.count });
    return r.count;
  }

  /** Oldest first by queue id, as the spool lists (ids start with their arrival time). */
  list(area: QueueArea = 'queue'): Promise<Envelope[]> {
    return this.track(async () => (await this.sql<{ envelope: string }[]>`SELECT envelope FROM queue_message WHERE area = ${area} ORDER BY id`).map((r) => parse(r.envelope)));
  }

  /**
   * One aggregate over the whole table (every node's mail: the cluster's
   * queue). The states as stateOf() tells them, read from the envelope's JSON.
   */
  census(): Promise<QueueCensus> {
    return this.track(async () => {
      const rows = await this.sql<{ state: string; n: number; oldest: number | null }[]>`
        SELECT CASE WHEN area = 'quarantine' THEN 'quarantined'
                    WHEN (envelope::jsonb ->> 'held') = 'true' THEN 'held'
                    WHEN envelope::jsonb -> 'recipients' @> '[{"status": "deferred"}]'::jsonb THEN 'deferred'
                    ELSE 'queued' END AS state,
               count(*)::int AS n, min(received)::float8 AS oldest
        FROM queue_message GROUP BY 1`;
      const out: QueueCensus = { queued: { count: 0, oldest: null }, deferred: { count: 0, oldest: null }, held: { count: 0, oldest: null }, quarantined: 0 };
      for (const r of rows) {
        if (r.state === 'quarantined') out.quarantined = r.n;
        else if (r.state === 'queued' || r.state === 'deferred' || r.state === 'held') out[r.state] = { count: r.n, oldest: r.oldest };
      }
      return out;
    });
  }

  read(id: string, area: QueueArea = 'queue'): Promise<Envelope | null> {
    return this.track(async () => {
      const [r] = await this.sql<{ envelope: string }[]>`SELECT envelope FROM queue_message WHERE id = ${id} AND area = ${area}`;
      return r ? parse(r.envelope) : null;
    });
  }

  body(id: string, area: QueueArea = 'queue'): Promise<StoredBody | null> {
    return this.track(async () => {
      // The first chunk comes with the row: most messages are that chunk alone, read in this one round trip.
      const [r] = await this.sql<{ writer: string; size: number; first: Buffer | null }[]>`
        SELECT m.writer, m.size, c.data AS first FROM queue_message m LEFT JOIN queue_chunk c ON c.writer = m.writer AND c.seq = 0
        WHERE m.id = ${id} AND m.area = ${area}`;
      if (!r) return null;
      const { writer, size, first } = r;
      const sql = this.sql;
      const track = <T>(fn: () => Promise<T>) => this.track(fn);
      return {
        size,
        whole: () =>
          track(async () => {
            if (first && first.length === size) return first;
            const rows = await sql<{ data: Buffer }[]>`SELECT data FROM queue_chunk WHERE writer = ${writer} AND seq > 0 ORDER BY seq`;
            const buf = Buffer.concat([...(first ? [first] : []), ...rows.map((x) => x.data)]);
            if (buf.length !== size) throw new Error(`message ${id}: body has ${buf.length} octets, ${size} expected`);
            return buf;
          }),
        stream() {
          return Readable.from(readChunks(sql, writer, size, id, first), { objectMode: false });
        },
      };
    });
  }

  headers(id: string, area: QueueArea = 'queue', max = 256 * 1024): Promise<Buffer> {
    return this.track(async () => {
      const [r] = await this.sql<{ writer: string; size: number }[]>`SELECT writer, size FROM queue_message WHERE id = ${id} AND area = ${area}`;
      if (!r) throw new Error(`no message ${id} in the ${area}`);
      const parts: Buffer[] = [];
      let got = 0;
      for await (const chunk of readChunks(this.sql, r.writer, r.size, id)) {
        parts.push(chunk);
        got += chunk.length;
        if (got >= max || chunk.includes('\r\n\r\n')) break;
      }
      const data = Buffer.concat(parts).subarray(0, max);
      const end = data.indexOf('\r\n\r\n');
      return Buffer.from(end >= 0 ? data.subarray(0, end + 2) : data);
    });
  }

  update(envelope: Envelope): Promise<void> {
    return this.track(async () => {
      const due = dueAt(envelope);
      const r = await this.sql.begin(async (tx) => {
        const r = await tx`UPDATE queue_message SET envelope = ${JSON.stringify(envelope)}, due = ${due} WHERE id = ${envelope.id} AND area = 'queue'`;
        if (due !== null) await tx`SELECT pg_notify(${CHANNEL_QUEUE}, '')`;
        return r;
      });
      if (r.count === 0) throw new Error(`no queued message ${envelope.id}`);
    });
  }

  remove(id: string): Promise<void> {
    return this.track(async () => void (await this.drop(id, 'queue')));
  }

  removeQuarantined(id: string): Promise<void> {
    return this.track(async () => void (await this.drop(id, 'quarantine')));
  }

  private async drop(id: string, area: QueueArea, token?: string): Promise<boolean> {
    const [r] = await this.sql<{ n: number }[]>`
      WITH m AS (DELETE FROM queue_message WHERE id = ${id} AND area = ${area} ${token === undefined ? this.sql`` : this.sql`AND claim_token = ${token}`} RETURNING writer),
           c AS (DELETE FROM queue_chunk WHERE writer IN (SELECT writer FROM m))
      SELECT count(*)::int AS n FROM m`;
    return (r?.n ?? 0) > 0;
  }

  release(envelope: Envelope): Promise<void> {
    return this.track(async () => {
      const due = dueAt(envelope);
      const r = await this.sql.begin(async (tx) => {
        const r = await tx`UPDATE queue_message SET area = 'queue', envelope = ${JSON.stringify(envelope)}, due = ${due}, claim_node = NULL, claim_token = NULL, lease_until = NULL WHERE id = ${envelope.id} AND area = 'quarantine'`;
        if (due !== null) await tx`SELECT pg_notify(${CHANNEL_QUEUE}, '')`;
        return r;
      });
      if (r.count === 0) throw new Error(`no quarantined message ${envelope.id}`);
    });
  }

  /**
   * One transaction: the quarantined row is locked and compared with
   * `expected`; the released copy gets its own writer (the body's chunks
   * copied inside the database: a row's chunks belong to it alone, so that
   * removing one never takes the other's body) and its queue row; the
   * quarantined row its new envelope. All of it or nothing.
   */
  splitQuarantined(expected: Envelope, remaining: Envelope, released: Envelope | null): Promise<void> {
    return this.track(async () => {
      const id = remaining.id;
      await this.sql.begin(async (tx) => {
        const [row] = await tx<{ writer: string; envelope: string; size: number }[]>`SELECT writer, envelope, size FROM queue_message WHERE id = ${id} AND area = 'quarantine' FOR UPDATE`;
        if (!row || row.envelope !== JSON.stringify(expected)) throw new QuarantineChanged(id);
        if (released) {
          const writer = randomUUID();
          const now = this.now();
          const due = dueAt(released);
          const received = Date.parse(released.received_at);
          await tx`INSERT INTO queue_chunk (writer, seq, data, at) SELECT ${writer}, seq, data, ${now} FROM queue_chunk WHERE writer = ${row.writer}`;
          await tx`INSERT INTO queue_message (id, area, envelope, received, size, due, writer)
                   VALUES (${released.id}, 'queue', ${JSON.stringify(released)}, ${Number.isFinite(received) ? received : now}, ${row.size}, ${due}, ${writer})`;
          if (due !== null) await tx`SELECT pg_notify(${CHANNEL_QUEUE}, '')`;
        }
        await tx`UPDATE queue_message SET envelope = ${JSON.stringify(remaining)} WHERE id = ${id} AND area = 'quarantine'`;
      });
    });
  }

  claimDue(req: ClaimRequest & { now: number; limit: number }): Promise<Claim[]> {
    return this.track(async () => {
      if (req.limit <= 0) return [];
      // Due times are the nodes' (the envelope's next attempt); leases are the database's.
      const rows = await this.sql<MessageRow[]>`
        UPDATE queue_message m SET claim_node = ${req.node}, claim_token = gen_random_uuid()::text, lease_until = ${dbNow(this.sql)} + ${req.leaseMs}
        FROM (SELECT id FROM queue_message
              WHERE area = 'queue' AND due IS NOT NULL AND due <= ${req.now} AND (lease_until IS NULL OR lease_until <= ${dbNow(this.sql)})
              ORDER BY due, id LIMIT ${req.limit} FOR UPDATE SKIP LOCKED) c
        WHERE m.id = c.id
        RETURNING m.id, m.envelope, m.due, m.claim_token`;
      const until = req.now + req.leaseMs;
      return [...rows]
        .sort((a, b) => (a.due ?? 0) - (b.due ?? 0) || (a.id < b.id ? -1 : 1))
        .map((r) => ({ id: r.id, node: req.node, token: r.claim_token, until, envelope: parse(r.envelope) }));
    });
  }

  claim(id: string, req: ClaimRequest & { now: number }): Promise<Claim | null> {
    return this.track(async () => {
      const [r] = await this.sql<MessageRow[]>`
        UPDATE queue_message SET claim_node = ${req.node}, claim_token = gen_random_uuid()::text, lease_until = ${dbNow(this.sql)} + ${req.leaseMs}
        WHERE id = ${id} AND area = 'queue' AND (lease_until IS NULL OR lease_until <= ${dbNow(this.sql)})
        RETURNING id, envelope, due, claim_token`;
      return r ? { id: r.id, node: req.node, token: r.claim_token, until: req.now + req.leaseMs, envelope: parse(r.envelope) } : null;
    });
  }

  renew(claims: readonly Claim[], leaseMs: number, now: number): Promise<string[]> {
    return this.track(async () => {
      if (claims.length === 0) return [];
      const until = now + leaseMs;
      const rows = await this.sql<{ id: string }[]>`
        UPDATE queue_message SET lease_until = ${dbNow(this.sql)} + ${leaseMs}
        WHERE area = 'queue' AND (id, claim_token) IN (SELECT * FROM unnest(${claims.map((c) => c.id)}::text[], ${claims.map((c) => c.token)}::text[]))
        RETURNING id`;
      const kept = new Set(rows.map((r) => r.id));
      for (const c of claims) if (kept.has(c.id)) c.until = until;
      return claims.filter((c) => !kept.has(c.id)).map((c) => c.id);
    });
  }

  settle(claim: Claim, envelope: Envelope | null): Promise<void> {
    return this.track(async () => {
      if (envelope === null) {
        if (!(await this.drop(claim.id, 'queue', claim.token))) throw new ClaimLostError(claim.id);
        return;
      }
      const due = dueAt(envelope);
      const r = await this.sql.begin(async (tx) => {
        const r = await tx`
          UPDATE queue_message SET envelope = ${JSON.stringify(envelope)}, due = ${due}, claim_node = NULL, claim_token = NULL, lease_until = NULL
          WHERE id = ${claim.id} AND area = 'queue' AND claim_token = ${claim.token}`;
        if (r.count > 0 && due !== null) await tx`SELECT pg_notify(${CHANNEL_QUEUE}, '')`;
        return r;
      });
      if (r.count === 0) throw new ClaimLostError(claim.id);
    });
  }

  unclaim(claim: Claim): Promise<void> {
    return this.track(async () => {
      await this.sql.begin(async (tx) => {
        const r = await tx`UPDATE queue_message SET claim_node = NULL, claim_token = NULL, lease_until = NULL WHERE id = ${claim.id} AND claim_token = ${claim.token}`;
        if (r.count > 0) await tx`SELECT pg_notify(${CHANNEL_QUEUE}, '')`;
      });
    });
  }

  releaseClaimsOf(node: string): Promise<number> {
    return this.track(() =>
      this.sql.begin(async (tx) => {
        const r = await tx`UPDATE queue_message SET claim_node = NULL, claim_token = NULL, lease_until = NULL WHERE area = 'queue' AND claim_node = ${node}`;
        if (r.count > 0) await tx`SELECT pg_notify(${CHANNEL_QUEUE}, '')`;
        return r.count;
      }),
    );
  }

  nextDue(): Promise<number | null> {
    return this.track(async () => {
      // A message under a lease counts from the lease's end: that is when another node may take it over. The lease's
      // end is the database's; what is left of it is added to this process's clock.
      const [r] = await this.sql<{ at: number | null }[]>`
        SELECT min(greatest(due, coalesce(lease_until - ${dbNow(this.sql)} + ${this.now()}, 0))) AS at FROM queue_message WHERE area = 'queue' AND due IS NOT NULL`;
      return r?.at === null || r?.at === undefined ? null : Number(r.at);
    });
  }

  holder(id: string, now: number): Promise<{ node: string; until: number } | null> {
    return this.track(async () => {
      const [r] = await this.sql<{ claim_node: string; left: number }[]>`
        SELECT claim_node, lease_until - ${dbNow(this.sql)} AS left FROM queue_message WHERE id = ${id} AND claim_node IS NOT NULL AND lease_until > ${dbNow(this.sql)}`;
      return r ? { node: r.claim_node, until: now + Number(r.left) } : null;
    });
  }

  claimsByNode(_now: number): Promise<Map<string, number>> {
    return this.track(async () => {
      const rows = await this.sql<{ claim_node: string; n: number }[]>`SELECT claim_node, count(*)::int AS n FROM queue_message WHERE claim_node IS NOT NULL AND lease_until > ${dbNow(this.sql)} GROUP BY claim_node`;
      return new Map(rows.map((r) => [r.claim_node, r.n]));
    });
  }

  onWork(listener: () => void): () => void {
    return this.channel.add(() => listener());
  }
}

/**
 * A stored body's chunks in order, one query each, checked against the size recorded at commit. `first`, when
 * given, is chunk 0 as read already (null: it was missing).
 */
async function* readChunks(sql: Sql, writer: string, size: number, id: string, first?: Buffer | null): AsyncGenerator<Buffer> {
  let got = 0;
  for (let seq = 0; got < size || seq === 0; seq++) {
    const [r] =
      seq === 0 && first !== undefined ? (first ? [{ data: first }] : []) : await sql<{ data: Buffer }[]>`SELECT data FROM queue_chunk WHERE writer = ${writer} AND seq = ${seq}`;
    if (!r) {
      if (got === size) return;
      throw new Error(`message ${id}: body chunk ${seq} missing (${got} of ${size} octets read)`);
    }
    got += r.data.length;
    if (r.data.length > 0) yield r.data;
  }
  if (got !== size) throw new Error(`message ${id}: body has ${got} octets, ${size} expected`);
}

class PgMessageWriter implements MessageWriter {
  readonly id: string;
  private readonly store: PgQueueStore;
  /** The chunks' key: a message is bound to its writer's chunks only at commit (a rewrite starts a new key). */
  private writer = randomUUID();
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  /** Chunks stored so far after the head (seq 1..flushed). */
  private flushed = 0;
  private written = 0;
  private chain: Promise<void> = Promise.resolve();
  private committed = false;
  private finished = false;

  constructor(store: PgQueueStore, id: string) {
    this.store = store;
    this.id = id;
  }

  get size(): number {
    return this.written;
  }

  write(chunk: Buffer): Promise<void> {
    if (this.finished) return Promise.reject(new Error('message writer already finished'));
    this.written += chunk.length;
    let rest = chunk;
    if (this.headBytes < HEAD_MAX) {
      const part = rest.subarray(0, HEAD_MAX - this.headBytes);
      this.head.push(Buffer.from(part));
      this.headBytes += part.length;
      rest = rest.subarray(part.length);
    }
    if (rest.length > 0) {
      this.tail.push(Buffer.from(rest));
      this.tailBytes += rest.length;
    }
    if (this.tailBytes >= CHUNK) {
      const data = Buffer.concat(this.tail, this.tailBytes);
      this.tail = [];
      this.tailBytes = 0;
      const seq = ++this.flushed;
      // One insert at a time, in order; a failure fails this write and every later one.
      this.chain = this.chain.then(() => this.store.track(async () => void (await this.store.sql`INSERT INTO queue_chunk (writer, seq, data, at) VALUES (${this.writer}, ${seq}, ${bodyParam(this.store.sql, data)}, ${Date.now()})`)));
      // The caller hears of a failure from this write or the next; never as an unhandled rejection.
      this.chain.catch(() => {});
    }
    return this.chain;
  }

  async contents(): Promise<MessageSource> {
    await this.chain;
    const head = Buffer.concat(this.head, this.headBytes);
    const tail = Buffer.concat(this.tail, this.tailBytes);
    const flushed = this.flushed;
    const { sql } = this.store;
    const writer = this.writer;
    return {
      size: this.written,
      async *chunks() {
        if (head.length > 0) yield head;
        for (let seq = 1; seq <= flushed; seq++) {
          const [r] = await sql<{ data: Buffer }[]>`SELECT data FROM queue_chunk WHERE writer = ${writer} AND seq = ${seq}`;
          if (!r) throw new Error(`message being received: chunk ${seq} missing`);
          yield r.data;
        }
        if (tail.length > 0) yield tail;
      },
    };
  }

  /**
   * Replaces the message by what `transform` makes of it, before commit: the
   * old message is read (head and tail from memory, stored chunks one query
   * each) while the new one is written through write() under a new chunk key,
   * so memory holds at most two heads, two tails and a chunk in flight. The
   * old key's chunks are deleted afterwards (or swept, if that fails); a
   * failed transform brings the old message back. commit() stays one
   * transaction over the current key's chunks.
   */
  async rewrite(transform: (source: MessageSource) => AsyncIterable<Buffer>): Promise<void> {
    if (this.finished) throw new Error('message writer already finished');
    const source = await this.contents();
    const before = { writer: this.writer, head: this.head, headBytes: this.headBytes, tail: this.tail, tailBytes: this.tailBytes, flushed: this.flushed, written: this.written };
    this.writer = randomUUID();
    this.head = [];
    this.headBytes = 0;
    this.tail = [];
    this.tailBytes = 0;
    this.flushed = 0;
    this.written = 0;
    try {
      for await (const chunk of transform(source)) await this.write(chunk);
      await this.chain;
    } catch (err) {
      // Back to the old message (its chunks are still stored, its head and tail still in memory); the new key's
      // chunks go here or to the sweep.
      const failed = this.writer;
      await this.chain.catch(() => {});
      this.writer = before.writer;
      this.head = before.head;
      this.headBytes = before.headBytes;
      this.tail = before.tail;
      this.tailBytes = before.tailBytes;
      this.flushed = before.flushed;
      this.written = before.written;
      this.chain = Promise.resolve();
      await this.dropChunks(failed);
      throw err;
    }
    await this.dropChunks(before.writer);
  }

  /** Deletes the chunks of a key no message will ever use (best effort: the sweep takes what is left). */
  private async dropChunks(writer: string): Promise<void> {
    await this.store.sql`DELETE FROM queue_chunk c WHERE c.writer = ${writer} AND NOT EXISTS (SELECT 1 FROM queue_message m WHERE m.writer = ${writer})`.catch(() => {});
  }

  /** Rewrites the header section in the head; the rest is copied by nobody. */
  private applyEdit(edit: HeaderEdit): void {
    const head = Buffer.concat(this.head, this.headBytes);
    const { out, replaced } = editHeaders(head, edit, this.flushed === 0 && this.tailBytes === 0);
    const edited = Buffer.concat([out, head.subarray(replaced)]);
    this.written += edited.length - head.length;
    this.head = [edited];
    this.headBytes = edited.length;
  }

  async commit(envelope: Omit<Envelope, 'size' | 'id'>, opts: { edit?: HeaderEdit; area?: QueueArea; claim?: ClaimRequest } = {}): Promise<Committed> {
    if (this.finished) throw new Error('message writer already finished');
    await this.chain;
    if (opts.edit && !isEmptyEdit(opts.edit)) {
      this.applyEdit(opts.edit);
      // A failed commit may be followed by abort() only: the edit is not applied twice.
      this.finished = true;
    }
    const area = opts.area ?? 'queue';
    const full: Envelope = { ...envelope, id: this.id, size: this.written } as Envelope;
    const due = area === 'queue' ? dueAt(full) : null;
    const head = Buffer.concat(this.head, this.headBytes);
    const tail = this.tailBytes > 0 ? Buffer.concat(this.tail, this.tailBytes) : null;
    const now = this.store.now();
    // The lease is set on the database's clock (below); `until` is given back in this process's.
    const claim = opts.claim && area === 'queue' ? { node: opts.claim.node, token: randomUUID(), until: now + opts.claim.leaseMs, leaseMs: opts.claim.leaseMs } : null;
    const received = Date.parse(full.received_at);
    // Counted before the commit: a cancelled wait for the synchronous standby shows up as a notice (see finish()).
    const cancelsBefore = syncWaitsCancelled(this.store.sql);
    const row = (q: Sql | Tx) =>
      q`INSERT INTO queue_message (id, area, envelope, received, size, due, writer, claim_node, claim_token, lease_until)
        VALUES (${this.id}, ${area}, ${JSON.stringify(full)}, ${Number.isFinite(received) ? received : now}, ${this.written}, ${due}, ${this.writer},
                ${claim?.node ?? null}, ${claim?.token ?? null}, ${claim ? q`${dbNow(q)} + ${claim.leaseMs}` : null})`;
    const notify = due !== null && !claim;
    if (this.flushed === 0) {
      // Nothing stored yet (the message fits in the head and a tail): one statement, atomic by itself, one round
      // trip — the chunks, the row that commits them and the notification, or none of them.
      const sql = this.store.sql;
      const chunks = tail
        ? sql`(${this.writer}, 0, ${bodyParam(sql, head)}, ${now}), (${this.writer}, 1, ${bodyParam(sql, tail)}, ${now})`
        : sql`(${this.writer}, 0, ${bodyParam(sql, head)}, ${now})`;
      await this.store.track(() =>
        notify
          ? sql`WITH c AS (INSERT INTO queue_chunk (writer, seq, data, at) VALUES ${chunks}), m AS (${row(sql)} RETURNING 1) SELECT pg_notify(${CHANNEL_QUEUE}, '') FROM m`
          : sql`WITH c AS (INSERT INTO queue_chunk (writer, seq, data, at) VALUES ${chunks}) ${row(sql)}`,
      );
      return this.finish(full, claim, cancelsBefore);
    }
    await this.store.track(() =>
      this.store.sql.begin(async (tx) => {
        // The chunks written while the message arrived must all be there (a sweep never took them).
        const [c] = await tx<{ n: number }[]>`SELECT count(*)::int AS n FROM (SELECT 1 FROM queue_chunk WHERE writer = ${this.writer} FOR SHARE) x`;
        if ((c?.n ?? 0) !== this.flushed) throw new Error(`message ${this.id}: ${c?.n ?? 0} of ${this.flushed} stored chunks found at commit`);
        await tx`INSERT INTO queue_chunk (writer, seq, data, at) VALUES (${this.writer}, 0, ${bodyParam(tx, head)}, ${now})`;
        if (tail) await tx`INSERT INTO queue_chunk (writer, seq, data, at) VALUES (${this.writer}, ${this.flushed + 1}, ${bodyParam(tx, tail)}, ${now})`;
        await row(tx);
        if (notify) await tx`SELECT pg_notify(${CHANNEL_QUEUE}, '')`;
      }),
    );
    return this.finish(full, claim, cancelsBefore);
  }

  private finish(full: Envelope, claim: { node: string; token: string; until: number } | null, cancelsBefore: number): Committed {
    if (syncWaitsCancelled(this.store.sql) !== cancelsBefore) {
      // Committed on the primary, but the synchronous standby never confirmed it (its wait was cancelled: the standby
      // is gone or slow). No 250 for that: the client gets a 4xx; the message stays queued and is delivered all the
      // same (a duplicate if the client sends it again). A commit on another connection at that moment may be refused
      // too: the safe side.
      this.finished = true;
      this.store.syncUnconfirmed(this.id);
      throw new Error(`message ${this.id}: the commit was not confirmed by the synchronous standby (PostgreSQL cancelled the wait)`);
    }
    this.finished = true;
    this.committed = true;
    this.head = [];
    this.tail = [];
    return { envelope: structuredClone(full), claim: claim ? { id: this.id, node: claim.node, token: claim.token, until: claim.until, envelope: structuredClone(full) } : null };
  }

  async abort(): Promise<void> {
    this.finished = true;
    if (this.committed) return;
    this.head = [];
    this.tail = [];
    await this.chain.catch(() => {});
    // Never the chunks of a message whose commit went through although its answer was lost; left over when
    // the database is away, the sweep takes them.
    await this.store.sql`DELETE FROM queue_chunk c WHERE c.writer = ${this.writer} AND NOT EXISTS (SELECT 1 FROM queue_message m WHERE m.writer = ${this.writer})`.catch(() => {});
  }
}
