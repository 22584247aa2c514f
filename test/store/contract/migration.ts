// The migration contract (src/store/migration.ts): what `store migrate` needs
// beyond the ports. Exported from one store and imported into a fresh one of
// the same adapter, everything reads back as it was (revision numbers,
// authors, times and the active pointer; password hashes that verify; token
// digests that check, revoked ones that do not; greylist records that decide
// as before), and importing again changes nothing. Both adapters run it, so
// that a source of one kind and a target of the other agree.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { embeddedDefaults } from '../../../src/config/document.ts';
import type { ConfigStore } from '../../../src/store/config-store.ts';
import type { AccountStore } from '../../../src/admin/account-store.ts';
import type { GreylistStore } from '../../../src/antispam/greylist-store.ts';
import type { GreylistTimes } from '../../../src/antispam/greylist.ts';
import { hashPassword } from '../../../src/objects/password.ts';
import type { GreylistRecord, MigratableAccounts, MigratableConfig, MigratableGreylist, MigrationMarker } from '../../../src/store/migration.ts';
import type { Factory } from './types.ts';

const PW = 'correct horse';
const PW2 = 'battery staple';
let hashes: [string, string] | null = null;
const hashed = (): [string, string] => (hashes ??= [hashPassword(PW), hashPassword(PW2)]);

const T: GreylistTimes = { delayMs: 300_000, expiryMs: 4 * 3_600_000, lifetimeMs: 36 * 86_400_000 };
const T0 = 1_800_000_000_000;

export interface MigrationFactories {
  config: Factory<ConfigStore & MigratableConfig>;
  accounts: Factory<AccountStore & MigratableAccounts>;
  greylist: Factory<GreylistStore & MigratableGreylist>;
}

