// The test PostgreSQL itself (test/support/postgres.ts): it starts on a Unix
// socket only, keeps its data across a stop and a start, and comes back after
// a SIGKILL; its directory goes at the end.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { postgresBin, postgresMissing, startPostgres, startReplicatedPostgres, STANDBY_NAME } from '../support/postgres.ts';

const missing = postgresMissing();

test('a private server: Unix socket only, data kept across stop/start and a kill, removed at the end', { skip: missing ?? false }, async () => {
  const pg = await startPostgres();
  let sql: ReturnType<typeof postgres> | null = null;
  try {
    const url = await pg.createDatabase();
    sql = postgres(url, { onnotice: () => {}, connect_timeout: 5 });
    const [conf] = await sql`SELECT current_setting('listen_addresses') AS listen, current_setting('fsync') AS fsync`;
    assert.equal(conf?.listen, '');
    assert.equal(conf?.fsync, 'on');
    await sql`CREATE TABLE t (n int)`;
    await sql`INSERT INTO t VALUES (1)`;
    await pg.stop('fast');
    await assert.rejects(sql`SELECT n FROM t`);
    await pg.start();
    assert.deepEqual([...(await sql`SELECT n FROM t`)], [{ n: 1 }]);
    await sql`INSERT INTO t VALUES (2)`;
    await pg.kill();
    await assert.rejects(sql`SELECT n FROM t`);
    await pg.start();
    assert.deepEqual([...(await sql`SELECT n FROM t ORDER BY n`)], [{ n: 1 }, { n: 2 }]);
  } finally {
    await sql?.end();
    await pg.destroy();
  }
  assert.equal(existsSync(pg.dir), false);
});

test('the newest installed version is used, whatever its number; a version without the binaries is passed over', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'mailwarden-pgbin-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.equal(postgresBin(join(root, 'absent')), null);
  assert.equal(postgresBin(root), null);
  for (const [v, complete] of [['9.6', true], ['15', true], ['16', true], ['17', false]] as const) {
    mkdirSync(join(root, v, 'bin'), { recursive: true });
    writeFileSync(join(root, v, 'bin', 'initdb'), '');
    if (complete) writeFileSync(join(root, v, 'bin', 'pg_ctl'), '');
  }
  assert.equal(postgresBin(root), join(root, '16', 'bin'));
});

test('a primary with a synchronous standby: the multi-host URL reaches the primary, a kill and a promotion move it to the standby', { skip: missing ?? false, timeout: 120_000 }, async (t) => {
  const r = await startReplicatedPostgres();
  t.after(() => r.destroy());
  assert.deepEqual(await r.waitStreaming(), { state: 'streaming', sync_state: 'sync' });
  const url = await r.createDatabase();
  assert.match(url, new RegExp(`^postgresql://postgres@127\\.0\\.0\\.1:${r.primary.port},127\\.0\\.0\\.1:${r.standby.port}/\\w+\\?target_session_attrs=primary$`));
  const sql = postgres(url, { onnotice: () => {}, connect_timeout: 5, backoff: () => 0.05 });
  t.after(() => sql.end({ timeout: 1 }));
  const [where] = await sql<{ standby: boolean; sync: string }[]>`SELECT pg_is_in_recovery() AS standby, current_setting('synchronous_standby_names') AS sync`;
  assert.deepEqual(where, { standby: false, sync: `FIRST 1 (${STANDBY_NAME})` }, 'the URL leads to the primary, which runs examples/postgresql/primary.conf');
  await sql`CREATE TABLE t (n int)`;
  await sql`INSERT INTO t VALUES (1)`;

  // postgres.js 4.1.1's read-write takes a hot standby (it reports default_transaction_read_only off): only
  // primary keeps a multi-host URL off it. Documented in docs/cluster.md.
  const standbyRw = postgres(`postgresql://postgres@127.0.0.1:${r.standby.port}/postgres?target_session_attrs=read-write`, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  const standbyPrimary = postgres(`postgresql://postgres@127.0.0.1:${r.standby.port}/postgres?target_session_attrs=primary`, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  t.after(() => Promise.all([standbyRw.end({ timeout: 1 }), standbyPrimary.end({ timeout: 1 })]));
  assert.deepEqual([...(await standbyRw`SELECT pg_is_in_recovery() AS standby`)], [{ standby: true }], 'read-write lands on the standby');
  await assert.rejects(standbyPrimary`SELECT 1`, 'primary refuses the standby');

  await r.killPrimary();
  await assert.rejects(sql`INSERT INTO t VALUES (2)`, 'no primary: the write fails');
  const ms = await r.promote();
  assert.ok(ms > 0);
  // The pool finds the new primary by itself (a call may still meet a connection being cut).
  let wrote = false;
  for (let i = 0; i < 3 && !wrote; i++) wrote = await sql`INSERT INTO t VALUES (3)`.then(() => true, () => false);
  assert.ok(wrote, 'a write through the same URL after the promotion');
  assert.deepEqual([...(await sql`SELECT n FROM t ORDER BY n`)].map((x) => x.n), [1, 3], 'what was committed before the kill is on the new primary; the failed write is not');
  const [after] = await sql<{ standby: boolean; sync: string }[]>`SELECT pg_is_in_recovery() AS standby, current_setting('synchronous_standby_names') AS sync`;
  assert.deepEqual(after, { standby: false, sync: '' }, 'the promoted server names no synchronous standby (examples/postgresql/standby.conf)');
});
