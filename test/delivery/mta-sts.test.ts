// MTA-STS (RFC 8461) end to end: the real daemon delivers by MX, with the
// `_mta-sts` TXT record, the MX records and the addresses of the MX hosts and
// of mta-sts.DOMAIN in a real dnsmasq zone (dns-server.ts), the policy served
// by a node HTTPS server on 127.0.0.1 (port 0, a test certificate: the
// test-only settings delivery.mta_sts.port and .ca point the relay at it),
// and real sinks with STARTTLS as the MX hosts. enforce: a listed MX with a
// valid certificate delivers, a certificate for another name defers 4.7.5,
// an MX the policy does not list is not used; testing delivers and logs;
// the policy is fetched once and then taken from the cache.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queueEnvelopes, relayDoc, startRelay, type LogLine, type Relay, deliveryOf, submitTo } from '../smtp/harness.ts';
import { selfSignedCert, startSink, type Sink } from './sink.ts';
import { dnsmasqMissing, startDns, type DnsServer } from './dns-server.ts';
import { ApiClient, onStderr } from '../api/client.ts';

type T = { after(fn: () => unknown): void };

const noDns = dnsmasqMissing();
const skip = { skip: noDns || undefined };

interface MxSpec {
  name: string;
  address: string;
  /** The name the MX host's certificate is for. */
  certName: string;
  preference: number;
}

interface World {
  relay: Relay;
  sinks: Sink[];
  dns: DnsServer;
  /** HTTPS requests for the policy so far. */
  requests: () => number;
}

/** Sinks with STARTTLS on their loopback addresses, all on one port (delivery.mx_port). */
async function mxSinks(t: T, specs: MxSpec[]): Promise<{ port: number; sinks: Sink[]; certs: string[] }> {
  const pems = await Promise.all(specs.map((s) => selfSignedCert({ dns: [s.certName] })));
  for (let i = 0; i < 10; i++) {
    let port = 0;
    const started: Sink[] = [];
    try {
      for (const [n, s] of specs.entries()) {
        const sink = await startSink({ address: s.address, port, tls: pems[n] });
        started.push(sink);
        port = sink.port;
      }
      for (const s of started) t.after(() => s.close());
      return { port, sinks: started, certs: pems.map((p) => p.cert) };
    } catch (e) {
      await Promise.all(started.map((s) => s.close()));
      if (!/EADDRINUSE/.test(String(e))) throw e;
    }
  }
  throw new Error('no port free on every MX address after 10 tries');
}

