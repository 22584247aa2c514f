// The test PostgreSQL itself (test/support/postgres.ts): it starts on a Unix
// socket only, keeps its data across a stop and a start, and comes back after
// a SIGKILL; its directory goes at the end.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { postgresBin, postgresMissing, startPostgres } from '../support/postgres.ts';

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
