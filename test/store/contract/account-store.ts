// The AccountStore contract (src/admin/account-store.ts): admin accounts with
// the last-admin guard and credential stamps, API tokens never above their
// owner, and web sessions that expire when idle.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AccountStore } from '../../../src/admin/account-store.ts';
import { AdminError } from '../../../src/admin/admin-store.ts';
import { hashPassword } from '../../../src/objects/password.ts';
import type { Factory } from './types.ts';

// scrypt is slow on purpose: each password is hashed once for the whole suite.
const hashes = new Map<string, string>();
const hash = (pw: string): string => {
  let h = hashes.get(pw);
  if (!h) hashes.set(pw, (h = hashPassword(pw)));
  return h;
};
const PW = 'correct horse';
const PW2 = 'battery staple';

const refused = (e: unknown) => e instanceof AdminError;

export function accountStoreContract(name: string, make: Factory<AccountStore>): void {
  describe(`AccountStore contract: ${name}`, () => {
    test('add, get, list, count and current; bad names, roles, short passwords and duplicates are refused', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      assert.equal(await store.count(), 0);
      const a = await store.add('alice', PW, 'admin', hash(PW));
      assert.equal(a.name, 'alice');
      assert.equal(a.role, 'admin');
      assert.ok(!Number.isNaN(Date.parse(a.created)));
      await store.add('bob', PW, 'viewer', hash(PW));
      assert.equal(await store.count(), 2);
      assert.deepEqual(await store.list(), [a, { name: 'bob', role: 'viewer', created: (await store.get('bob'))?.created }]);
      assert.deepEqual(await store.get('alice'), a);
      assert.equal(await store.get('carol'), null);
      const cur = await store.current('alice');
      assert.equal(cur?.name, 'alice');
      assert.match(cur?.stamp ?? '', /^[0-9a-f]{32}$/);
      assert.equal(await store.current('carol'), null);
      await assert.rejects(store.add('alice', PW, 'admin', hash(PW)), refused);
      await assert.rejects(store.add('bad name', PW, 'admin', hash(PW)), refused);
      await assert.rejects(store.add('carol', PW, 'root' as never, hash(PW)), refused);
      await assert.rejects(store.add('carol', 'short', 'admin', hash('short')), refused);
      assert.equal(await store.count(), 2);
    });

    test('verify: the admin for the right password, null for a wrong one or an unknown name', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.add('alice', PW, 'admin', hash(PW));
      assert.equal((await store.verify('alice', PW))?.name, 'alice');
      assert.equal(await store.verify('alice', PW2), null);
      assert.equal(await store.verify('nobody', PW), null);
    });

    test('setPassword changes the password and the stamp; an unknown admin is refused', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.add('alice', PW, 'admin', hash(PW));
      const before = (await store.current('alice'))?.stamp;
      await store.setPassword('alice', PW2, hash(PW2));
      assert.notEqual((await store.current('alice'))?.stamp, before);
      assert.equal(await store.verify('alice', PW), null);
      assert.equal((await store.verify('alice', PW2))?.name, 'alice');
      await assert.rejects(store.setPassword('nobody', PW2, hash(PW2)), refused);
      await assert.rejects(store.setPassword('alice', 'short', hash('short')), refused);
    });

    test('the last admin with the admin role can be neither removed nor demoted', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.add('alice', PW, 'admin', hash(PW));
      await store.add('bob', PW, 'viewer', hash(PW));
      await assert.rejects(store.remove('alice'), refused);
      await assert.rejects(store.setRole('alice', 'viewer'), refused);
      await store.remove('bob');
      await store.add('carol', PW, 'admin', hash(PW));
      await store.setRole('alice', 'viewer');
      await assert.rejects(store.remove('carol'), refused);
      await store.remove('alice');
      assert.deepEqual((await store.list()).map((a) => a.name), ['carol']);
      await assert.rejects(store.remove('nobody'), refused);
      await assert.rejects(store.setRole('nobody', 'admin'), refused);
    });

    test('two admins removed at once: one stays', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.add('alice', PW, 'admin', hash(PW));
      await store.add('bob', PW, 'admin', hash(PW));
      const results = await Promise.allSettled([store.remove('alice'), store.remove('bob')]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      assert.equal((await store.list()).filter((a) => a.role === 'admin').length, 1);
    });

    test('tokens: created once, checked, revoked; never above the owner; gone with the owner', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.add('alice', PW, 'admin', hash(PW));
      await store.add('bob', PW, 'admin', hash(PW));
      const { token, info } = await store.createToken('ci', 'admin', 'bob');
      assert.equal(info.owner, 'bob');
      assert.equal(info.role, 'admin');
      assert.equal(info.revoked, null);
      assert.deepEqual(await store.checkToken(token), info);
      assert.deepEqual(await store.tokens(), [info]);
      assert.equal(await store.checkToken(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')), null, 'a wrong secret');
      assert.equal(await store.checkToken('not a token'), null);
      // The owner demoted: the token acts as a viewer.
      await store.setRole('bob', 'viewer');
      assert.equal((await store.checkToken(token))?.role, 'viewer');
      await assert.rejects(store.createToken('more', 'admin', 'bob'), refused, 'a viewer mints viewer tokens only');
      const v = await store.createToken('ro', 'viewer', 'bob');
      await assert.rejects(store.createToken('x', 'admin', 'nobody'), refused);
      await assert.rejects(store.createToken('', 'admin', 'alice'), refused);
      await store.revokeToken(v.info.id);
      assert.equal(await store.checkToken(v.token), null);
      assert.notEqual((await store.tokens()).find((x) => x.id === v.info.id)?.revoked, null);
      await assert.rejects(store.revokeToken(v.info.id), refused, 'revoked already');
      await store.remove('bob');
      assert.equal(await store.checkToken(token), null, 'the owner removed: the token is revoked');
      assert.ok((await store.tokens()).every((x) => x.revoked !== null));
    });

    test('sessions: valid while used, ended when idle, restamped, deleted, dropped per admin', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.add('alice', PW, 'admin', hash(PW));
      await store.add('bob', PW, 'admin', hash(PW));
      const T0 = 1_800_000_000_000;
      const idle = 10 * 60_000;
      await store.createSession({ id: 's1', name: 'alice', role: 'admin', csrf: 'c1', stamp: 'st1' }, T0);
      const s = await store.touchSession('s1', T0 + 9 * 60_000, idle);
      assert.deepEqual({ ...s, lastSeen: 0 }, { id: 's1', name: 'alice', role: 'admin', csrf: 'c1', stamp: 'st1', lastSeen: 0 });
      assert.ok(s && s.lastSeen >= T0 && s.lastSeen <= T0 + 9 * 60_000);
      // Used at 9 min: still valid at 15 min, although more than `idle` after the login.
      assert.notEqual(await store.touchSession('s1', T0 + 15 * 60_000, idle), null);
      assert.equal(await store.touchSession('s1', T0 + 40 * 60_000, idle), null, 'idle for more than 10 minutes');
      assert.equal(await store.touchSession('s1', T0 + 15 * 60_000, idle), null, 'an idle session is deleted');
      assert.equal(await store.touchSession('nope', T0, idle), null);

      await store.createSession({ id: 's2', name: 'alice', role: 'admin', csrf: 'c2', stamp: 'st1' }, T0);
      await store.restampSession('s2', 'st2');
      assert.equal((await store.touchSession('s2', T0 + 1, idle))?.stamp, 'st2');
      await store.deleteSession('s2');
      assert.equal(await store.touchSession('s2', T0 + 1, idle), null);

      for (const id of ['a1', 'a2', 'a3']) await store.createSession({ id, name: 'alice', role: 'admin', csrf: 'c', stamp: 's' }, T0);
      await store.createSession({ id: 'b1', name: 'bob', role: 'admin', csrf: 'c', stamp: 's' }, T0);
      await store.dropSessions('alice', 'a2');
      const alive = async (id: string) => (await store.touchSession(id, T0 + 1, idle)) !== null;
      assert.deepEqual([await alive('a1'), await alive('a2'), await alive('a3'), await alive('b1')], [false, true, false, true]);
      await store.dropSessions('alice', null);
      assert.equal(await alive('a2'), false);
      await store.remove('bob');
      assert.equal(await alive('b1'), false, 'removing an admin ends their sessions');
    });
  });
}
