// src/delivery/tls-policy.ts on its own: which TLS level applies to one next
// hop. Every source of a level against every kind of route, and the order
// between them (an entry, then MTA-STS, then the smarthost's tls, then may);
// domain and next_hop matching; MTA-STS enforce excluding an MX host the
// policy does not list, testing reported, none ignored. docs/configuration.md
// ("delivery.tls_policy") is the specification.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { embeddedDefaults, TLS_LEVELS, type Settings, type Smarthost, type TlsPolicyEntry } from '../../src/config/document.ts';
import { decideTls, describeSource, domainEntryFor, domainEntryMatches, nextHopMatches, planDomain } from '../../src/delivery/tls-policy.ts';
import { planRoute, type RoutePlan } from '../../src/delivery/routes.ts';
import type { Target } from '../../src/delivery/outbound.ts';
import type { MtaStsPolicy } from '../../src/delivery/mta-sts-policy.ts';

function settings(policy: TlsPolicyEntry[] = [], smarthost: Smarthost | null = null): Settings {
  const s = embeddedDefaults();
  s.domains = [{ name: 'local.test', route: { hosts: ['10.0.0.5:2525', 'in.local.test'] } }];
  s.delivery = { ...s.delivery, smarthost, tls_policy: policy };
  return s;
}

const mxPlan: RoutePlan = { kind: 'mx', key: 'mx:example.com', domain: 'example.com' };
const mx1: Target = { host: '192.0.2.10', port: 25, name: 'mx1.example.com' };
const mx2: Target = { host: '192.0.2.11', port: 25, name: 'mail.other.net' };
const enforce: MtaStsPolicy = { id: 'abc1', mode: 'enforce', mx: ['mx1.example.com', '*.backup.example.com'], maxAge: 86400 };
const testing: MtaStsPolicy = { ...enforce, mode: 'testing' };
const stsNone: MtaStsPolicy = { ...enforce, mode: 'none', mx: [] };

const level = (s: Settings, plan: RoutePlan, t: Target, sts: MtaStsPolicy | null = null) => {
  const d = decideTls(s, plan, t, sts);
  assert.ok(d.use, 'the target is used');
  return d.tls;
};

test('no entry, no MTA-STS, no smarthost: may (opportunistic, as before)', () => {
  const s = settings();
  const d = level(s, mxPlan, mx1);
  assert.equal(d.level, 'may');
  assert.deepEqual(d.source, { kind: 'default' });
  assert.equal(level(s, planRoute(s, 'local.test'), { host: '10.0.0.5', port: 2525, name: '10.0.0.5' }).level, 'may');
  assert.equal(level(s, planRoute(s, '[192.0.2.7]'), { host: '192.0.2.7', port: 25, name: '192.0.2.7' }).level, 'may');
});

test('every level comes through from a domain entry, with its ca', () => {
  for (const lv of TLS_LEVELS) {
    const s = settings([{ domain: 'example.com', level: lv, ca: '/etc/ca.pem' }]);
    const d = level(s, mxPlan, mx1);
    assert.equal(d.level, lv);
    assert.equal(d.caFile, '/etc/ca.pem');
    assert.deepEqual(d.source, { kind: 'entry', index: 0, entry: s.delivery.tls_policy[0] });
  }
});

test('domain entries: exact (case and trailing dot ignored), ".example.com" is the domains below only', () => {
  assert.equal(domainEntryMatches('example.com', 'example.com'), true);
  assert.equal(domainEntryMatches('Example.COM.', 'example.com'), true);
  assert.equal(domainEntryMatches('example.com', 'sub.example.com'), false);
  assert.equal(domainEntryMatches('.example.com', 'sub.example.com'), true);
  assert.equal(domainEntryMatches('.example.com', 'a.b.example.com'), true);
  assert.equal(domainEntryMatches('.example.com', 'example.com'), false);
  assert.equal(domainEntryMatches('.example.com', 'badexample.com'), false);
  assert.equal(domainEntryMatches('example.com', 'example.co'), false);
});

