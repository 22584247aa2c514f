// The open-relay battery (openRelayBattery plus the classic literal forms)
// against a relay whose local domain is `ours`, and rule 8's effect: Any or
// anything equivalent in allowed_hosts is refused by validation unless
// acknowledged, and when acknowledged it really is an open relay.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { explain, openRelayBattery } from '../../src/checks/explain.ts';
import { decideRecipient } from '../../src/policy/rules.ts';
import { validate } from '../../src/config/validate.ts';
import { compileSnapshot } from '../../src/config/snapshot.ts';
import { client, expect, FROM, relayDoc, row, snapshotOf, type Row } from './helpers.ts';

const snap = snapshotOf(relayDoc({ upstreamOnly: false, authRelay: true, hostRelay: true }));
const STRANGER = '203.0.113.9';
const UPSTREAM = '192.0.2.10';
const RELAY_HOST = '10.1.2.3';

const R4 = 'reject 554 5.7.1 - rcpt rule 4';
const R5 = 'reject 554 5.7.1 - rcpt rule 5';
const SYNTAX = 'reject 501 5.1.3 - rcpt syntax';
const INBOUND = 'accept 250 2.1.5 inbound rcpt rule 3';
const POSTMASTER = 'accept 250 2.1.5 inbound rcpt rule 6';
const RELAYED = 'accept 250 2.1.5 relay rcpt rule 4';

/**
 * Each form with what a client without relay rights and a client with one
 * must get. Where RFC 5321 leaves the form without a valid reading, either of
 * two outcomes is allowed (listed with |); none of them relays from a stranger.
 */
function battery(ours: string, victim: string): [string, string, string][] {
  const V = victim;
  return [
    [`user@${V}`, R4, RELAYED],
    [`user%${V}@${ours}`, R5, INBOUND],
    [`"user@${V}"`, R5, SYNTAX],
    [`"user@${V}"@${ours}`, R5, INBOUND],
    [`@${ours}:user@${V}`, R4, RELAYED],
    [`${V}!user@${ours}`, R5, INBOUND],
    [`user@${V}@${ours}`, R5, `${SYNTAX}|${INBOUND}`],
    [`user@${V}.`, R4, RELAYED],
    ['user@[192.0.2.7]', R4, RELAYED],
    [`USER@${V.toUpperCase()}`, R4, RELAYED],
    [`"user%${V}"@${ours}`, R5, INBOUND],
    [`user%${V}%${ours}@${ours}`, R5, INBOUND],
    [`@${ours},@${V}:user@${V}`, R4, RELAYED],
    [`${V}!user`, `${R5}|${SYNTAX}`, SYNTAX],
    [`user@${V}.@${ours}`, R5, `${SYNTAX}|${INBOUND}`],
    ['user@[IPv6:2001:db8::7]', R4, RELAYED],
    ['<postmaster>', POSTMASTER, POSTMASTER],
  ];
}

function assertOneOf(actual: Row, wants: string, what: string): void {
  const options = wants.split('|').map(expect);
  assert.ok(options.some((o) => JSON.stringify(o) === JSON.stringify(actual)), `${what}: got ${JSON.stringify(actual)}, want one of ${wants}`);
}

describe('openRelayBattery', () => {
  it('holds the classic forms, for the given domains', () => {
    const b = openRelayBattery('ours.example');
    for (const form of ['user%victim.example@ours.example', '"user@victim.example"', '"user@victim.example"@ours.example', '@ours.example:user@victim.example', 'victim.example!user@ours.example', 'user@victim.example@ours.example', 'user@victim.example.', 'user@[192.0.2.7]', 'USER@VICTIM.EXAMPLE', '<postmaster>']) {
      assert.ok(b.includes(form), form);
    }
    assert.deepEqual(new Set(openRelayBattery('ours.example')), new Set(battery('ours.example', 'victim.example').map(([f]) => f)));
  });
});

