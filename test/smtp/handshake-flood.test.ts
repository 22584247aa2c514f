// Connections that never finish their TLS handshake, against the real daemon:
// they are counted from the TCP accept (limits.max_connections_per_client
// closes the ones beyond at once, before any TLS), a silent one is closed
// after limits.tls_handshake_timeout (implicit TLS and STARTTLS), a flood
// costs one log line per client, and other clients are still served. Behind
// a trusted proxy the client its PROXY header names is the one counted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { RawClient, relayDoc, startRelay, type LogLine } from './harness.ts';

/** A TCP connection that says nothing; `closed` resolves when the server closes it, with what it sent first. */
interface Silent {
  socket: Socket;
  closed: Promise<string>;
  isClosed(): boolean;
}

function silent(port: number, localAddress: string, first?: string): Promise<Silent> {
  return new Promise((done, fail) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    let got = '';
    let isClosed = false;
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    const closed = new Promise<string>((c) => socket.once('close', () => ((isClosed = true), c(got))));
    socket.on('error', () => {});
    socket.once('connect', () => {
      if (first) socket.write(first);
      done({ socket, closed, isClosed: () => isClosed });
    });
    socket.once('error', fail);
  });
}

/** Resolves with the value, or rejects when it takes longer than `ms` (a bound, not a wait). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${what}: not within ${ms} ms`)), ms);
    p.then((v) => (clearTimeout(timer), done(v)), (e: unknown) => (clearTimeout(timer), fail(e as Error)));
  });
}

async function served(c: RawClient): Promise<void> {
  assert.match((await c.reply()) ?? '', /^220 mx\.test\.example ESMTP/);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
  assert.match((await c.cmd('QUIT')) ?? '', /^221 /);
}

const about = (client: string) => (l: LogLine) => l.client === client;

test('silent connections to smtps beyond max_connections_per_client are closed at once, before TLS; others are served; one log line', async (t) => {
  const { doc, ports } = await relayDoc({ limits: { max_connections: 100, max_connections_per_client: 5, tls_handshake_timeout: '1m' } });
  const relay = await startRelay(t, doc, ports);
  const held: Silent[] = [];
  t.after(() => held.forEach((s) => s.socket.destroy()));
  for (let i = 0; i < 5; i++) held.push(await silent(ports.smtps, '127.0.0.2'));
  const beyond: Silent[] = [];
  for (let i = 0; i < 40; i++) beyond.push(await silent(ports.smtps, '127.0.0.2'));
  t.after(() => beyond.forEach((s) => s.socket.destroy()));
  // Every one beyond the limit is closed by the server without a byte (nothing can be said before TLS).
  const sent = await within(Promise.all(beyond.map((s) => s.closed)), 10_000, 'the 40 connections beyond the limit closed');
  assert.deepEqual(new Set(sent), new Set(['']));
  // The five within the limit are still open, waiting in their handshake.
  assert.equal(held.filter((s) => s.isClosed()).length, 0);

  // Another client is served, over TLS, while the five are held.
  await served(await RawClient.connectTls(ports.smtps, '127.0.0.3'));

  const limit = await relay.waitLog((l) => l.event === 'connect.limit' && l.client === '127.0.0.2');
  assert.equal(limit.limit, 'max_connections_per_client');
  assert.equal(limit.listener, 'smtps');
  // The log is not flooded: one line for the 40 refusals (the rest are counted into the next one, a minute later).
  await relay.waitLog((l) => l.event === 'disconnect' && l.client === '127.0.0.3');
  assert.equal(relay.logs.filter(about('127.0.0.2')).length, 1, JSON.stringify(relay.logs.filter(about('127.0.0.2'))));
  assert.equal(relay.logs.filter((l) => l.event === 'smtp.error').length, 0);
});

test('a silent connection is closed after tls_handshake_timeout (implicit TLS and STARTTLS) and frees its slot; many cost one line', async (t) => {
  const { doc, ports } = await relayDoc({ limits: { max_connections_per_client: 3, tls_handshake_timeout: '300ms' } });
  const relay = await startRelay(t, doc, ports);
  const started = Date.now();
  const quiet = await silent(ports.smtps, '127.0.0.2');
  t.after(() => quiet.socket.destroy());
  assert.equal(await within(quiet.closed, 10_000, 'the silent smtps connection closed'), '');
  assert.ok(Date.now() - started >= 250, `closed after ${Date.now() - started} ms, before the handshake timeout`);
  const line = await relay.waitLog((l) => l.event === 'tls.handshake_failed' && l.client === '127.0.0.2');
  assert.equal(line.reason, 'timeout');

  // STARTTLS, then nothing: the same deadline.
  const c = await RawClient.connect(ports.mx, '127.0.0.5');
  t.after(() => c.end());
  assert.match((await c.reply()) ?? '', /^220 /);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
  assert.match((await c.cmd('STARTTLS')) ?? '', /^220 /);
  assert.ok(await c.closedByServer(10_000), 'the stalled STARTTLS handshake was closed');
  assert.equal((await relay.waitLog((l) => l.event === 'tls.handshake_failed' && l.client === '127.0.0.5')).reason, 'timeout');

  // Nine more from one client, three at a time (its limit): each times out and frees its slot for the next.
  for (let round = 0; round < 3; round++) {
    const batch = await Promise.all([1, 2, 3].map(() => silent(ports.smtps, '127.0.0.6')));
    const sent = await within(Promise.all(batch.map((s) => s.closed)), 10_000, 'a batch of silent connections closed');
    assert.deepEqual(new Set(sent), new Set(['']));
  }
  await served(await RawClient.connectTls(ports.smtps, '127.0.0.6'));
  await relay.waitLog((l) => l.event === 'disconnect' && l.client === '127.0.0.6');
  // Nine timeouts, one line; no refusal (every slot was given back).
  assert.equal(relay.logs.filter((l) => l.event === 'tls.handshake_failed' && l.client === '127.0.0.6').length, 1);
  assert.equal(relay.logs.filter((l) => l.event === 'connect.limit').length, 0);
});

test('behind a trusted proxy: the client its header names is counted (the proxy only in the total)', async (t) => {
  const { doc, ports } = await relayDoc({
    limits: { max_connections: 100, max_connections_per_client: 2, tls_handshake_timeout: '1m' },
    networks: [
      { name: 'localhost', type: 'host', address: '127.0.0.1' },
      { name: 'proxy', type: 'host', address: '127.0.0.4' },
    ],
  });
  (doc.listeners as Record<string, unknown>[])[2]!.trusted_proxies = ['proxy'];
  const relay = await startRelay(t, doc, ports);
  const header = (client: string) => `PROXY TCP4 ${client} 127.0.0.1 40000 465\r\n`;
  const open: Silent[] = [];
  t.after(() => open.forEach((s) => s.socket.destroy()));
  // Two silent clients behind the proxy for 192.0.2.7: its limit.
  for (let i = 0; i < 2; i++) open.push(await silent(ports.smtps, '127.0.0.4', header('192.0.2.7')));
  // A third for the same client is closed as soon as its header is read.
  const third = await silent(ports.smtps, '127.0.0.4', header('192.0.2.7'));
  open.push(third);
  assert.equal(await within(third.closed, 10_000, 'the third proxied connection of one client closed'), '');
  const line = await relay.waitLog((l) => l.event === 'connect.limit');
  assert.equal(line.client, '192.0.2.7');
  assert.equal(line.limit, 'max_connections_per_client');
  // The proxy itself is not limited as a client: another client through it is served, over TLS.
  const raw = connect({ port: ports.smtps, host: '127.0.0.1', localAddress: '127.0.0.4' });
  await new Promise((done) => raw.once('connect', done));
  raw.write(header('192.0.2.8'));
  const tlsSocket = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'mx.test.example' });
  t.after(() => tlsSocket.destroy());
  let text = '';
  tlsSocket.setEncoding('latin1');
  tlsSocket.on('data', (d: string) => (text += d));
  tlsSocket.on('error', () => {});
  await within(new Promise((done) => tlsSocket.once('secureConnect', done)), 10_000, 'TLS through the proxy');
  const connected = await relay.waitLog((l) => l.event === 'connect' && l.client === '192.0.2.8');
  assert.equal(connected.action, 'accept');
  await within(new Promise<void>((done) => { const check = () => (text.includes('220 ') ? done() : tlsSocket.once('data', check)); check(); }), 10_000, 'the greeting');
  assert.match(text, /^220 mx\.test\.example ESMTP/);
  assert.equal(open.filter((s) => s.isClosed()).length, 1, 'only the third connection was closed');
});

test('IPv6 clients are counted by their /64 (limits.ipv6_client_prefix): new addresses from one network share its limit', async (t) => {
  const { doc, ports } = await relayDoc({
    limits: { max_connections: 100, max_connections_per_client: 2, tls_handshake_timeout: '1m' },
    networks: [
      { name: 'localhost', type: 'host', address: '127.0.0.1' },
      { name: 'proxy', type: 'host', address: '127.0.0.4' },
    ],
  });
  (doc.listeners as Record<string, unknown>[])[2]!.trusted_proxies = ['proxy'];
  const relay = await startRelay(t, doc, ports);
  // The only way to play many IPv6 clients on loopback: a trusted proxy names them.
  const header = (client: string) => `PROXY TCP6 ${client} ::1 40000 465\r\n`;
  const open: Silent[] = [];
  t.after(() => open.forEach((s) => s.socket.destroy()));
  for (const a of ['2001:db8:1:2::a', '2001:db8:1:2:ffff::b']) open.push(await silent(ports.smtps, '127.0.0.4', header(a)));
  // A third address of the same /64: over the limit of its network.
  const third = await silent(ports.smtps, '127.0.0.4', header('2001:db8:1:2::c'));
  open.push(third);
  assert.equal(await within(third.closed, 10_000, 'the third connection from one /64 closed'), '');
  const line = await relay.waitLog((l) => l.event === 'connect.limit');
  assert.deepEqual([line.client, line.counted_as, line.limit], ['2001:db8:1:2::c', '2001:db8:1:2::/64', 'max_connections_per_client']);
  // The next /64 has slots of its own: served, over TLS.
  const raw = connect({ port: ports.smtps, host: '127.0.0.1', localAddress: '127.0.0.4' });
  await new Promise((done) => raw.once('connect', done));
  raw.write(header('2001:db8:1:3::a'));
  const tlsSocket = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'mx.test.example' });
  t.after(() => tlsSocket.destroy());
  tlsSocket.on('error', () => {});
  await within(new Promise((done) => tlsSocket.once('secureConnect', done)), 10_000, 'TLS through the proxy');
  const connected = await relay.waitLog((l) => l.event === 'connect' && l.client === '2001:db8:1:3::a');
  assert.equal(connected.action, 'accept');
  assert.equal(open.filter((s) => s.isClosed()).length, 1, 'only the third connection of the first /64 was closed');
});

test('STARTTLS sessions give their slots back: more sessions one after another than the per-client limit, and the total (mx and submission)', async (t) => {
  // smtp-server removes every listener of the raw socket at STARTTLS; the slots must follow the TLS socket.
  const { doc, ports } = await relayDoc({ limits: { max_connections: 6, max_connections_per_client: 2 } });
  const relay = await startRelay(t, doc, ports);
  const closedSessions = () => relay.logs.filter((l) => l.event === 'disconnect' && l.client === '127.0.0.7').length;
  let sessions = 0;
  for (let i = 0; i < 8; i++) {
    const c = await RawClient.connect(i % 2 ? ports.submission : ports.mx, '127.0.0.7');
    assert.match((await c.reply()) ?? '', /^220 /, `session ${i + 1} is greeted, not refused`);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
    await c.starttls();
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
    assert.match((await c.cmd('QUIT')) ?? '', /^221 /);
    c.end();
    await relay.waitLogs((l) => l.event === 'disconnect' && l.client === '127.0.0.7', ++sessions);
  }
  // A STARTTLS abandoned before the handshake, from another client, frees its slots too.
  for (let i = 0; i < 8; i++) {
    const c = await RawClient.connect(ports.mx, '127.0.0.8');
    assert.match((await c.reply()) ?? '', /^220 /, `abandoned upgrade ${i + 1}: greeted`);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
    assert.match((await c.cmd('STARTTLS')) ?? '', /^220 /);
    c.end();
    await relay.waitLogs((l) => l.event === 'disconnect' && l.client === '127.0.0.8', i + 1);
  }
  assert.equal(closedSessions(), 8);
  // A third client still finds the total free.
  await served(await RawClient.connect(ports.mx, '127.0.0.9'));
  assert.equal(relay.logs.filter((l) => l.event === 'connect.limit').length, 0);
});
