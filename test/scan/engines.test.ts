// Checks the scan-engine helper (test/scan/engines.ts) against the real
// daemons by speaking their protocols directly (clamd INSTREAM, spamd's
// SPAMC protocol, rspamd's HTTP /checkv2), so the mailwarden scan tests can
// trust what the engines answer and what their logs say they received.
// Each engine's tests are skipped, with the reason, when its Debian package
// is not installed.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingComponent } from '../support/requires.ts';
import {
  CLAMD_EICAR_NAME,
  EICAR,
  GTUBE,
  engineAvailable,
  parseClamdScans,
  parseRspamdChecks,
  parseSpamdChecks,
  startClamd,
  startRspamd,
  startSpamd,
  zipDeflated,
  zipStored,
  type RunningEngine,
} from './engines.ts';

function skipUnless(name: 'clamd' | 'spamd' | 'rspamd'): { skip: string | false } {
  const a = engineAvailable(name);
  return { skip: a.ok ? false : a.reason };
}

type Target = { host: string; port: number } | { path: string };
const targetOf = (e: RunningEngine): Target => (e.socketPath ? { path: e.socketPath } : { host: e.host, port: e.port });

/** clamd INSTREAM: the whole reply, NUL included. */
function instream(t: Target, data: Buffer, chunk = 64 * 1024): Promise<string> {
  return new Promise((done, fail) => {
    const s = 'path' in t ? connect(t.path) : connect(t.port, t.host);
    let reply = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (reply += d));
    s.on('end', () => done(reply));
    // clamd closes as soon as a stream passes StreamMaxLength: our last writes
    // may then meet EPIPE/ECONNRESET, and what it said before counts.
    s.on('error', (err: NodeJS.ErrnoException) => (reply.includes('\0') || err.code === 'EPIPE' || err.code === 'ECONNRESET' ? done(reply) : fail(err)));
    s.on('connect', () => {
      s.write('zINSTREAM\0');
      for (let i = 0; i < data.length; i += chunk) {
        const part = data.subarray(i, i + chunk);
        const len = Buffer.alloc(4);
        len.writeUInt32BE(part.length);
        s.write(len);
        s.write(part);
      }
      s.write(Buffer.alloc(4));
    });
  });
}

/** One spamd request; the reply up to spamd closing. halfClose ends our side after the request. */
function spamc(port: number, req: string, halfClose = false): Promise<string> {
  return new Promise((done, fail) => {
    const s = connect(port, '127.0.0.1');
    let reply = '';
    s.setEncoding('latin1');
    s.setTimeout(30_000, () => s.destroy(new Error(`spamd gave no reply within 30 s; so far ${JSON.stringify(reply)}`)));
    s.on('data', (d: string) => (reply += d));
    s.on('end', () => done(reply));
    s.on('error', fail);
    s.on('connect', () => (halfClose ? s.end(req) : s.write(req)));
  });
}

interface RspamdReply {
  score: number;
  required_score: number;
  action: string;
  symbols: Record<string, { name: string; score: number }>;
  'message-id'?: string;
}

function checkv2(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; json: RspamdReply }> {
  return new Promise((done, fail) => {
    const req = request(`${url}/checkv2`, { method: 'POST', headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        try {
          done({ status: res.statusCode ?? 0, json: JSON.parse(text) as RspamdReply });
        } catch (e) {
          fail(new Error(`rspamd answered ${res.statusCode} with non-JSON ${JSON.stringify(text.slice(0, 300))}: ${(e as Error).message}`));
        }
      });
    });
    req.on('error', fail);
    req.end(body);
  });
}

const HEADERS = 'From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n';

function message(id: string, body: string): string {
  return `${HEADERS}Subject: test ${id}\r\nMessage-ID: <${id}@example.org>\r\n\r\n${body}\r\n`;
}

function withAttachment(id: string, filename: string, type: string, data: Buffer): string {
  const b64 = data.toString('base64').replace(/.{76}/g, '$&\r\n');
  return [
    `${HEADERS}Subject: attachment ${id}`,
    `Message-ID: <${id}@example.org>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b-mailwarden"',
    '',
    '--b-mailwarden',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'See the attachment.',
    '--b-mailwarden',
    `Content-Type: ${type}; name="${filename}"`,
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment; filename="${filename}"`,
    '',
    b64,
    '--b-mailwarden--',
    '',
  ].join('\r\n');
}

