// IPv6 clients, IPv4-mapped IPv6 clients and network objects written either
// way, ranges, groups of groups and the built-in Any, as the relay rules see
// them. A client seen as 10.1.2.3 or as ::ffff:10.1.2.3 must match exactly
// the same objects.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyClient, decideConnect, decideRecipient } from '../../src/policy/rules.ts';
import { explain } from '../../src/checks/explain.ts';
import { client, expect, FROM, row, snapshotOf } from './helpers.ts';
import type { Snapshot } from '../../src/config/snapshot.ts';

function doc(relaying: Record<string, unknown>): Record<string, unknown> {
  return {
    hostname: 'mx.ours.example',
    listeners: [{ name: 'mx', address: '::1', port: 2525, mode: 'mx' }],
    networks: [
      { name: 'lan-v4', type: 'network', address: '10.1.0.0/16' },
      { name: 'mapped-host', type: 'host', address: '::ffff:10.9.9.9' },
      { name: 'mapped-net', type: 'network', address: '::ffff:10.8.0.0/112' },
      { name: 'v6-lan', type: 'network', address: '2001:db8:100::/48' },
      { name: 'v6-range', type: 'range', from: '2001:db8:200::10', to: '2001:db8:200::20' },
      { name: 'v4-range', type: 'range', from: '10.3.0.1', to: '10.3.0.9' },
      { name: 'inner-group', type: 'group', members: ['v6-range'] },
      { name: 'outer-group', type: 'group', members: ['inner-group', 'v4-range'] },
      { name: 'v6-upstream', type: 'host', address: '2001:db8:1::25' },
      { name: 'v4-upstream-net', type: 'network', address: '192.0.2.0/28' },
      { name: 'v6-black', type: 'network', address: '2001:db8:666::/48' },
      { name: 'all-v4', type: 'network', address: '0.0.0.0/0' },
      { name: 'all-v6', type: 'network', address: '::/0' },
    ],
    domains: [{ name: 'ours.example', route: { hosts: ['[2001:db8:100::25]:25'] } }],
    relaying: {
      upstream_hosts: ['v6-upstream', 'v4-upstream-net'],
      upstream_only: false,
      authenticated_relay: { enabled: false, users: [], groups: [] },
      allowed_hosts: ['lan-v4', 'mapped-host', 'mapped-net', 'v6-lan', 'outer-group'],
      blacklist: ['v6-black'],
      ...relaying,
    },
  };
}

const REMOTE = 'someone@remote.example';
const relays = (snap: Snapshot, ip: string) => decideRecipient(snap, { client: client(ip), listener: null, user: null }, REMOTE);
const RELAYED = expect('accept 250 2.1.5 relay rcpt rule 4');
const DENIED = expect('reject 554 5.7.1 - rcpt rule 4');

describe('IPv4-mapped IPv6 clients', () => {
  const snap = snapshotOf(doc({}));

  it('the mapped address is the IPv4 address in the 128-bit space', () => {
    assert.equal(client('10.1.2.3').ip, 0xffff_0a01_0203n);
    assert.equal(client('::ffff:10.1.2.3').ip, 0xffff_0a01_0203n);
  });

  it('an IPv4 network object matches the client written mapped, in every spelling', () => {
    for (const ip of ['10.1.2.3', '::ffff:10.1.2.3', '::FFFF:10.1.2.3', '0:0:0:0:0:ffff:10.1.2.3', '::ffff:a01:203', '0:0:0:0:0:FFFF:0A01:0203']) {
      assert.deepEqual(row(relays(snap, ip)), RELAYED, ip);
      assert.deepEqual(classifyClient(snap, client(ip).ip), { upstream: null, relayHost: '"lan-v4"', blacklisted: null }, ip);
    }
  });

  it('objects written mapped match the client written as IPv4, and the other way round', () => {
    for (const ip of ['10.9.9.9', '::ffff:10.9.9.9', '10.8.0.0', '10.8.255.255', '::ffff:10.8.1.1', '::ffff:a08:101']) {
      assert.deepEqual(row(relays(snap, ip)), RELAYED, ip);
    }
    assert.ok(relays(snap, '10.9.9.9').trail.some((l) => l.includes('"mapped-host"')));
    assert.ok(relays(snap, '10.8.1.1').trail.some((l) => l.includes('"mapped-net"')));
    for (const ip of ['10.9.9.10', '::ffff:10.9.9.8', '10.7.255.255', '10.9.0.0', '::ffff:10.2.0.1']) {
      assert.deepEqual(row(relays(snap, ip)), DENIED, ip);
    }
  });

  it('IPv4-compatible and NAT64 spellings are other addresses, not the IPv4 one', () => {
    for (const ip of ['::10.1.2.3', '64:ff9b::10.1.2.3', '::fffe:10.1.2.3', '::1:ffff:10.1.2.3']) {
      assert.deepEqual(row(relays(snap, ip)), DENIED, ip);
    }
  });

  it('an IPv4 range inside a group of groups matches the mapped client', () => {
    for (const ip of ['10.3.0.1', '::ffff:10.3.0.5', '10.3.0.9']) {
      const d = relays(snap, ip);
      assert.deepEqual(row(d), RELAYED, ip);
      assert.ok(d.trail.some((l) => l.includes('"outer-group" > "v4-range"')), d.trail.join('\n'));
    }
    for (const ip of ['10.3.0.0', '::ffff:10.3.0.10']) assert.deepEqual(row(relays(snap, ip)), DENIED, ip);
  });

  it('upstream-only: a mapped client of an IPv4 upstream network connects like the IPv4 one', () => {
    const only = snapshotOf(doc({ upstream_only: true }));
    for (const ip of ['192.0.2.1', '::ffff:192.0.2.1', '::ffff:192.0.2.15']) {
      const d = decideConnect(only, client(ip));
      assert.equal(d.action, 'accept', ip);
      assert.ok(d.trail.some((l) => l.includes('"v4-upstream-net"')), ip);
    }
    for (const ip of ['192.0.2.16', '::ffff:192.0.2.16', '::192.0.2.1']) {
      assert.deepEqual(row(decideConnect(only, client(ip))), expect('reject 554 5.7.1 - connect rule 2'), ip);
    }
  });
});