export function migrationContract(name: string, make: MigrationFactories): void {
  describe(`migration contract: ${name}`, () => {
    test('revisions move with their numbers, authors, comments, times and settings; the active pointer too; a re-import changes nothing', async (t) => {
      const a = await make.config();
      const b = await make.config();
      t.after(async () => {
        await a.cleanup();
        await b.cleanup();
      });
      for (const h of ['one', 'two', 'three']) await a.store.apply({ ...embeddedDefaults(), hostname: `${h}.example` }, { author: `cli:${h}`, comment: `apply ${h}` });
      const exported = [];
      for await (const r of a.store.exportRevisions()) exported.push(r);
      assert.deepEqual(exported.map((r) => r.number), [1, 2, 3], 'oldest first');
      const heard: number[] = [];
      b.store.subscribe((n) => heard.push(n));
      for (const r of exported) assert.equal(await b.store.importRevision(r), true);
      // An older revision active (the source had rolled back): the pointer is what it was, not the newest.
      await b.store.importActive(2);
      assert.equal(await b.store.activeNumber(), 2);
      assert.ok(heard.includes(2), 'subscribers are told of the imported pointer');
      assert.deepEqual(await b.store.history(), await a.store.history());
      for (const n of [1, 2, 3]) assert.deepEqual(await b.store.get(n), await a.store.get(n));
      assert.equal((await b.store.active())?.settings.hostname, 'two.example');
      for (const r of exported) assert.equal(await b.store.importRevision({ ...r, comment: 'changed' }), false, 'a taken number is kept as it is');
      assert.equal((await b.store.get(1))?.comment, 'apply one');
      const next = await b.store.apply(embeddedDefaults(), { author: 'x', comment: 'after' });
      assert.equal(next.number, 4, 'the next apply numbers after the imported ones');
    });

    test('admins move with their password hashes, tokens with their digests and revoked state; a re-import changes nothing', async (t) => {
      const a = await make.accounts();
      const b = await make.accounts();
      t.after(async () => {
        await a.cleanup();
        await b.cleanup();
      });
      const [h1, h2] = hashed();
      await a.store.add('alice', PW, 'admin', h1);
      await a.store.add('bob', PW2, 'viewer', h2);
      const live = await a.store.createToken('ci', 'admin', 'alice');
      const gone = await a.store.createToken('old', 'viewer', 'bob');
      await a.store.revokeToken(gone.info.id);

      const admins = await a.store.exportAdmins();
      assert.deepEqual(admins.map((x) => [x.name, x.role]), [['alice', 'admin'], ['bob', 'viewer']]);
      assert.ok(admins.every((x) => x.hash.length > 0 && x.hash !== PW && x.hash !== PW2), 'hashes, never passwords');
      const tokens = await a.store.exportTokens();
      assert.ok(tokens.every((x) => x.digest.length > 0 && x.digest !== live.token && x.digest !== gone.token), 'digests, never secrets');
      for (const x of admins) assert.equal(await b.store.importAdmin(x), true);
      for (const x of tokens) assert.equal(await b.store.importToken(x), true);

      assert.deepEqual(await b.store.list(), await a.store.list());
      assert.deepEqual(await b.store.tokens(), await a.store.tokens());
      assert.equal((await b.store.verify('alice', PW))?.role, 'admin');
      assert.equal((await b.store.verify('bob', PW2))?.role, 'viewer');
      assert.equal(await b.store.verify('alice', PW2), null);
      assert.deepEqual(await b.store.current('alice'), await a.store.current('alice'), 'the same credential stamp');
      assert.deepEqual(await b.store.checkToken(live.token), await a.store.checkToken(live.token));
      assert.equal((await b.store.checkToken(live.token))?.owner, 'alice');
      assert.equal(await b.store.checkToken(gone.token), null, 'a revoked token stays revoked');

      assert.equal(await b.store.importAdmin({ ...admins[0]!, role: 'viewer' }), false, 'a known name is kept as it is');
      assert.equal(await b.store.importToken({ ...tokens[0]!, name: 'changed' }), false, 'a known token id is kept as it is');
      assert.deepEqual(await b.store.exportAdmins(), admins);
      assert.deepEqual(await b.store.exportTokens(), tokens);
    });

    test('greylist records move in batches and decide as before; a re-import changes nothing', async (t) => {
      const a = await make.greylist();
      const b = await make.greylist();
      t.after(async () => {
        await a.cleanup();
        await b.cleanup();
      });
      await a.store.check('passed', T0, T);
      await a.store.check('passed', T0 + T.delayMs, T);
      await a.store.check('pending', T0 + 1000, T);
      for (let i = 0; i < 5; i++) await a.store.check(`more-${i}`, T0 + i, T);
      const batches: GreylistRecord[][] = [];
      for await (const batch of a.store.exportRecords(3)) batches.push(batch);
      assert.ok(batches.every((x) => x.length > 0 && x.length <= 3), `batches of at most 3: ${batches.map((x) => x.length)}`);
      const all = batches.flat();
      assert.equal(all.length, 7);
      assert.deepEqual(all.find((r) => r.triplet === 'passed'), { triplet: 'passed', first: T0, last: T0 + T.delayMs, passed: true });
      let n = 0;
      for (const batch of batches) n += await b.store.importRecords(batch);
      assert.equal(n, 7);
      assert.equal(await b.store.importRecords(all), 0, 'known triplets are kept as they are');
      const again: GreylistRecord[] = [];
      for await (const batch of b.store.exportRecords()) again.push(...batch);
      assert.deepEqual(again.sort(byTriplet), [...all].sort(byTriplet));
      const now = T0 + T.delayMs + 60_000;
      assert.deepEqual(await b.store.check('passed', now, T), { pass: true, known: true });
      assert.deepEqual(await b.store.check('pending', T0 + 61_000, T), { pass: false, retryInMs: T.delayMs - 60_000 }, 'the first attempt keeps its time');
    });
  });
}

const byTriplet = (x: GreylistRecord, y: GreylistRecord): number => (x.triplet < y.triplet ? -1 : x.triplet > y.triplet ? 1 : 0);

/** The marker a target keeps while a migration is under way (the cluster store only). */
export function migrationMarkerContract(name: string, make: Factory<MigrationMarker>): void {
  describe(`migration marker contract: ${name}`, () => {
    test('one migration at a time: the first source marked wins, and only its own clear removes the mark', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      assert.equal(await store.migrationSource(), null);
      const got = await Promise.all([store.markMigration('host:/a'), store.markMigration('host:/b')]);
      assert.equal(got[0], got[1], 'both runs read the one winner');
      const winner = got[0]!;
      const loser = winner === 'host:/a' ? 'host:/b' : 'host:/a';
      assert.equal(await store.migrationSource(), winner);
      assert.equal(await store.markMigration(winner), winner, 'marking again (a re-run) keeps it');
      await store.clearMigration(loser);
      assert.equal(await store.migrationSource(), winner, 'another source cannot clear it');
      await store.clearMigration(winner);
      assert.equal(await store.migrationSource(), null);
    });
  });
}