for (const [ours, victim] of [['ours.example', 'victim.example'], ['SECOND.EXAMPLE', 'Victim.Example']] as const) {
  describe(`open-relay battery, ours=${ours}, victim=${victim}`, () => {
    const forms = battery(ours, victim);
    const fromBattery = openRelayBattery(ours, victim);

    it('the literal table and openRelayBattery() list the same forms', () => {
      assert.deepEqual([...fromBattery].sort(), forms.map(([f]) => f).sort());
    });

    for (const who of [{ label: 'a stranger', ip: STRANGER, user: null }, { label: 'an upstream host', ip: UPSTREAM, user: null }]) {
      it(`from ${who.label}, nothing is relayed and nothing with a routing operator gets in`, () => {
        for (const [form, wantNoRight] of forms) {
          const e = explain(snap, { client: who.ip, user: who.user, from: FROM, to: form });
          assert.notEqual(e.decision.kind, 'relay', `${form} must not be relayed`);
          assertOneOf(row(e.decision), wantNoRight, form);
          if (e.decision.action === 'reject') assert.ok(e.decision.trail.some((l) => l.includes(e.decision.rule) || e.decision.rule === 'syntax'), form);
        }
      });
    }

    for (const who of [{ label: 'a relay host', ip: RELAY_HOST, user: null }, { label: 'an entitled user', ip: STRANGER, user: 'gina' }]) {
      it(`from ${who.label}, remote forms are relayed and local ones inbound`, () => {
        for (const [form, , wantRight] of forms) {
          const e = explain(snap, { client: who.ip, user: who.user, from: FROM, to: form });
          assertOneOf(row(e.decision), wantRight, form);
        }
      });
    }
  });
}

describe('the local-domain compare of the battery', () => {
  const facts = { client: client(STRANGER), listener: null, user: null };
  it('ignores case and one trailing dot', () => {
    for (const to of ['user@OURS.EXAMPLE.', 'user@ours.example.', 'USER@Ours.Example']) assert.deepEqual(row(decideRecipient(snap, facts, to)), expect(INBOUND), to);
  });
  it('does not ignore two trailing dots or a leading dot', () => {
    for (const to of ['user@ours.example..', 'user@.ours.example']) {
      const d = decideRecipient(snap, facts, to);
      assert.equal(d.action, 'reject', to);
      assert.equal(d.kind, null, to);
    }
  });
});

// ---- Rule 8 ----

function openDoc(networks: Record<string, unknown>[], allowed: string[], acknowledged: boolean): Record<string, unknown> {
  const doc = relayDoc({ upstreamOnly: false, authRelay: false, hostRelay: false });
  (doc.networks as Record<string, unknown>[]).push(...networks);
  const relaying = doc.relaying as Record<string, unknown>;
  relaying.allowed_hosts = allowed;
  relaying.open_relay_acknowledged = acknowledged;
  return doc;
}

interface OpenCase {
  name: string;
  networks: Record<string, unknown>[];
  allowed: string[];
  /** Clients a stranger could use once acknowledged. */
  relays: string[];
}

