// The cluster benchmark's database counters (bench/lib/postgres.ts): on its
// own private server, a known amount of work must be counted exactly —
// writing commits as Transaction/COMMIT records in the WAL (pg_waldump), a
// read-only transaction not at all, statements through pg_stat_statements
// with the harness's own reading left out, and WAL bytes growing with what
// was written. The benchmark divides these by the messages of a run, so a
// miscount here is a wrong figure in bench/RESULTS.md and docs/cluster.md.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { postgresMissing } from '../support/postgres.ts';
import { missingComponent } from '../support/requires.ts';
import { initRegistry, stopAll } from '../../bench/lib/procs.ts';
import { BenchPostgres, hasStatements } from '../../bench/lib/postgres.ts';

const skip = postgresMissing() ?? (process.getuid?.() !== 0 ? 'the bench starts PostgreSQL as the postgres user: needs root' : null) ?? (hasStatements() ? null : missingComponent('postgresql', 'no pg_stat_statements extension (Debian package postgresql-15 has it)'));

test('the bench counts commits, statements and WAL bytes of its database exactly', { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-bench-pg-'));
  chmodSync(dir, 0o755);
  // a registry of its own: never the one of a benchmark running meanwhile
  await initRegistry(join(dir, 'procs.json'));
  t.after(async () => {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  });
  const pg = await BenchPostgres.start(join(dir, 'pg'));
  t.after(() => pg.stop());
  const url = await pg.createDatabase('counted');
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  t.after(() => sql.end({ timeout: 2 }));
  await sql`CREATE TABLE t (id int PRIMARY KEY, body text)`;

  const a = await pg.reading();
  for (let i = 0; i < 5; i++) await sql`INSERT INTO t VALUES (${i}, ${'x'.repeat(10_000)})`; // 5 statements, 5 commits
  await sql.begin(async (tx) => {
    await tx`INSERT INTO t VALUES (100, 'y')`;
    await tx`UPDATE t SET body = 'z' WHERE id = 100`;
  }); // BEGIN, 2 statements, COMMIT: 4 statements, 1 commit
  await sql`SELECT count(*) FROM t`; // 1 statement, read-only: no commit record
  const b = await pg.reading();
  const d = await pg.delta(a, b);

  assert.equal(d.commits, 6, 'writing transactions, each one Transaction/COMMIT record');
  assert.equal(d.statements, 10, "statements run, the harness's own reading left out");
  // 5 rows of 10,000 characters (TOAST compresses the repeated 'x', so not 50 kB), their index entries, the commits
  assert.ok(d.walBytes > 1000 && d.walBytes < 200_000, `WAL bytes ${d.walBytes}`);

  const c = await pg.reading();
  const idle = await pg.delta(b, c);
  assert.equal(idle.commits, 0, 'nothing written between two readings');
  assert.equal(idle.statements, 0);
});
