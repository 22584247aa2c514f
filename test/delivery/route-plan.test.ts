// src/delivery/routes.ts on its own, with a fake Dns (no sockets; the
// end-to-end routes are in routes.test.ts): planRoute (a local
// domain's route first, compared case-insensitively and without a trailing
// dot; anything else to the smarthost when one is set; otherwise the domain's
// MX hosts, or the address of an address literal) and resolveTargets (MX by
// preference with equal preferences shuffled by the injected random source,
// null MX fails with 5.1.10, a domain that does not exist with 5.1.2, a DNS
// failure defers with 4.4.3, no MX falls back to A/AAAA, host names are
// resolved, route hosts keep their order). docs/configuration.md ("Routes")
// is the specification.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { embeddedDefaults, type Settings, type Smarthost } from '../../src/config/document.ts';
import type { Dns, Lookup, MxRecord } from '../../src/delivery/resolver.ts';
import { planRoute, recipientDomain, resolveTargets, routeOptions, type RoutePlan } from '../../src/delivery/routes.ts';

function settings(over: { domains?: Settings['domains']; smarthost?: Smarthost | null; mxPort?: number } = {}): Settings {
  const s = embeddedDefaults();
  s.domains = over.domains ?? [];
  s.delivery = { ...s.delivery, smarthost: over.smarthost ?? null, mx_port: over.mxPort ?? 25 };
  return s;
}

const smarthost: Smarthost = { host: 'smart.example.net', port: 587, tls: 'required', username: 'relay', password: 'secret' };

/** A Dns answering from tables; a name missing from a table is NXDOMAIN. Records every question. */
class FakeDns implements Dns {
  readonly asked: string[] = [];
  private readonly mxTable: Record<string, Lookup<MxRecord[]>>;
  private readonly addrTable: Record<string, Lookup<string[]>>;
  constructor(mxTable: Record<string, Lookup<MxRecord[]>> = {}, addrTable: Record<string, Lookup<string[]>> = {}) {
    this.mxTable = mxTable;
    this.addrTable = addrTable;
  }

  async mx(domain: string): Promise<Lookup<MxRecord[]>> {
    this.asked.push(`MX ${domain}`);
    return this.mxTable[domain] ?? { kind: 'nxdomain' };
  }

  async addresses(name: string): Promise<Lookup<string[]>> {
    this.asked.push(`A ${name}`);
    return this.addrTable[name] ?? { kind: 'nxdomain' };
  }
}

const ok = <T>(value: T): Lookup<T> => ({ kind: 'ok', value });
const servfail = (reason = 'ESERVFAIL: queryMx ESERVFAIL example.org'): Lookup<never> => ({ kind: 'error', reason });

