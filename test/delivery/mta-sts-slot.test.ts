// A destination waiting on a slow MTA-STS policy server holds no connection
// slot: with delivery.max_connections 1, mail to another destination goes out
// while the policy fetch of the first is still under way (a policy server on
// loopback that accepts and never answers the TLS handshake), and the first is
// delivered as without MTA-STS once the fetch has failed at its deadline.
// Real daemon, dnsmasq zone, real sinks; every wait is on an event.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { relayDoc, startRelay, deliveryOf, submitTo } from '../smtp/harness.ts';
import { startSink } from './sink.ts';
import { dnsmasqMissing, startDns } from './dns-server.ts';

const noDns = dnsmasqMissing();

test('a slow MTA-STS fetch holds no slot of delivery.max_connections: other mail goes out meanwhile', { skip: noDns || undefined }, async (t) => {
  // The policy server: accepts, never says a word (the TLS handshake hangs until the fetch's deadline).
  const sockets = new Set<Socket>();
  let accepted: () => void = () => {};
  const firstConnection = new Promise<void>((ok) => (accepted = ok));
  const silent = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    accepted();
  });
  await new Promise<void>((ok) => silent.listen(0, '127.0.0.82', ok));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((ok) => silent.close(() => ok()));
  });
  const mx = await startSink({ address: '127.0.0.81' });
  t.after(() => mx.close());
  const other = await startSink({ address: '127.0.0.83' });
  t.after(() => other.close());
  const dns = await startDns(t, {
    mx: [{ domain: 'slow-sts.test', exchange: 'mx.slow-sts.test', preference: 10 }],
    a: [
      { name: 'mx.slow-sts.test', address: '127.0.0.81' },
      { name: 'mta-sts.slow-sts.test', address: '127.0.0.82' },
    ],
    txt: [{ name: '_mta-sts.slow-sts.test', text: 'v=STSv1; id=slow1;' }],
  });
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'other.test', route: { hosts: [`127.0.0.83:${other.port}`] } }],
    delivery: {
      enabled: true,
      connect_timeout: '5s',
      reply_timeout: '10s',
      max_connections: 1,
      mx_port: mx.port,
      mta_sts: { enabled: true, port: (silent.address() as AddressInfo).port, timeout: '8s' },
    },
    dns: { servers: [dns.server] },
  });
  const relay = await startRelay(t, doc, ports);
  const slow = await submitTo(ports.mx, 'ann@slow-sts.test', 'waits on the policy');
  await firstConnection;
  const fast = await submitTo(ports.mx, 'bob@other.test', 'goes out meanwhile');
  const line = await deliveryOf(relay, fast, 'bob@other.test');
  assert.equal(line.status, 'delivered');
  assert.equal(
    relay.logs.find((l) => l.event === 'mta_sts.fetch_failed' && l.domain === 'slow-sts.test'),
    undefined,
    'the other destination was delivered while the policy fetch was still under way',
  );
  // The fetch fails at its deadline: delivered as without MTA-STS (nothing cached).
  const failed = await relay.waitLog((l) => l.event === 'mta_sts.fetch_failed' && l.domain === 'slow-sts.test');
  assert.equal(failed.using, 'none');
  assert.equal((await deliveryOf(relay, slow, 'ann@slow-sts.test')).status, 'delivered');
  assert.equal(mx.messages.length, 1);
});
