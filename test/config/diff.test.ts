// Structural diff of settings documents: by path, named lists by name.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { diffSettings, formatChange, secretChanges, type Change } from '../../src/config/diff.ts';
import { embeddedDefaults, type Settings } from '../../src/config/document.ts';

function base(): Settings {
  const s = embeddedDefaults();
  s.networks = [
    { name: 'office', type: 'network', address: '10.1.0.0/16' },
    { name: 'isp-mx', type: 'host', address: '192.0.2.10' },
    { name: 'dmz', type: 'range', from: '10.2.0.10', to: '10.2.0.20' },
  ];
  s.users = [{ name: 'alice', groups: [], enabled: true }];
  return s;
}

describe('diffSettings', () => {
  it('finds no change between equal documents', () => {
    assert.deepEqual(diffSettings(base(), base()), []);
    assert.deepEqual(diffSettings(embeddedDefaults(), embeddedDefaults()), []);
  });

  it('ignores the order of keys in a mapping', () => {
    assert.deepEqual(diffSettings({ a: 1, b: { c: 2, d: 3 } }, { b: { d: 3, c: 2 }, a: 1 }), []);
  });

  it('reports a changed scalar at its path', () => {
    const after = base();
    after.hostname = 'mx.example.com';
    after.limits.max_recipients = 50;
    assert.deepEqual(diffSettings(base(), after), [
      { path: 'hostname', op: 'changed', before: 'localhost', after: 'mx.example.com' },
      { path: 'limits.max_recipients', op: 'changed', before: 100, after: 50 },
    ]);
  });

  it('inserting a network object at the front is one addition, not a change of every later entry', () => {
    const after = base();
    after.networks.unshift({ name: 'new', type: 'host', address: '10.9.9.9' });
    assert.deepEqual(diffSettings(base(), after), [{ path: 'networks["new"]', op: 'added', after: { name: 'new', type: 'host', address: '10.9.9.9' } }]);
  });

  it('removing a named entry in the middle is one removal', () => {
    const after = base();
    after.networks.splice(1, 1);
    assert.deepEqual(diffSettings(base(), after), [{ path: 'networks["isp-mx"]', op: 'removed', before: { name: 'isp-mx', type: 'host', address: '192.0.2.10' } }]);
  });

  it('a change inside a named entry is reported at the field, under the name', () => {
    const after = base();
    after.networks[2] = { name: 'dmz', type: 'range', from: '10.2.0.10', to: '10.2.0.30' };
    after.users[0] = { name: 'alice', groups: ['staff'], enabled: false, comment: 'left' };
    assert.deepEqual(diffSettings(base(), after), [
      { path: 'networks["dmz"].to', op: 'changed', before: '10.2.0.20', after: '10.2.0.30' },
      { path: 'users["alice"].groups', op: 'changed', before: [], after: ['staff'] },
      { path: 'users["alice"].enabled', op: 'changed', before: true, after: false },
      { path: 'users["alice"].comment', op: 'added', after: 'left' },
    ]);
  });

  it('renaming an entry is a removal and an addition', () => {
    const after = base();
    after.networks[0] = { name: 'head-office', type: 'network', address: '10.1.0.0/16' };
    const changes = diffSettings(base(), after);
    assert.deepEqual(changes.map((c) => `${c.op} ${c.path}`).sort(), ['added networks["head-office"]', 'removed networks["office"]']);
  });

  it('named lists are matched by name, so reordering them is no change', () => {
    const after = base();
    after.networks.reverse();
    assert.deepEqual(diffSettings(base(), after), []);
  });

  it('adding the first entry to an empty named list is an addition under its name', () => {
    const before = base();
    before.groups = [];
    const after = base();
    after.groups = [{ name: 'staff' }];
    assert.deepEqual(diffSettings(before, after), [{ path: 'groups["staff"]', op: 'added', after: { name: 'staff' } }]);
    assert.deepEqual(diffSettings(after, before), [{ path: 'groups["staff"]', op: 'removed', before: { name: 'staff' } }]);
  });

  it('a list of names (not of named objects) changes as a whole', () => {
    const after = base();
    after.relaying.allowed_hosts = ['localhost', 'office'];
    assert.deepEqual(diffSettings(base(), after), [{ path: 'relaying.allowed_hosts', op: 'changed', before: ['localhost'], after: ['localhost', 'office'] }]);
  });

  it('a list with duplicate names falls back to a whole-list change', () => {
    const before = { networks: [{ name: 'a', x: 1 }] };
    const after = { networks: [{ name: 'a', x: 1 }, { name: 'a', x: 2 }] };
    assert.deepEqual(diffSettings(before, after), [{ path: 'networks', op: 'changed', before: before.networks, after: after.networks }]);
  });

  it('reports a key that appears or disappears', () => {
    assert.deepEqual(diffSettings({ a: 1 }, { a: 1, b: 2 }), [{ path: 'b', op: 'added', after: 2 }]);
    assert.deepEqual(diffSettings({ a: 1, b: 2 }, { a: 1 }), [{ path: 'b', op: 'removed', before: 2 }]);
  });

  it('null to a mapping is one change of the whole value', () => {
    const after = base();
    after.delivery.smarthost = { host: 'smtp.example.net', port: 25, tls: 'opportunistic' };
    assert.deepEqual(diffSettings(base(), after), [{ path: 'delivery.smarthost', op: 'changed', before: null, after: after.delivery.smarthost }]);
  });

  it('quotes keys that are not plain identifiers', () => {
    assert.deepEqual(diffSettings({ m: { 'a-b': 1 } }, { m: { 'a-b': 2 } }), [{ path: 'm["a-b"]', op: 'changed', before: 1, after: 2 }]);
  });

  it('quotes names with odd characters in the path', () => {
    const changes = diffSettings({ users: [{ name: 'a"b', enabled: true }] }, { users: [{ name: 'a"b', enabled: false }] });
    assert.deepEqual(changes, [{ path: 'users["a\\"b"].enabled', op: 'changed', before: true, after: false }]);
  });
});

