// delivery.tls_policy end to end: the real daemon delivers to real sinks
// (sink.ts) with and without STARTTLS, through a local domain's route or by
// MX against a real dnsmasq (dns-server.ts). encrypt to a next hop without
// STARTTLS defers 4.7.5 and keeps the message queued, naming the entry;
// encrypt takes an unchecked certificate; verify checks the chain (the
// entry's ca) and the MX host name; none never sends STARTTLS. Everything on
// 127.0.0.0/8; every wait is on an event (a log line, a sink message).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queueEnvelopes, relayDoc, startRelay, type LogLine, type Relay, deliveryOf, submitTo } from '../smtp/harness.ts';
import { selfSignedCert, startSink, type Sink, type SinkOptions } from './sink.ts';
import { dnsmasqMissing, startDns } from './dns-server.ts';

type T = { after(fn: () => unknown): void };

const noDns = dnsmasqMissing();
const mxSkip = { skip: noDns || undefined };

async function sink(t: T, opts: SinkOptions = {}): Promise<Sink> {
  const s = await startSink(opts);
  t.after(() => s.close());
  return s;
}

function pemFile(t: T, pem: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-tls-policy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'ca.pem');
  writeFileSync(path, pem);
  return path;
}

/** Deferred with 4.7.5, nothing delivered, no bounce, still queued. */
async function assertTlsDeferred(relay: Relay, id: string, recipient: string, sinks: Sink[], why: string): Promise<LogLine> {
  const line = await deliveryOf(relay, id, recipient);
  assert.equal(line.status, 'deferred', `${why}: expected a deferral, got ${line.status} (${String(line.dsn)} ${String(line.response)})`);
  assert.equal(line.dsn, '4.7.5', `${why}: a TLS policy that cannot be met is X.7.5`);
  assert.equal(relay.logs.find((l) => l.event === 'dsn.queued' && l.of === id), undefined, `${why}: no bounce`);
  for (const s of sinks) {
    assert.equal(s.messages.length, 0, `${why}: nothing delivered`);
    assert.deepEqual(s.events.filter((e) => e.command === 'MAIL' || e.command === 'RCPT' || e.command === 'DATA'), [], `${why}: no transaction in clear`);
  }
  const env = (await queueEnvelopes(relay)).find((e) => e.id === id);
  assert.equal(env?.recipients.find((r) => r.address === recipient)?.status, 'deferred', `${why}: still queued`);
  return line;
}

const DELIVERY = { enabled: true, connect_timeout: '5s', reply_timeout: '10s' };

test('encrypt, next hop without STARTTLS: deferred 4.7.5, queued, the entry named in the reason and the log', async (t) => {
  const hop = await sink(t, { address: '127.0.0.61' });
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'enc.test', route: { hosts: [`127.0.0.61:${hop.port}`] } }],
    delivery: { ...DELIVERY, tls_policy: [{ domain: 'other.test', level: 'none' }, { domain: 'enc.test', level: 'encrypt' }] },
  });
  const relay = await startRelay(t, doc, ports);
  const id = await submitTo(ports.mx, 'bob@enc.test', 'encrypt no starttls');
  const line = await assertTlsDeferred(relay, id, 'bob@enc.test', [hop], 'encrypt without STARTTLS');
  assert.match(String(line.response), /TLS encrypt required by delivery\.tls_policy\[1\] \(domain enc\.test, level encrypt\)/);
  const failed = await relay.waitLog((l) => l.event === 'delivery.connect_failed' && l.destination === 'route:enc.test');
  assert.equal(failed.tls_policy, 'delivery.tls_policy[1] (domain enc.test, level encrypt)');
  assert.ok(hop.events.some((e) => e.command === 'CONNECT'), 'the next hop was reached (and refused STARTTLS)');
});

test('encrypt takes a certificate it does not trust (no check), over STARTTLS', async (t) => {
  const pem = await selfSignedCert({ dns: ['somewhere.else.test'] });
  const hop = await sink(t, { address: '127.0.0.62', tls: pem });
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'enc2.test', route: { hosts: [`127.0.0.62:${hop.port}`] } }],
    delivery: { ...DELIVERY, tls_policy: [{ next_hop: '127.0.0.62', level: 'encrypt' }] },
  });
  const relay = await startRelay(t, doc, ports);
  const id = await submitTo(ports.mx, 'carol@enc2.test', 'encrypt untrusted');
  const [m] = await hop.waitFor(1);
  assert.equal(m?.secure, true, 'sent over TLS');
  assert.equal((await deliveryOf(relay, id, 'carol@enc2.test')).status, 'delivered');
});