test('next_hop entries: a host name matches the target name, an IP the address, a port must be equal when given', () => {
  assert.equal(nextHopMatches('mx1.example.com', mx1), true);
  assert.equal(nextHopMatches('MX1.Example.com', mx1), true);
  assert.equal(nextHopMatches('192.0.2.10', mx1), true);
  assert.equal(nextHopMatches('192.0.2.10:25', mx1), true);
  assert.equal(nextHopMatches('192.0.2.10:587', mx1), false);
  assert.equal(nextHopMatches('mx1.example.com:25', mx1), true);
  assert.equal(nextHopMatches('mx2.example.com', mx1), false);
  assert.equal(nextHopMatches('example.com', mx1), false, 'a next hop is a host, not a domain');
  assert.equal(nextHopMatches('[2001:db8::1]:25', { host: '2001:db8::1', port: 25, name: '2001:db8::1' }), true);
  assert.equal(nextHopMatches('not a host', mx1), false);
});

test('the first matching entry wins, whether it names the domain or the next hop', () => {
  const s = settings([
    { next_hop: 'mx1.example.com', level: 'verify' },
    { domain: 'example.com', level: 'encrypt' },
    { next_hop: 'mail.other.net', level: 'none' },
  ]);
  assert.equal(level(s, mxPlan, mx1).level, 'verify', 'the next_hop entry comes first for mx1');
  assert.equal(level(s, mxPlan, mx2).level, 'encrypt', 'for mx2 the domain entry comes before its next_hop entry');
  const other: RoutePlan = { kind: 'mx', key: 'mx:other.org', domain: 'other.org' };
  assert.equal(level(s, other, mx2).level, 'none', 'another domain through the same host: the next_hop entry');
});

test('a local route: domain entries name its domain, next_hop entries its hosts', () => {
  const s = settings([{ next_hop: '10.0.0.5:2525', level: 'encrypt' }, { domain: 'local.test', level: 'verify' }]);
  const plan = planRoute(s, 'local.test');
  assert.equal(planDomain(plan), 'local.test');
  assert.equal(level(s, plan, { host: '10.0.0.5', port: 2525, name: '10.0.0.5' }).level, 'encrypt');
  assert.equal(level(s, plan, { host: '10.0.0.6', port: 25, name: 'in.local.test' }).level, 'verify');
});

test('the smarthost: its tls maps to verify (required) or may (opportunistic) with its ca; a next_hop entry overrides; domain entries never apply', () => {
  const sh: Smarthost = { host: 'smart.example.net', port: 587, tls: 'required', ca: '/etc/smart-ca.pem' };
  const target: Target = { host: '192.0.2.50', port: 587, name: 'smart.example.net' };
  let s = settings([], sh);
  const plan = planRoute(s, 'example.com');
  assert.equal(plan.kind, 'smarthost');
  assert.equal(planDomain(plan), null);
  assert.deepEqual(level(s, plan, target), { level: 'verify', source: { kind: 'smarthost' }, caFile: '/etc/smart-ca.pem' });
  s = settings([], { ...sh, tls: 'opportunistic' });
  assert.equal(level(s, plan, target).level, 'may');
  s = settings([{ domain: 'example.com', level: 'none' }], sh);
  assert.equal(level(s, plan, target).level, 'verify', 'a domain entry does not choose the TLS of the smarthost connection');
  s = settings([{ next_hop: 'smart.example.net', level: 'encrypt' }], sh);
  assert.equal(level(s, plan, target).level, 'encrypt', 'an entry for the smarthost host comes before smarthost.tls');
  assert.equal(level(s, plan, target).caFile, undefined, "the entry's (absent) ca, not the smarthost's");
});

test('an address literal: only next_hop entries apply', () => {
  const s = settings([{ domain: '192.0.2.7', level: 'none' }, { next_hop: '192.0.2.7', level: 'encrypt' }]);
  const plan = planRoute(s, '[192.0.2.7]');
  assert.equal(planDomain(plan), null);
  assert.equal(level(s, plan, { host: '192.0.2.7', port: 25, name: '192.0.2.7' }).level, 'encrypt');
});

