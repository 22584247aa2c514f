// The engine clients (clamd, spamd, rspamd) against small loopback servers
// that record what they receive and answer as told: the framing on the
// wire, the parsing of answers, and every way an engine can fail (refused,
// silent, slow, closing early). The real engines are in engines.test.ts and
// the end-to-end suites.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { once } from 'node:events';
import { ClamdScan, clamdPing, parseClamdReply } from '../../src/scan/clamd.ts';
import { parseSpamdResponse, spamdCheck } from '../../src/scan/spamd.ts';
import { parseRspamdResponse, rspamdCheck } from '../../src/scan/rspamd.ts';
import { parseEngineAddress, type EngineAddress } from '../../src/scan/engine-address.ts';
import type { MessageSource } from '../../src/scan/spam-verdict.ts';

async function listen(onConn: (s: Socket) => void): Promise<{ server: Server; address: EngineAddress }> {
  // Half-open like a real engine: our end of the request must not end the answer.
  const server = createNetServer({ allowHalfOpen: true }, onConn);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return { server, address: { kind: 'tcp', host: '127.0.0.1', port } };
}

function source(parts: string[]): MessageSource {
  const bufs = parts.map((p) => Buffer.from(p));
  return {
    size: bufs.reduce((n, b) => n + b.length, 0),
    async *chunks() {
      yield* bufs;
    },
  };
}

/** Decodes an INSTREAM as clamd would: returns the command, the chunks and whether the end marker came. */
function decodeInstream(data: Buffer): { command: string; chunks: Buffer[]; ended: boolean } {
  const nul = data.indexOf(0);
  const command = data.subarray(0, nul).toString();
  const chunks: Buffer[] = [];
  let i = nul + 1;
  while (i + 4 <= data.length) {
    const len = data.readUInt32BE(i);
    if (len === 0) return { command, chunks, ended: true };
    chunks.push(data.subarray(i + 4, i + 4 + len));
    i += 4 + len;
  }
  return { command, chunks, ended: false };
}

test('clamd replies are read as clamd writes them', () => {
  assert.deepEqual(parseClamdReply('stream: OK\0'), { result: 'clean' });
  assert.deepEqual(parseClamdReply('stream: Eicar-Test.UNOFFICIAL FOUND\0'), { result: 'infected', name: 'Eicar-Test.UNOFFICIAL' });
  assert.deepEqual(parseClamdReply('1: stream: Win.Test.EICAR_HDB-1 FOUND\0'), { result: 'infected', name: 'Win.Test.EICAR_HDB-1' });
  assert.deepEqual(parseClamdReply('INSTREAM size limit exceeded. ERROR\0'), { result: 'error', detail: 'clamd: INSTREAM size limit exceeded.' });
  assert.equal(parseClamdReply('hello').result, 'error');
  assert.equal(parseClamdReply('').result, 'error');
});

test('ClamdScan frames each chunk with its length and ends with a zero-length chunk', async (t) => {
  let received = Buffer.alloc(0);
  const { server, address } = await listen((s) => {
    s.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      if (decodeInstream(received).ended) s.end('stream: OK\0');
    });
  });
  t.after(() => server.close());
  const scan = new ClamdScan(address, 5000);
  const parts = ['Received: x\r\n', '\r\n', 'a'.repeat(200_000), 'end\r\n'];
  for (const p of parts) await scan.write(Buffer.from(p));
  await scan.write(Buffer.alloc(0)); // an empty chunk would end the stream early: it must not be sent
  assert.deepEqual(await scan.finish(), { result: 'clean' });
  const decoded = decodeInstream(received);
  assert.equal(decoded.command, 'zINSTREAM');
  assert.equal(Buffer.concat(decoded.chunks).toString(), parts.join(''));
  assert.equal(decoded.chunks.length, parts.length);
  assert.equal(scan.sent, parts.join('').length);
});

test('a refused connection, a silent clamd and an early close are errors, never clean', async (t) => {
  const refusedPort = await (async () => {
    const { server, address } = await listen(() => {});
    server.close();
    await once(server, 'close');
    return address;
  })();
  const refused = new ClamdScan(refusedPort, 2000);
  await refused.write(Buffer.from('x'));
  const r1 = await refused.finish();
  assert.equal(r1.result, 'error');
  assert.match((r1 as { detail: string }).detail, /ECONNREFUSED/);

  const silent = await listen((s) => s.on('data', () => {}));
  t.after(() => silent.server.close());
  const started = Date.now();
  const scan = new ClamdScan(silent.address, 300);
  await scan.write(Buffer.from('data'));
  const r2 = await scan.finish();
  assert.equal(r2.result, 'error');
  assert.match((r2 as { detail: string }).detail, /did not answer within 300 ms/);
  assert.ok(Date.now() - started >= 250);

  const closing = await listen((s) => s.once('data', () => s.end('INSTREAM size limit exceeded. ERROR\0')));
  t.after(() => closing.server.close());
  const big = new ClamdScan(closing.address, 2000);
  for (let i = 0; i < 50; i++) await big.write(Buffer.alloc(64 * 1024, 0x61));
  assert.deepEqual(await big.finish(), { result: 'error', detail: 'clamd: INSTREAM size limit exceeded.' });

  const mute = await listen((s) => s.end());
  t.after(() => mute.server.close());
  const m = new ClamdScan(mute.address, 2000);
  assert.equal((await m.finish()).result, 'error');
});

test('a clamd that stops reading stalls the writer only until the timeout', async (t) => {
  const stalled = await listen((s) => s.pause());
  t.after(() => stalled.server.close());
  const scan = new ClamdScan(stalled.address, 400);
  const chunk = Buffer.alloc(1024 * 1024, 0x62);
  // Enough to fill both socket buffers: some write must wait, and then give up.
  for (let i = 0; i < 64; i++) await scan.write(chunk);
  const r = await scan.finish();
  assert.equal(r.result, 'error');
  assert.match((r as { detail: string }).detail, /did not read the message within 400 ms|did not answer/);
});

