// The single node's StatsStore on SQLite (DATA/stats.db): the port contract
// (record, replace, sum over nodes), its own minutes for a restarted node,
// pruning, the file reopened after a close, and Stats carrying on from the
// stored minutes (AUTH summary included) after a restart.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteStatsStore } from '../../src/api/sqlite-stats-store.ts';
import { Stats, type MinuteCounts } from '../../src/api/stats.ts';
import { statsStoreContract } from '../store/contract/stats-store.ts';

function dir(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'mailwarden-stats-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const minute = (k: number, n: number): MinuteCounts => ({ minute: new Date(T0 + k * 60_000).toISOString(), accepted: n, relayed: n, refused: 2 * n, deferred: 0, auth_failed: 3 * n, auth_succeeded: n, rate_limited: n });

statsStoreContract('SqliteStatsStore', async () => {
  const d = mkdtempSync(join(tmpdir(), 'mailwarden-stats-'));
  const store = new SqliteStatsStore(join(d, 'stats.db'));
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(d, { recursive: true, force: true });
    },
  };
});

describe('SqliteStatsStore', () => {
  it('keeps the minutes across a close, gives a node its own, and prunes the old ones', async (t) => {
    const file = join(dir(t), 'stats.db');
    let store = new SqliteStatsStore(file);
    await store.record('a', [minute(0, 1), minute(1, 2), minute(2, 3)]);
    await store.record('b', [minute(1, 10)]);
    await store.record('a', [minute(2, 4)]);
    await store.close();

    store = new SqliteStatsStore(file);
    t.after(() => store.close());
    assert.deepEqual(await store.series(T0), [minute(0, 1), minute(1, 12), minute(2, 4)]);
    assert.deepEqual(await store.own('a', T0 + 60_000), [minute(1, 2), minute(2, 4)]);
    assert.deepEqual(await store.own('c', T0), []);
    assert.equal(await store.prune(T0 + 2 * 60_000), 3, 'two minutes of a, one of b');
    assert.deepEqual(await store.series(0), [minute(2, 4)]);
    assert.equal(await store.prune(T0), 0);
    await assert.rejects(store.record('a', [{ ...minute(0, 1), minute: 'soon' }]), /not a minute/);
  });

  it('creates its table in a file that has none (a data directory from before)', async (t) => {
    const file = join(dir(t), 'stats.db');
    const old = new DatabaseSync(file);
    old.exec('CREATE TABLE other (x INTEGER)');
    old.close();
    const store = new SqliteStatsStore(file);
    t.after(() => store.close());
    await store.record('a', [minute(0, 1)]);
    assert.deepEqual(await store.series(T0), [minute(0, 1)]);
  });

  it('adds the rate_limited column to a stats.db from before the rate limits, its old minutes counting 0', async (t) => {
    const file = join(dir(t), 'stats.db');
    const old = new DatabaseSync(file);
    old.exec(`CREATE TABLE stats_minute (minute INTEGER NOT NULL, node TEXT NOT NULL, accepted INTEGER NOT NULL, relayed INTEGER NOT NULL,
      refused INTEGER NOT NULL, deferred INTEGER NOT NULL, auth_failed INTEGER NOT NULL, auth_succeeded INTEGER NOT NULL, PRIMARY KEY (minute, node)) WITHOUT ROWID`);
    old.prepare('INSERT INTO stats_minute VALUES (?, ?, 1, 1, 2, 0, 3, 1)').run(T0, 'a');
    old.close();
    const store = new SqliteStatsStore(file);
    t.after(() => store.close());
    assert.deepEqual(await store.series(T0), [{ ...minute(0, 1), rate_limited: 0 }]);
    await store.record('a', [minute(1, 2)]);
    assert.equal((await store.series(T0))[1]?.rate_limited, 2);
  });

  it('lets a restarted node carry on from its stored minutes instead of replacing them', async (t) => {
    const file = join(dir(t), 'stats.db');
    let now = T0 + 30_000;
    const clock = () => now;
    const first = new Stats(clock);
    let store = new SqliteStatsStore(file);
    first.attach(store, 'mx1');
    first.observe('queued', { client: '192.0.2.1', relayed: true });
    first.observe('queued', { client: '192.0.2.1' });
    first.observe('rcpt', { client: '192.0.2.9', action: 'reject' });
    first.observe('auth', { client: '192.0.2.9', action: 'reject' });
    first.observe('auth', { client: '192.0.2.2', action: 'accept' });
    await first.flush();
    await store.close();

    // The restart, in the same minute: counted before the attach, and after.
    now += 10_000;
    store = new SqliteStatsStore(file);
    t.after(() => store.close());
    const second = new Stats(clock);
    second.observe('queued', { client: '192.0.2.1' });
    second.attach(store, 'mx1');
    second.observe('rcpt', { client: '192.0.2.9', action: 'reject' });
    const last = (await second.perMinute()).at(-1);
    assert.deepEqual(last, { minute: new Date(T0).toISOString(), accepted: 3, relayed: 1, refused: 2, deferred: 0, auth_failed: 1, auth_succeeded: 1, rate_limited: 0 });
    assert.deepEqual(await store.own('mx1', T0), [last], 'the stored minute is the sum, not the second run alone');
    assert.deepEqual(second.auth(), { failed: 1, succeeded: 1, blocked: 0 }, 'the AUTH summary comes from the same minutes');
    // Minutes older than the hour are not taken back.
    now += 2 * 3_600_000;
    const third = new Stats(clock);
    third.attach(store, 'mx1');
    assert.equal((await third.perMinute()).reduce((n, m) => n + m.accepted, 0), 0);
  });
});
