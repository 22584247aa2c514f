// --listen NAME=ADDR:PORT: parsing and applying node-local listener addresses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyListenOverrides, parseListenOverride } from '../../src/cluster/listen-overrides.ts';
import { embeddedDefaults } from '../../src/config/document.ts';

test('parses IPv4, bracketed IPv6 and port 0', () => {
  assert.deepEqual(parseListenOverride('mx=127.0.0.2:2525'), { ok: true, value: { name: 'mx', address: '127.0.0.2', port: 2525 } });
  assert.deepEqual(parseListenOverride('submission=[::1]:2587'), { ok: true, value: { name: 'submission', address: '::1', port: 2587 } });
  assert.deepEqual(parseListenOverride('mx=127.0.0.1:0'), { ok: true, value: { name: 'mx', address: '127.0.0.1', port: 0 } });
  // The error names the range this flag takes (0 is a port here), not the one of a next hop.
  const bad = parseListenOverride('mx=127.0.0.1:70000');
  assert.ok(!bad.ok && /\(0-65535\)/.test(bad.reason), JSON.stringify(bad));
  const lead = parseListenOverride('mx=127.0.0.1:025');
  assert.ok(!lead.ok, 'a leading zero is not a port');
});

test('refuses what is not NAME=ADDRESS:PORT', () => {
  for (const bad of ['mx', '=127.0.0.1:25', 'mx=127.0.0.1', 'mx=localhost:25', 'mx=::1:25', 'mx=127.0.0.1:70000', 'm x=127.0.0.1:25', 'mx=[::1]']) {
    const r = parseListenOverride(bad);
    assert.equal(r.ok, false, bad);
  }
});

test('moves the named listener only, and the admin listener by the name admin', () => {
  const s = embeddedDefaults();
  s.listeners = [
    { name: 'mx', address: '127.0.0.1', port: 25, mode: 'mx', trusted_proxies: [] },
    { name: 'submission', address: '127.0.0.1', port: 587, mode: 'submission', trusted_proxies: [] },
  ];
  const r = applyListenOverrides(s, [
    { name: 'mx', address: '127.0.0.3', port: 0 },
    { name: 'admin', address: '127.0.0.3', port: 0 },
  ]);
  assert.ok(r.ok);
  assert.deepEqual(r.settings.listeners.map((l) => [l.name, l.address, l.port]), [
    ['mx', '127.0.0.3', 0],
    ['submission', '127.0.0.1', 587],
  ]);
  assert.equal(r.settings.admin.address, '127.0.0.3');
  assert.equal(r.settings.admin.port, 0);
  // The revision's own settings are untouched.
  assert.equal(s.listeners[0]?.address, '127.0.0.1');
  assert.equal(s.admin.port === 0, false);
});

test('an unknown listener name or a name given twice is refused', () => {
  const s = embeddedDefaults();
  s.listeners = [{ name: 'mx', address: '127.0.0.1', port: 25, mode: 'mx', trusted_proxies: [] }];
  const unknown = applyListenOverrides(s, [{ name: 'mxx', address: '127.0.0.1', port: 1 }]);
  assert.equal(unknown.ok, false);
  assert.match(unknown.ok ? '' : unknown.reason, /no listener "mxx".*mx, admin/);
  const twice = applyListenOverrides(s, [
    { name: 'mx', address: '127.0.0.1', port: 1 },
    { name: 'mx', address: '127.0.0.1', port: 2 },
  ]);
  assert.equal(twice.ok, false);
});
