// `policy explain` with a user (offline, through the same runner as the
// daemon): the sender binding refuses a foreign MAIL FROM at stage mail with
// 553 5.7.1 naming the user and the rule relaying.sender_login, lets the
// user's own address and <> through (shown in the checks), applies to a
// relay host that logged in too, and does not blind the open-relay test.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explain, openRelayTest } from '../../src/checks/explain.ts';
import { snapshotOf } from './helpers.ts';

function settings(mode: string) {
  return {
    hostname: 'mx.example.com',
    listeners: [
      { name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx' },
      { name: 'submission', address: '127.0.0.1', port: 2587, mode: 'submission' },
    ],
    networks: [{ name: 'office', type: 'network', address: '10.1.0.0/16' }],
    users: [{ name: 'kai', password: 'kai-password-1', addresses: ['kai@example.com'] }],
    domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }],
    relaying: { allowed_hosts: ['office'], authenticated_relay: { enabled: true, users: ['kai'], groups: [] }, sender_login: mode },
  };
}

const snap = snapshotOf(settings('address'));
const STRANGER = '203.0.113.9';

test('another address: 553 5.7.1 at MAIL, naming the user and relaying.sender_login', () => {
  const e = explain(snap, { client: STRANGER, user: 'kai', listener: 'submission', from: 'ceo@bank.example', to: 'x@remote.example' });
  const d = e.decision;
  assert.deepEqual([d.action, d.code, d.enhanced, d.stage, d.rule], ['reject', 553, '5.7.1', 'mail', 'relaying.sender_login']);
  assert.equal(d.text, 'Sender address not owned by user kai');
  assert.ok(d.trail.some((l) => l.startsWith('sender_login: ') && l.includes('ceo@bank.example is not one of the user\'s addresses')), d.trail.join('\n'));
  assert.deepEqual(e.steps.map((s) => s.stage), ['connect', 'auth', 'mail']);
});

test('the user\'s own address and <> are accepted, and the checks say why', () => {
  for (const [from, why] of [['Kai@Example.com', /one of the user's addresses/], ['kai+x@example.com', /sub-address/], ['<>', /always allowed/]] as const) {
    const e = explain(snap, { client: STRANGER, user: 'kai', listener: 'submission', from, to: 'x@remote.example' });
    assert.equal(e.decision.action, 'accept', from);
    assert.equal(e.decision.kind, 'relay');
    const c = e.checks.sender_login as { mode: string; verdict: string; why: string };
    assert.equal(c.mode, 'address');
    assert.equal(c.verdict, 'pass');
    assert.match(c.why, why);
  }
});

test('domain mode: any address of the user\'s domains', () => {
  const dom = snapshotOf(settings('domain'));
  assert.equal(explain(dom, { client: STRANGER, user: 'kai', listener: 'submission', from: 'anna@example.com', to: 'x@remote.example' }).decision.action, 'accept');
  assert.equal(explain(dom, { client: STRANGER, user: 'kai', listener: 'submission', from: 'anna@example.org', to: 'x@remote.example' }).decision.code, 553);
});

test('off: the check is not asked', () => {
  const off = snapshotOf(settings('off'));
  const e = explain(off, { client: STRANGER, user: 'kai', listener: 'submission', from: 'ceo@bank.example', to: 'x@remote.example' });
  assert.equal(e.decision.action, 'accept');
  assert.equal(e.checks.sender_login, undefined);
});

test('a relay host that logs in is bound too; one that does not log in is not', () => {
  const in_ = explain(snap, { client: '10.1.2.3', user: 'kai', from: 'ceo@bank.example', to: 'x@remote.example' });
  assert.deepEqual([in_.decision.code, in_.decision.rule], [553, 'relaying.sender_login']);
  const anon = explain(snap, { client: '10.1.2.3', from: 'ceo@bank.example', to: 'x@remote.example' });
  assert.equal(anon.decision.action, 'accept');
});

test('the open-relay test with a user still probes the recipients (its probe sender is <>)', () => {
  const t = openRelayTest(snap, { client: STRANGER, user: 'kai' });
  const first = t.results[0];
  assert.equal(first?.to, 'user@victim.example');
  assert.equal(first?.relayed, true, 'an authenticated user relays: the battery must say so, not stop at the sender binding');
  assert.equal(first?.rule, 'rule 4');
});
