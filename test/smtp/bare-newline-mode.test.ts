// Who gets limits.bare_newline (src/smtp/bare-newline.ts), and how the two
// settings are validated: a wrong mode and an unknown network object are
// errors, and a network object in use there cannot be removed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate.ts';
import { compileSnapshot } from '../../src/config/snapshot.ts';
import { findReferences } from '../../src/config/references.ts';
import { parseClient } from '../../src/checks/explain.ts';
import { bareNewlineMode } from '../../src/smtp/bare-newline.ts';

function doc(limits: Record<string, unknown> = {}) {
  return {
    hostname: 'mx.test.example',
    listeners: [{ name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx' }],
    networks: [
      { name: 'relays', type: 'network', address: '192.0.2.0/28' },
      { name: 'printers', type: 'host', address: '198.51.100.7' },
    ],
    relaying: { allowed_hosts: ['relays'] },
    limits,
  };
}

function snap(limits: Record<string, unknown> = {}) {
  const v = validate(doc(limits));
  assert.deepEqual(v.errors, []);
  return compileSnapshot(v.settings, 1, v.networks);
}

test('default: normalize for relay hosts and authenticated clients, reject for everybody else', () => {
  const s = snap();
  assert.equal(bareNewlineMode(s, parseClient('192.0.2.3'), false), 'normalize');
  assert.equal(bareNewlineMode(s, parseClient('203.0.113.9'), true), 'normalize');
  assert.equal(bareNewlineMode(s, parseClient('203.0.113.9'), false), 'reject');
  assert.equal(bareNewlineMode(s, parseClient('198.51.100.7'), false), 'reject');
});

test('bare_newline_networks add clients; bare_newline: reject takes it from everybody', () => {
  const s = snap({ bare_newline_networks: ['printers'] });
  assert.equal(bareNewlineMode(s, parseClient('198.51.100.7'), false), 'normalize');
  assert.equal(bareNewlineMode(s, parseClient('198.51.100.8'), false), 'reject');
  const strict = snap({ bare_newline: 'reject', bare_newline_networks: ['printers'] });
  for (const [ip, user] of [['192.0.2.3', false], ['203.0.113.9', true], ['198.51.100.7', false]] as const) {
    assert.equal(bareNewlineMode(strict, parseClient(ip), user), 'reject', `${ip} ${user}`);
  }
});

test('validation: the mode is reject or normalize; the networks must exist', () => {
  const bad = validate(doc({ bare_newline: 'allow' }));
  assert.ok(bad.errors.some((e) => e.path === 'limits.bare_newline' && /reject, normalize/.test(e.message)), JSON.stringify(bad.errors));
  const unknown = validate(doc({ bare_newline_networks: ['nope'] }));
  assert.ok(unknown.errors.some((e) => e.path === 'limits.bare_newline_networks[0]' && /unknown network object "nope"/.test(e.message)), JSON.stringify(unknown.errors));
  const ok = validate(doc({ bare_newline: 'reject', bare_newline_networks: ['printers'] }));
  assert.deepEqual(ok.errors, []);
  assert.equal(ok.settings.limits.bare_newline, 'reject');
});

test('a network object named in bare_newline_networks is in use', () => {
  const v = validate(doc({ bare_newline_networks: ['printers'] }));
  assert.deepEqual(findReferences(v.settings, 'network', 'printers'), ['limits.bare_newline_networks[0]']);
});
