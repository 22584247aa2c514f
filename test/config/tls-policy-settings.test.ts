// delivery.tls_policy and delivery.mta_sts in the settings document: defaults
// when absent (old documents read as before, MTA-STS on), every error with
// its path, the warnings.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate.ts';
import { formatFinding } from '../../src/config/issues.ts';
import { embeddedDefaults } from '../../src/config/document.ts';

function check(delivery: Record<string, unknown>): { errors: string[]; warnings: string[]; v: ReturnType<typeof validate> } {
  const doc = { ...embeddedDefaults(), delivery: { enabled: true, ...delivery } } as Record<string, unknown>;
  const v = validate(doc);
  return { errors: v.errors.map(formatFinding), warnings: v.warnings.map(formatFinding), v };
}

test('absent: no entries, MTA-STS on with port 443, 30s, no extra CA', () => {
  const { errors, warnings, v } = check({});
  assert.deepEqual(errors, []);
  assert.deepEqual(warnings, []);
  assert.deepEqual(v.settings.delivery.tls_policy, []);
  assert.deepEqual(v.settings.delivery.mta_sts, { enabled: true, timeout: '30s', port: 443, ca: null });
});

test('entries as written: domain or next_hop, level, ca, comment; empty optional fields left out', () => {
  const { errors, v } = check({
    tls_policy: [
      { domain: 'bank.example', level: 'verify', ca: '/dev/null', comment: 'they promised' },
      { next_hop: 'mx.partner.example:2525', level: 'encrypt', comment: '' },
      { domain: '.internal.example', level: 'none' },
    ],
    mta_sts: { enabled: false },
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(v.settings.delivery.tls_policy, [
    { domain: 'bank.example', level: 'verify', ca: '/dev/null', comment: 'they promised' },
    { next_hop: 'mx.partner.example:2525', level: 'encrypt' },
    { domain: '.internal.example', level: 'none' },
  ]);
  assert.equal(v.settings.delivery.mta_sts.enabled, false);
});

test('errors, each with its path', () => {
  const { errors } = check({
    tls_policy: [
      { level: 'verify' },
      { domain: 'a.example', next_hop: 'mx.a.example', level: 'may' },
      { domain: 'a.example', level: 'strict' },
      { domain: 'not a domain', level: 'may' },
      { next_hop: 'mx.example:99999', level: 'may' },
      { domain: 'b.example' },
      { domain: 'c.example', level: 'may', port: 25 },
    ],
    mta_sts: { port: 0, timeout: 'soon', extra: 1 },
  });
  const expect = [
    /^delivery\.tls_policy\[0\]: give exactly one of domain and next_hop$/,
    /^delivery\.tls_policy\[1\]: give exactly one of domain and next_hop$/,
    /^delivery\.tls_policy\[2\]\.level: must be one of none, may, encrypt, verify/,
    /^delivery\.tls_policy\[3\]\.domain: "not a domain" is not a domain/,
    /^delivery\.tls_policy\[4\]\.next_hop: .*port/,
    /^delivery\.tls_policy\[5\]\.level: is required/,
    /^delivery\.tls_policy\[6\]\.port: unknown setting "port"/,
    /^delivery\.mta_sts\.port: must be between 1 and 65535/,
    /^delivery\.mta_sts\.timeout: /,
    /^delivery\.mta_sts\.extra: unknown setting "extra"/,
  ];
  for (const re of expect) assert.ok(errors.some((e) => re.test(e)), `expected an error like ${re}; got:\n${errors.join('\n')}`);
});

test('warnings: a shadowed entry, a ca without verify or missing, a test-only MTA-STS port', () => {
  const { errors, warnings } = check({
    tls_policy: [
      { domain: 'a.example', level: 'encrypt', ca: '/dev/null' },
      { domain: 'A.example.', level: 'verify', ca: '/nonexistent/ca.pem' },
    ],
    mta_sts: { port: 8443, ca: '/nonexistent/test-ca.pem' },
  });
  assert.deepEqual(errors, []);
  const expect = [
    /^delivery\.tls_policy\[0\]\.ca: not used: certificates are checked only with level verify, not encrypt$/,
    /^delivery\.tls_policy\[1\]: never used: delivery\.tls_policy\[0\] names the same domain/,
    /^delivery\.tls_policy\[1\]\.ca: \/nonexistent\/ca\.pem does not exist/,
    /^delivery\.mta_sts\.port: not 443/,
    /^delivery\.mta_sts\.ca: \/nonexistent\/test-ca\.pem does not exist/,
  ];
  for (const re of expect) assert.ok(warnings.some((w) => re.test(w)), `expected a warning like ${re}; got:\n${warnings.join('\n')}`);
});
