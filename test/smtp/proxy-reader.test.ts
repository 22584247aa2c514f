// The PROXY header reader (src/smtp/proxy-reader.ts) on real loopback
// sockets, without smtp-server: a header cut into chunks that arrive apart,
// the bytes after it left on the socket for SMTP, and every way a peer can
// go away (quietly before a byte, not quietly mid-header).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { encodeV2 } from '../../src/smtp/proxy-header.ts';
import { readProxyHeader, type ProxyOutcome } from '../../src/smtp/proxy-reader.ts';

/** A server whose next accepted socket is read by readProxyHeader; resolves with the outcome and what the socket yields after it. */
async function harness(t: { after: (fn: () => void) => void }): Promise<{ port: number; next(): Promise<{ outcome: ProxyOutcome; socket: Socket }> }> {
  const waiting: ((v: { outcome: ProxyOutcome; socket: Socket }) => void)[] = [];
  const server = createServer((socket) => readProxyHeader(socket, (outcome) => waiting.shift()?.({ outcome, socket })));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  t.after(() => server.close());
  const addr = server.address();
  assert.ok(addr && typeof addr === 'object');
  return { port: addr.port, next: () => new Promise((done) => waiting.push(done)) };
}

function client(port: number): Promise<Socket> {
  return new Promise((done, fail) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.setNoDelay(true);
    s.on('error', () => {});
    s.once('connect', () => done(s));
    s.once('error', fail);
  });
}

/** Everything the server socket yields from now until the client ends. */
function rest(socket: Socket): Promise<string> {
  return new Promise((done) => {
    let out = '';
    socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
    socket.once('end', () => done(out));
  });
}

test('a v2 header written in three pieces, apart, then SMTP: the header, and the SMTP bytes left for the session', async (t) => {
  const h = await harness(t);
  const header = encodeV2({ local: false, family: 4, source: Buffer.from([10, 1, 2, 3]), destination: Buffer.from([127, 0, 0, 1]), sourcePort: 1234, destinationPort: 25 });
  const got = h.next();
  const c = await client(h.port);
  // The second piece goes only once the first has been written out; the header stays incomplete till the third.
  for (const piece of [header.subarray(0, 5), header.subarray(5, 14), Buffer.concat([header.subarray(14), Buffer.from('EHLO a\r\n')])]) {
    await new Promise<void>((done) => c.write(piece, () => done()));
  }
  const { outcome, socket } = await got;
  assert.deepEqual(outcome, { ok: true, header: { version: 2, local: false, family: 4, source: '10.1.2.3', sourcePort: 1234, destination: '127.0.0.1', destinationPort: 25 } });
  const after = rest(socket);
  c.end('MAIL FROM:<>\r\n');
  assert.equal(await after, 'EHLO a\r\nMAIL FROM:<>\r\n');
});

test('a v1 header with SMTP in the same segment: the remainder is put back', async (t) => {
  const h = await harness(t);
  const got = h.next();
  const c = await client(h.port);
  c.write('PROXY TCP6 2001:db8::5 2001:db8::1 1 25\r\nQUIT\r\n');
  const { outcome, socket } = await got;
  assert.equal(outcome.ok && !outcome.header.local && outcome.header.source, '2001:db8::5');
  const after = rest(socket);
  c.end();
  assert.equal(await after, 'QUIT\r\n');
});

test('a peer that closes or resets before its first byte: a quiet failure', async (t) => {
  const h = await harness(t);
  for (const how of ['end', 'reset'] as const) {
    const got = h.next();
    const c = await client(h.port);
    if (how === 'end') c.end();
    else c.resetAndDestroy();
    const { outcome, socket } = await got;
    assert.equal(outcome.ok, false);
    assert.equal(!outcome.ok && outcome.quiet, true, how);
    socket.destroy();
  }
});

test('a peer that goes away mid-header, or sends garbage: not quiet, and the reason says so', async (t) => {
  const h = await harness(t);
  let got = h.next();
  let c = await client(h.port);
  c.end(encodeV2({ local: true }).subarray(0, 10));
  let r = await got;
  assert.deepEqual(r.outcome, { ok: false, reason: 'connection ended after 10 bytes of a PROXY header', quiet: false });
  r.socket.destroy();

  got = h.next();
  c = await client(h.port);
  c.write('GET / HTTP/1.0\r\n\r\n');
  r = await got;
  assert.deepEqual(r.outcome, { ok: false, reason: 'not a PROXY header', quiet: false });
  r.socket.destroy();
  c.destroy();
});