test('MTA-STS enforce: verify for an MX the policy lists (exactly or by "*."), an MX it does not list is not used', () => {
  const s = settings();
  const d = level(s, mxPlan, mx1, enforce);
  assert.equal(d.level, 'verify');
  assert.deepEqual(d.source, { kind: 'mta-sts', domain: 'example.com', id: 'abc1', mode: 'enforce' });
  assert.equal(level(s, mxPlan, { host: '192.0.2.12', port: 25, name: 'b1.backup.example.com' }, enforce).level, 'verify');
  const out = decideTls(s, mxPlan, mx2, enforce);
  assert.equal(out.use, false);
  assert.match(out.use ? '' : out.reason, /mail\.other\.net is not an MX host of the MTA-STS policy of example\.com/);
  const deep = decideTls(s, mxPlan, { host: '192.0.2.13', port: 25, name: 'a.b1.backup.example.com' }, enforce);
  assert.equal(deep.use, false, '"*." stands for one label only');
});

test('MTA-STS testing: may, with what enforce would have checked; none: ignored', () => {
  const s = settings();
  const d = level(s, mxPlan, mx2, testing);
  assert.equal(d.level, 'may');
  assert.deepEqual(d.testing, { domain: 'example.com', id: 'abc1', mxMatches: false });
  assert.deepEqual(level(s, mxPlan, mx1, testing).testing, { domain: 'example.com', id: 'abc1', mxMatches: true });
  const n = level(s, mxPlan, mx2, stsNone);
  assert.equal(n.level, 'may');
  assert.equal(n.testing, undefined);
});

test('MTA-STS applies to MX deliveries only, and an entry comes before it', () => {
  const s = settings([{ next_hop: 'mail.other.net', level: 'encrypt' }]);
  assert.equal(level(s, mxPlan, mx2, enforce).level, 'encrypt', 'an explicit entry lets an administrator work around a broken policy');
  const local = planRoute(s, 'local.test');
  assert.equal(level(s, local, { host: '10.0.0.6', port: 25, name: 'in.local.test' }, enforce).level, 'may');
});

test('domainEntryFor: the first domain entry for the destination (then MTA-STS is not asked); next_hop entries do not count', () => {
  const s = settings([{ next_hop: 'mx1.example.com', level: 'none' }, { domain: '.com', level: 'may' }, { domain: 'example.com', level: 'verify' }]);
  assert.equal(domainEntryFor(s.delivery.tls_policy, mxPlan), 1);
  assert.equal(domainEntryFor(s.delivery.tls_policy, { kind: 'mx', key: 'mx:example.org', domain: 'example.org' }), -1);
  assert.equal(domainEntryFor(s.delivery.tls_policy, { kind: 'smarthost', key: 'smarthost', hosts: [] }), -1);
});

test('describeSource names the setting that asked for the level', () => {
  const s = settings([{ domain: 'example.com', level: 'encrypt' }, { next_hop: 'mx1.example.com', level: 'verify' }]);
  const [a, b] = s.delivery.tls_policy as [TlsPolicyEntry, TlsPolicyEntry];
  assert.equal(describeSource({ kind: 'entry', index: 0, entry: a }), 'delivery.tls_policy[0] (domain example.com, level encrypt)');
  assert.equal(describeSource({ kind: 'entry', index: 1, entry: b }), 'delivery.tls_policy[1] (next_hop mx1.example.com, level verify)');
  assert.equal(describeSource({ kind: 'mta-sts', domain: 'example.com', id: 'abc1', mode: 'enforce' }), 'the MTA-STS policy of example.com (id abc1, mode enforce)');
  assert.equal(describeSource({ kind: 'smarthost' }), 'delivery.smarthost.tls: required');
  assert.equal(describeSource({ kind: 'default' }), 'the default level (may)');
});