describe('diffSettings: an empty optional text field is an absent one', () => {
  it('a user, group or network object given comment "" where it had none changes nothing', () => {
    const after = base();
    after.users[0] = { ...after.users[0]!, comment: '' };
    after.networks[0] = { ...after.networks[0]!, comment: '' };
    after.groups = [{ name: 'staff', comment: '' }];
    const before = base();
    before.groups = [{ name: 'staff' }];
    assert.deepEqual(diffSettings(before, after), []);
    assert.deepEqual(diffSettings(after, before), []);
  });

  it('clearing a comment is its removal; filling an empty one is its addition', () => {
    const before = base();
    before.users[0] = { ...before.users[0]!, comment: 'left' };
    const after = base();
    after.users[0] = { ...after.users[0]!, comment: '' };
    assert.deepEqual(diffSettings(before, after), [{ path: 'users["alice"].comment', op: 'removed', before: 'left' }]);
    assert.deepEqual(diffSettings(after, before), [{ path: 'users["alice"].comment', op: 'added', after: 'left' }]);
  });

  it('holds in lists of unnamed entries (antispam exceptions) too', () => {
    assert.deepEqual(diffSettings({ x: [{ networks: ['a'], comment: '' }] }, { x: [{ networks: ['a'] }] }), []);
    assert.equal(diffSettings({ x: [{ networks: ['a'], comment: '' }] }, { x: [{ networks: ['b'] }] }).length, 1);
  });

  it('only optional text fields: an empty value elsewhere is still a change', () => {
    assert.deepEqual(diffSettings({ postmaster: '' }, {}), [{ path: 'postmaster', op: 'removed', before: '' }]);
  });
});

describe('secretChanges', () => {
  it('names, never shows, a password that differs for a user in both documents and the smarthost password', () => {
    const before = base();
    before.users = [
      { name: 'alice', groups: [], enabled: true, password_hash: 'h1' },
      { name: 'bob', groups: [], enabled: true, password_hash: 'h2' },
      { name: 'gone', groups: [], enabled: true, password_hash: 'h3' },
    ];
    before.delivery.smarthost = { host: 'smtp.example.net', port: 587, tls: 'required', username: 'u', password: 'old' };
    const after = structuredClone(before);
    after.users[0]!.password_hash = 'h1-new';
    after.users.pop();
    after.users.push({ name: 'new', groups: [], enabled: true, password_hash: 'h4' });
    after.delivery.smarthost!.password = 'new';
    const found = secretChanges(before, after);
    assert.deepEqual(found, ['users["alice"].password', 'delivery.smarthost.password']);
    assert.doesNotMatch(JSON.stringify(found), /h1|old|new"/);
    assert.deepEqual(secretChanges(before, structuredClone(before)), []);
  });
});

describe('formatChange', () => {
  it('writes one line per change with a sign', () => {
    const changes: Change[] = [
      { path: 'networks["new"]', op: 'added', after: { name: 'new' } },
      { path: 'users["bob"]', op: 'removed', before: { name: 'bob' } },
      { path: 'hostname', op: 'changed', before: 'a', after: 'b' },
    ];
    assert.deepEqual(changes.map(formatChange), ['+ networks["new"]: {"name":"new"}', '- users["bob"]: {"name":"bob"}', '~ hostname: "a" → "b"']);
  });
});
