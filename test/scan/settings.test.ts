// The antivirus and antispam settings (docs/configuration.md): defaults,
// what is refused with its path, and the warnings an admin should see.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate.ts';
import { defaultAntispam, defaultAntivirus } from '../../src/config/document.ts';

const doc = (extra: Record<string, unknown>) => ({ hostname: 'mx.example.com', listeners: [{ name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx' }], ...extra });
const errors = (extra: Record<string, unknown>) => validate(doc(extra)).errors.map((e) => `${e.path}: ${e.message}`);
const warnings = (extra: Record<string, unknown>) => validate(doc(extra)).warnings.map((e) => `${e.path}: ${e.message}`);

test('absent sections take the documented defaults: both engines off, fail closed', () => {
  const v = validate(doc({}));
  assert.deepEqual(v.errors, []);
  assert.deepEqual(v.settings.antivirus, defaultAntivirus());
  assert.deepEqual(v.settings.antispam, defaultAntispam());
  assert.equal(v.settings.antivirus.enabled, false);
  assert.equal(v.settings.antivirus.on_error, 'tempfail');
  assert.equal(v.settings.antispam.on_error, 'tempfail');
});

test('every setting of the issue is accepted as written', () => {
  const v = validate(
    doc({
      antivirus: { enabled: true, clamd: '/run/clamav/clamd.ctl', action: 'quarantine', max_scan_size: 60_000_000, on_error: 'accept', timeout: '10s' },
      antispam: { enabled: true, engine: 'rspamd', spamd: '[::1]:783', rspamd: 'http://127.0.0.1:11333/', reject_score: null, spam_score: 4.5, spam_action: 'quarantine', subject_tag: '[SPAM]', max_scan_size: 2048, on_error: 'accept', timeout: '5s' },
    }),
  );
  assert.deepEqual(v.errors, []);
  assert.equal(v.settings.antispam.reject_score, null);
  assert.equal(v.settings.antispam.spam_score, 4.5);
  assert.equal(v.settings.antivirus.action, 'quarantine');
});

test('mistakes are errors with their path', () => {
  const e = errors({
    antivirus: { enabled: 'yes', clamd: 'not a host:99', action: 'drop', max_scan_size: 10, on_error: 'pass', timeout: 'soon', scan: true },
    antispam: { engine: 'bogofilter', spamd: '::1:783', rspamd: 'ftp://x', spam_score: 'five', spam_action: 'delete', subject_tag: ' [SPAM]\n' },
  });
  const paths = e.map((x) => x.split(':')[0]);
  for (const p of ['antivirus.enabled', 'antivirus.clamd', 'antivirus.action', 'antivirus.max_scan_size', 'antivirus.on_error', 'antivirus.timeout', 'antivirus.scan', 'antispam.engine', 'antispam.spamd', 'antispam.rspamd', 'antispam.spam_score', 'antispam.spam_action', 'antispam.subject_tag']) {
    assert.ok(paths.includes(p), `${p} in ${e.join('\n')}`);
  }
  assert.ok(e.some((x) => x.startsWith('antivirus.scan: unknown setting')));
});

test('warnings: reject at or below the spam score, scan size below the message size, relayed mail unscanned', () => {
  assert.ok(warnings({ antispam: { enabled: true, reject_score: 5, spam_score: 5 } }).some((w) => w.startsWith('antispam.reject_score: not above spam_score')));
  assert.deepEqual(warnings({ antispam: { enabled: true, reject_score: 5, spam_score: 5, spam_action: 'off' } }).filter((w) => w.startsWith('antispam.reject_score')), []);
  assert.ok(warnings({ antivirus: { enabled: true, max_scan_size: 1_000_000 } }).some((w) => w.startsWith('antivirus.max_scan_size: below limits.max_message_size')));
  const relayOff = { networks: [{ name: 'lan', type: 'network', address: '10.0.0.0/8' }], relaying: { allowed_hosts: ['lan'], scan_relayed: false } };
  assert.ok(warnings({ ...relayOff, antivirus: { enabled: true } }).some((w) => w.startsWith('relaying.scan_relayed: off')));
  assert.deepEqual(warnings({ ...relayOff }).filter((w) => w.startsWith('relaying.scan_relayed')), [], 'no engine, nothing to warn about');
});