async function world(t: T, domain: string, policy: string, mxs: MxSpec[], extra: Record<string, unknown> = {}, id = '20261204T1'): Promise<World> {
  const { port, sinks, certs } = await mxSinks(t, mxs);
  // The policy server: its certificate for mta-sts.DOMAIN; the CA file trusts it and the MX hosts' certificates.
  const httpsPem = await selfSignedCert({ dns: [`mta-sts.${domain}`] });
  let requests = 0;
  const server = createServer({ key: httpsPem.key, cert: httpsPem.cert }, (req, res) => {
    requests++;
    if (req.url !== '/.well-known/mta-sts.txt' || req.headers.host?.split(':')[0] !== `mta-sts.${domain}`) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(policy);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.80', done));
  t.after(() => new Promise<void>((done) => server.close(() => done())));
  const httpsPort = (server.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-mta-sts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const caPath = join(dir, 'test-ca.pem');
  // Each test certificate is its own CA.
  writeFileSync(caPath, [httpsPem.cert, ...certs].join('\n'));
  const dns = await startDns(t, {
    mx: mxs.map((m) => ({ domain, exchange: m.name, preference: m.preference })),
    a: [...mxs.map((m) => ({ name: m.name, address: m.address })), { name: `mta-sts.${domain}`, address: '127.0.0.80' }],
    txt: [{ name: `_mta-sts.${domain}`, text: `v=STSv1; id=${id};` }],
  });
  const settings = {
    delivery: { enabled: true, connect_timeout: '5s', reply_timeout: '10s', mx_port: port, mta_sts: { enabled: true, port: httpsPort, ca: caPath } },
    dns: { servers: [dns.server] },
  };
  const { doc, ports } = await relayDoc({ ...settings, ...extra });
  const relay = await startRelay(t, doc, ports);
  return { relay, sinks, dns, requests: () => requests };
}

/** Polls (from the test) until `pred` holds; bounded. */
async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const policy = (mode: string, mx: string[], maxAge = 86400) => `version: STSv1\r\nmode: ${mode}\r\n${mx.map((m) => `mx: ${m}\r\n`).join('')}max_age: ${maxAge}\r\n`;

test('enforce: a listed MX with a valid certificate delivers over TLS; the second delivery takes the policy from the cache', skip, async (t) => {
  const w = await world(t, 'sts-ok.test', policy('enforce', ['mx.sts-ok.test']), [{ name: 'mx.sts-ok.test', address: '127.0.0.81', certName: 'mx.sts-ok.test', preference: 10 }]);
  const [mx] = w.sinks as [Sink];
  const a = await submitTo(w.relay.ports.mx, 'ann@sts-ok.test', 'first');
  const first = await deliveryOf(w.relay, a, 'ann@sts-ok.test');
  assert.equal(first.status, 'delivered', `${String(first.dsn)} ${String(first.response)}`);
  assert.equal(mx.messages[0]?.secure, true);
  const fetched = await w.relay.waitLog((l) => l.event === 'mta_sts.fetched' && l.domain === 'sts-ok.test');
  assert.equal(fetched.mode, 'enforce');
  assert.equal(fetched.id, '20261204T1');
  assert.equal(w.requests(), 1);
  // A new connection for the second message, so that the destination is looked up again.
  await until(() => mx.open === 0, 'the idle connection to the MX host to close');
  const b = await submitTo(w.relay.ports.mx, 'ann@sts-ok.test', 'second');
  assert.equal((await deliveryOf(w.relay, b, 'ann@sts-ok.test')).status, 'delivered');
  assert.equal(mx.connections, 2, 'two connections');
  assert.equal(mx.messages[1]?.secure, true);
  assert.equal(w.dns.queries().filter((q) => q.type === 'TXT' && q.name === '_mta-sts.sts-ok.test').length, 2, 'the TXT record asked once per connection');
  assert.equal(w.requests(), 1, 'the policy was not fetched again: same id, max_age not over');
  assert.equal(w.relay.logs.filter((l) => l.event === 'mta_sts.fetched').length, 1);
});

/** Deferred with 4.7.5, no transaction at any MX host, no bounce, still queued. */
async function assertStsDeferred(w: World, id: string, recipient: string, why: string): Promise<LogLine> {
  const line = await deliveryOf(w.relay, id, recipient);
  assert.equal(line.status, 'deferred', `${why}: expected a deferral, got ${line.status} (${String(line.dsn)} ${String(line.response)})`);
  assert.equal(line.dsn, '4.7.5', why);
  assert.equal(w.relay.logs.find((l) => l.event === 'dsn.queued' && l.of === id), undefined, `${why}: no bounce`);
  for (const s of w.sinks) {
    assert.equal(s.messages.length, 0, `${why}: nothing delivered`);
    assert.deepEqual(s.events.filter((e) => e.command !== 'CONNECT'), [], `${why}: no transaction`);
  }
  const env = (await queueEnvelopes(w.relay)).find((e) => e.id === id);
  assert.equal(env?.recipients.find((r) => r.address === recipient)?.status, 'deferred', `${why}: still queued`);
  return line;
}

test('enforce: an MX certificate for another name defers 4.7.5 naming the policy', skip, async (t) => {
  const w = await world(t, 'sts-name.test', policy('enforce', ['mx.sts-name.test']), [{ name: 'mx.sts-name.test', address: '127.0.0.82', certName: 'other.example', preference: 10 }]);
  const id = await submitTo(w.relay.ports.mx, 'bea@sts-name.test', 'wrong name');
  const line = await assertStsDeferred(w, id, 'bea@sts-name.test', 'a certificate for another name under enforce');
  assert.match(String(line.response), /does not match certificate|altnames/i);
  assert.match(String(line.response), /the MTA-STS policy of sts-name\.test \(id 20261204T1, mode enforce\)/);
});

test('enforce: an MX host the policy does not list is not used, a listed one is', skip, async (t) => {
  const w = await world(t, 'sts-mx.test', policy('enforce', ['*.good.sts-mx.test']), [
    // The preferred MX is not in the policy: it must not even be connected to.
    { name: 'mx1.sts-mx.test', address: '127.0.0.83', certName: 'mx1.sts-mx.test', preference: 10 },
    { name: 'mx2.good.sts-mx.test', address: '127.0.0.84', certName: 'mx2.good.sts-mx.test', preference: 20 },
  ]);
  const [mx1, mx2] = w.sinks as [Sink, Sink];
  const id = await submitTo(w.relay.ports.mx, 'cid@sts-mx.test', 'unlisted mx');
  const line = await deliveryOf(w.relay, id, 'cid@sts-mx.test');
  assert.equal(line.status, 'delivered', `${String(line.dsn)} ${String(line.response)}`);
  assert.equal(line.relay, `mx2.good.sts-mx.test [127.0.0.84]:${mx2.port}`);
  assert.equal(mx2.messages[0]?.secure, true);
  assert.equal(mx1.connections, 0, 'the unlisted MX host was never contacted');
});

test('enforce: no MX host listed in the policy defers 4.7.5, logged', skip, async (t) => {
  const w = await world(t, 'sts-none.test', policy('enforce', ['mx.elsewhere.test']), [{ name: 'mx.sts-none.test', address: '127.0.0.85', certName: 'mx.sts-none.test', preference: 10 }]);
  const id = await submitTo(w.relay.ports.mx, 'dan@sts-none.test', 'no listed mx');
  const line = await assertStsDeferred(w, id, 'dan@sts-none.test', 'no MX host in the policy');
  assert.match(String(line.response), /mx\.sts-none\.test is not an MX host of the MTA-STS policy of sts-none\.test/);
  assert.equal(w.sinks[0]?.connections, 0);
  const refused = await w.relay.waitLog((l) => l.event === 'delivery.tls_refused' && l.destination === 'mx:sts-none.test');
  assert.match(String(refused.tls_policy), /MTA-STS policy of sts-none\.test \(id 20261204T1, mode enforce\)/);
});

test('testing: an MX certificate for another name and an unlisted MX still deliver; the problem is logged', skip, async (t) => {
  const w = await world(t, 'sts-test.test', policy('testing', ['mx.elsewhere.test']), [{ name: 'mx.sts-test.test', address: '127.0.0.86', certName: 'other.example', preference: 10 }]);
  const id = await submitTo(w.relay.ports.mx, 'eve@sts-test.test', 'testing mode');
  const line = await deliveryOf(w.relay, id, 'eve@sts-test.test');
  assert.equal(line.status, 'delivered', `${String(line.dsn)} ${String(line.response)}`);
  assert.equal(w.sinks[0]?.messages[0]?.secure, true, 'STARTTLS still used (may)');
  const report = await w.relay.waitLog((l) => l.event === 'mta_sts.testing' && l.domain === 'sts-test.test');
  assert.equal(report.mx, 'mx.sts-test.test');
  assert.equal(report.id, '20261204T1');
  assert.match(String(report.problem), /the MX host is not in the policy/);
  assert.match(String(report.problem), /certificate not valid for mx\.sts-test\.test/);
});

test('a domain entry of delivery.tls_policy comes before MTA-STS: the policy is not even looked up', skip, async (t) => {
  const w = await world(t, 'sts-over.test', policy('enforce', ['mx.elsewhere.test']), [{ name: 'mx.sts-over.test', address: '127.0.0.87', certName: 'mx.sts-over.test', preference: 10 }]);
  // Same world, a second relay with an entry for the domain.
  const { doc, ports } = await relayDoc({
    delivery: { enabled: true, connect_timeout: '5s', reply_timeout: '10s', mx_port: w.sinks[0]?.port, tls_policy: [{ domain: 'sts-over.test', level: 'encrypt' }], mta_sts: { enabled: true, port: 1, ca: null } },
    dns: { servers: [w.dns.server] },
  });
  const relay = await startRelay(t, doc, ports);
  const id = await submitTo(ports.mx, 'fay@sts-over.test', 'entry first');
  const line = await deliveryOf(relay, id, 'fay@sts-over.test');
  assert.equal(line.status, 'delivered', `${String(line.dsn)} ${String(line.response)}`);
  assert.equal(w.sinks[0]?.messages[0]?.secure, true, 'encrypt');
  assert.equal(w.requests(), 0);
  assert.equal(w.dns.queries().filter((q) => q.type === 'TXT').length, 0, 'no _mta-sts look-up');
});

test('GET /api/delivery/mta-sts/DOMAIN: the record and policy as a delivery would find them; no record, a bad name, admins only', skip, async (t) => {
  const w = await world(t, 'sts-api.test', policy('enforce', ['mx.sts-api.test', '*.backup.sts-api.test'], 600), [{ name: 'mx.sts-api.test', address: '127.0.0.88', certName: 'mx.sts-api.test', preference: 10 }], {
    admin: { enabled: true, address: '127.0.0.1', port: 0 },
  });
  await w.relay.waitLog((l) => l.event === 'admin.created');
  const password = await onStderr(w.relay, () => /with the password\n\n {4}(\S+)\n/.exec(w.relay.stderr())?.[1] ?? null);
  const api = new ApiClient(w.relay.adminPort ?? 0, readFileSync(join(w.relay.dataDir, 'tls', 'cert.pem')));
  const as = await api.login('admin', password);
  const a = await api.call('GET', '/api/delivery/mta-sts/STS-API.test', { as });
  assert.equal(a.status, 200, a.text);
  assert.deepEqual(a.json, {
    domain: 'sts-api.test',
    record: { id: '20261204T1' },
    policy: { id: '20261204T1', mode: 'enforce', mx: ['mx.sts-api.test', '*.backup.sts-api.test'], max_age: 600 },
    error: null,
    effect: 'only the MX hosts matching mx.sts-api.test, *.backup.sts-api.test, certificate checked (verify)',
  });
  assert.equal(w.requests(), 1);
  const none = await api.call('GET', '/api/delivery/mta-sts/no-policy.test', { as });
  assert.equal(none.status, 200);
  assert.deepEqual(none.json.record, { error: 'no _mta-sts record' });
  assert.equal(none.json.policy, null);
  const bad = await api.call('GET', '/api/delivery/mta-sts/not%20a%20domain', { as });
  assert.equal(bad.status, 400);
  const anon = await api.call('GET', '/api/delivery/mta-sts/sts-api.test');
  assert.equal(anon.status, 401, 'the API asks for a login');
  assert.equal((await api.call('POST', '/api/admins', { body: { name: 'olga', password: 'viewer-pass-1', role: 'viewer' }, as })).status, 201);
  const viewer = await api.login('olga', 'viewer-pass-1');
  const refused = await api.call('GET', '/api/delivery/mta-sts/sts-api.test', { as: viewer });
  assert.equal(refused.status, 403, 'a viewer may not make the daemon connect out');
  assert.equal(w.requests(), 1, 'nothing fetched for the viewer');
});

test('a policy that cannot be read: delivered as without MTA-STS (RFC 8461 5.1), the failure logged', skip, async (t) => {
  const w = await world(t, 'sts-bad.test', 'version: STSv1\r\nmode: strict\r\n', [{ name: 'mx.sts-bad.test', address: '127.0.0.89', certName: 'other.example', preference: 10 }]);
  const id = await submitTo(w.relay.ports.mx, 'gil@sts-bad.test', 'bad policy');
  const line = await deliveryOf(w.relay, id, 'gil@sts-bad.test');
  assert.equal(line.status, 'delivered', `${String(line.dsn)} ${String(line.response)}`);
  const failed = await w.relay.waitLog((l) => l.event === 'mta_sts.fetch_failed' && l.domain === 'sts-bad.test');
  assert.match(String(failed.error), /not valid: mode is "strict"/);
  assert.equal(failed.using, 'none');
  assert.equal(w.requests(), 1);
});
