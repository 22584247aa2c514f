// The settings of the origin checks: defaults (nothing that asks DNS is on),
// the shorthand `greylisting: true`, and what is refused with its path.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate.ts';

const doc = (extra: Record<string, unknown>) => ({ hostname: 'mx.example.com', listeners: [{ name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx' }], networks: [{ name: 'partner', type: 'network', address: '192.0.2.0/24' }], ...extra });

test('defaults: no blocklist, SPF, HELO checks or greylisting, so a fresh relay asks no DNS server', () => {
  const a = validate(doc({})).settings.antispam;
  assert.deepEqual(a.dnsbl, []);
  assert.equal(a.spf.enabled, false);
  assert.equal(a.spf.action, 'tag');
  assert.equal(a.helo_checks, false);
  assert.equal(a.greylisting.enabled, false);
  assert.deepEqual(a.exceptions, []);
});

test('a full antispam section as the issue spells it', () => {
  const v = validate(
    doc({
      dns: { servers: ['127.0.0.1:5353'] },
      antispam: {
        dnsbl: [{ zone: 'zen.spamhaus.org', answers: ['127.0.0.2-127.0.0.11'], action: 'reject' }, { zone: 'bl.example', action: 'score', score: 2.5 }],
        spf: { enabled: true, action: 'reject' },
        helo_checks: true,
        greylisting: true,
        exceptions: [{ networks: ['partner'], skip: ['dnsbl'] }, { senders: ['boss@example.com', '*@vendor.example', 'newsletter.example'] }],
      },
    }),
  );
  assert.deepEqual(v.errors, []);
  assert.deepEqual(v.warnings, []);
  assert.equal(v.settings.antispam.greylisting.enabled, true);
  assert.equal(v.settings.antispam.greylisting.delay, '5m');
  assert.equal(v.settings.antispam.dnsbl[1]?.score, 2.5);
  assert.equal(v.settings.antispam.dnsbl[0]?.score, 5);
});

test('mistakes are errors with their path; questionable choices are warnings', () => {
  const v = validate(
    doc({
      antispam: {
        dnsbl: [{ zone: 'not a zone', answers: ['127.0.0.9-127.0.0.2', 'x'], action: 'block' }, { zone: 'bl.example' }, { zone: 'BL.example.' }],
        spf: { enabled: 'yes', action: 'bounce' },
        greylisting: { enabled: true, delay: '2h', expiry: '1h' },
        exceptions: [{ networks: ['nowhere'], skip: ['antivirus'] }, { senders: ['not an address@@'] }, { skip: ['spf'] }],
      },
    }),
  );
  const errors = v.errors.map((e) => e.path);
  for (const p of [
    'antispam.dnsbl[0].zone',
    'antispam.dnsbl[0].answers[0]',
    'antispam.dnsbl[0].answers[1]',
    'antispam.dnsbl[0].action',
    'antispam.spf.enabled',
    'antispam.spf.action',
    'antispam.greylisting.delay',
    'antispam.exceptions[0].networks[0]',
    'antispam.exceptions[0].skip[0]',
    'antispam.exceptions[1].senders[0]',
    'antispam.exceptions[2]',
  ]) {
    assert.ok(errors.includes(p), `${p} in ${JSON.stringify(v.errors, null, 1)}`);
  }
  const warnings = v.warnings.map((w) => w.path);
  assert.ok(warnings.includes('antispam.dnsbl[2].zone'), 'the same zone twice');
  assert.ok(warnings.includes('dns.servers'), 'blocklists on the system resolver');
});
