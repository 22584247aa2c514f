// Unit tests of web/src/rules.ts: the Explain page's words for rules and scanning.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeRule, RULE_LEGEND, scanVerdict } from '../../web/src/rules.ts';

test('content scanning says what would really scan', () => {
  assert.equal(scanVerdict(true, { malware: false, spam: false }), 'no: no engine is on (malware and spam scanning are both off)');
  assert.equal(scanVerdict(true, { malware: true, spam: false }), 'yes: malware (clamd)');
  assert.equal(scanVerdict(true, { malware: true, spam: true, spamEngine: 'rspamd' }), 'yes: malware (clamd) and spam (rspamd)');
  assert.match(scanVerdict(false, { malware: true, spam: true }), /^no: relayed mail is not scanned/);
  assert.equal(scanVerdict(null, { malware: true, spam: true }), '–');
});

test('each rule has a one-line description; rule 4 at AUTH its own', () => {
  assert.match(describeRule('rule 4', 'auth') ?? '', /^AUTH: .*Authenticated Relay/);
  assert.match(describeRule('rule 4', 'rcpt') ?? '', /relay right/);
  assert.match(describeRule('antispam.dnsbl[0]') ?? '', /blocklist/);
  assert.equal(describeRule('nonsense'), null);
  assert.deepEqual(RULE_LEGEND.map(([r]) => r).sort(), ['rule 1', 'rule 2', 'rule 3', 'rule 4', 'rule 5', 'rule 6', 'rule 7', 'rule 8']);
  for (const [, text] of RULE_LEGEND) assert.ok(text.length > 10 && !text.includes('\n'));
});
