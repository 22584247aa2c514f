// The settings store and the snapshot cache: subscribe() reports an apply of
// this process before apply() resolves and one committed by another
// connection (another process) through the poll; SnapshotSource answers from
// memory, takes an apply made through ConfigService before the change is
// answered, and never goes back to an older revision.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ConfigService } from '../../src/admin/config-service.ts';
import { inlineChecker } from '../../src/admin/checker.ts';
import { embeddedDefaults } from '../../src/config/document.ts';
import { SnapshotSource } from '../../src/config/snapshot-source.ts';
import type { ConfigStore } from '../../src/store/config-store.ts';
import { SqliteConfigStore } from '../../src/store/sqlite-config-store.ts';
import { tempDir } from '../cli/helpers.ts';

const META = { author: 'test', comment: 'test' };

/** Resolves with the next number a subscriber hears. */
function next(store: ConfigStore): Promise<number> {
  return new Promise((resolve) => {
    const off = store.subscribe((n) => {
      off();
      resolve(n);
    });
  });
}

test('subscribe(): an apply here before it resolves, a commit by another connection through the poll', async (t) => {
  const file = join(tempDir(t), 'mailwarden.db');
  const store = new SqliteConfigStore(file, { pollMs: 20 });
  const other = new SqliteConfigStore(file);
  t.after(async () => {
    await store.close();
    await other.close();
  });
  const heard: number[] = [];
  const off = store.subscribe((n) => heard.push(n));
  const rev = await store.apply(embeddedDefaults(), META);
  assert.deepEqual(heard, [rev.number], 'heard before apply() resolved');

  const fromElsewhere = next(store);
  const rev2 = await other.apply({ ...embeddedDefaults(), hostname: 'other.example' }, META);
  assert.equal(await fromElsewhere, rev2.number);
  assert.deepEqual(heard, [1, 2]);
  off();
});

test('SnapshotSource: get() from memory; an apply through ConfigService is in force when it resolves; refresh() takes what another process applied', async (t) => {
  const file = join(tempDir(t), 'mailwarden.db');
  // A poll too slow to matter here: only take() and refresh() move the cache.
  const store = new SqliteConfigStore(file, { pollMs: 600_000 });
  const other = new SqliteConfigStore(file);
  t.after(async () => {
    await store.close();
    await other.close();
  });
  await other.apply(embeddedDefaults(), META);
  const changes: number[] = [];
  // The cache hears nothing from subscribe() here: what moves it is take() (through onApplied) and refresh().
  const deaf = Object.assign(Object.create(store) as ConfigStore, { subscribe: () => () => {} });
  const source = await SnapshotSource.open(deaf, (s) => changes.push(s.revision));
  t.after(() => source.close());
  const svc = new ConfigService(store, inlineChecker, { onApplied: (rev) => source.take(rev) });
  assert.equal(source.get().revision, 1);

  // Applied by another connection: not seen until refresh() (the control socket's op) or the poll.
  await other.apply({ ...embeddedDefaults(), hostname: 'two.example' }, META);
  assert.equal(source.get().revision, 1, 'no store query behind get()');
  assert.equal((await source.refresh()).revision, 2);
  assert.equal(source.get().settings.hostname, 'two.example');

  const r = await svc.applySection('hostname', 'three.example', META);
  assert.equal(r.revision?.number, 3);
  assert.equal(source.get().revision, 3, 'in force when the apply resolved');
  assert.equal(source.peek().settings.hostname, 'three.example');

  // An older revision handed over late is dropped.
  const old = await store.get(2);
  assert.ok(old);
  source.take(old);
  assert.equal(source.get().revision, 3);
  assert.deepEqual(changes, [2, 3]);
});
