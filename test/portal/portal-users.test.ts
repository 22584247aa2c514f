// Who a portal user is (src/portal/portal-users.ts) without the daemon: the
// addresses that are theirs (mailboxes only, never an @domain wildcard; the
// name when it is an address), sign-in of local users (a disabled one or a
// wrong password refused, scrypt verified for real), and the re-check of a
// session against the settings in force: removed, disabled, a new password,
// or a local user taking over a directory login ends it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { embeddedDefaults } from '../../src/config/document.ts';
import { compileSnapshot } from '../../src/config/snapshot.ts';
import { hashPassword } from '../../src/objects/password.ts';
import { PortalUsers, portalUser, signIn } from '../../src/portal/portal-users.ts';

function snapWith(users: { name: string; password: string; enabled?: boolean; addresses?: string[] }[], revision = 1) {
  const s = embeddedDefaults();
  s.users = users.map((u) => ({ name: u.name, password_hash: hashPassword(u.password), groups: [], enabled: u.enabled ?? true, ...(u.addresses ? { addresses: u.addresses } : {}) }));
  return compileSnapshot(s, revision);
}

test("a local user's addresses: mailboxes, never @domain; the name when it is an address; each once", async () => {
  const snap = snapWith([
    { name: 'alice', password: 'pw-alice-123', addresses: ['alice@example.com', '@example.com', 'ALICE@example.com', 'a.smith@example.com'] },
    { name: 'bob@example.com', password: 'pw-bob-1234' },
  ]);
  const alice = await signIn(snap, null, 'alice', 'pw-alice-123');
  assert.deepEqual(alice?.addresses, ['alice@example.com', 'a.smith@example.com']);
  assert.equal(alice?.directory, null);
  assert.deepEqual((await signIn(snap, null, 'bob@example.com', 'pw-bob-1234'))?.addresses, ['bob@example.com']);
  assert.equal(await signIn(snap, null, 'alice', 'wrong'), null);
  assert.equal(await signIn(snap, null, 'nobody', 'pw-alice-123'), null);
  assert.deepEqual(portalUser(snap, { name: 'dave', directory: 'corp', enabled: true, groups: [], addresses: ['dave@example.test', '@example.test'] }).addresses, ['dave@example.test']);
});

test('a disabled user cannot sign in', async () => {
  const snap = snapWith([{ name: 'carol', password: 'pw-carol-123', enabled: false, addresses: ['carol@example.com'] }]);
  assert.equal(await signIn(snap, null, 'carol', 'pw-carol-123'), null);
});

test('a session is re-checked against the settings in force', async () => {
  const before = snapWith([{ name: 'alice', password: 'pw-alice-123', addresses: ['alice@example.com'] }]);
  const alice = await signIn(before, null, 'alice', 'pw-alice-123');
  assert.ok(alice);
  const users = new PortalUsers(null);
  const session = { name: 'alice', directory: null, stamp: alice.stamp };
  assert.deepEqual((await users.current(before, session))?.addresses, ['alice@example.com']);
  // The same password hash, a new address: still signed in, with the new address.
  const s = embeddedDefaults();
  s.users = [{ ...before.users.get('alice')!, addresses: ['alice@example.com', 'alice2@example.com'] }];
  assert.deepEqual((await users.current(compileSnapshot(s, 2), session))?.addresses, ['alice@example.com', 'alice2@example.com']);
  s.users = [{ ...before.users.get('alice')!, enabled: false }];
  assert.equal(await users.current(compileSnapshot(s, 3), session), null, 'disabled');
  assert.equal(await users.current(snapWith([], 4), session), null, 'removed');
  assert.equal(await users.current(snapWith([{ name: 'alice', password: 'pw-alice-NEW', addresses: ['alice@example.com'] }], 5), session), null, 'a new password');
  // A directory session whose login is now a local user's: ended (a local user always wins).
  assert.equal(await users.current(before, { name: 'alice', directory: 'corp', stamp: '' }), null);
  assert.equal(await users.current(snapWith([], 6), { name: 'dave', directory: 'corp', stamp: '' }), null, 'no directory client: no directory user');
});
