// A commit whose wait for the synchronous standby was cancelled comes back as
// a success with a WARNING: the store must see it whatever language the
// server speaks. Real PostgreSQL raises warnings and notices through the
// pool of src/store/pg/connect.ts: a WARNING with the generic code 01000 in
// another language counts (as the English text does); a NOTICE, or a
// WARNING with a code of its own, does not.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { postgresMissing, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { connectPg, maySayUnreplicated, syncWaitsCancelled } from '../../src/store/pg/connect.ts';

const missing = postgresMissing();
let server: TestPostgres | null = null;
before(async () => {
  if (!missing) server = await startPostgres();
});
after(async () => server?.destroy());

test('maySayUnreplicated: the English text, or any WARNING 01000', () => {
  assert.equal(maySayUnreplicated({ severity: 'WARNING', code: '01000', message: 'canceling wait for synchronous replication due to user request' }), true);
  assert.equal(maySayUnreplicated({ severity: 'WARNING', code: '01000', message: 'Warten auf synchrone Replikation wird wegen Benutzeraufforderung abgebrochen' }), true);
  assert.equal(maySayUnreplicated({ severity: 'NOTICE', code: '00000', message: 'relation already exists, skipping' }), false);
  assert.equal(maySayUnreplicated({ severity: 'WARNING', code: '01P01', message: 'deprecated' }), false);
});

test('the pool counts a translated cancel warning from a real server, and not a notice', { skip: missing ?? false }, async () => {
  const sql = connectPg(await server!.createDatabase());
  try {
    const before = syncWaitsCancelled(sql);
    await sql`DO $$ BEGIN RAISE NOTICE 'nur ein Hinweis'; END $$`;
    await sql`DO $$ BEGIN RAISE WARNING 'veraltet' USING ERRCODE = '01P01'; END $$`;
    assert.equal(syncWaitsCancelled(sql), before);
    await sql`DO $$ BEGIN RAISE WARNING 'Warten auf synchrone Replikation wird abgebrochen'; END $$`;
    assert.equal(syncWaitsCancelled(sql), before + 1);
  } finally {
    await sql.end({ timeout: 1 });
  }
});
