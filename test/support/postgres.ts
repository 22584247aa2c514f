// A private PostgreSQL server for tests, from Debian's binaries: initdb into a
// temporary directory as the `postgres` user (initdb refuses root), listening
// only on a Unix socket inside that directory (no TCP port to guess or to
// collide on), fsync on as in production. One server per test file; each test
// takes its own database (CREATE DATABASE is quicker than an initdb). The
// server can be stopped, started again on the same data and killed, for the
// "database away" tests, and is removed at the end.

import { execFile, spawnSync } from 'node:child_process';
import { createConnection, createServer, type Socket } from 'node:net';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * Starts a server. Call postgresMissing() first and skip with its reason
 * when it is not null.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error('postgresql binaries missing');
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-pg-'));
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

  // --no-sync only spares initdb's own flush of a throwaway cluster; the server runs with fsync on.
  await asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  writeFileSync(
    join(data, 'postgresql.auto.conf'),
    [
      "listen_addresses = ''",
      `unix_socket_directories = '${dir}'`,
      'fsync = on',
      // After a crash (stop immediate, kill) the server syncs its data directory before recovery: one
      // syncfs() instead of an fsync per file of every test database.
      "recovery_init_sync_method = 'syncfs'",
      'max_connections = 100',
      'shared_buffers = 16MB',
      "log_min_messages = 'warning'",
      '',
    ].join('\n'),
  );
  if (ids) chownSync(join(data, 'postgresql.auto.conf'), ids.uid, ids.gid);
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const pgctl = async (args: string[]) => {
    try {
      await asPostgres(join(bin, 'pg_ctl'), ['-D', data, ...args]);
    } catch (err) {
      throw new Error(`pg_ctl ${args.join(' ')} failed: ${(err as Error).message}\n${log()}`);
    }
  };
  // -w: pg_ctl returns once the server accepts connections (it waits on the postmaster.pid status, not a timer).
  const start = () => pgctl(['-w', '-t', '60', '-l', logFile, 'start']);
  await start();
  const url = (database = 'postgres') => `postgresql://postgres@/${database}?host=${encodeURIComponent(dir)}`;
  let alive = true;
  return {
    dir,
    url,
    socket: join(dir, '.s.PGSQL.5432'),
    async createDatabase(name = `t${process.pid}_${++seq}`) {
      const sql = postgres(url(), { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`CREATE DATABASE ${name}`);
      } finally {
        await sql.end();
      }
      return url(name);
    },
    async stop(mode = 'fast') {
      await pgctl(['-w', '-m', mode, 'stop']);
      alive = false;
    },
    async start() {
      await start();
      alive = true;
    },
    async kill() {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      // The backends too, as a machine's crash would: a start after this finds no one on the shared memory.
      const all = [pid, ...childrenOf(pid)];
      for (const p of all) process.kill(p, 'SIGKILL');
      await Promise.all(all.map(gone));
      // A dead postmaster may stay a zombie when nobody reaps it, and the server's start takes a zombie's
      // pid for a running server: the lock files go, as after a machine's reboot.
      rmSync(join(data, 'postmaster.pid'), { force: true });
      rmSync(join(dir, '.s.PGSQL.5432.lock'), { force: true });
      alive = false;
    },
    async destroy() {
      if (alive) await pgctl(['-w', '-m', 'immediate', 'stop']).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
    log,
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
