// Unit tests of openRelayVerdict (web/src/openRelay.ts): red only for relaying no rule means to allow.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openRelayVerdict, type OpenRelayReport } from '../../web/src/openRelay.ts';

const row = (relayed: boolean) => ({ to: 'x@elsewhere.example', relayed, action: relayed ? 'accept' : 'reject', code: relayed ? 250 : 554, enhanced: '', kind: relayed ? 'relay' : null, rule: 'rule 4' });
const report = (relayed: number, proxy: OpenRelayReport['proxy'] = null): OpenRelayReport => ({ client: '192.0.2.7', domain: 'example.com', relayed, results: [...Array(17)].map((_, i) => row(i < relayed)), proxy });

test('nothing relayed: not an open relay', () => {
  const v = openRelayVerdict(report(0), null, null);
  assert.equal(v.tone, 'ok');
  assert.match(v.text, /^Not an open relay for 192\.0\.2\.7/);
});

test('a relay host relays as meant: said plainly, not red', () => {
  const v = openRelayVerdict(report(7), 'host', null);
  assert.equal(v.tone, 'intended');
  assert.match(v.text, /allowed to relay by Host-based Relay/);
  assert.equal(openRelayVerdict(report(7), 'auth', 'bob').tone, 'intended');
});

test('relaying no rule means to allow is red', () => {
  assert.equal(openRelayVerdict(report(7), null, null).tone, 'bad');
  const v = openRelayVerdict(report(7, { listener: 'mx', entry: 'lb', claims: '10.0.0.5', claims_as: 'relay host' }), 'host', null);
  assert.equal(v.tone, 'bad');
  assert.match(v.text, /trusted proxy of listener "mx"/);
});
