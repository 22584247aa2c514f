// When an engine fails, end to end through the daemon: nothing listening,
// an engine that reads but never answers (the timeout), each under
// on_error tempfail (451 4.7.0, nothing queued) and accept (250, with a
// header saying the message was not scanned). The failing engines are small
// loopback servers of the test's own: a real clamd or spamd cannot be made
// to hang on purpose. Also: which mail goes to the engine at all
// (relaying.scan_relayed), asserted on what the engine received.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { freePort, relayDoc, startRelay, type Relay } from '../smtp/harness.ts';
import { headerOf, message, messageLog, queued, sendMessage, stored } from './scan-helpers.ts';

interface FakeEngine {
  address: string;
  /** Connections accepted, and the octets each sent. */
  connections: { bytes: number }[];
  close(): Promise<void>;
}

/** Accepts, reads everything, answers nothing: a hung engine. */
async function silentEngine(): Promise<FakeEngine> {
  const connections: { bytes: number }[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (s) => {
    const c = { bytes: 0 };
    connections.push(c);
    sockets.add(s);
    s.on('data', (d: Buffer) => (c.bytes += d.length));
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    connections,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

const INBOUND = { domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }] };
/** An outside sender: 127.0.0.2 has no relay right (only 127.0.0.1 does). */
const OUTSIDE = '127.0.0.2';

async function relayWith(t: Parameters<typeof startRelay>[0], extra: Record<string, unknown>): Promise<Relay> {
  const { doc, ports } = await relayDoc({ ...INBOUND, ...extra });
  return startRelay(t, doc, ports);
}

test('clamd not listening: 451 4.7.0 and nothing queued; with on_error accept: delivered with a "not scanned" header', async (t) => {
  const dead = `127.0.0.1:${await freePort()}`;
  const relay = await relayWith(t, { antivirus: { enabled: true, clamd: dead, timeout: '2s' } });
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'dead-clamd@outside.example', message: message('hello') });
  assert.match(r.reply, /^451 4\.7\.0 /);
  assert.deepEqual(queued(relay), []);
  const log = await messageLog(relay, (l) => l.sender === 'dead-clamd@outside.example');
  assert.equal(log.event, 'scan.refused');
  assert.equal(log.rule, 'antivirus.on_error');
  assert.match(String((log.scan as { virus: { error: string } }).virus.error), /ECONNREFUSED/);

  const relay2 = await relayWith(t, { antivirus: { enabled: true, clamd: dead, on_error: 'accept', timeout: '2s' } });
  const r2 = await sendMessage(relay2.ports.mx, { client: OUTSIDE, message: message('hello', { 'X-Mailwarden-Virus': 'clean (forged)' }) });
  assert.match(r2.reply, /^250 /);
  const head = headerOf(stored(relay2, r2.id!));
  assert.match(head, /^X-Mailwarden-Virus: not scanned \(clamd: connect ECONNREFUSED [^)]*\)\r\n/);
  assert.doesNotMatch(head, /forged/, 'the sender\'s own copy of our header is gone');
});

test('a clamd that never answers hits antivirus.timeout: 451, nothing queued; it did receive the message', async (t) => {
  const engine = await silentEngine();
  t.after(() => engine.close());
  const relay = await relayWith(t, { antivirus: { enabled: true, clamd: engine.address, timeout: '700ms' } });
  const started = Date.now();
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'slow-clamd@outside.example', message: message('x'.repeat(5000)) });
  assert.match(r.reply, /^451 4\.7\.0 /);
  assert.ok(Date.now() - started >= 600, 'the relay waited for the timeout');
  assert.deepEqual(queued(relay), []);
  assert.equal(engine.connections.length, 1);
  assert.ok(engine.connections[0]!.bytes > 5000, 'the message was streamed to the engine');
  const log = await messageLog(relay, (l) => l.sender === 'slow-clamd@outside.example');
  assert.match(String((log.scan as { virus: { error: string } }).virus.error), /did not answer within 700 ms/);
});

test('a spamd that never answers hits antispam.timeout: 451 by default, a "not scanned" header with on_error accept', async (t) => {
  const engine = await silentEngine();
  t.after(() => engine.close());
  const relay = await relayWith(t, { antispam: { enabled: true, spamd: engine.address, timeout: '700ms' } });
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, message: message('buy now') });
  assert.match(r.reply, /^451 4\.7\.0 /);
  assert.deepEqual(queued(relay), []);
  assert.equal(engine.connections.length, 1);

  const relay2 = await relayWith(t, { antispam: { enabled: true, spamd: engine.address, timeout: '700ms', on_error: 'accept' } });
  const r2 = await sendMessage(relay2.ports.mx, { client: OUTSIDE, message: message('buy now', { 'X-Spam-Flag': 'NO', 'X-Spam-Status': 'No, forged' }) });
  assert.match(r2.reply, /^250 /);
  const head = headerOf(stored(relay2, r2.id!));
  assert.match(head, /^X-Mailwarden-Spam: not scanned \(spamd did not answer within 700 ms\)\r\n/);
  assert.doesNotMatch(head, /X-Spam-Flag|forged/);
});

test('relayed mail reaches the engine only with scan_relayed on; inbound mail always', async (t) => {
  for (const scanRelayed of [false, true]) {
    const engine = await silentEngine();
    t.after(() => engine.close());
    const relay = await relayWith(t, { relaying: { allowed_hosts: ['localhost'], scan_relayed: scanRelayed }, antivirus: { enabled: true, clamd: engine.address, timeout: '300ms', on_error: 'accept' } });
    // 127.0.0.1 has host-based relay rights: this message is relayed.
    const r = await sendMessage(relay.ports.mx, { client: '127.0.0.1', from: `relay-${scanRelayed}@inside.example`, to: ['someone@elsewhere.example'], message: message('relayed') });
    assert.match(r.reply, /^250 /);
    const log = await messageLog(relay, (l) => l.sender === `relay-${scanRelayed}@inside.example`);
    assert.equal(log.relayed, true);
    if (scanRelayed) {
      assert.equal(engine.connections.length, 1, 'scan_relayed on: the engine got the relayed message');
      assert.equal((log.scan as { virus: { scanned: boolean } }).virus.scanned, true);
    } else {
      assert.equal(engine.connections.length, 0, 'scan_relayed off: the engine never saw it');
      assert.deepEqual((log.scan as { virus: unknown }).virus, { scanned: false, why: 'relayed' });
      assert.doesNotMatch(headerOf(stored(relay, r.id!)), /X-Mailwarden-Virus/);
    }
    // Inbound mail from outside is scanned either way.
    await sendMessage(relay.ports.mx, { client: OUTSIDE, message: message('inbound') });
    assert.equal(engine.connections.length, scanRelayed ? 2 : 1);
  }
});