/** The daemon and every child it had are gone, its port or socket refuses, its directory is removed. */
async function assertStopped(e: RunningEngine): Promise<void> {
  assert.equal(existsSync(`/proc/${e.pid}`), false, `pid ${e.pid} still exists`);
  assert.equal(existsSync(e.dir), false, `${e.dir} still exists`);
  const t = targetOf(e);
  const err = await new Promise<NodeJS.ErrnoException | null>((done) => {
    const s = 'path' in t ? connect(t.path) : connect(t.port, t.host);
    s.on('connect', () => (s.destroy(), done(null)));
    s.on('error', (x) => done(x));
  });
  assert.ok(err, `${e.address} still accepts connections after stop()`);
  assert.equal(err.code, 'path' in t ? 'ENOENT' : 'ECONNREFUSED');
}

async function started<T extends RunningEngine>(t: TestContext, name: string, p: Promise<T>): Promise<T> {
  const e = await p;
  // Stops it if an assertion failed before the test's own stop().
  t.after(() => e.stop());
  t.diagnostic(`${name} on ${e.address} answered ${(e.startupMs / 1000).toFixed(2)} s after spawn`);
  return e;
}

// ---------------------------------------------------------------- no daemon needed

test('the test strings are the standard ones and this file does not contain them whole', async () => {
  assert.equal(EICAR.length, 68);
  assert.match(EICAR, /^X5O!P%@AP\[4\\PZX54\(P\^\)7CC\)7\}\$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!\$H\+H\*$/);
  assert.match(GTUBE, /^XJS\*C4JDBQADN1\.NSBN3\*2IDNEN\*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL\*C\.34X$/);
  const { readFileSync } = await import('node:fs');
  for (const f of ['engines.ts', 'engines.test.ts']) {
    const src = readFileSync(join(import.meta.dirname, f), 'latin1');
    assert.equal(src.includes(EICAR), false, `${f} holds EICAR verbatim`);
    assert.equal(src.includes(GTUBE), false, `${f} holds GTUBE verbatim`);
  }
});