/** A random source that returns the given values in turn. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => {
    const v = values[i % values.length] as number;
    i++;
    return v;
  };
}

// ---------------------------------------------------------------- recipientDomain

test('recipientDomain: the normalised domain of a stored recipient, "" for a bare postmaster', () => {
  assert.equal(recipientDomain('user@Example.COM.'), 'example.com');
  assert.equal(recipientDomain('"a@b"@example.org'), 'example.org');
  assert.equal(recipientDomain('postmaster'), '');
  assert.equal(recipientDomain('user@[192.0.2.7]'), '[192.0.2.7]');
  assert.equal(recipientDomain('user@Bücher.Example'), 'xn--bcher-kva.example');
});

// ---------------------------------------------------------------- planRoute

test('planRoute: a local domain goes to its route, hosts in order with their ports (25 by default)', () => {
  const s = settings({ domains: [{ name: 'example.com', route: { hosts: ['127.0.0.22:2525', 'Relay.Example.NET', '[2001:db8::1]:26', '192.0.2.5'] } }] });
  const plan = planRoute(s, 'example.com');
  assert.deepEqual(plan, {
    kind: 'local',
    key: 'route:example.com',
    domain: 'example.com',
    hosts: [
      { host: '127.0.0.22', port: 2525 },
      { host: 'relay.example.net', port: 25 },
      { host: '2001:db8::1', port: 26 },
      { host: '192.0.2.5', port: 25 },
    ],
  });
});

test('planRoute: local domains match case-insensitively and with or without a trailing dot, on either side', () => {
  const s = settings({ domains: [{ name: 'Example.COM.', route: { hosts: ['127.0.0.22:2525'] } }, { name: 'other.example', route: { hosts: ['127.0.0.23'] } }] });
  for (const d of ['example.com', 'EXAMPLE.COM', 'Example.Com.', 'example.com.']) {
    const plan = planRoute(s, d);
    assert.equal(plan.kind, 'local', d);
    assert.equal(plan.key, 'route:example.com', d);
    if (plan.kind === 'local') assert.equal(plan.domain, 'example.com');
  }
  assert.equal(planRoute(s, 'OTHER.example.').key, 'route:other.example');
  assert.equal(planRoute(s, 'sub.example.com').kind, 'mx', 'a subdomain is not the local domain');
  assert.equal(planRoute(s, 'example.co').kind, 'mx');
});

test('planRoute: an IDN local domain matches in U-labels and A-labels', () => {
  const s = settings({ domains: [{ name: 'bücher.example', route: { hosts: ['127.0.0.22'] } }] });
  assert.equal(planRoute(s, 'xn--bcher-kva.example').kind, 'local');
  assert.equal(planRoute(s, 'BÜCHER.example.').kind, 'local');
});

test('planRoute: a local domain goes to its route even when a smarthost is set', () => {
  const s = settings({ domains: [{ name: 'example.com', route: { hosts: ['127.0.0.22:2525'] } }], smarthost });
  assert.equal(planRoute(s, 'Example.com').kind, 'local');
});

test('planRoute: anything else goes to the smarthost when one is set, all domains sharing one destination', () => {
  const s = settings({ domains: [{ name: 'example.com', route: { hosts: ['127.0.0.22'] } }], smarthost });
  for (const d of ['example.org', 'EXAMPLE.net.', 'sub.example.com']) {
    assert.deepEqual(planRoute(s, d), { kind: 'smarthost', key: 'smarthost', hosts: [{ host: 'smart.example.net', port: 587 }] }, d);
  }
});

test('planRoute: without a smarthost, a domain goes to its MX hosts; one destination per domain', () => {
  const s = settings();
  assert.deepEqual(planRoute(s, 'Example.ORG.'), { kind: 'mx', key: 'mx:example.org', domain: 'example.org' });
  assert.notEqual(planRoute(s, 'a.example').key, planRoute(s, 'b.example').key);
  assert.equal(planRoute(s, 'xn--bcher-kva.example').key, planRoute(s, 'bücher.example').key);
});

test('planRoute: without a smarthost, an address literal goes to that address on the MX port', () => {
  const s = settings({ mxPort: 2526 });
  assert.deepEqual(planRoute(s, '[192.0.2.7]'), { kind: 'literal', key: 'literal:192.0.2.7', target: { host: '192.0.2.7', port: 2526, name: '192.0.2.7' } });
  const v6 = planRoute(s, '[IPv6:2001:DB8::1]');
  assert.equal(v6.kind, 'literal');
  if (v6.kind === 'literal') assert.deepEqual(v6.target, { host: '2001:db8::1', port: 2526, name: '2001:db8::1' });
});

test('planRoute: with a smarthost, an address literal goes to the smarthost too ("anything else to the smarthost when one is set")', () => {
  const s = settings({ smarthost });
  const plan = planRoute(s, '[192.0.2.7]');
  assert.equal(
    plan.kind,
    'smarthost',
    `user@[192.0.2.7] with delivery.smarthost set is planned as ${JSON.stringify(plan)}: a direct connection to the literal address, bypassing the smarthost (docs/configuration.md, Routes: anything not local goes to the smarthost when one is set)`,
  );
});

test('planRoute: a route host that does not parse is left out, the others kept', () => {
  const s = settings({ domains: [{ name: 'example.com', route: { hosts: ['bad host', '127.0.0.22:99999', '127.0.0.23:2525'] } }] });
  const plan = planRoute(s, 'example.com');
  assert.equal(plan.kind, 'local');
  if (plan.kind === 'local') assert.deepEqual(plan.hosts, [{ host: '127.0.0.23', port: 2525 }]);
});

test('routeOptions: the smarthost brings its TLS policy and credentials; everything else is opportunistic without AUTH', () => {
  const s = settings({ smarthost: { ...smarthost, ca: '/etc/ssl/smart-ca.pem' }, domains: [{ name: 'example.com', route: { hosts: ['127.0.0.22'] } }] });
  assert.deepEqual(routeOptions(s, planRoute(s, 'example.org')), { tls: 'required', auth: { user: 'relay', pass: 'secret' }, caFile: '/etc/ssl/smart-ca.pem' });
  assert.deepEqual(routeOptions(s, planRoute(s, 'example.com')), { tls: 'opportunistic' });
  assert.deepEqual(routeOptions(settings(), planRoute(settings(), 'example.org')), { tls: 'opportunistic' });
  const noUser = settings({ smarthost: { host: '192.0.2.1', port: 25, tls: 'opportunistic' } });
  assert.deepEqual(routeOptions(noUser, planRoute(noUser, 'example.org')), { tls: 'opportunistic' });
});

// ---------------------------------------------------------------- resolveTargets

const mxPlan = (domain: string): RoutePlan => ({ kind: 'mx', key: `mx:${domain}`, domain });

test('resolveTargets: an address literal needs no DNS', async () => {
  const dns = new FakeDns();
  const plan = planRoute(settings(), '[192.0.2.7]');
  assert.deepEqual(await resolveTargets(plan, dns, 25), { ok: true, targets: [{ host: '192.0.2.7', port: 25, name: '192.0.2.7' }] });
  assert.deepEqual(dns.asked, []);
});

test('resolveTargets: route hosts keep their order; addresses used as they are, names resolved (every address, in DNS order)', async () => {
  const dns = new FakeDns({}, { 'relay.example.net': ok(['192.0.2.20', '2001:db8::20']), 'b.example.net': ok(['192.0.2.30']) });
  const s = settings({ domains: [{ name: 'example.com', route: { hosts: ['127.0.0.22:2525', 'relay.example.net:2526', '192.0.2.9', 'b.example.net'] } }] });
  const got = await resolveTargets(planRoute(s, 'example.com'), dns, 9999);
  assert.deepEqual(got, {
    ok: true,
    targets: [
      { host: '127.0.0.22', port: 2525, name: '127.0.0.22' },
      { host: '192.0.2.20', port: 2526, name: 'relay.example.net' },
      { host: '2001:db8::20', port: 2526, name: 'relay.example.net' },
      { host: '192.0.2.9', port: 25, name: '192.0.2.9' },
      { host: '192.0.2.30', port: 25, name: 'b.example.net' },
    ],
  });
  assert.deepEqual(dns.asked, ['A relay.example.net', 'A b.example.net'], 'no MX lookup for a route');
});

test('resolveTargets: a route host that does not resolve is skipped; when none resolves the route defers with 4.4.3', async () => {
  const dns = new FakeDns({}, { 'good.example.net': ok(['192.0.2.40']), 'tmp.example.net': servfail('ETIMEOUT: queryA ETIMEOUT tmp.example.net'), 'empty.example.net': { kind: 'nodata' } });
  const s = settings({ domains: [{ name: 'example.com', route: { hosts: ['gone.example.net', 'tmp.example.net', 'good.example.net'] } }, { name: 'example.org', route: { hosts: ['gone.example.net', 'tmp.example.net', 'empty.example.net'] } }] });
  assert.deepEqual(await resolveTargets(planRoute(s, 'example.com'), dns, 25), { ok: true, targets: [{ host: '192.0.2.40', port: 25, name: 'good.example.net' }] });
  const bad = await resolveTargets(planRoute(s, 'example.org'), dns, 25);
  assert.equal(bad.ok, false);
  if (!bad.ok) {
    assert.equal(bad.fate, 'deferred');
    assert.equal(bad.status, '4.4.3');
    assert.match(bad.reason, /gone\.example\.net: no such host/);
    assert.match(bad.reason, /tmp\.example\.net: ETIMEOUT/);
    assert.match(bad.reason, /empty\.example\.net: no address records/);
  }
});

test('resolveTargets: the smarthost name is resolved; unresolvable it defers with 4.4.3', async () => {
  const s = settings({ smarthost });
  const plan = planRoute(s, 'example.org');
  assert.deepEqual(await resolveTargets(plan, new FakeDns({}, { 'smart.example.net': ok(['192.0.2.50']) }), 25), { ok: true, targets: [{ host: '192.0.2.50', port: 587, name: 'smart.example.net' }] });
  const down = await resolveTargets(plan, new FakeDns({}, { 'smart.example.net': servfail() }), 25);
  assert.deepEqual(down.ok ? null : [down.fate, down.status], ['deferred', '4.4.3']);
});

test('resolveTargets: MX hosts by preference (lowest first), each name resolved, on the MX port', async () => {
  const dns = new FakeDns(
    { 'example.org': ok([{ exchange: 'mx3.example.org', priority: 30 }, { exchange: 'MX1.Example.ORG', priority: 10 }, { exchange: 'mx2.example.org', priority: 20 }]) },
    { 'mx1.example.org': ok(['192.0.2.1', '2001:db8::1']), 'mx2.example.org': ok(['192.0.2.2']), 'mx3.example.org': ok(['192.0.2.3']) },
  );
  const got = await resolveTargets(mxPlan('example.org'), dns, 2526, () => 0.5);
  assert.deepEqual(got, {
    ok: true,
    targets: [
      { host: '192.0.2.1', port: 2526, name: 'mx1.example.org' },
      { host: '2001:db8::1', port: 2526, name: 'mx1.example.org' },
      { host: '192.0.2.2', port: 2526, name: 'mx2.example.org' },
      { host: '192.0.2.3', port: 2526, name: 'mx3.example.org' },
    ],
  });
  assert.deepEqual(dns.asked, ['MX example.org', 'A mx1.example.org', 'A mx2.example.org', 'A mx3.example.org']);
});

test('resolveTargets: equal preferences come in the order the injected random source gives, after lower ones', async () => {
  const mx = ok([
    { exchange: 'x.example.org', priority: 10 },
    { exchange: 'y.example.org', priority: 10 },
    { exchange: 'z.example.org', priority: 5 },
    { exchange: 'w.example.org', priority: 10 },
  ]);
  const addrs = { 'x.example.org': ok(['192.0.2.11']), 'y.example.org': ok(['192.0.2.12']), 'z.example.org': ok(['192.0.2.13']), 'w.example.org': ok(['192.0.2.14']) };
  const order = async (random: () => number) => {
    const r = await resolveTargets(mxPlan('example.org'), new FakeDns({ 'example.org': mx }, addrs), 25, random);
    return r.ok ? r.targets.map((t) => t.name[0]) : [];
  };
  // One random draw per record, in record order: x, y, z, w.
  assert.deepEqual(await order(sequence(0.9, 0.1, 0.5, 0.5)), ['z', 'y', 'w', 'x']);
  assert.deepEqual(await order(sequence(0.1, 0.9, 0.5, 0.5)), ['z', 'x', 'w', 'y']);
  assert.deepEqual(await order(sequence(0.3, 0.2, 0.99, 0.1)), ['z', 'w', 'y', 'x']);
  // With Math.random every order of the three shows up, and z always comes first.
  const seen = new Set<string>();
  for (let k = 0; k < 300 && seen.size < 6; k++) {
    const o = await order(Math.random);
    assert.equal(o[0], 'z', 'the lower preference first, always');
    seen.add(o.join(''));
  }
  assert.equal(seen.size, 6, `all six orders of the equal preferences: ${[...seen].join(' ')}`);
});

test('resolveTargets: a null MX (RFC 7505) fails at once with 5.1.10, without address lookups', async () => {
  for (const exchange of ['', '.']) {
    const dns = new FakeDns({ 'nomail.example': ok([{ exchange, priority: 0 }]) });
    const got = await resolveTargets(mxPlan('nomail.example'), dns, 25);
    assert.equal(got.ok, false, `exchange ${JSON.stringify(exchange)}`);
    if (!got.ok) {
      assert.equal(got.fate, 'failed');
      assert.equal(got.status, '5.1.10');
      assert.match(got.reason, /null MX/);
    }
    assert.deepEqual(dns.asked, ['MX nomail.example']);
  }
});

test('resolveTargets: a domain that does not exist fails with 5.1.2', async () => {
  const got = await resolveTargets(mxPlan('nosuch.example'), new FakeDns(), 25);
  assert.deepEqual(got.ok ? null : [got.fate, got.status], ['failed', '5.1.2']);
});

test('resolveTargets: a DNS failure (SERVFAIL, timeout) of the MX lookup defers with 4.4.3 and asks nothing more', async () => {
  const dns = new FakeDns({ 'example.org': servfail() }, { 'example.org': ok(['192.0.2.1']) });
  const got = await resolveTargets(mxPlan('example.org'), dns, 25);
  assert.equal(got.ok, false);
  if (!got.ok) {
    assert.equal(got.fate, 'deferred');
    assert.equal(got.status, '4.4.3');
    assert.match(got.reason, /ESERVFAIL/);
  }
  assert.deepEqual(dns.asked, ['MX example.org']);
});

test('resolveTargets: no MX records (NODATA or an empty answer) falls back to the domain\'s A/AAAA records', async () => {
  for (const mx of [{ kind: 'nodata' } as const, ok<MxRecord[]>([])]) {
    const dns = new FakeDns({ 'example.org': mx }, { 'example.org': ok(['192.0.2.60', '2001:db8::60']) });
    assert.deepEqual(await resolveTargets(mxPlan('example.org'), dns, 2526), {
      ok: true,
      targets: [
        { host: '192.0.2.60', port: 2526, name: 'example.org' },
        { host: '2001:db8::60', port: 2526, name: 'example.org' },
      ],
    });
    assert.deepEqual(dns.asked, ['MX example.org', 'A example.org']);
  }
});

test('resolveTargets: no MX and no address: 5.1.2; no MX and a failed address lookup: 4.4.3', async () => {
  const none = await resolveTargets(mxPlan('example.org'), new FakeDns({ 'example.org': { kind: 'nodata' } }, { 'example.org': { kind: 'nodata' } }), 25);
  assert.deepEqual(none.ok ? null : [none.fate, none.status], ['failed', '5.1.2']);
  const gone = await resolveTargets(mxPlan('example.org'), new FakeDns({ 'example.org': { kind: 'nodata' } }), 25);
  assert.deepEqual(gone.ok ? null : [gone.fate, gone.status], ['failed', '5.1.2']);
  const tmp = await resolveTargets(mxPlan('example.org'), new FakeDns({ 'example.org': { kind: 'nodata' } }, { 'example.org': servfail('ETIMEOUT: queryA ETIMEOUT') }), 25);
  assert.deepEqual(tmp.ok ? null : [tmp.fate, tmp.status], ['deferred', '4.4.3']);
});

test('resolveTargets: MX hosts without addresses are skipped; when none has one the domain defers with 4.4.3', async () => {
  const mx = ok([{ exchange: 'a.example.org', priority: 10 }, { exchange: 'b.example.org', priority: 20 }, { exchange: 'c.example.org', priority: 30 }]);
  const some = await resolveTargets(mxPlan('example.org'), new FakeDns({ 'example.org': mx }, { 'b.example.org': servfail(), 'c.example.org': ok(['192.0.2.3']) }), 25);
  assert.deepEqual(some, { ok: true, targets: [{ host: '192.0.2.3', port: 25, name: 'c.example.org' }] });
  const none = await resolveTargets(mxPlan('example.org'), new FakeDns({ 'example.org': mx }, { 'b.example.org': servfail(), 'c.example.org': { kind: 'nodata' } }), 25);
  assert.equal(none.ok, false);
  if (!none.ok) {
    assert.equal(none.fate, 'deferred');
    assert.equal(none.status, '4.4.3');
    assert.match(none.reason, /a\.example\.org: no such host/);
  }
});

test('resolveTargets: an MX host given as an IP address is used as it is', async () => {
  const dns = new FakeDns({ 'example.org': ok([{ exchange: '192.0.2.77', priority: 10 }]) });
  assert.deepEqual(await resolveTargets(mxPlan('example.org'), dns, 25), { ok: true, targets: [{ host: '192.0.2.77', port: 25, name: '192.0.2.77' }] });
});
