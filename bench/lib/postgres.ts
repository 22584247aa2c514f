// A private PostgreSQL server for the cluster cells: Debian's binaries
// (/usr/lib/postgresql/15/bin), initdb into the cell's scratch directory as the
// `postgres` user, listening on a Unix socket in that directory only (no TCP
// port to pick), fsync on and synchronous_commit on as docs/cluster.md asks of
// a production server. The postmaster runs in the foreground under our process
// registry (lib/procs.ts), so it is stopped with the run whatever happens; its
// backends are its children, so the CPU of its process tree is the database's.
// Also what the database did, read exactly and at once: WAL bytes from
// pg_current_wal_lsn(), statements from pg_stat_statements (written to shared
// memory as each statement ends), commits from the WAL itself (pg_waldump
// --stats: pg_stat_database's counters reach the shared statistics up to 10 s
// late from an idle backend).

import { chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { run, start, stopGroup, alive } from './procs.ts';
import { logTail } from '../relays/types.ts';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** The server's settings beyond initdb's defaults (also printed in RESULTS.md). */
export function serverConf(socketDir: string, statements: boolean): string[] {
  return [
    "listen_addresses = ''",
    `unix_socket_directories = '${socketDir}'`,
    'fsync = on',
    'synchronous_commit = on',
    'max_connections = 200',
    'shared_buffers = 128MB',
    // the WAL between a repeat's two readings stays for pg_waldump, even when a checkpoint falls in between
    "wal_keep_size = '1GB'",
    ...(statements ? ["shared_preload_libraries = 'pg_stat_statements'", 'pg_stat_statements.track = all'] : []),
    "log_min_messages = 'warning'",
  ];
}

export function hasStatements(): boolean {
  return existsSync('/usr/share/postgresql/15/extension/pg_stat_statements.control') && existsSync('/usr/lib/postgresql/15/lib/pg_stat_statements.so');
}

export interface DbReading {
  /** pg_current_wal_lsn() as a byte position */
  lsn: bigint;
  lsnText: string;
  /** sum of pg_stat_statements.calls (NaN without the extension) */
  statements: number;
}

export interface DbDelta {
  walBytes: number;
  statements: number;
  /** Transaction/COMMIT records in the WAL between the readings (NaN if pg_waldump failed) */
  commits: number;
}

function lsnToBig(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt('0x' + hi) << 32n) + BigInt('0x' + lo);
}

export class BenchPostgres {
  readonly dir: string;
  readonly data: string;
  readonly pid: number;
  readonly logFile: string;
  readonly statements: boolean;
  private readonly admin: postgres.Sql;

  private constructor(dir: string, pid: number, statements: boolean) {
    this.dir = dir;
    this.data = join(dir, 'data');
    this.pid = pid;
    this.logFile = join(dir, 'server.log');
    this.statements = statements;
    this.admin = postgres(this.url('postgres'), { max: 1, onnotice: () => {} });
  }

  /** libpq's Unix-socket form, as docs/cli.md gives it. */
  url(database: string): string {
    return `postgresql://postgres@/${database}?host=${encodeURIComponent(this.dir)}`;
  }

  static async start(dir: string): Promise<BenchPostgres> {
    mkdirSync(dir, { recursive: true });
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
    const data = join(dir, 'data');
    const asPg = ['--reuid', String(uid), '--regid', String(gid), '--init-groups'];
    // --no-sync spares only initdb's own flush of a fresh cluster; the server runs with fsync on.
    const init = await run('initdb', '/usr/bin/setpriv', [...asPg, join(PG_BIN, 'initdb'), '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'], { timeoutMs: 120_000 });
    if (init.code !== 0) throw new Error(`initdb failed (${init.code}): ${init.stderr}`);
    const statements = hasStatements();
    writeFileSync(join(data, 'postgresql.auto.conf'), serverConf(dir, statements).join('\n') + '\n');
    chownSync(join(data, 'postgresql.auto.conf'), uid, gid);
    const logFile = join(dir, 'server.log');
    writeFileSync(logFile, '');
    chownSync(logFile, uid, gid);
    // setpriv execs: the postmaster is the process we started (and the root of the backends).
    const p = start('postgres', '/usr/bin/setpriv', [...asPg, join(PG_BIN, 'postgres'), '-D', data], { logFile });
    const until = Date.now() + 60_000;
    for (;;) {
      if (!alive(p.pid)) throw new Error(`postgres exited at start\n${await logTail(logFile)}`);
      const ready = await run('pg_isready', join(PG_BIN, 'pg_isready'), ['-q', '-h', dir, '-U', 'postgres'], { timeoutMs: 10_000 });
      if (ready.code === 0) break;
      if (Date.now() > until) {
        await stopGroup(p.pid, 5000);
        throw new Error(`postgres did not accept connections within 60 s\n${await logTail(logFile)}`);
      }
      await sleep(100);
    }
    const pg = new BenchPostgres(dir, p.pid, statements);
    if (statements) await pg.admin.unsafe('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    return pg;
  }

  async createDatabase(name: string): Promise<string> {
    await this.admin.unsafe(`CREATE DATABASE ${name}`);
    return this.url(name);
  }

  /** One statement: the WAL position and the statements run so far (every database). */
  async reading(): Promise<DbReading> {
    const rows = this.statements
      ? await this.admin.unsafe('SELECT pg_current_wal_lsn()::text AS lsn, (SELECT coalesce(sum(calls), 0) FROM pg_stat_statements)::float8 AS calls')
      : await this.admin.unsafe('SELECT pg_current_wal_lsn()::text AS lsn, NULL::float8 AS calls');
    const r = rows[0] as unknown as { lsn: string; calls: number | null };
    return { lsn: lsnToBig(r.lsn), lsnText: r.lsn, statements: r.calls ?? NaN };
  }

  /** What happened between two readings; `ownStatements`: statements of our own readings in between, subtracted. */
  async delta(a: DbReading, b: DbReading, ownStatements = 1): Promise<DbDelta> {
    return { walBytes: Number(b.lsn - a.lsn), statements: b.statements - a.statements - ownStatements, commits: await this.commits(a.lsnText, b.lsnText) };
  }

  /** Transaction/COMMIT records between two WAL positions, counted by pg_waldump. */
  private async commits(from: string, to: string): Promise<number> {
    if (from === to) return 0;
    const r = await run('pg_waldump', join(PG_BIN, 'pg_waldump'), ['--stats=record', '-p', join(this.data, 'pg_wal'), '-s', from, '-e', to], { timeoutMs: 120_000 });
    const m = /^Transaction\/COMMIT\s+(\d+)/m.exec(r.stdout);
    if (m) return Number(m[1]);
    return r.code === 0 ? 0 : NaN;
  }

  /** The statements run so far, by calls (pg_stat_statements), written to `file` for a closer look. */
  async dumpStatements(file: string): Promise<void> {
    if (!this.statements) return;
    const rows = await this.admin.unsafe(`SELECT calls, round(total_exec_time::numeric, 1) AS ms, rows, wal_bytes, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query
      FROM pg_stat_statements ORDER BY calls DESC LIMIT 40`);
    writeFileSync(file, rows.map((r) => `${r.calls}\t${r.ms} ms\t${r.rows} rows\t${r.wal_bytes} WAL B\t${r.query}`).join('\n') + '\n');
  }

  async stop(): Promise<void> {
    await this.admin.end({ timeout: 2 }).catch(() => {});
    // SIGTERM to the postmaster is a smart shutdown; the nodes are gone by now, so it is quick.
    await stopGroup(this.pid, 20_000);
  }
}
