// Chooses the store bundle of an installation: the embedded one (SQLite files
// and the spool in the data directory, the default) when no URL is given, the
// cluster one (PostgreSQL) for a postgresql:// or postgres:// URL. The URL
// comes from --store or MAILWARDEN_STORE (the flag wins). A URL's password
// never reaches a log line or an error message.

import type { Logger } from '../log/logger.ts';
import { openEmbeddedStores } from './embedded-stores.ts';
import { isUnreachable, redactUrl, urlSecrets } from './pg/errors.ts';
import type { Stores } from './stores.ts';

/** A URL that is not one we accept, or a cluster store that cannot be reached. */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface OpenStoresOptions {
  dataDir: string;
  /** The cluster store's URL; undefined or empty: the embedded store. */
  url?: string | undefined;
  /** This node's name (the daemon's --node; the CLI's own name for its claims). */
  node: string;
  logger: Logger;
  /** Seconds to reach the database before giving up (default: the pool's, 5). */
  connectTimeout?: number;
  /** The node's clock (default Date.now); the cluster store's leases never use it. */
  now?: () => number;
}

/** The URL to use: the flag's, else MAILWARDEN_STORE's, else none (embedded). */
export function storeUrlFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag !== undefined && flag !== '') return flag;
  const e = env.MAILWARDEN_STORE;
  return e === undefined || e === '' ? undefined : e;
}

/** Why `url` is not a store URL we take, or null. */
export function storeUrlProblem(url: string): string | null {
  // The rest is libpq's syntax (several hosts, a socket directory in ?host=), read by the client library.
  if (/[?&]password=/i.test(url)) return `the store URL ${redactUrl(url)} has its password as a query parameter, which the client library does not take: write postgresql://USER:PASSWORD@HOST/DATABASE (percent-encode @ : / in the password), or leave the password out and use PGPASSWORD or ~/.pgpass`;
  // postgres.js 4.1.1 takes a hot standby for read-write (it asks only default_transaction_read_only): every write
  // would then fail. Refused with the value that works rather than failing closed forever after the first failover.
  if (/[?&]target_session_attrs=read-write(&|$)/i.test(url)) return `the store URL ${redactUrl(url)} asks for target_session_attrs=read-write, which the client library also grants a hot standby: write target_session_attrs=primary (docs/cluster.md, "The store URL")`;
  if (/^postgres(ql)?:\/\//.test(url)) return null;
  return `the store URL ${redactUrl(url)} is not one mailwarden can use: give postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or postgres://…; several hosts as HOST1:PORT1,HOST2:PORT2), or leave --store and MAILWARDEN_STORE unset for the embedded store in the data directory`;
}

/** Removes the URL's password from a text (an error message of the client library, say). */
export function redactIn(text: string, url: string): string {
  let out = text.split(url).join(redactUrl(url));
  for (const pw of urlSecrets(url)) {
    out = out.split(pw).join('***');
    try {
      const decoded = decodeURIComponent(pw);
      if (decoded) out = out.split(decoded).join('***');
    } catch {
      // not percent-encoded
    }
  }
  return out;
}

export async function openStores(o: OpenStoresOptions): Promise<Stores> {
  if (o.url === undefined || o.url === '') return openEmbeddedStores(o.dataDir, o.logger);
  const url = o.url;
  const problem = storeUrlProblem(url);
  if (problem) throw new StoreError(problem);
  // Loaded only in cluster mode: the single node never loads postgres.js.
  const { openPgStores } = await import('./pg/stores.ts');
  try {
    return await openPgStores(url, { node: o.node, logger: o.logger, ...(o.connectTimeout === undefined ? {} : { connectTimeout: o.connectTimeout }), ...(o.now ? { now: o.now } : {}) });
  } catch (err) {
    const e = err as Error & { code?: string };
    const why = redactIn(e.message ?? String(err), url);
    if (isUnreachable(err)) throw new StoreError(`cannot reach the cluster store ${redactUrl(url)}: ${why}${e.code && !why.includes(e.code) ? ` (${e.code})` : ''}`);
    throw new StoreError(`cannot open the cluster store ${redactUrl(url)}: ${why}`);
  }
}