const OPEN: OpenCase[] = [
  { name: 'Any', networks: [], allowed: ['Any'], relays: [STRANGER, '2a00:1450::1', '::ffff:8.8.8.8'] },
  { name: '0.0.0.0/0', networks: [{ name: 'everything-v4', type: 'network', address: '0.0.0.0/0' }], allowed: ['everything-v4'], relays: [STRANGER, '::ffff:8.8.8.8'] },
  { name: '::/0', networks: [{ name: 'everything-v6', type: 'network', address: '::/0' }], allowed: ['everything-v6'], relays: [STRANGER, '2a00:1450::1'] },
  { name: '::ffff:0.0.0.0/96', networks: [{ name: 'mapped-all', type: 'network', address: '::ffff:0.0.0.0/96' }], allowed: ['mapped-all'], relays: [STRANGER] },
  { name: 'range of all IPv4', networks: [{ name: 'range-all', type: 'range', from: '0.0.0.0', to: '255.255.255.255' }], allowed: ['range-all'], relays: ['8.8.8.8'] },
  { name: 'range of all IPv6', networks: [{ name: 'range-all6', type: 'range', from: '::', to: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' }], allowed: ['range-all6'], relays: ['2a00:1450::1', STRANGER] },
  { name: 'group containing Any', networks: [{ name: 'innocent-looking', type: 'group', members: ['office-lan', 'Any'] }], allowed: ['innocent-looking'], relays: [STRANGER] },
  {
    name: 'group of groups containing 0.0.0.0/0',
    networks: [{ name: 'everything-v4', type: 'network', address: '0.0.0.0/0' }, { name: 'mid', type: 'group', members: ['everything-v4'] }, { name: 'top', type: 'group', members: ['mid'] }],
    allowed: ['top'],
    relays: [STRANGER],
  },
  {
    name: 'two halves listed separately',
    networks: [{ name: 'low-half', type: 'network', address: '0.0.0.0/1' }, { name: 'high-half', type: 'network', address: '128.0.0.0/1' }],
    allowed: ['low-half', 'high-half'],
    relays: ['8.8.8.8', '203.0.113.9'],
  },
  {
    name: 'two IPv6 halves in a group',
    networks: [{ name: 'v6-low', type: 'network', address: '::/1' }, { name: 'v6-high', type: 'network', address: '8000::/1' }, { name: 'v6-both', type: 'group', members: ['v6-low', 'v6-high'] }],
    allowed: ['v6-both'],
    relays: ['2a00:1450::1'],
  },
  { name: 'all global IPv6 (2000::/3)', networks: [{ name: 'global6', type: 'network', address: '2000::/3' }], allowed: ['global6'], relays: ['2a00:1450::1'] },
];

describe('rule 8: Any or its equivalent in allowed_hosts', () => {
  for (const c of OPEN) {
    it(`${c.name}: refused by validation without the acknowledgement`, () => {
      const v = validate(openDoc(c.networks, c.allowed, false));
      assert.ok(v.errors.some((e) => e.path.startsWith('relaying.allowed_hosts') && /open relay/i.test(e.message)), JSON.stringify(v.errors));
    });

    it(`${c.name}: acknowledged, it validates with a loud warning and is an open relay`, () => {
      const v = validate(openDoc(c.networks, c.allowed, true));
      assert.deepEqual(v.errors, []);
      assert.ok(v.warnings.some((w) => w.message.includes('OPEN RELAY')), JSON.stringify(v.warnings));
      const s = compileSnapshot(v.settings, 1, v.networks);
      for (const ip of c.relays) {
        const e = explain(s, { client: ip, from: FROM, to: 'user@victim.example' });
        assert.deepEqual(row(e.decision), expect(RELAYED), `${ip}\n${e.decision.trail.join('\n')}`);
        assert.equal(e.relayRight, 'host');
      }
    });
  }

  it('private networks, however large, are not an open relay', () => {
    const v = validate(openDoc([{ name: 'rfc1918-a', type: 'network', address: '10.0.0.0/8' }, { name: 'rfc1918-c', type: 'network', address: '192.168.0.0/16' }, { name: 'ula', type: 'network', address: 'fc00::/7' }], ['rfc1918-a', 'rfc1918-c', 'ula'], false));
    assert.deepEqual(v.errors, []);
    const s = compileSnapshot(v.settings, 1, v.networks);
    assert.deepEqual(row(explain(s, { client: STRANGER, from: FROM, to: 'user@victim.example' }).decision), expect(R4));
    assert.deepEqual(row(explain(s, { client: '192.168.7.7', from: FROM, to: 'user@victim.example' }).decision), expect(RELAYED));
  });

  it('a large public IPv6 network is not open but draws a warning; a documentation /32 draws none', () => {
    // 2a00::/12 (RIPE's allocation) is public global unicast: far more than a /48, far less than half of 2000::/3.
    const wide = validate(openDoc([{ name: 'ripe-v6', type: 'network', address: '2a00::/12' }], ['ripe-v6'], false));
    assert.deepEqual(wide.errors, []);
    assert.ok(wide.warnings.some((w) => w.path === 'relaying.allowed_hosts[0]' && w.message.includes('ripe-v6')), JSON.stringify(wide.warnings));
    const doc = validate(openDoc([{ name: 'doc-v6', type: 'network', address: '2001:db8::/32' }], ['doc-v6'], false));
    assert.deepEqual(doc.errors, []);
    assert.ok(!doc.warnings.some((w) => w.path.startsWith('relaying.allowed_hosts')), JSON.stringify(doc.warnings));
  });

  it('Any among the upstream hosts or in the blacklist is not an open relay: upstream hosts get no relay right', () => {
    const doc = relayDoc({ upstreamOnly: false, authRelay: false, hostRelay: false });
    (doc.relaying as Record<string, unknown>).upstream_hosts = ['Any'];
    const v = validate(doc);
    assert.deepEqual(v.errors, []);
    const s = compileSnapshot(v.settings, 1, v.networks);
    for (const ip of [STRANGER, '2a00:1450::1', '198.51.100.7']) {
      assert.deepEqual(row(explain(s, { client: ip, from: FROM, to: 'user@victim.example' }).decision), expect(R4), ip);
    }
    const black = relayDoc({ upstreamOnly: false, authRelay: false, hostRelay: false });
    (black.relaying as Record<string, unknown>).blacklist = ['Any'];
    assert.deepEqual(validate(black).errors, []);
  });
});
