// The proxy path (issue #13): a client inside a listener's trusted_proxies
// chooses, in its PROXY header, the address every rule sees. `policy explain`
// decides such a client for the address it can claim and says so; the
// open-relay test probes every trusted proxy range.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { explain, openRelayTest } from '../../src/checks/explain.ts';
import { bestClaim, listenerTrusting } from '../../src/policy/proxy-path.ts';
import { client, relayDoc, snapshotOf, type Knobs } from './helpers.ts';

const LB = '172.20.0.5';
const STRANGER = '203.0.113.9';
const RELAY_HOST = '10.1.2.3';

/** relayDoc with a load balancer trusted on the mx listener (and, when asked, inside the blacklist). */
function withProxy(k: Knobs, proxies: string[] = ['edge-lb']): Record<string, unknown> {
  const doc = relayDoc(k) as { listeners: Record<string, unknown>[]; networks: unknown[] };
  doc.networks.push({ name: 'edge-lb', type: 'host', address: LB }, { name: 'black-lb', type: 'host', address: '198.51.100.30' });
  doc.listeners[0] = { ...doc.listeners[0], trusted_proxies: proxies };
  return doc;
}

const OPEN: Knobs = { upstreamOnly: false, authRelay: true, hostRelay: true };

describe('policy explain for a client inside a trusted proxy range', () => {
  it('is decided for the relay host address it can claim: relayed, and the trail says why', () => {
    const snap = snapshotOf(withProxy(OPEN));
    const x = explain(snap, { client: LB, from: '<a@example.net>', to: 'x@remote.example' });
    assert.deepEqual([x.decision.action, x.decision.kind, x.decision.rule, x.relayRight, x.listener], ['accept', 'relay', 'rule 4', 'host', 'port25-listener']);
    assert.deepEqual(x.proxy, { listener: 'port25-listener', entry: '"edge-lb"', claims: '10.1.0.0', claims_as: 'relay host' });
    assert.match(x.decision.trail[0] ?? '', /^client 172\.20\.0\.5 is a trusted proxy of listener "port25-listener" \(trusted_proxies: "edge-lb"\)/);
    assert.match(x.decision.trail[1] ?? '', /can claim relay host 10\.1\.0\.0 \(relaying\.allowed_hosts: "office-lan"\)/);
    // The same address without the proxy entry has no relay right.
    const plain = explain(snapshotOf(relayDoc(OPEN)), { client: LB, from: '<a@example.net>', to: 'x@remote.example' });
    assert.deepEqual([plain.decision.action, plain.decision.code, plain.proxy], ['reject', 554, null]);
  });

  it('a proxy inside the blacklist still claims its way in', () => {
    const snap = snapshotOf(withProxy(OPEN, ['black-lb']));
    const x = explain(snap, { client: '198.51.100.30', from: '<>', to: 'x@remote.example' });
    assert.deepEqual([x.decision.action, x.decision.kind, x.proxy?.claims], ['accept', 'relay', '10.1.0.0']);
  });

  it('on a listener that does not trust it, the client is decided for its own address', () => {
    const snap = snapshotOf(withProxy(OPEN));
    const x = explain(snap, { client: LB, listener: 'port587-listener', from: '<>', to: 'x@remote.example' });
    assert.equal(x.proxy, null);
    assert.deepEqual([x.decision.action, x.decision.code, x.decision.stage], ['reject', 530, 'mail']);
    assert.equal(listenerTrusting(snap, client(LB).ip)?.name, 'port25-listener');
  });

  it('without relay hosts it claims an upstream host: past upstream_only, but no relay', () => {
    const k: Knobs = { upstreamOnly: true, authRelay: false, hostRelay: false };
    const snap = snapshotOf(withProxy(k));
    assert.deepEqual(((c) => [c?.client.text, c?.as])(bestClaim(snap)), ['192.0.2.10', 'upstream host']);
    const x = explain(snap, { client: LB, from: '<>', to: 'x@remote.example' });
    assert.deepEqual([x.decision.stage, x.decision.code, x.decision.rule, x.proxy?.claims_as], ['rcpt', 554, 'rule 4', 'upstream host']);
    const inbound = explain(snap, { client: LB, from: '<>', to: 'x@ours.example' });
    assert.deepEqual([inbound.decision.action, inbound.decision.kind], ['accept', 'inbound']);
    // Its own address would have been refused at connect (rule 2).
    assert.deepEqual(((d) => [d.stage, d.rule])(explain(snapshotOf(relayDoc(k)), { client: LB, from: '<>', to: 'x@ours.example' }).decision), ['connect', 'rule 2']);
  });
});

describe('policy test-open-relay and the trusted proxy ranges', () => {
  it('an outside client relays nothing, and the report names the proxy range that relays as much as a relay host', () => {
    const snap = snapshotOf(withProxy(OPEN));
    const asRelayHost = openRelayTest(snap, { client: RELAY_HOST }).relayed;
    assert.ok(asRelayHost > 0);
    const t = openRelayTest(snap, { client: STRANGER });
    assert.deepEqual([t.relayed, t.proxy], [0, null]);
    assert.deepEqual(t.proxies, [{ listener: 'port25-listener', network: 'edge-lb', ranges: LB, probe: LB, claims: '10.1.0.0', claims_as: 'relay host', relayed: asRelayHost }]);
  });

  it('a client inside the proxy range relays what a relay host relays', () => {
    const snap = snapshotOf(withProxy(OPEN));
    const t = openRelayTest(snap, { client: LB });
    assert.equal(t.relayed, openRelayTest(snap, { client: RELAY_HOST }).relayed);
    assert.equal(t.proxy?.listener, 'port25-listener');
    assert.ok(t.results.find((r) => r.to === 'user@victim.example')?.relayed);
  });

  it('with no relay host, a proxy range relays nothing', () => {
    const t = openRelayTest(snapshotOf(withProxy({ upstreamOnly: false, authRelay: true, hostRelay: false })), { client: STRANGER });
    assert.deepEqual(t.proxies.map((p) => [p.network, p.claims_as, p.relayed]), [['edge-lb', 'upstream host', 0]]);
  });

  it('no trusted proxies: nothing to report', () => {
    assert.deepEqual(openRelayTest(snapshotOf(relayDoc(OPEN)), { client: STRANGER }).proxies, []);
  });
});

