// Unit tests of web/src/errors.ts: API error paths in the screen's words.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { proposedDoc, screenFinding, screenPath, screenText } from '../../web/src/errors.ts';

const doc = {
  networks: [
    { name: 'office', type: 'network', address: '10.0.0.0/8' },
    { name: 'legacy', type: 'host', address: '010.1.2.3' },
  ],
  users: [{ name: 'bob', groups: ['sales'] }],
  antispam: { dnsbl: [{ zone: 'zen.example.org' }] },
};

test('an object in a list is named by its name, the field by its label', () => {
  assert.equal(screenPath('networks[1].address', doc), 'Network "legacy": Address');
  assert.equal(screenPath('networks[0].address', doc), 'Network "office": Network (address/prefix)');
  assert.equal(screenPath('users[0].groups[0]', doc), 'User "bob": Groups');
  assert.equal(screenPath('antispam.dnsbl[0].zone', doc), 'DNS blocklist "zen.example.org": Zone');
  assert.equal(screenPath('networks[1]', doc), 'Network "legacy"');
  assert.equal(screenPath('networks["legacy"].comment'), 'Network "legacy": Comment');
});

test('without the document, an object is numbered as on screen (from 1)', () => {
  assert.equal(screenPath('networks[4].address'), 'Network #5: Address');
});

test('list items of a field take the field label', () => {
  assert.equal(screenPath('relaying.allowed_hosts[2]'), 'Allowed hosts/networks');
  assert.equal(screenPath('relaying.open_relay_acknowledged'), 'I understand: allow an open relay anyway');
});

test('an unknown path stays as it is', () => {
  const f = screenFinding({ path: 'frobnicate.x', message: 'odd' });
  assert.equal(f.where, 'frobnicate.x');
});

test('the open-relay refusal asks to tick the checkbox, not to set a key', () => {
  const f = screenFinding({ path: 'relaying.allowed_hosts', message: 'this would make an open relay: anyone (Any). Name only yours; if you really want an open relay, also set relaying.open_relay_acknowledged: true' });
  assert.equal(f.where, 'Allowed hosts/networks');
  assert.match(f.message, /also tick "I understand: allow an open relay anyway"$/);
  assert.doesNotMatch(f.message, /relaying\./);
});

test('a request body error from the API is said as the form says it', () => {
  assert.equal(screenText('body.password: must NOT have fewer than 8 characters'), 'Password: at least 8 characters');
  const f = screenFinding({ path: '', message: 'body.password: must NOT have fewer than 8 characters' });
  assert.deepEqual([f.where, f.message], ['Password', 'at least 8 characters']);
  // A message that is no path stays whole.
  assert.equal(screenText('wrong name or password'), 'wrong name or password');
});

test('paths quoted in a message are said in screen words', () => {
  const f = screenFinding({ path: 'queue.retry.first', message: 'must not be longer than queue.retry.max' });
  assert.equal(f.where, 'First retry after');
  assert.equal(f.message, 'must not be longer than "Longest wait between retries"');
});

test('an object the refused change would add is named from the change list', () => {
  const d = proposedDoc(doc, [{ path: 'networks["lab"]', op: 'added', after: { name: 'lab', type: 'host', address: 'x' } }]);
  assert.equal(screenPath('networks[2].address', d), 'Network "lab": Address');
  // The active document is left alone.
  assert.equal(doc.networks.length, 2);
});

test('a changed list in the refused change names its objects by their new values', () => {
  const d = proposedDoc(doc, [{ path: 'antispam.dnsbl', op: 'changed', before: [], after: [{ zone: 'new.example.org' }] }, { path: 'networks["legacy"].comment', op: 'added', after: 'old box' }]);
  assert.equal(screenPath('antispam.dnsbl[0].answers[0]', d), 'DNS blocklist "new.example.org": Answers');
  assert.equal((d?.networks as { comment?: string }[])[1]?.comment, 'old box');
});
