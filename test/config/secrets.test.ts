// Secrets in the settings document: hashed on the way in, left out of
// exports, carried over when a document comes back without them.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { carrySecrets, hashSecrets, redactSecrets } from '../../src/config/secrets.ts';
import { embeddedDefaults, type Settings } from '../../src/config/document.ts';
import { hashPassword, isPasswordHash, verifyPassword } from '../../src/objects/password.ts';

const ALICE_HASH = hashPassword('alice-old');
const BOB_HASH = hashPassword('bob-old');

function settingsWithSecrets(): Settings {
  const s = embeddedDefaults();
  s.groups = [{ name: 'staff' }];
  s.users = [
    { name: 'alice', password: 's3cret', groups: ['staff'], enabled: true },
    { name: 'bob', password_hash: BOB_HASH, groups: [], enabled: true },
    { name: 'carol', groups: [], enabled: false, comment: 'no password yet' },
  ];
  s.delivery.smarthost = { host: 'smtp.example.net', port: 587, username: 'relay', password: 'sh-pass', tls: 'required' };
  return s;
}

describe('password hashes', () => {
  it('hashPassword writes the documented scrypt form', () => {
    const h = hashPassword('pw');
    assert.match(h, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    assert.equal(isPasswordHash(h), true);
  });

  it('verifyPassword accepts the password and refuses any other', () => {
    const h = hashPassword('correct horse');
    assert.equal(verifyPassword('correct horse', h), true);
    assert.equal(verifyPassword('correct horse ', h), false);
    assert.equal(verifyPassword('Correct horse', h), false);
    assert.equal(verifyPassword('', h), false);
  });

  it('compares Unicode passwords in NFC', () => {
    const h = hashPassword('caf\u00e9');
    assert.equal(verifyPassword('cafe\u0301', h), true);
  });

  it('verifyPassword refuses what is not a valid hash instead of throwing', () => {
    for (const bad of ['', 'pw', 'scrypt$16384$8$1$$', 'scrypt$1000$8$1$c2FsdA==$aGFzaA==', 'scrypt$16384$0$1$c2FsdA==$aGFzaA==', 'bcrypt$2b$10$abc']) {
      assert.equal(verifyPassword('pw', bad), false, bad);
    }
  });

  it('isPasswordHash checks the parameters', () => {
    assert.equal(isPasswordHash('scrypt$16384$8$1$c2FsdA==$aGFzaA=='), true);
    assert.equal(isPasswordHash('scrypt$16385$8$1$c2FsdA==$aGFzaA=='), false); // N not a power of two
    assert.equal(isPasswordHash('scrypt$512$8$1$c2FsdA==$aGFzaA=='), false); // N too small
    assert.equal(isPasswordHash(`scrypt$${2 ** 21}$8$1$c2FsdA==$aGFzaA==`), false); // N too large
    assert.equal(isPasswordHash('scrypt$16384$33$1$c2FsdA==$aGFzaA=='), false);
    assert.equal(isPasswordHash('scrypt$16384$8$17$c2FsdA==$aGFzaA=='), false);
    assert.equal(isPasswordHash('scrypt$16384$8$1$c2FsdA==$aGFzaA==\n'), false);
    assert.equal(isPasswordHash('s3cret'), false);
  });
});

describe('hashSecrets', () => {
  it('replaces a clear-text password by a hash that verifies', () => {
    const out = hashSecrets(settingsWithSecrets());
    const alice = out.users[0];
    assert.ok(alice);
    assert.equal('password' in alice, false);
    assert.equal(alice.password, undefined);
    assert.ok(alice.password_hash);
    assert.equal(isPasswordHash(alice.password_hash), true);
    assert.equal(verifyPassword('s3cret', alice.password_hash), true);
    assert.equal(verifyPassword('s3cret!', alice.password_hash), false);
    assert.doesNotMatch(JSON.stringify(out), /s3cret/);
  });

  it('keeps the other fields of the user', () => {
    const alice = hashSecrets(settingsWithSecrets()).users[0];
    assert.deepEqual({ ...alice, password_hash: 'x' }, { name: 'alice', groups: ['staff'], enabled: true, password_hash: 'x' });
  });

  it('the same clear-text password again keeps the previous hash (no password change); another one gets a new hash', () => {
    const first = hashSecrets(settingsWithSecrets());
    const kept = first.users[0]?.password_hash;
    assert.ok(kept);
    assert.equal(hashSecrets(settingsWithSecrets(), first).users[0]?.password_hash, kept, 'imported again: same hash');
    const other = settingsWithSecrets();
    other.users[0]!.password = 'another';
    const changed = hashSecrets(other, first).users[0]?.password_hash;
    assert.ok(changed);
    assert.notEqual(changed, kept);
    assert.equal(verifyPassword('another', changed), true);
  });

  it('leaves users without a clear-text password as they are', () => {
    const out = hashSecrets(settingsWithSecrets());
    assert.deepEqual(out.users[1], { name: 'bob', password_hash: BOB_HASH, groups: [], enabled: true });
    assert.deepEqual(out.users[2], { name: 'carol', groups: [], enabled: false, comment: 'no password yet' });
  });

  it('salts: the same password hashed twice gives two different hashes, both valid', () => {
    const s = settingsWithSecrets();
    const a = hashSecrets(s).users[0]?.password_hash;
    const b = hashSecrets(s).users[0]?.password_hash;
    assert.ok(a && b);
    assert.notEqual(a, b);
    assert.notEqual(a.split('$')[4], b.split('$')[4]);
    assert.equal(verifyPassword('s3cret', a), true);
    assert.equal(verifyPassword('s3cret', b), true);
  });

  it('two users with the same password get different hashes', () => {
    const s = settingsWithSecrets();
    s.users[1] = { name: 'bob', password: 's3cret', groups: [], enabled: true };
    const out = hashSecrets(s);
    assert.notEqual(out.users[0]?.password_hash, out.users[1]?.password_hash);
  });

  it('does not modify its input', () => {
    const s = settingsWithSecrets();
    const before = structuredClone(s);
    hashSecrets(s);
    assert.deepEqual(s, before);
  });
});

describe('redactSecrets', () => {
  it('removes password hashes, clear-text passwords and the smarthost password', () => {
    const s = hashSecrets(settingsWithSecrets());
    const out = redactSecrets(s);
    for (const u of out.users) {
      assert.equal('password_hash' in u, false, u.name);
      assert.equal('password' in u, false, u.name);
    }
    assert.ok(out.delivery.smarthost);
    assert.equal('password' in out.delivery.smarthost, false);
    assert.doesNotMatch(JSON.stringify(out), /scrypt|sh-pass|s3cret/);
  });

  it('also removes a clear-text password not yet hashed', () => {
    const out = redactSecrets(settingsWithSecrets());
    assert.doesNotMatch(JSON.stringify(out), /s3cret|sh-pass|scrypt/);
  });

  it('keeps everything else', () => {
    const out = redactSecrets(settingsWithSecrets());
    assert.deepEqual(out.users, [
      { name: 'alice', groups: ['staff'], enabled: true },
      { name: 'bob', groups: [], enabled: true },
      { name: 'carol', groups: [], enabled: false, comment: 'no password yet' },
    ]);
    assert.deepEqual(out.delivery.smarthost, { host: 'smtp.example.net', port: 587, username: 'relay', tls: 'required' });
    assert.deepEqual(out.networks, embeddedDefaults().networks);
    assert.deepEqual(out.relaying, embeddedDefaults().relaying);
    assert.equal(out.hostname, 'localhost');
  });

  it('keeps a missing smarthost missing', () => {
    assert.equal(redactSecrets(embeddedDefaults()).delivery.smarthost, null);
  });

  it('does not modify its input', () => {
    const s = settingsWithSecrets();
    const before = structuredClone(s);
    redactSecrets(s);
    assert.deepEqual(s, before);
  });
});

describe('carrySecrets', () => {
  function previous(): Settings {
    const s = embeddedDefaults();
    s.users = [
      { name: 'alice', password_hash: ALICE_HASH, groups: [], enabled: true },
      { name: 'bob', password_hash: BOB_HASH, groups: [], enabled: true },
      { name: 'dave', groups: [], enabled: true },
    ];
    s.delivery.smarthost = { host: 'smtp.example.net', port: 587, username: 'relay', password: 'sh-pass', tls: 'required' };
    return s;
  }

  it('returns the document itself when there is no previous revision', () => {
    const raw = { users: [{ name: 'alice' }] };
    assert.equal(carrySecrets(raw, null), raw);
  });

  it('returns what is not a mapping unchanged', () => {
    assert.equal(carrySecrets('text', previous()), 'text');
    const list = [1, 2];
    assert.equal(carrySecrets(list, previous()), list);
    assert.equal(carrySecrets(null, previous()), null);
  });

  it('gives a user without password or hash the hash of the same user', () => {
    const out = carrySecrets({ users: [{ name: 'bob', groups: [] }, { name: 'alice' }] }, previous()) as { users: Record<string, unknown>[] };
    assert.deepEqual(out.users, [
      { name: 'bob', groups: [], password_hash: BOB_HASH },
      { name: 'alice', password_hash: ALICE_HASH },
    ]);
  });

  it('leaves a user given with a new password or hash alone', () => {
    const out = carrySecrets({ users: [{ name: 'alice', password: 'new' }, { name: 'bob', password_hash: ALICE_HASH }] }, previous()) as { users: Record<string, unknown>[] };
    assert.deepEqual(out.users, [{ name: 'alice', password: 'new' }, { name: 'bob', password_hash: ALICE_HASH }]);
  });

  it('gives nothing to a user that is new or had no hash', () => {
    const out = carrySecrets({ users: [{ name: 'erin' }, { name: 'dave' }, { name: 'Alice' }] }, previous()) as { users: Record<string, unknown>[] };
    assert.deepEqual(out.users, [{ name: 'erin' }, { name: 'dave' }, { name: 'Alice' }]);
  });

  it('leaves malformed user entries for validation to report', () => {
    const out = carrySecrets({ users: ['alice', { name: 7 }, null] }, previous()) as { users: unknown[] };
    assert.deepEqual(out.users, ['alice', { name: 7 }, null]);
  });

  it('keeps the smarthost password for the same host and username', () => {
    const raw = { delivery: { smarthost: { host: 'smtp.example.net', port: 587, username: 'relay', tls: 'required' } } };
    const out = carrySecrets(raw, previous()) as { delivery: { smarthost: Record<string, unknown> } };
    assert.deepEqual(out.delivery.smarthost, { host: 'smtp.example.net', port: 587, username: 'relay', tls: 'required', password: 'sh-pass' });
  });

  it('does not give the old smarthost password to another host or another username', () => {
    for (const sh of [
      { host: 'evil.example.org', username: 'relay' },
      { host: 'smtp.example.net', username: 'other' },
      { host: 'smtp.example.net' },
    ]) {
      const out = carrySecrets({ delivery: { smarthost: sh } }, previous()) as { delivery: { smarthost: Record<string, unknown> } };
      assert.equal(out.delivery.smarthost.password, undefined, JSON.stringify(sh));
    }
  });

  it('keeps a new smarthost password', () => {
    const out = carrySecrets({ delivery: { smarthost: { host: 'smtp.example.net', username: 'relay', password: 'new' } } }, previous()) as { delivery: { smarthost: Record<string, unknown> } };
    assert.equal(out.delivery.smarthost.password, 'new');
  });

  it('does not modify the raw document', () => {
    const raw = { users: [{ name: 'alice' }], delivery: { smarthost: { host: 'smtp.example.net', username: 'relay' } } };
    const before = structuredClone(raw);
    const out = carrySecrets(raw, previous());
    assert.deepEqual(raw, before);
    assert.notDeepEqual(out, before);
  });

  it('export without secrets → import keeps every hash (round trip)', () => {
    const prev = previous();
    const exported = JSON.parse(JSON.stringify(redactSecrets(prev))) as unknown;
    const back = carrySecrets(exported, prev) as Settings;
    assert.deepEqual(back.users, prev.users);
    assert.deepEqual(back.delivery.smarthost, prev.delivery.smarthost);
  });
});