test('none: delivered in clear although the next hop offers STARTTLS; may (the default) uses it', async (t) => {
  const pem = await selfSignedCert({ ip: ['127.0.0.63', '127.0.0.64'] });
  const clear = await sink(t, { address: '127.0.0.63', tls: pem });
  const may = await sink(t, { address: '127.0.0.64', tls: pem });
  const { doc, ports } = await relayDoc({
    domains: [
      { name: 'clear.test', route: { hosts: [`127.0.0.63:${clear.port}`] } },
      { name: 'may.test', route: { hosts: [`127.0.0.64:${may.port}`] } },
    ],
    delivery: { ...DELIVERY, tls_policy: [{ domain: 'clear.test', level: 'none' }] },
  });
  const relay = await startRelay(t, doc, ports);
  const a = await submitTo(ports.mx, 'dave@clear.test', 'none in clear');
  const b = await submitTo(ports.mx, 'erin@may.test', 'may upgraded');
  const [m] = await clear.waitFor(1);
  assert.equal(m?.secure, false, 'level none: no STARTTLS');
  const [n] = await may.waitFor(1);
  assert.equal(n?.secure, true, 'level may: STARTTLS when offered');
  assert.equal((await deliveryOf(relay, a, 'dave@clear.test')).status, 'delivered');
  assert.equal((await deliveryOf(relay, b, 'erin@may.test')).status, 'delivered');
});

/** An MX host on its own loopback address with a certificate for `certName`, named mx.<domain> in a dnsmasq zone. */
async function mxSetup(t: T, domain: string, address: string, certName: string): Promise<{ hop: Sink; dnsServer: string; caPath: string }> {
  const pem = await selfSignedCert({ dns: [certName] });
  const hop = await sink(t, { address, tls: pem });
  const dns = await startDns(t, { mx: [{ domain, exchange: `mx.${domain}`, preference: 10 }], a: [{ name: `mx.${domain}`, address }] });
  return { hop, dnsServer: dns.server, caPath: pemFile(t, pem.cert) };
}

test('verify by MX: the right CA and the MX host name deliver over TLS', mxSkip, async (t) => {
  const { hop, dnsServer, caPath } = await mxSetup(t, 'good.test', '127.0.0.65', 'mx.good.test');
  const { doc, ports } = await relayDoc({
    delivery: { ...DELIVERY, mx_port: hop.port, mta_sts: { enabled: false }, tls_policy: [{ domain: 'good.test', level: 'verify', ca: caPath }] },
    dns: { servers: [dnsServer] },
  });
  const relay = await startRelay(t, doc, ports);
  const id = await submitTo(ports.mx, 'frank@good.test', 'verify ok');
  const [m] = await hop.waitFor(1);
  assert.equal(m?.secure, true);
  const line = await deliveryOf(relay, id, 'frank@good.test');
  assert.equal(line.status, 'delivered');
  assert.equal(line.relay, `mx.good.test [127.0.0.65]:${hop.port}`);
});

test('verify by MX: a trusted certificate for another name defers 4.7.5', mxSkip, async (t) => {
  const { hop, dnsServer, caPath } = await mxSetup(t, 'wrong.test', '127.0.0.66', 'elsewhere.test');
  const { doc, ports } = await relayDoc({
    delivery: { ...DELIVERY, mx_port: hop.port, mta_sts: { enabled: false }, tls_policy: [{ domain: 'wrong.test', level: 'verify', ca: caPath }, { next_hop: 'mx.wrong.test', level: 'verify' }] },
    dns: { servers: [dnsServer] },
  });
  const relay = await startRelay(t, doc, ports);
  const id = await submitTo(ports.mx, 'gina@wrong.test', 'verify wrong name');
  const line = await assertTlsDeferred(relay, id, 'gina@wrong.test', [hop], 'verify with a certificate for another name');
  assert.match(String(line.response), /does not match certificate|altnames/i, 'the reason is the name');
  assert.match(String(line.response), /delivery\.tls_policy\[0\] \(domain wrong\.test, level verify\)/);
});

test('verify on a route host: a certificate for its address but from no trusted CA defers 4.7.5', async (t) => {
  const pem = await selfSignedCert({ ip: ['127.0.0.67'] });
  const hop = await sink(t, { address: '127.0.0.67', tls: pem });
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'untrusted.test', route: { hosts: [`127.0.0.67:${hop.port}`] } }],
    delivery: { ...DELIVERY, tls_policy: [{ next_hop: `127.0.0.67:${hop.port}`, level: 'verify' }] },
  });
  const relay = await startRelay(t, doc, ports);
  const id = await submitTo(ports.mx, 'hal@untrusted.test', 'verify untrusted');
  const line = await assertTlsDeferred(relay, id, 'hal@untrusted.test', [hop], 'verify with an untrusted certificate');
  assert.match(String(line.response), /self.signed|certificate/i);
  assert.match(String(line.response), new RegExp(`delivery\\.tls_policy\\[0\\] \\(next_hop 127\\.0\\.0\\.67:${hop.port}, level verify\\)`));
});