test('zip archives are readable by Info-ZIP unzip', { skip: existsSync('/usr/bin/unzip') ? false : missingComponent('unzip', '/usr/bin/unzip is not installed (Debian unzip)') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-zip-'));
  try {
    const content = Buffer.from('hello zip\n'.repeat(1000));
    for (const [name, zip] of [['stored.zip', zipStored('a.txt', content)], ['deflated.zip', zipDeflated('a.txt', content)]] as const) {
      writeFileSync(join(dir, name), zip);
      const test = spawnSync('/usr/bin/unzip', ['-t', join(dir, name)], { encoding: 'utf8' });
      assert.equal(test.status, 0, `unzip -t ${name}: ${test.stdout}${test.stderr}`);
      const out = spawnSync('/usr/bin/unzip', ['-p', join(dir, name), 'a.txt']);
      assert.equal(out.status, 0);
      assert.deepEqual(out.stdout, content);
    }
    assert.ok(zipStored('a.txt', content).includes(content));
    assert.ok(zipDeflated('a.txt', content).length < content.length / 4, 'deflated archive is not compressed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('log parsers read the lines the engines write', () => {
  const clamLog = [
    'Mon Nov 30 16:22:50 2026 -> Self checking every 600 seconds.',
    'Mon Nov 30 16:23:17 2026 -> instream(127.0.0.1@32912): Eicar-Test-Signature.UNOFFICIAL FOUND',
    'Mon Nov 30 16:23:17 2026 -> instream(127.0.0.1@32928): OK',
    'Mon Nov 30 16:23:26 2026 -> WARNING: INSTREAM: Size limit reached, (requested: 5000, max: 1024)',
    'Mon Nov 30 16:23:27 2026 -> instream(local): Can\'t allocate memory ERROR',
  ].join('\n');
  assert.deepEqual(parseClamdScans(clamLog), [
    { verdict: 'FOUND', detail: 'Eicar-Test-Signature.UNOFFICIAL', client: '127.0.0.1@32912' },
    { verdict: 'OK', client: '127.0.0.1@32928' },
    { verdict: 'ERROR', detail: "Can't allocate memory", client: 'local' },
  ]);

  const spamLog = [
    'Mon Nov 30 16:25:30 2026 [4144] info: spamd: checking message <1@example.org> for test:65534',
    'Mon Nov 30 16:25:30 2026 [4145] info: spamd: checking message <2@example.org> for (unknown):65534',
    'Mon Nov 30 16:25:30 2026 [4144] info: spamd: identified spam (1000.0/5.0) for test:65534 in 0.1 seconds, 195 bytes.',
    'Mon Nov 30 16:25:30 2026 [4145] info: spamd: clean message (-0.1/5.0) for (unknown):65534 in 0.1 seconds, 155 bytes.',
    'Mon Nov 30 16:25:30 2026 [4145] info: spamd: result: .  0 - MSGID_SHORT,NO_RECEIVED scantime=0.1,size=155,user=(unknown),uid=65534,required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport=59808,mid=<2@example.org>,autolearn=disabled',
    'Mon Nov 30 16:25:30 2026 [4144] info: spamd: result: Y 1000 - GTUBE,NO_RECEIVED scantime=0.1,size=195,user=test,uid=65534,required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport=59794,mid=<1@example.org>,autolearn=disabled',
  ].join('\n');
  assert.deepEqual(parseSpamdChecks(spamLog), [
    { spam: true, score: 1000, required: 5, user: 'test', bytes: 195, symbols: ['GTUBE', 'NO_RECEIVED'], messageId: '1@example.org' },
    { spam: false, score: -0.1, required: 5, user: '(unknown)', bytes: 155, symbols: ['MSGID_SHORT', 'NO_RECEIVED'], messageId: '2@example.org' },
  ]);

  const rspamdLog = [
    '2026-11-30 16:27:13 #10241(normal) <0c605d>; task; rspamd_task_write_log: id: <1@example.org>, qid: <Q123>, ip: 192.0.2.10, from: <a@example.org>, (default: S (reject): [15.00/15.00] [GTUBE(0.00){}]), len: 195, time: 265.865ms, dns req: 0, digest: <5e1d>, rcpts: <b@example.org>, mime_rcpts: <b@example.org>, forced: reject "Gtube pattern"; score=15.00 (set by GTUBE)',
    '2026-11-30 16:27:14 #10241(normal) <7e2ce6>; task; rspamd_task_write_log: id: <2@example.org>, (default: F (no action): [1.10/15.00] [RDNS_NONE(1.00){},RCPT_COUNT_ONE(0.00){1;},RCVD_COUNT_ZERO(0.00){0;}]), len: 155, time: 504.060ms, dns req: 1, digest: <59bc>',
  ].join('\n');
  assert.deepEqual(parseRspamdChecks(rspamdLog), [
    { action: 'reject', score: 15, required: 15, symbols: ['GTUBE'], messageId: '1@example.org', queueId: 'Q123', ip: '192.0.2.10', len: 195 },
    { action: 'no action', score: 1.1, required: 15, symbols: ['RDNS_NONE', 'RCPT_COUNT_ONE', 'RCVD_COUNT_ZERO'], messageId: '2@example.org', len: 155 },
  ]);
});

// ---------------------------------------------------------------- clamd

test('clamd on TCP finds EICAR in a body, a base64 attachment, stored and deflated zips, and logs every scan', skipUnless('clamd'), async (t) => {
  const clamd = await started(t, 'clamd', startClamd());
  assert.match(clamd.address, /^127\.0\.0\.1:\d+$/);
  const at = targetOf(clamd);
  const found = `stream: ${CLAMD_EICAR_NAME} FOUND\0`;
  const eicar = Buffer.from(EICAR, 'latin1');

  assert.equal(await instream(at, Buffer.from(message('clean', 'Lunch tomorrow?'))), 'stream: OK\0');
  assert.equal(await instream(at, Buffer.from(message('body', `Look: ${EICAR}`))), found);

  // Base64 hides the bytes: only clamd's MIME decoding can find them.
  const attached = withAttachment('att', 'eicar.com', 'application/octet-stream', eicar);
  assert.equal(attached.includes(EICAR), false);
  assert.equal(await instream(at, Buffer.from(attached)), found);

  const stored = zipStored('eicar.com', eicar);
  assert.ok(stored.includes(eicar));
  assert.equal(await instream(at, stored), found);

  // Deflate hides the bytes: only clamd unpacking the zip can find them.
  const deflated = zipDeflated('eicar.com', eicar);
  assert.equal(deflated.includes(eicar), false);
  assert.equal(await instream(at, deflated), found);

  const zipAttached = withAttachment('zip', 'eicar.zip', 'application/zip', deflated);
  assert.equal(await instream(at, Buffer.from(zipAttached)), found);

  // A 30 MB message (the size mailwarden allows) with EICAR at its very end, in small chunks.
  const big = Buffer.from(message('big', `${'All work and no play makes Jack a dull boy.\r\n'.repeat(680_000)}${EICAR}`));
  assert.ok(big.length > 30_000_000);
  assert.equal(await instream(at, big, 8192), found);

  const scans = clamd.scans();
  assert.deepEqual(scans.map((s) => s.verdict), ['OK', 'FOUND', 'FOUND', 'FOUND', 'FOUND', 'FOUND', 'FOUND']);
  for (const s of scans) assert.match(s.client, /^127\.0\.0\.1@\d+$/);
  assert.ok(scans.filter((s) => s.verdict === 'FOUND').every((s) => s.detail === CLAMD_EICAR_NAME));
  assert.equal(clamd.sizeLimitHits(), 0);

  // Nothing but our own database, and nothing fetched.
  const log = clamd.logText();
  assert.match(log, new RegExp(`Reading databases from ${clamd.dir}/db`));
  assert.match(log, /Loaded 1 signatures/);

  await clamd.stop();
  await assertStopped(clamd);
});

test('clamd on a Unix socket in its own directory', skipUnless('clamd'), async (t) => {
  const clamd = await started(t, 'clamd', startClamd({ unixSocket: true }));
  assert.equal(clamd.address, clamd.socketPath);
  assert.equal(clamd.socketPath, join(clamd.dir, 'clamd.sock'));
  assert.equal(clamd.port, 0);
  assert.equal(await instream(targetOf(clamd), Buffer.from(message('unix', EICAR))), `stream: ${CLAMD_EICAR_NAME} FOUND\0`);
  assert.deepEqual(clamd.scans(), [{ verdict: 'FOUND', detail: CLAMD_EICAR_NAME, client: 'local' }]);
  await clamd.stop();
  await assertStopped(clamd);
});

test('clamd refuses a stream longer than StreamMaxLength with "INSTREAM size limit exceeded. ERROR"', skipUnless('clamd'), async (t) => {
  const clamd = await started(t, 'clamd', startClamd({ streamMaxLength: '1K' }));
  const at = targetOf(clamd);
  assert.equal(await instream(at, Buffer.alloc(1024, 'a')), 'stream: OK\0');
  // clamd answers and closes with our end marker still unread: the kernel may
  // then reset the connection and drop the answer on our side. Either way the
  // stream was refused, which clamd's own log says.
  assert.match(await instream(at, Buffer.alloc(1025, 'a')), /^(INSTREAM size limit exceeded\. ERROR\0)?$/);
  assert.equal(clamd.sizeLimitHits(), 1);
  assert.deepEqual(clamd.scans().map((s) => s.verdict), ['OK']);
});

test('a daemon that exits before answering fails the start at once, with its output', skipUnless('clamd'), async () => {
  const t0 = performance.now();
  await assert.rejects(startClamd({ streamMaxLength: 'lots' }), (e: Error) => {
    assert.match(e.message, /^clamd exited \(1\) before answering/);
    assert.match(e.message, /Incorrect argument format for option StreamMaxLength/);
    return true;
  });
  assert.ok(performance.now() - t0 < 10_000, 'waited for the deadline instead of the exit');
});

// ---------------------------------------------------------------- spamd

test('spamd flags GTUBE, passes a plain message, reads to EOF without Content-length, and logs every check', skipUnless('spamd'), async (t) => {
  const spamd = await started(t, 'spamd', startSpamd());
  const spam = message('gtube', `Test spam.\r\n${GTUBE}`);
  const ham = message('ham', 'Lunch tomorrow at noon? The usual place.');

  const symbols = await spamc(spamd.port, `SYMBOLS SPAMC/1.5\r\nContent-length: ${Buffer.byteLength(spam)}\r\nUser: test\r\n\r\n${spam}`);
  const [head = '', body = ''] = symbols.split('\r\n\r\n');
  assert.match(head, /^SPAMD\/1\.1 0 EX_OK\r\n/);
  assert.match(head, /\r\nSpam: True ; 1000\.\d \/ 5\.0(\r\n|$)/);
  assert.ok(body.split(',').includes('GTUBE'), `symbols: ${body}`);
  assert.match(head, new RegExp(`Content-length: ${Buffer.byteLength(body)}(\\r\\n|$)`));

  const check = await spamc(spamd.port, `CHECK SPAMC/1.5\r\nContent-length: ${Buffer.byteLength(ham)}\r\nUser: test\r\n\r\n${ham}`);
  assert.match(check, /^SPAMD\/1\.1 0 EX_OK\r\n/);
  const score = /\r\nSpam: False ; (-?[\d.]+) \/ 5\.0\r\n/.exec(check);
  assert.ok(score, `reply: ${JSON.stringify(check)}`);
  assert.ok(Number(score[1]) < 5);

  // No Content-length: spamd reads the message up to our half-close.
  const eof = await spamc(spamd.port, `SYMBOLS SPAMC/1.5\r\n\r\n${spam}`, true);
  assert.match(eof, /^SPAMD\/1\.1 0 EX_OK\r\n/);
  assert.match(eof, /\r\nSpam: True ; 1000\.\d \/ 5\.0\r\n/);

  const checks = spamd.checks();
  assert.deepEqual(checks.map((c) => [c.spam, c.user, c.messageId]), [
    [true, 'test', 'gtube@example.org'],
    [false, 'test', 'ham@example.org'],
    [true, '(unknown)', 'gtube@example.org'],
  ]);
  assert.ok((checks[0]?.score ?? 0) >= 1000);
  assert.ok(checks[0]?.symbols.includes('GTUBE'));
  assert.equal(checks[1]?.bytes, Buffer.byteLength(ham));
  assert.equal(checks[2]?.bytes, Buffer.byteLength(spam));

  await spamd.stop();
  await assertStopped(spamd);
});

// ---------------------------------------------------------------- rspamd

test('rspamd rejects GTUBE over /checkv2, scores a plain message, logs every task and asks no outside server', skipUnless('rspamd'), async (t) => {
  const rspamd = await started(t, 'rspamd', startRspamd());
  assert.equal(rspamd.url, `http://127.0.0.1:${rspamd.port}`);
  const envelope = { IP: '192.0.2.10', Helo: 'mx.example.org', From: 'alice@example.org', Rcpt: 'bob@example.com' };

  const spam = await checkv2(rspamd.url, { ...envelope, 'Queue-Id': 'Q-SPAM' }, message('gtube', `Test spam.\r\n${GTUBE}`));
  assert.equal(spam.status, 200);
  assert.equal(spam.json.action, 'reject');
  assert.ok(spam.json.symbols.GTUBE, `symbols: ${Object.keys(spam.json.symbols).join(',')}`);
  assert.equal(typeof spam.json.required_score, 'number');
  assert.ok(spam.json.score >= spam.json.required_score);
  assert.equal(spam.json['message-id'], 'gtube@example.org');

  const ham = await checkv2(rspamd.url, { ...envelope, 'Queue-Id': 'Q-HAM' }, message('ham', 'Lunch tomorrow at noon? The usual place.'));
  assert.equal(ham.status, 200);
  assert.equal(ham.json.action, 'no action');
  assert.ok(ham.json.score < ham.json.required_score);
  assert.equal(ham.json.symbols.GTUBE, undefined);
  for (const [name, s] of Object.entries(ham.json.symbols)) assert.equal(s.name, name);

  assert.deepEqual(rspamd.checks().map((c) => [c.queueId, c.action, c.ip, c.messageId]), [
    ['Q-SPAM', 'reject', '192.0.2.10', 'gtube@example.org'],
    ['Q-HAM', 'no action', '192.0.2.10', 'ham@example.org'],
  ]);

  const log = rspamd.logText();
  // The system resolver and the rspamd map servers stay out of it.
  assert.doesNotMatch(log, /from resolv\.conf/);
  assert.doesNotMatch(log, /maps\.rspamd\.com|fuzzy\d?\.rspamd\.com|rspamd_resolve_addrs/);

  await rspamd.stop();
  await assertStopped(rspamd);
});
