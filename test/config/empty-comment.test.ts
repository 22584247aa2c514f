// An empty comment is no comment (issue #17): reading a document leaves out
// `comment: ""` on network objects, groups, users and antispam exceptions,
// so an apply of a form with an empty field stores nothing new.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate.ts';
import { prepare } from '../../src/admin/prepare.ts';
import { embeddedDefaults } from '../../src/config/document.ts';

function doc(comment: string | undefined): Record<string, unknown> {
  const s = embeddedDefaults() as unknown as Record<string, any>;
  const c = comment === undefined ? {} : { comment };
  s.networks = [...s.networks, { name: 'lab', type: 'host', address: '10.0.0.9', ...c }];
  s.groups = [{ name: 'staff', ...c }];
  s.users = [{ name: 'bob', groups: ['staff'], enabled: true, ...c }];
  s.antispam = { ...s.antispam, exceptions: [{ networks: ['lab'], senders: [], skip: [], ...c }] };
  return s;
}

test('comment "" is read as no comment on every object that has one; a real comment is kept', () => {
  const empty = validate(doc('')).settings;
  for (const o of [empty.networks[1], empty.groups[0], empty.users[0], empty.antispam.exceptions[0]]) assert.equal(o && 'comment' in o, false, JSON.stringify(o));
  const kept = validate(doc('desk')).settings;
  for (const o of [kept.networks[1], kept.groups[0], kept.users[0], kept.antispam.exceptions[0]]) assert.equal(o?.comment, 'desk');
});

test('applying "" where there was no comment is no change at all (nothing to store)', () => {
  const base = prepare(doc(undefined), null, 'warn').next;
  assert.ok(base);
  const same = structuredClone(base) as unknown as Record<string, any>;
  for (const o of [same.networks[1], same.groups[0], same.users[0], same.antispam.exceptions[0]]) o.comment = '';
  const again = prepare(same, base, 'refuse');
  assert.equal(again.ok, true, JSON.stringify(again.errors));
  assert.deepEqual([again.unchanged, again.changes], [true, []]);
});
