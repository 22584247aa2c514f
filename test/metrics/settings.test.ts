// The `metrics` setting (src/config/shape.ts, validate.ts): off when absent
// or null; an address as listener addresses are read, a warning for a public
// or wildcard one (the listener has no authentication), an error for a port
// another listener of ours has; unknown keys refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate.ts';

function base(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    hostname: 'mx.test.example',
    listeners: [{ name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx' }],
    admin: { enabled: true, address: '127.0.0.1', port: 8025 },
    ...extra,
  };
}

test('absent or null: no listener', () => {
  const v = validate(base({}));
  assert.deepEqual(v.errors, []);
  assert.equal(v.settings.metrics, null);
  assert.equal(validate(base({ metrics: null })).settings.metrics, null);
  assert.deepEqual(validate(base({ metrics: { address: '127.0.0.1', port: 9154 } })).settings.metrics, { address: '127.0.0.1', port: 9154 });
});

test('a public metrics address is warned about; a port taken by a listener is an error', () => {
  const doc = base({ metrics: { address: '203.0.114.9', port: 9100 } });
  const warn = validate(doc);
  assert.ok(warn.warnings.some((w) => w.path === 'metrics.address' && /public address/.test(w.message)), JSON.stringify(warn.warnings));
  assert.deepEqual(warn.errors, []);
  const wild = validate({ ...doc, metrics: { address: '0.0.0.0', port: 2525 } });
  assert.ok(wild.warnings.some((w) => w.path === 'metrics.address' && /every interface/.test(w.message)));
  assert.ok(wild.errors.some((e) => e.path === 'metrics.port' && /SMTP listener/.test(e.message)), JSON.stringify(wild.errors));
  const priv = validate({ ...doc, metrics: { address: '10.1.2.3', port: 9100 } });
  assert.deepEqual(priv.warnings.filter((w) => w.path.startsWith('metrics')), []);
  const bad = validate({ ...doc, metrics: { address: 'localhost', port: 9100, path: '/x' } });
  assert.ok(bad.errors.some((e) => e.path === 'metrics.address'));
  assert.ok(bad.errors.some((e) => /metrics\.path|path/.test(e.path + e.message)), JSON.stringify(bad.errors));
  const none = validate({ ...doc, metrics: null });
  assert.deepEqual(none.errors, []);
  const admin = validate({ ...doc, metrics: { address: '127.0.0.1', port: 8025 } });
  assert.ok(admin.errors.some((e) => e.path === 'metrics.port' && /admin listener/.test(e.message)));
  assert.ok(validate({ ...doc, metrics: { address: '127.0.0.1' } }).errors.some((e) => e.path === 'metrics.port'), 'port is required');
  assert.ok(validate({ ...doc, metrics: { address: '127.0.0.1', port: 70000 } }).errors.some((e) => e.path === 'metrics.port'));
});
