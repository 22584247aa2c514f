// The sender binding's settings: relaying.sender_login and
// header_from_login (absent: off and on, so that a document written before
// them keeps sending as before; the embedded defaults of a new installation
// say `address`), users[].addresses (mailboxes or "@domain"), and the
// warning for a user who may relay but owns no address.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate.ts';
import { embeddedDefaults } from '../../src/config/document.ts';
import { diffSettings } from '../../src/config/diff.ts';

type Doc = any;

function doc(relaying: Doc = {}, users: Doc[] = [{ name: 'kai', password: 'kai-password-1', addresses: ['kai@example.com'] }]): Doc {
  return {
    hostname: 'mx.example.com',
    listeners: [{ name: 'submission', address: '127.0.0.1', port: 2587, mode: 'submission' }],
    networks: [{ name: 'localhost', type: 'host', address: '127.0.0.1' }],
    users,
    relaying: { allowed_hosts: ['localhost'], authenticated_relay: { enabled: true, users: ['kai'], groups: [] }, ...relaying },
  };
}

const paths = (fs: { path: string }[]) => fs.map((f) => f.path);

test('a document without the keys reads as off, with header_from_login on: an upgrade changes nothing', () => {
  const v = validate(doc());
  assert.deepEqual(v.errors, []);
  assert.equal(v.settings.relaying.sender_login, 'off');
  assert.equal(v.settings.relaying.header_from_login, true);
});

test('a new installation binds senders to their address (the embedded defaults)', () => {
  const d = embeddedDefaults();
  assert.equal(d.relaying.sender_login, 'address');
  assert.equal(d.relaying.header_from_login, true);
  const v = validate(d);
  assert.deepEqual(v.errors, []);
  assert.equal(v.settings.relaying.sender_login, 'address');
});

test('sender_login takes off, domain or address; header_from_login a boolean', () => {
  for (const mode of ['off', 'domain', 'address']) assert.equal(validate(doc({ sender_login: mode })).settings.relaying.sender_login, mode);
  const bad = validate(doc({ sender_login: 'strict', header_from_login: 'yes' }));
  assert.deepEqual(paths(bad.errors), ['relaying.sender_login', 'relaying.header_from_login']);
  assert.match(bad.errors[0]?.message ?? '', /one of off, domain, address/);
  assert.equal(validate(doc({ header_from_login: false })).settings.relaying.header_from_login, false);
});

test('users[].addresses: mailboxes or "@domain", each checked with its path', () => {
  const users = [{ name: 'kai', password: 'kai-password-1', addresses: ['kai@example.com', '@Example.org', 'not an address', 'x@[192.0.2.1]', 'a%b@example.com', '@bad..example', '<>', 12] }];
  const v = validate(doc({}, users));
  assert.deepEqual(paths(v.errors).sort(), [2, 3, 4, 5, 6, 7].map((i) => `users[0].addresses[${i}]`));
  assert.deepEqual(v.settings.users[0]?.addresses?.slice(0, 2), ['kai@example.com', '@Example.org']);
});

test('an empty list of addresses is no list (a form that sends [] changes nothing)', () => {
  const v = validate(doc({}, [{ name: 'kai', password: 'kai-password-1', addresses: [] }]));
  assert.equal('addresses' in (v.settings.users[0] ?? {}), false);
  const before = validate(doc({}, [{ name: 'kai', password: 'kai-password-1' }])).settings;
  assert.deepEqual(diffSettings(before, v.settings), []);
});

test('a duplicate address is a warning', () => {
  const v = validate(doc({}, [{ name: 'kai', password: 'kai-password-1', addresses: ['kai@example.com', 'KAI@example.com'] }]));
  assert.deepEqual(v.errors, []);
  assert.deepEqual(paths(v.warnings), ['users[0].addresses[1]']);
});

test('with the binding on, a user who may relay but has no addresses draws a warning (only <> is left to them)', () => {
  const none = [
    { name: 'kai', password: 'kai-password-1', groups: [] },
    { name: 'ops', password: 'ops-password-1', groups: ['staff'] },
    { name: 'idle', password: 'idle-password-1', groups: [] },
  ];
  const d = doc({ sender_login: 'address', authenticated_relay: { enabled: true, users: ['kai'], groups: ['staff'] } }, none);
  d.groups = [{ name: 'staff' }];
  const v = validate(d);
  assert.deepEqual(v.errors, []);
  const w = v.warnings.filter((x) => /no addresses/.test(x.message));
  assert.deepEqual(paths(w), ['users[0]', 'users[1]'], 'kai by name, ops by group; idle may not relay');
  assert.match(w[0]?.message ?? '', /MAIL FROM:<>/);
  // Off, or authenticated relay off: nothing to warn about.
  d.relaying.sender_login = 'off';
  assert.equal(validate(d).warnings.filter((x) => /no addresses/.test(x.message)).length, 0);
});

test('the change list names a changed mode and a user\'s addresses', () => {
  const a = validate(doc({ sender_login: 'address' })).settings;
  const b = validate(doc({ sender_login: 'domain' }, [{ name: 'kai', password: 'kai-password-1', addresses: ['kai@example.com', 'k@example.com'] }])).settings;
  b.users[0]!.password = a.users[0]!.password;
  const changes = diffSettings(a, b).map((c) => c.path);
  assert.deepEqual(changes.sort(), ['relaying.sender_login', 'users["kai"].addresses']);
});
