// The connection pool of the cluster store (postgres.js). The URL is libpq's:
// one host, several (`postgresql://h1:5432,h2:5432/db?target_session_attrs=
// primary`, followed to whichever is the primary after a failover; postgres.js
// 4.1.1's read-write would take a hot standby), or a
// Unix socket directory (`postgresql:///db?host=/run/postgresql`). Every wait
// is bounded, so that an unreachable database rejects a call instead of
// hanging it: the SMTP front end answers 451 and the node carries on; the
// pool reconnects by itself on the next call once the database is back.

import postgres from 'postgres';
import { redactUrl } from './errors.ts';

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

export interface PgOptions {
  /** Seconds to reach a server and log in (default 5). */
  connectTimeout?: number;
  /** Seconds a query may wait for a connection and run (default 30). */
  queryTimeout?: number;
  max?: number;
}

export function isPgUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/**
 * How many times a pool's server said it stopped waiting for the synchronous
 * standby: a commit whose wait is cancelled (postgres.js's query_timeout sends
 * a cancel) returns success with only a warning, committed on the primary
 * alone. A commit that saw this count move must not be acknowledged.
 */
const syncCancels = new WeakMap<Sql, { n: number }>();

export function syncWaitsCancelled(sql: Sql): number {
  return syncCancels.get(sql)?.n ?? 0;
}

/** PostgreSQL's warning when a commit's wait for the synchronous standby is cancelled, in English. */
const SYNC_CANCEL = /canceling (the )?wait for synchronous replication/i;

/**
 * Whether a server notice may be a cancelled wait for the synchronous
 * standby. The English text is one sign; a server that speaks another
 * language (lc_messages) translates it, so any WARNING with the generic code
 * 01000 (what PostgreSQL gives this warning, which has no code of its own)
 * counts too: the commit is then answered 4xx, and a message sent twice is
 * better than one acknowledged and lost. `severity` is never translated.
 */
export function maySayUnreplicated(n: { severity?: unknown; code?: unknown; message?: unknown }): boolean {
  if (SYNC_CANCEL.test(String(n.message ?? ''))) return true;
  return n.severity === 'WARNING' && n.code === '01000';
}

export function connectPg(url: string, o: PgOptions = {}): Sql {
  if (!isPgUrl(url)) throw new Error(`not a PostgreSQL URL: ${redactUrl(url)}`);
  const cancels = { n: 0 };
  const sql = postgres(url, {
    max: o.max ?? 10,
    connect_timeout: o.connectTimeout ?? 5,
    query_timeout: o.queryTimeout ?? 30,
    idle_timeout: 60,
    keep_alive: 30,
    // Reconnect (the pool and the LISTEN connection) within a second of the database's return, not after
    // postgres.js's default backoff of up to 20 s: a node must be back in service as soon as its database is.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    onnotice: (n) => {
      if (maySayUnreplicated(n)) cancels.n++;
    },
    // Epoch milliseconds live in bigint columns: read them as numbers (exact up to 2^53).
    types: { int8: { to: 20, from: [20], serialize: (x: number | bigint) => String(x), parse: (x: string) => Number(x) } },
    connection: { application_name: 'mailwarden', statement_timeout: (o.queryTimeout ?? 30) * 1000 },
  });
  syncCancels.set(sql, cancels);
  return sql;
}

export { isUnreachable, redactUrl } from './errors.ts';
