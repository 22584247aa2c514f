// A private PostgreSQL server for tests, from Debian's binaries: initdb into a
// temporary directory as the `postgres` user (initdb refuses root), listening
// only on a Unix socket inside that directory (no TCP port to guess or to
// collide on), fsync on as in production. One server per test file; each test
// takes its own database (CREATE DATABASE is quicker than an initdb). The
// server can be stopped, started again on the same data and killed, for the
// "database away" tests, and is removed at the end.

import { execFile, spawnSync } from 'node:child_process';
import { createConnection, createServer, type Socket } from 'node:net';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { missingComponent } from './requires.ts';

const run = promisify(execFile);

/** The newest installed server version's bin directory (Debian installs each under its own), or null. */
export function postgresBin(root = '/usr/lib/postgresql'): string | null {
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

/** Why the tests cannot have a server here (a missingComponent reason), or null when they can. */
export function postgresMissing(): string | null {
  if (!postgresBin()) return missingComponent('postgresql', 'no initdb/pg_ctl under /usr/lib/postgresql/*/bin (Debian package postgresql)');
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) return missingComponent('postgresql', 'no `postgres` system user to run the server as');
  return null;
}

export interface TestPostgres {
  /** The directory holding the data directory and the socket. */
  readonly dir: string;
  /** A URL in libpq's form for a database on this server (Unix socket). */
  url(database?: string): string;
  /** Creates a fresh database (named, or a new name) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** The Unix socket's path, for a test's TCP forwarder. */
  readonly socket: string;
  /** Stops the server: `fast` disconnects clients cleanly, `immediate` as a crash would. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same data, waiting until it accepts connections. */
  start(): Promise<void>;
  /** SIGKILLs the postmaster (its children exit when they notice). */
  kill(): Promise<void>;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
  /** The server's log, for a failing test's message. */
  log(): string;
}

let seq = 0;

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Resolves once a killed process has gone (or is a zombie nobody reaps yet): the kernel offers no event for a non-child. */
async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    let state: string;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`process ${pid} did not exit after SIGKILL`);
}

interface Server {
  dir: string;
  data: string;
  socket: string;
  log(): string;
  pgctl(args: string[]): Promise<void>;
  /** Runs a server binary as the `postgres` user (when we are root). */
  asPostgres(file: string, args: string[]): Promise<unknown>;
  /** Writes a file in the server's directory, owned by the server's user. */
  write(path: string, text: string): void;
}

/** A directory for one server (data directory, socket, log), owned by `postgres` when we are root. */
function serverDir(prefix: string): Server {
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  let ids: { uid: number; gid: number } | null = null;
  if (root) {
    const uid = Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres']).stdout.toString().trim());
    ids = { uid, gid };
    chownSync(dir, uid, gid);
  }
  const asPostgres = (file: string, args: string[]) => (root ? run('runuser', ['-u', 'postgres', '--', file, ...args]) : run(file, args));
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const bin = postgresBin()!;
  return {
    dir,
    data,
    socket: join(dir, '.s.PGSQL.5432'),
    log,
    asPostgres,
    async pgctl(args) {
      try {
        // -l only matters for start; pg_ctl ignores it for the other verbs.
        await asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-l', logFile, ...args]);
      } catch (err) {
        throw new Error(`pg_ctl ${args.join(' ')} failed: ${(err as Error).message}\n${log()}`);
      }
    },
    write(path, text) {
      writeFileSync(path, text);
      if (ids) chownSync(path, ids.uid, ids.gid);
    },
  };
}

/** The settings every test server runs with (postgresql.auto.conf: read last, so they win over any include). */
function serverSettings(dir: string, extra: string[] = []): string {
  return [
    "listen_addresses = ''",
    `unix_socket_directories = '${dir}'`,
    'fsync = on',
    // After a crash (stop immediate, kill) the server syncs its data directory before recovery: one
    // syncfs() instead of an fsync per file of every test database.
    "recovery_init_sync_method = 'syncfs'",
    'max_connections = 100',
    'shared_buffers = 16MB',
    "log_min_messages = 'warning'",
    ...extra,
    '',
  ].join('\n');
}

