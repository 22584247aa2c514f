// The settings of recipient verification: what a domain may say
// (verify_recipients, recipients, directory, callout), the errors and
// warnings with their paths, the defaults, and that a document written
// before these keys reads and diffs unchanged.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate.ts';
import { diffSettings } from '../../src/config/diff.ts';

function doc(domain: Record<string, unknown>): Record<string, unknown> {
  return { hostname: 'mx.test.example', domains: [{ name: 'example.com', route: { hosts: ['10.1.2.3'] }, ...domain }] };
}

const messages = (v: ReturnType<typeof validate>, kind: 'errors' | 'warnings') => v[kind].filter((e) => e.path.startsWith('domains')).map((e) => `${e.path}: ${e.message}`);

test('a domain without the keys reads back without them; "off", an empty list and an empty directory are the same as absent', () => {
  const plain = validate(doc({}));
  assert.deepEqual(plain.errors, []);
  assert.deepEqual(plain.settings.domains[0], { name: 'example.com', route: { hosts: ['10.1.2.3'] } });
  const off = validate(doc({ verify_recipients: 'off', recipients: [], directory: '' }));
  assert.deepEqual(off.errors, []);
  assert.deepEqual(off.settings.domains[0], { name: 'example.com', route: { hosts: ['10.1.2.3'] } });
  assert.deepEqual(diffSettings(plain.settings, off.settings), []);
});

test('list mode: entries kept as written; callout filled with its defaults when given', () => {
  const v = validate(doc({ verify_recipients: 'list', recipients: ['alice', 'Bob@Example.com', '@example.com'] }));
  assert.deepEqual(v.errors, []);
  assert.deepEqual(v.settings.domains[0]?.recipients, ['alice', 'Bob@Example.com', '@example.com']);
  const c = validate(doc({ verify_recipients: 'callout', callout: { timeout: '3s' } }));
  assert.deepEqual(c.errors, []);
  assert.deepEqual(c.settings.domains[0]?.callout, { timeout: '3s', cache_positive: '1h', cache_negative: '10m', sender: '' });
  // Callout without the callout key: the defaults apply at use, nothing is written into the document.
  const bare = validate(doc({ verify_recipients: 'callout' }));
  assert.deepEqual(bare.errors, []);
  assert.equal(bare.settings.domains[0]?.callout, undefined);
});

test('errors, with their paths', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ verify_recipients: 'ldap' }, /^domains\[0\]\.verify_recipients: must be one of off, list, directory, callout/],
    [{ verify_recipients: 'list' }, /^domains\[0\]\.recipients: verify_recipients: list needs at least one recipient/],
    [{ verify_recipients: 'list', recipients: ['alice', 'bob@other.example'] }, /^domains\[0\]\.recipients\[1\]: "bob@other\.example" is not an address of this domain/],
    [{ verify_recipients: 'list', recipients: ['@other.example'] }, /^domains\[0\]\.recipients\[0\]: "@other\.example" is not this domain/],
    [{ verify_recipients: 'list', recipients: ['a b'] }, /^domains\[0\]\.recipients\[0\]: "a b" is not an address/],
    [{ verify_recipients: 'list', recipients: 'alice' }, /^domains\[0\]\.recipients: expected a list/],
    [{ verify_recipients: 'directory' }, /^domains\[0\]\.directory: verify_recipients: directory needs the name of a directory/],
    [{ verify_recipients: 'callout', callout: { timeout: 'soon' } }, /^domains\[0\]\.callout\.timeout: "soon" is not a duration/],
    [{ verify_recipients: 'callout', callout: { timeout: '10m' } }, /^domains\[0\]\.callout\.timeout: must be between/],
    [{ verify_recipients: 'callout', callout: { sender: 'not an address' } }, /^domains\[0\]\.callout\.sender: "not an address" is not an address/],
    [{ verify_recipients: 'callout', callout: { retries: 3 } }, /^domains\[0\]\.callout\.retries: unknown setting "retries"/],
    [{ verify: 'list' }, /^domains\[0\]\.verify: unknown setting "verify"/],
  ];
  for (const [d, re] of cases) {
    const errors = messages(validate(doc(d)), 'errors');
    assert.ok(errors.some((e) => re.test(e)), `${JSON.stringify(d)}: ${JSON.stringify(errors)}`);
  }
  // The directory must be one of directories[].
  assert.deepEqual(messages(validate(doc({ verify_recipients: 'directory', directory: 'corp' })), 'errors'), ['domains[0].directory: no directory named "corp" (have: none)']);
  const withCorp = { ...doc({ verify_recipients: 'directory', directory: 'corp' }), directories: [{ name: 'corp', url: 'ldap://127.0.0.1', base_dn: 'dc=example,dc=com' }] };
  assert.deepEqual(validate(withCorp).errors, []);
  assert.deepEqual(validate(doc({ verify_recipients: 'callout', callout: { sender: 'verify@example.com', cache_negative: '0s' } })).errors, []);
});

test('companions of another mode are warned about as unused', () => {
  const v = validate(doc({ verify_recipients: 'callout', recipients: ['alice'], directory: 'corp' }));
  assert.deepEqual(v.errors, []);
  assert.deepEqual(messages(v, 'warnings'), ['domains[0].recipients: not used: verify_recipients is callout, not list', 'domains[0].directory: not used: verify_recipients is callout, not directory']);
  const w = validate(doc({ recipients: ['alice'], callout: {} }));
  assert.deepEqual(messages(w, 'warnings'), ['domains[0].recipients: not used: verify_recipients is off, not list', 'domains[0].callout: not used: verify_recipients is off, not callout']);
});

test('the change list names the domain and the key', () => {
  const before = validate(doc({})).settings;
  const after = validate(doc({ verify_recipients: 'list', recipients: ['alice'] })).settings;
  assert.deepEqual(diffSettings(before, after), [
    { path: 'domains["example.com"].verify_recipients', op: 'added', after: 'list' },
    { path: 'domains["example.com"].recipients', op: 'added', after: ['alice'] },
  ]);
  const more = validate(doc({ verify_recipients: 'list', recipients: ['alice', 'bob'] })).settings;
  assert.deepEqual(diffSettings(after, more), [{ path: 'domains["example.com"].recipients', op: 'changed', before: ['alice'], after: ['alice', 'bob'] }]);
});
