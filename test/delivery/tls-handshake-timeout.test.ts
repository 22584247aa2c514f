// A next hop that answers STARTTLS with 220 and then never does the handshake
// (a raw TCP server on loopback). Where TLS is required (encrypt, verify) the
// library's handshake timeout is a failed handshake: deferred 4.7.5, naming the
// tls_policy entry, as for any other TLS failure. Under may it stays a
// connection failure that moves on to the next host. The handshake timeout is
// the delivery's connect_timeout, kept small through the settings.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { queueEnvelopes, relayDoc, startRelay, deliveryOf, submitTo } from '../smtp/harness.ts';
import { startSink } from './sink.ts';

type T = { after(fn: () => unknown): void };

/** Greets, offers STARTTLS, says 220 to it, then stays silent. Counts the STARTTLS commands. */
async function silentTlsHop(t: T, address: string): Promise<{ port: number; starttls: () => number }> {
  let starttls = 0;
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = '';
    let silent = false;
    s.write('220 silent.test ESMTP\r\n');
    s.on('data', (chunk) => {
      if (silent) return;
      buf += chunk.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0 && !silent; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (/^EHLO /i.test(line)) s.write('250-silent.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n');
        else if (/^STARTTLS$/i.test(line)) {
          starttls++;
          s.write('220 go ahead\r\n');
          silent = true;
        } else if (/^QUIT$/i.test(line)) s.end('221 bye\r\n');
        else s.write('502 5.5.2 not here\r\n');
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, address, ok));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((ok) => server.close(() => ok()));
  });
  return { port: (server.address() as AddressInfo).port, starttls: () => starttls };
}

// The handshake may take what is left of connect_timeout: small, so that the test waits little.
const DELIVERY = { enabled: true, connect_timeout: '1s', reply_timeout: '2s' };

for (const level of ['encrypt', 'verify'] as const) {
  test(`${level}: a next hop that never does the handshake after 220 to STARTTLS: deferred 4.7.5 naming the tls_policy entry, still queued`, async (t) => {
    const address = level === 'encrypt' ? '127.0.0.71' : '127.0.0.72';
    const domain = `silent-${level}.test`;
    const hop = await silentTlsHop(t, address);
    const { doc, ports } = await relayDoc({
      domains: [{ name: domain, route: { hosts: [`${address}:${hop.port}`] } }],
      delivery: { ...DELIVERY, tls_policy: [{ domain, level }] },
    });
    const relay = await startRelay(t, doc, ports);
    const to = `bob@${domain}`;
    const id = await submitTo(ports.mx, to, `${level} silent handshake`);
    const line = await deliveryOf(relay, id, to);
    const entry = `delivery.tls_policy[0] (domain ${domain}, level ${level})`;
    assert.equal(line.status, 'deferred');
    assert.equal(line.dsn, '4.7.5', `a handshake that never completes where TLS is required is X.7.5, got ${String(line.dsn)} ${String(line.response)}`);
    assert.match(String(line.response), /TLS handshake timed out/);
    assert.ok(String(line.response).includes(`TLS ${level} required by ${entry}`), `the reason names the entry: ${String(line.response)}`);
    const failed = await relay.waitLog((l) => l.event === 'delivery.connect_failed' && l.destination === `route:${domain}`);
    assert.equal(failed.tls_policy, entry);
    assert.ok(hop.starttls() >= 1, 'the next hop was asked for STARTTLS');
    assert.equal(relay.logs.find((l) => l.event === 'dsn.queued' && l.of === id), undefined, 'no bounce');
    const env = (await queueEnvelopes(relay)).find((e) => e.id === id);
    assert.equal(env?.recipients.find((r) => r.address === to)?.status, 'deferred', 'still queued');
  });
}

test('may: a handshake that never happens is a connection failure (4.4.1) that moves on to the next host', async (t) => {
  const silent = await silentTlsHop(t, '127.0.0.73');
  const alone = await silentTlsHop(t, '127.0.0.74');
  const next = await startSink({ address: '127.0.0.75' });
  t.after(() => next.close());
  const { doc, ports } = await relayDoc({
    domains: [
      { name: 'silent-may.test', route: { hosts: [`127.0.0.73:${silent.port}`, `127.0.0.75:${next.port}`] } },
      { name: 'silent-alone.test', route: { hosts: [`127.0.0.74:${alone.port}`] } },
    ],
    delivery: DELIVERY,
  });
  const relay = await startRelay(t, doc, ports);
  const a = await submitTo(ports.mx, 'carol@silent-may.test', 'may moves on');
  const [m] = await next.waitFor(1);
  assert.equal(m?.secure, false);
  assert.equal((await deliveryOf(relay, a, 'carol@silent-may.test')).status, 'delivered');
  assert.ok(silent.starttls() >= 1, 'the first host was tried with STARTTLS');
  const b = await submitTo(ports.mx, 'dave@silent-alone.test', 'may alone');
  const line = await deliveryOf(relay, b, 'dave@silent-alone.test');
  assert.equal(line.status, 'deferred');
  assert.equal(line.dsn, '4.4.1', 'under may a failed handshake is a connection failure');
  const failed = await relay.waitLog((l) => l.event === 'delivery.connect_failed' && l.destination === 'route:silent-alone.test');
  assert.equal(failed.tls_policy, undefined);
});
