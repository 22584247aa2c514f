// Web-admin sessions in the AccountStore (DATA/admin.db): a session is found
// again by a store opened anew (a daemon restart), ends when idle past its
// time, has its last request written at most once a minute, and is stored
// under a digest, never as the cookie's value.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { openAccountStore, SESSION_TOUCH_MS } from '../../src/admin/sqlite-account-store.ts';
import { hashPassword } from '../../src/objects/password.ts';
import { Sessions } from '../../src/api/auth.ts';
import { tempDir } from '../cli/helpers.ts';

const HOUR = 3_600_000;

function lastSeen(dir: string): number[] {
  const db = new DatabaseSync(join(dir, 'admin.db'), { readOnly: true });
  try {
    return (db.prepare('SELECT last_seen FROM web_session').all() as { last_seen: number }[]).map((r) => r.last_seen);
  } finally {
    db.close();
  }
}

test('a session survives reopening the store, ends when idle past its time, and is written at most once a minute', async (t) => {
  const dir = tempDir(t);
  let now = 1_000_000_000;
  const clock = () => now;
  const first = openAccountStore(dir);
  await first.add('ada', 'ada-password', 'admin', hashPassword('ada-password'));
  const s = await new Sessions(first, clock, 8 * HOUR).create('ada', 'admin', 'stamp-1');
  await first.close();

  // Reopened, as by a restarted daemon.
  const store = openAccountStore(dir);
  t.after(() => store.close());
  const sessions = new Sessions(store, clock, 8 * HOUR);
  const p = await sessions.get(s.id);
  assert.ok(p, 'found after the reopen');
  assert.equal(p.name, 'ada');
  assert.equal(p.csrf, s.csrf);
  assert.equal(p.stamp, 'stamp-1');
  const files = Buffer.concat(['admin.db', 'admin.db-wal'].filter((f) => existsSync(join(dir, f))).map((f) => readFileSync(join(dir, f))));
  assert.ok(files.includes(Buffer.from(s.csrf)), 'the files hold the session (so the next check looks in the right place)');
  assert.ok(!files.includes(Buffer.from(s.id)), 'the cookie value is not in the files');

  // Requests within the minute do not write.
  now += SESSION_TOUCH_MS - 1;
  assert.ok(await sessions.get(s.id));
  assert.deepEqual(lastSeen(dir), [1_000_000_000]);
  now += 1;
  assert.ok(await sessions.get(s.id));
  assert.deepEqual(lastSeen(dir), [now], 'written once the minute passed');

  // Used within the idle time: alive (its time counts from the last request).
  now += 8 * HOUR - 1;
  assert.ok(await sessions.get(s.id), 'still alive just under the idle time');
  now += 8 * HOUR + 1;
  assert.equal(await sessions.get(s.id), null, 'idle past its time: ended');
  assert.deepEqual(lastSeen(dir), [], 'and removed');
});

test('sessions end with the account, on demotion or password change (but the caller\'s own), and on logout; old idle ones are swept', async (t) => {
  const dir = tempDir(t);
  let now = 5_000_000;
  const store = openAccountStore(dir);
  t.after(() => store.close());
  const sessions = new Sessions(store, () => now, HOUR);
  await store.add('ada', 'ada-password', 'admin', hashPassword('ada-password'));
  await store.add('bob', 'bob-password', 'admin', hashPassword('bob-password'));
  const a1 = await sessions.create('ada', 'admin', 'x');
  const a2 = await sessions.create('ada', 'admin', 'x');
  const b1 = await sessions.create('bob', 'admin', 'x');

  await sessions.dropAdmin('ada', a1.id);
  assert.ok(await sessions.get(a1.id), 'the caller\'s own stays');
  assert.equal(await sessions.get(a2.id), null);
  await sessions.restamp(a1.id, 'y');
  assert.equal((await sessions.get(a1.id))?.stamp, 'y');
  await sessions.delete(a1.id);
  assert.equal(await sessions.get(a1.id), null, 'logged out');

  await store.remove('bob');
  assert.equal(await sessions.get(b1.id), null, 'a removed admin\'s sessions end with the account');

  const old = await sessions.create('ada', 'admin', 'x');
  now += HOUR + 1;
  await sessions.create('ada', 'admin', 'x');
  assert.equal(lastSeen(dir).length, 1, 'the idle one was swept at the next login');
  assert.equal(await sessions.get(old.id), null);
});