async function initdb(s: Server): Promise<void> {
  // --no-sync only spares initdb's own flush of a throwaway cluster; the server runs with fsync on.
  await s.asPostgres(join(postgresBin()!, 'initdb'), ['-D', s.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
}

/** SIGKILLs a server's postmaster and its backends, as a machine's crash would, and clears its lock files. */
async function killServer(s: Server): Promise<void> {
  const pid = Number(readFileSync(join(s.data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  // The backends too: a start after this finds no one on the shared memory.
  const all = [pid, ...childrenOf(pid)];
  for (const p of all) process.kill(p, 'SIGKILL');
  await Promise.all(all.map(gone));
  // A dead postmaster may stay a zombie when nobody reaps it, and the server's start takes a zombie's
  // pid for a running server: the lock files go, as after a machine's reboot.
  rmSync(join(s.data, 'postmaster.pid'), { force: true });
  rmSync(`${s.socket}.lock`, { force: true });
}

const socketUrl = (dir: string, database = 'postgres') => `postgresql://postgres@/${database}?host=${encodeURIComponent(dir)}`;

async function createDatabaseAt(url: string, name: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await sql.end();
  }
}

/**
 * Starts a server. Call postgresMissing() first and skip with its reason
 * when it is not null.
 */
export async function startPostgres(): Promise<TestPostgres> {
  if (!postgresBin()) throw new Error('postgresql binaries missing');
  const s = serverDir('mailwarden-pg-');
  await initdb(s);
  s.write(join(s.data, 'postgresql.auto.conf'), serverSettings(s.dir));
  // -w: pg_ctl returns once the server accepts connections (it waits on the postmaster.pid status, not a timer).
  const start = () => s.pgctl(['-w', '-t', '60', 'start']);
  await start();
  const url = (database = 'postgres') => socketUrl(s.dir, database);
  let alive = true;
  return {
    dir: s.dir,
    url,
    socket: s.socket,
    async createDatabase(name = `t${process.pid}_${++seq}`) {
      await createDatabaseAt(url(), name);
      return url(name);
    },
    async stop(mode = 'fast') {
      await s.pgctl(['-w', '-m', mode, 'stop']);
      alive = false;
    },
    async start() {
      await start();
      alive = true;
    },
    async kill() {
      await killServer(s);
      alive = false;
    },
    async destroy() {
      if (alive) await s.pgctl(['-w', '-m', 'immediate', 'stop']).catch(() => {});
      rmSync(s.dir, { recursive: true, force: true });
    },
    log: s.log,
  };
}

/**
 * A TCP port on 127.0.0.1 (bound to port 0) that forwards to a server's Unix
 * socket: libpq's multi-host URLs name TCP hosts, and the test servers listen
 * on their sockets only. close() cuts every forwarded connection too, as a
 * host going away would.
 */
export async function tcpForward(socketPath: string): Promise<{ port: number; close(): Promise<void> }> {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection(socketPath);
    open.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no TCP address');
  return {
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// ------------------------------------------------------------ a primary with a synchronous standby

/** The examples an administrator follows (examples/postgresql/), used here as they are. */
export const EXAMPLES = join(import.meta.dirname, '../../examples/postgresql');
/** The standby's application_name, as examples/postgresql/primary.conf's synchronous_standby_names names it. */
export const STANDBY_NAME = 'standby1';

export interface ReplicaServer {
  readonly dir: string;
  readonly socket: string;
  /** The 127.0.0.1 port forwarded to its socket (what the multi-host URL names). */
  readonly port: number;
  log(): string;
}

export interface ReplicatedPostgres {
  /** The server that was made the primary (after a failover: the dead one). */
  readonly primary: ReplicaServer;
  /** The synchronous standby (after promote(): the new primary). */
  readonly standby: ReplicaServer;
  /**
   * The multi-host URL over TCP that postgres.js follows to the primary:
   * `postgresql://postgres@127.0.0.1:P1,127.0.0.1:P2/DB?target_session_attrs=primary`.
   */
  url(database?: string): string;
  /** Creates a database on the primary (it reaches the standby through replication) and returns its multi-host URL. */
  createDatabase(name?: string): Promise<string>;
  /**
   * Resolves once the standby streams and is the synchronous one: a commit on the primary returned
   * (with synchronous_commit = on it waits for the standby) and pg_stat_replication says streaming/sync.
   */
  waitStreaming(): Promise<{ state: string; sync_state: string }>;
  /** SIGKILLs the primary's postmaster and its backends (a machine's crash); its TCP port then refuses. */
  killPrimary(): Promise<void>;
  /** Stops the standby (`immediate`: as a crash would); the primary's commits then wait for it. */
  stopStandby(): Promise<void>;
  /** `pg_ctl promote -w` on the standby; resolves once it accepts writes, with the promotion's duration in ms. */
  promote(): Promise<number>;
  /** Stops both servers and removes their directories. */
  destroy(): Promise<void>;
}

/**
 * A primary (examples/postgresql/primary.conf included in its postgresql.conf)
 * and a standby made from it with `pg_basebackup -R`
 * (examples/postgresql/standby.conf), streaming over the primary's Unix
 * socket as the `replicator` role, each on its own socket in its own
 * directory and given a 127.0.0.1 port through tcpForward(). Call
 * postgresMissing() first.
 */
export async function startReplicatedPostgres(): Promise<ReplicatedPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error('postgresql binaries missing');
  const p = serverDir('mailwarden-pg-primary-');
  const s = serverDir('mailwarden-pg-standby-');
  const alive = new Set<Server>();
  const forwards: { port: number; close(): Promise<void> }[] = [];
  const destroy = async () => {
    await Promise.all(forwards.map((f) => f.close()));
    for (const x of [p, s]) {
      if (alive.has(x)) await x.pgctl(['-w', '-m', 'immediate', 'stop']).catch(() => {});
      rmSync(x.dir, { recursive: true, force: true });
    }
  };
  try {
    await initdb(p);
    // initdb's pg_hba.conf trusts local connections, replication included (`local replication all trust`):
    // the example's host lines (examples/postgresql/pg_hba.conf) are for TCP between machines.
    appendFileSync(join(p.data, 'postgresql.conf'), `\ninclude '${join(EXAMPLES, 'primary.conf')}'\n`);
    p.write(join(p.data, 'postgresql.auto.conf'), serverSettings(p.dir));
    await p.pgctl(['-w', '-t', '60', 'start']);
    alive.add(p);
    const admin = postgres(socketUrl(p.dir), { max: 1, onnotice: () => {} });
    try {
      // No standby yet to wait for: this one commit is local (synchronous_standby_names is in force already).
      await admin.begin(async (tx) => {
        await tx`SET LOCAL synchronous_commit = local`;
        await tx`CREATE ROLE replicator WITH REPLICATION LOGIN`;
      });
    } finally {
      await admin.end();
    }
    // -R: standby.signal and primary_conninfo; -X stream: the WAL written meanwhile comes along; -c fast: no
    // wait for a scheduled checkpoint. The standby's configuration files are copies of the primary's.
    await s.asPostgres(join(bin, 'pg_basebackup'), ['-h', p.dir, '-U', 'replicator', '-D', s.data, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
    // The copied postgresql.conf includes primary.conf: the standby's includes standby.conf instead (once promoted,
    // a synchronous_standby_names naming no running server would make every commit wait).
    const conf = readFileSync(join(s.data, 'postgresql.conf'), 'utf8').replace(/\ninclude '[^']*primary\.conf'\n/, `\ninclude '${join(EXAMPLES, 'standby.conf')}'\n`);
    s.write(join(s.data, 'postgresql.conf'), conf);
    s.write(
      join(s.data, 'postgresql.auto.conf'),
      serverSettings(s.dir, [`primary_conninfo = 'host=${p.dir} port=5432 user=replicator application_name=${STANDBY_NAME}'`]),
    );
    await s.pgctl(['-w', '-t', '60', 'start']);
    alive.add(s);
    forwards.push(await tcpForward(p.socket), await tcpForward(s.socket));
  } catch (err) {
    await destroy();
    throw err;
  }
  const [fp, fs] = forwards as [{ port: number; close(): Promise<void> }, { port: number; close(): Promise<void> }];
  const server = (x: Server, port: number): ReplicaServer => ({ dir: x.dir, socket: x.socket, port, log: x.log });
  const url = (database = 'postgres') => `postgresql://postgres@127.0.0.1:${fp.port},127.0.0.1:${fs.port}/${database}?target_session_attrs=primary`;
  const query = async <T>(dir: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> => {
    const sql = postgres(socketUrl(dir), { max: 1, onnotice: () => {}, connect_timeout: 10 });
    try {
      return await fn(sql);
    } finally {
      await sql.end({ timeout: 1 });
    }
  };
  return {
    primary: server(p, fp.port),
    standby: server(s, fs.port),
    url,
    async createDatabase(name = `t${process.pid}_${++seq}`) {
      await createDatabaseAt(socketUrl(p.dir), name);
      return url(name);
    },
    waitStreaming: () =>
      query(p.dir, async (sql) => {
        // A transaction that writes WAL commits only once a synchronous standby has flushed it: its return is the
        // event. The walsender takes its place as the synchronous one a moment after it streams (pg_stat_replication
        // may say 'async' meanwhile), so the view is asked again, after each commit, for at most 30 s.
        const deadline = Date.now() + 30_000;
        for (;;) {
          await sql`SELECT pg_current_xact_id()`;
          const [r] = await sql<{ state: string; sync_state: string }[]>`SELECT state, sync_state FROM pg_stat_replication WHERE application_name = ${STANDBY_NAME}`;
          if (r?.state === 'streaming' && r.sync_state === 'sync') return { state: r.state, sync_state: r.sync_state };
          if (Date.now() > deadline) throw new Error(`the standby is not the synchronous one: ${JSON.stringify(r ?? null)}\n${s.log()}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }),
    async killPrimary() {
      await killServer(p);
      alive.delete(p);
    },
    async stopStandby() {
      await s.pgctl(['-w', '-m', 'immediate', 'stop']);
      alive.delete(s);
    },
    async promote() {
      const t0 = performance.now();
      await s.pgctl(['-w', '-t', '60', 'promote']);
      // pg_ctl -w returns once the server left recovery; a write proves it.
      await query(s.dir, async (sql) => {
        const [r] = await sql<{ standby: boolean }[]>`SELECT pg_is_in_recovery() AS standby`;
        if (r?.standby !== false) throw new Error('the standby is still in recovery after pg_ctl promote');
        await sql`SELECT pg_current_xact_id()`;
      });
      return Math.round(performance.now() - t0);
    },
    destroy,
  };
}