describe('IPv6 clients', () => {
  const snap = snapshotOf(doc({}));

  it('an IPv6 network object matches its addresses in any spelling', () => {
    for (const ip of ['2001:db8:100::1', '2001:DB8:100:0:0:0:0:1', '2001:db8:100::', '2001:db8:100:ffff:ffff:ffff:ffff:ffff']) {
      const d = relays(snap, ip);
      assert.deepEqual(row(d), RELAYED, ip);
      assert.ok(d.trail.some((l) => l.includes('"v6-lan"')), ip);
    }
    for (const ip of ['2001:db8:101::1', '2001:db8:ff::ffff', '::1']) assert.deepEqual(row(relays(snap, ip)), DENIED, ip);
  });

  it('an IPv6 range inside a group of groups matches its bounds and nothing beyond', () => {
    for (const ip of ['2001:db8:200::10', '2001:db8:200::15', '2001:db8:200::20']) {
      const d = relays(snap, ip);
      assert.deepEqual(row(d), RELAYED, ip);
      assert.ok(d.trail.some((l) => l.includes('"outer-group" > "inner-group" > "v6-range"')), d.trail.join('\n'));
    }
    for (const ip of ['2001:db8:200::f', '2001:db8:200::21', '2001:db8:200:1::15']) assert.deepEqual(row(relays(snap, ip)), DENIED, ip);
  });

  it('an IPv6 blacklist network refuses at connect; a neighbour is accepted', () => {
    const d = decideConnect(snap, client('2001:db8:666::1'));
    assert.deepEqual(row(d), expect('reject 554 5.7.1 - connect rule 1'));
    assert.ok(d.trail.some((l) => l.includes('"v6-black"')));
    assert.equal(decideConnect(snap, client('2001:db8:667::1')).action, 'accept');
  });

  it('an IPv6 upstream host connects under upstream-only but has no relay right', () => {
    const only = snapshotOf(doc({ upstream_only: true }));
    assert.equal(decideConnect(only, client('2001:db8:1::25')).action, 'accept');
    assert.deepEqual(row(decideConnect(only, client('2001:db8:1::26'))), expect('reject 554 5.7.1 - connect rule 2'));
    assert.deepEqual(row(explain(only, { client: '2001:db8:1::25', from: FROM, to: REMOTE }).decision), DENIED);
    assert.deepEqual(row(explain(only, { client: '2001:0db8:0001:0000:0000:0000:0000:0025', from: FROM, to: 'x@ours.example' }).decision), expect('accept 250 2.1.5 inbound rcpt rule 3'));
  });
});

describe('the built-in Any and whole-space networks in the blacklist', () => {
  it('Any refuses every client of both families except upstream and relay hosts', () => {
    const snap = snapshotOf(doc({ blacklist: ['Any'] }));
    for (const ip of ['203.0.113.9', '::ffff:203.0.113.9', '2001:db8:999::1', '::1', '::', '0.0.0.0', '255.255.255.255', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']) {
      const d = decideConnect(snap, client(ip));
      assert.deepEqual(row(d), expect('reject 554 5.7.1 - connect rule 1'), ip);
      assert.ok(d.trail.some((l) => l.includes('"Any"')), ip);
    }
    for (const ip of ['10.1.2.3', '::ffff:10.1.2.3', '2001:db8:100::7', '2001:db8:1::25', '192.0.2.3', '::ffff:10.9.9.9']) {
      assert.equal(decideConnect(snap, client(ip)).action, 'accept', ip);
    }
    assert.deepEqual(row(explain(snap, { client: '::ffff:10.1.2.3', from: FROM, to: REMOTE }).decision), RELAYED);
    assert.deepEqual(row(explain(snap, { client: '2001:db8:1::25', from: FROM, to: REMOTE }).decision), DENIED);
  });

  it('0.0.0.0/0 refuses IPv4 clients in both spellings, not native IPv6 ones', () => {
    const snap = snapshotOf(doc({ blacklist: ['all-v4'] }));
    for (const ip of ['203.0.113.9', '::ffff:203.0.113.9']) assert.deepEqual(row(decideConnect(snap, client(ip))), expect('reject 554 5.7.1 - connect rule 1'), ip);
    for (const ip of ['2001:db8:999::1', '::1', '::203.0.113.9']) assert.equal(decideConnect(snap, client(ip)).action, 'accept', ip);
  });

  it('::/0 is the whole space, so it refuses IPv4 clients too', () => {
    const snap = snapshotOf(doc({ blacklist: ['all-v6'] }));
    for (const ip of ['203.0.113.9', '::ffff:203.0.113.9', '2001:db8:999::1']) assert.deepEqual(row(decideConnect(snap, client(ip))), expect('reject 554 5.7.1 - connect rule 1'), ip);
  });

  it('a blacklist network written mapped refuses the IPv4 client', () => {
    const snap = snapshotOf(doc({ allowed_hosts: ['lan-v4'], blacklist: ['mapped-net', 'mapped-host'] }));
    for (const ip of ['10.8.1.1', '::ffff:10.8.1.1', '10.9.9.9']) assert.deepEqual(row(decideConnect(snap, client(ip))), expect('reject 554 5.7.1 - connect rule 1'), ip);
    assert.equal(decideConnect(snap, client('10.9.9.8')).action, 'accept');
  });
});