test('zPING answers true only for PONG', async (t) => {
  const good = await listen((s) => s.once('data', () => s.end('PONG\0')));
  const bad = await listen((s) => s.once('data', () => s.end('NOPE\0')));
  t.after(() => {
    good.server.close();
    bad.server.close();
  });
  assert.equal(await clamdPing(good.address, 1000), true);
  assert.equal(await clamdPing(bad.address, 1000), false);
});

test('spamd responses: score, threshold and rule names; errors are errors', () => {
  assert.deepEqual(parseSpamdResponse('SPAMD/1.1 0 EX_OK\r\nContent-length: 17\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE,NO_RECEIVED'), {
    result: 'scored',
    score: 1000,
    required: 5,
    symbols: ['GTUBE', 'NO_RECEIVED'],
  });
  assert.deepEqual(parseSpamdResponse('SPAMD/1.1 0 EX_OK\r\nSpam: False ; -0.1 / 5.0\r\n\r\n'), { result: 'scored', score: -0.1, required: 5, symbols: [] });
  assert.equal(parseSpamdResponse('SPAMD/1.0 76 Bad header line: x\r\n\r\n').result, 'error');
  assert.equal(parseSpamdResponse('SPAMD/1.1 0 EX_OK\r\n\r\n').result, 'error');
  assert.equal(parseSpamdResponse('HTTP/1.1 200 OK\r\n\r\n').result, 'error');
});

test('spamdCheck sends SYMBOLS with the exact length and the message', async (t) => {
  let got = Buffer.alloc(0);
  const { server, address } = await listen((s) => {
    s.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    s.on('end', () => s.end('SPAMD/1.1 0 EX_OK\r\nSpam: False ; 1.5 / 5.0\r\n\r\nRULE_A,RULE_B'));
  });
  t.after(() => server.close());
  const msg = source(['Subject: hi\r\n', '\r\n', 'body\r\n']);
  const v = await spamdCheck(address, msg, 2000);
  assert.deepEqual(v, { result: 'scored', score: 1.5, required: 5, symbols: ['RULE_A', 'RULE_B'] });
  const text = got.toString();
  assert.equal(text, `SYMBOLS SPAMC/1.5\r\nContent-length: ${msg.size}\r\nUser: mailwarden\r\n\r\nSubject: hi\r\n\r\nbody\r\n`);
});

test('a spamd that answers too slowly is an error at the timeout', async (t) => {
  const { server, address } = await listen((s) => s.on('data', () => {}));
  t.after(() => server.close());
  const started = Date.now();
  const v = await spamdCheck(address, source(['x\r\n']), 300);
  assert.deepEqual(v, { result: 'error', detail: 'spamd did not answer within 300 ms' });
  assert.ok(Date.now() - started < 5000);
});

test('rspamd: the envelope goes in headers, the answer is read from JSON', async (t) => {
  let headers: IncomingHttpHeaders = {};
  let rawHeaders: string[] = [];
  let body = '';
  let path = '';
  const server = createHttpServer((req, res) => {
    headers = req.headers;
    rawHeaders = req.rawHeaders;
    path = req.url ?? '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ score: 6.5, required_score: 15, action: 'add header', symbols: { B_SYM: { score: 1 }, A_SYM: { score: 5.5 } } }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const v = await rspamdCheck(url, { ip: '127.0.0.9', helo: 'client.example', from: '', rcpt: ['a@example.com', 'b@example.com'], queueId: 'Q1', user: null }, source(['Subject: x\r\n\r\nbody\r\n']), 2000);
  assert.deepEqual(v, { result: 'scored', score: 6.5, required: 15, symbols: ['A_SYM', 'B_SYM'] });
  assert.equal(path, '/checkv2');
  assert.equal(headers.ip, '127.0.0.9');
  assert.equal(headers.helo, 'client.example');
  assert.equal(headers.from, '<>');
  assert.equal(headers['queue-id'], 'Q1');
  assert.deepEqual(rawHeaders.filter((_, i) => i % 2 === 0 && rawHeaders[i]?.toLowerCase() === 'rcpt').length, 2);
  assert.equal(body, 'Subject: x\r\n\r\nbody\r\n');
  assert.equal(parseRspamdResponse(500, '').result, 'error');
  assert.equal(parseRspamdResponse(200, 'not json').result, 'error');
  assert.equal(parseRspamdResponse(200, '{"error":"bad"}').result, 'error');
});

test('engine addresses: host:port, [v6]:port, a socket path; nonsense is refused', () => {
  assert.deepEqual(parseEngineAddress('127.0.0.1:3310', 1), { ok: true, value: { kind: 'tcp', host: '127.0.0.1', port: 3310 } });
  assert.deepEqual(parseEngineAddress('[::1]:783', 1), { ok: true, value: { kind: 'tcp', host: '::1', port: 783 } });
  assert.deepEqual(parseEngineAddress('localhost', 3310), { ok: true, value: { kind: 'tcp', host: 'localhost', port: 3310 } });
  assert.deepEqual(parseEngineAddress('/run/clamav/clamd.ctl', 1), { ok: true, value: { kind: 'unix', path: '/run/clamav/clamd.ctl' } });
  assert.equal(parseEngineAddress('clamd.sock', 1).ok, true); // a host name, not a path: relative paths are not sockets
  assert.equal(parseEngineAddress('127.0.0.1:99999', 1).ok, false);
  assert.equal(parseEngineAddress('::1:783', 1).ok, false);
});
