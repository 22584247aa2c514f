// Hostile and malformed input against the real daemon: SMTP smuggling through
// bare CR / bare LF / NUL in DATA, commands injected behind STARTTLS, broken
// addresses, a client that drops mid-DATA, an early talker. Every refusal is
// checked on the wire (exact reply, exact number of replies) and in the spool
// (nothing queued, nothing left in spool/tmp), and the daemon must keep
// serving afterwards.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { watch } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { spooledMessage } from '../support/spool-files.ts';
import { BIN, RawClient, relayDoc, startRelay, type Relay, spoolFiles as spool, queuedIds } from './harness.ts';

// ---------------------------------------------------------------- helpers

/** `mailwarden queue list --json`: what an operator sees. */
function queueList(relay: Relay): Promise<{ id: string; recipients: { address: string }[]; smtputf8: boolean }[]> {
  return new Promise((done, fail) => {
    execFile(BIN, ['queue', 'list', '--json', '--data', relay.dataDir], (err, stdout) => {
      if (err) return fail(err);
      try {
        done(JSON.parse(stdout) as { id: string; recipients: { address: string }[]; smtputf8: boolean }[]);
      } catch (e) {
        fail(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

/** Everything the server sends on `c` from now on (latin1 text). */
function record(c: RawClient): { text: string } {
  const rec = { text: '' };
  c.socket.on('data', (d: string | Buffer) => (rec.text += typeof d === 'string' ? d : d.toString('latin1')));
  return rec;
}

/** The reply codes (first line of each reply) in a transcript. */
function replyCodes(text: string): string[] {
  return text
    .split('\r\n')
    .filter((l) => /^\d{3} /.test(l))
    .map((l) => l.slice(0, 3));
}

async function greeted(port: number, local = '127.0.0.1'): Promise<RawClient> {
  const c = await RawClient.connect(port, local);
  assert.match((await c.reply()) ?? '', /^220 mx\.test\.example ESMTP/);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
  return c;
}

/** Opens a transaction up to the 354. */
async function toData(port: number, local = '127.0.0.1', rcpt = 'b@example.org'): Promise<RawClient> {
  const c = await greeted(port, local);
  assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 2\.1\.0/);
  assert.match((await c.cmd(`RCPT TO:<${rcpt}>`)) ?? '', /^250 2\.1\.5/);
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  return c;
}

/** Sends a command given as UTF-8 (RawClient.cmd writes latin1). */
async function cmdUtf8(c: RawClient, line: string): Promise<string | null> {
  c.write(Buffer.from(line + '\r\n', 'utf8'));
  return c.reply();
}

/** A full good transaction on a fresh connection: the daemon still serves. */
async function stillServes(relay: Relay, local = '127.0.0.1'): Promise<string> {
  assert.equal(relay.child.exitCode, null, `daemon exited; stderr: ${relay.stderr()}`);
  const c = await toData(relay.ports.mx, local);
  const r = (await c.cmd('Subject: ok\r\n\r\nstill serving\r\n.')) ?? '';
  assert.match(r, /^250 2\.0\.0 Ok: queued as [0-9a-z]{16}$/);
  await c.cmd('QUIT');
  c.end();
  return r.slice(-16);
}

// ---------------------------------------------------------------- smuggling

const SMUGGLED = 'MAIL FROM:<evil@x>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n';

const VARIANTS: [string, string, RegExp][] = [
  ['\\n.\\n', '\n.\n', /^550 5\.5\.2 /],
  ['\\r.\\r', '\r.\r', /^550 5\.5\.2 /],
  ['\\n.\\r\\n', '\n.\r\n', /^550 5\.5\.2 /],
  ['\\r\\n.\\n', '\r\n.\n', /^550 5\.5\.2 /],
  ['\\r.\\r\\n', '\r.\r\n', /^550 5\.5\.2 /],
  ['\\r\\n.\\r', '\r\n.\r', /^550 5\.5\.2 /],
  ['\\r\\n\\x00.\\r\\n', '\r\n\x00.\r\n', /^(550 5\.5\.2|554 5\.\d\.\d) /],
];

test('SMTP smuggling: a fake end of data never ends DATA, the message is refused and nothing is queued', async (t) => {
  // The client here is a relay host (127.0.0.1), which by default may have bare
  // LFs made CRLF (test/smtp/bare-newline): refusing them is asked for explicitly.
  const { doc, ports } = await relayDoc({ limits: { bare_newline: 'reject' } });
  const relay = await startRelay(t, doc, ports);

  const refuse = async (body: string, expect: RegExp, problem: RegExp) => {
    const before = relay.logs.filter((l) => l.event === 'data.refused').length;
    const c = await toData(ports.mx);
    const rec = record(c);
    c.write(body);
    const r = (await c.reply()) ?? '';
    assert.match(r, expect);
    // Exactly one reply to the DATA end: the next reply is RSET's, then QUIT's.
    assert.equal(await c.cmd('RSET'), '250 2.0.0 Flushed');
    assert.match((await c.cmd('QUIT')) ?? '', /^221 /);
    assert.ok(await c.closedByServer());
    assert.deepEqual(replyCodes(rec.text), [r.slice(0, 3), '250', '221'], `transcript: ${JSON.stringify(rec.text)}`);
    await relay.waitLog((l) => l.event === 'data.refused' && relay.logs.filter((x) => x.event === 'data.refused').length > before);
    const refused = relay.logs.filter((l) => l.event === 'data.refused').at(-1);
    assert.match(String(refused?.problem), problem);
    assert.deepEqual(spool(relay), { queue: [], tmp: [] });
    assert.equal(relay.logs.filter((l) => l.event === 'queued').length, 0);
    assert.equal(relay.logs.some((l) => l.event === 'rcpt' && l.recipient === 'victim@example.org'), false, 'a smuggled RCPT reached the policy');
    assert.equal(relay.logs.some((l) => (l.event === 'mail' || l.event === 'rcpt') && JSON.stringify(l).includes('evil@x')), false);
  };

  for (const [name, fake, expect] of VARIANTS) {
    await t.test(`"${name}" followed by a smuggled transaction`, async () => {
      const problem = fake.includes('\x00') ? /^(nul|bare_cr|bare_lf)$/ : /^(bare_cr|bare_lf)$/;
      await refuse(`Subject: hello\r\n\r\nhello${fake}${SMUGGLED}.\r\n`, expect, problem);
    });
  }

  await t.test('the fake end in the middle of a line of text, smuggled commands after it', async () => {
    await refuse(`Subject: hello\r\n\r\nsome text\n.\nQUIT\r\n${SMUGGLED}.\r\n`, /^550 5\.5\.2 /, /^bare_lf$/);
  });

  await t.test('a bare LF in a header line', async () => {
    await refuse('Subject: hello\nX-Other: yes\r\n\r\nbody\r\n.\r\n', /^550 5\.5\.2 /, /^bare_lf$/);
  });

  await t.test('a bare CR in a header line', async () => {
    await refuse('Subject: hello\rX-Other: yes\r\n\r\nbody\r\n.\r\n', /^550 5\.5\.2 /, /^bare_cr$/);
  });

  await t.test('a lone CR at the very end of the data (just before the terminator)', async () => {
    await refuse('Subject: hello\r\n\r\nbody\r\r\n.\r\n', /^550 5\.5\.2 /, /^bare_cr$/);
  });

  await t.test('a NUL in the body', async () => {
    await refuse('Subject: hello\r\n\r\nbo\x00dy\r\n.\r\n', /^550 5\.5\.2 /, /^nul$/);
  });

  await t.test('the smuggling payload written one byte per packet is refused the same way', async () => {
    const c = await toData(ports.mx);
    const rec = record(c);
    const payload = `Subject: x\r\n\r\nhello\n.\n${SMUGGLED}.\r\n`;
    c.socket.setNoDelay(true);
    for (const ch of payload) {
      await new Promise<void>((done) => c.socket.write(Buffer.from(ch, 'latin1'), () => done()));
    }
    assert.match((await c.reply()) ?? '', /^550 5\.5\.2 /);
    assert.equal(await c.cmd('RSET'), '250 2.0.0 Flushed');
    assert.deepEqual(replyCodes(rec.text), ['550', '250']);
    c.end();
    assert.deepEqual(spool(relay), { queue: [], tmp: [] });
  });

  await t.test('the same connection then carries a clean message, and only that one is queued', async () => {
    const c = await toData(ports.mx);
    const rec = record(c);
    c.write(`Subject: hello\r\n\r\nhello${'\n.\n'}${SMUGGLED}.\r\n`);
    assert.match((await c.reply()) ?? '', /^550 5\.5\.2 /);
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 2\.1\.0/);
    assert.match((await c.cmd('RCPT TO:<b@example.org>')) ?? '', /^250 2\.1\.5/);
    assert.match((await c.cmd('DATA')) ?? '', /^354/);
    const ok = (await c.cmd('Subject: clean\r\n\r\nclean\r\n.')) ?? '';
    assert.match(ok, /^250 2\.0\.0 Ok: queued as [0-9a-z]{16}$/);
    assert.match((await c.cmd('QUIT')) ?? '', /^221 /);
    assert.deepEqual(replyCodes(rec.text), ['550', '250', '250', '354', '250', '221']);
    const ids = queuedIds(relay);
    assert.deepEqual(ids, [ok.slice(-16)]);
    const list = await queueList(relay);
    assert.deepEqual(
      list.map((e) => [e.id, e.recipients.map((r) => r.address)]),
      [[ok.slice(-16), ['b@example.org']]],
    );
    const eml = spooledMessage(relay.dataDir, ids[0] ?? '').toString('latin1');
    assert.ok(!eml.includes('smuggled'), 'the refused message leaked into the queued one');
  });
});

// ---------------------------------------------------------------- STARTTLS

/** Reads replies from any socket (plain or TLS). */
class Wire {
  buf = '';
  closed = false;
  private wake: (() => void) | null = null;
  private readonly sock: Socket | TLSSocket;
  private readonly onData = (d: Buffer) => {
    this.buf += d.toString('latin1');
    this.wake?.();
  };
  private readonly onClose = () => {
    this.closed = true;
    this.wake?.();
  };

  constructor(sock: Socket | TLSSocket) {
    this.sock = sock;
    sock.on('data', this.onData);
    sock.on('close', this.onClose);
    sock.on('error', () => {});
  }

  detach(): void {
    this.sock.off('data', this.onData);
    this.sock.off('close', this.onClose);
  }

  async reply(timeoutMs = 10_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0].trimEnd();
      }
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms; have: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((done) => {
        const timer = setTimeout(done, left);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          done();
        };
      });
    }
  }

  async cmd(line: string): Promise<string | null> {
    this.sock.write(line + '\r\n');
    return this.reply();
  }
}

test('STARTTLS: commands pipelined behind it in the same packet are discarded (CVE-2011-0411 class)', async (t) => {
  const { doc, ports } = await relayDoc();
  const relay = await startRelay(t, doc, ports);

  const raw = netConnect({ port: ports.mx, host: '127.0.0.1', localAddress: '127.0.0.1' });
  await new Promise<void>((done, fail) => {
    raw.once('connect', done);
    raw.once('error', fail);
  });
  const plain = new Wire(raw);
  assert.match((await plain.reply()) ?? '', /^220 /);
  const ehlo = (await plain.cmd('EHLO client.example')) ?? '';
  assert.match(ehlo, /STARTTLS/);
  // One write, one packet: STARTTLS plus an injected transaction.
  raw.write('STARTTLS\r\nMAIL FROM:<injected@example.net>\r\nRCPT TO:<victim@example.org>\r\n');
  assert.match((await plain.reply()) ?? '', /^220 /);
  plain.detach();
  assert.equal(plain.buf, '', 'the server answered an injected command in plaintext');

  const sock = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'mx.test.example' });
  await new Promise<void>((done, fail) => {
    sock.once('secureConnect', done);
    sock.once('error', fail);
  });
  const w = new Wire(sock);
  const rec = { text: '' };
  sock.on('data', (d: Buffer) => (rec.text += d.toString('latin1')));
  // The first thing said inside TLS answers our own command, not the injected ones.
  const first = (await w.cmd('NOOP')) ?? '';
  assert.match(first, /^250 2\.0\.0 /);
  // The pre-TLS EHLO is forgotten: a fresh EHLO is needed.
  assert.match((await w.cmd('MAIL FROM:<a@example.net>')) ?? '', /^503 /);
  assert.match((await w.cmd('EHLO client.example')) ?? '', /^250-mx\.test\.example/);
  // The injected MAIL left no transaction behind.
  assert.match((await w.cmd('RCPT TO:<b@example.org>')) ?? '', /^503 /);
  assert.match((await w.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 2\.1\.0/);
  assert.match((await w.cmd('RCPT TO:<b@example.org>')) ?? '', /^250 2\.1\.5/);
  assert.match((await w.cmd('DATA')) ?? '', /^354/);
  const ok = (await w.cmd('Subject: tls\r\n\r\nover tls\r\n.')) ?? '';
  assert.match(ok, /^250 2\.0\.0 Ok: queued as [0-9a-z]{16}$/);
  assert.match((await w.cmd('QUIT')) ?? '', /^221 /);
  assert.deepEqual(replyCodes(rec.text), ['250', '503', '250', '503', '250', '250', '354', '250', '221']);
  sock.destroy();

  const q = await relay.waitLog((l) => l.event === 'queued');
  assert.deepEqual(q.recipients, [{ address: 'b@example.org', kind: 'relay', rule: 'rule 4' }]);
  assert.equal(q.sender, 'a@example.net');
  assert.equal(relay.logs.some((l) => JSON.stringify(l).includes('injected@example.net') || JSON.stringify(l).includes('victim@example.org')), false);
  const eml = spooledMessage(relay.dataDir, ok.slice(-16)).toString('latin1');
  assert.match(eml, /^Received: from client\.example \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test\.example \(mailwarden, listener mx\) with ESMTPS id [0-9a-z]{16} \(TLS/);
});

// ---------------------------------------------------------------- bad commands

test('broken commands get a 5xx, never a crash, and the daemon keeps serving', async (t) => {
  const { doc, ports } = await relayDoc();
  const relay = await startRelay(t, doc, ports);

  await t.test('NUL in MAIL FROM', async () => {
    const c = await greeted(ports.mx);
    assert.match((await c.cmd('MAIL FROM:<a\x00b@example.net>')) ?? '', /^5\d\d /);
    // no transaction was opened
    assert.match((await c.cmd('RCPT TO:<b@example.org>')) ?? '', /^503 /);
    c.end();
  });

  await t.test('NUL in RCPT TO', async () => {
    const c = await greeted(ports.mx);
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<b\x00c@example.org>')) ?? '', /^5\d\d /);
    assert.match((await c.cmd('DATA')) ?? '', /^503 /);
    c.end();
  });

  await t.test('NUL in EHLO and in an unknown command', async () => {
    const c = await RawClient.connect(ports.mx);
    await c.reply();
    const r = (await c.cmd('EHLO a\x00b')) ?? '';
    assert.match(r, /^(250|5\d\d)[ -]/);
    assert.match((await c.cmd('\x00\x00\x00')) ?? '', /^5\d\d /);
    c.end();
  });

  await t.test('invalid UTF-8 (0xff) in MAIL FROM without SMTPUTF8', async () => {
    const c = await greeted(ports.mx);
    assert.match((await c.cmd('MAIL FROM:<a\xffb@example.net>')) ?? '', /^5\d\d /);
    assert.match((await c.cmd('RCPT TO:<b@example.org>')) ?? '', /^503 /);
    c.end();
  });

  await t.test('invalid UTF-8 (0xff) in MAIL FROM with SMTPUTF8', async () => {
    const c = await greeted(ports.mx);
    assert.match((await c.cmd('MAIL FROM:<a\xff\xfeb@example.net> SMTPUTF8')) ?? '', /^5\d\d /);
    c.end();
  });

  await t.test('invalid UTF-8 (0xff) in RCPT TO', async () => {
    const c = await greeted(ports.mx);
    assert.match((await c.cmd('MAIL FROM:<a@example.net> SMTPUTF8')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<b\xff@example.org>')) ?? '', /^5\d\d /);
    assert.match((await c.cmd('DATA')) ?? '', /^503 /);
    c.end();
  });

  await t.test('a non-ASCII sender without SMTPUTF8: 553 5.6.7', async () => {
    const c = await greeted(ports.mx);
    assert.match((await cmdUtf8(c, 'MAIL FROM:<jöe@example.net>')) ?? '', /^553 5\.6\.7 /);
    c.end();
  });

  await t.test('a non-ASCII recipient without SMTPUTF8: 553 5.6.7', async () => {
    const c = await greeted(ports.mx);
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.match((await cmdUtf8(c, 'RCPT TO:<jöe@example.org>')) ?? '', /^553 5\.6\.7 /);
    c.end();
  });

  await t.test('RCPT TO:<> is refused', async () => {
    const c = await greeted(ports.mx);
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<>')) ?? '', /^5\d\d /);
    assert.match((await c.cmd('DATA')) ?? '', /^503 /);
    c.end();
  });

  await t.test('MAIL FROM without brackets or with a broken path', async () => {
    const c = await greeted(ports.mx);
    for (const bad of ['MAIL FROM:a@example.net', 'MAIL FROM:<a@example.net', 'MAIL FROM:<a@@example.net>', 'MAIL FROM:<<a@example.net>>', 'MAIL FROM:<a@example.net> SIZE=abc']) {
      assert.match((await c.cmd(bad)) ?? '', /^5\d\d /, bad);
    }
    c.end();
  });

  await t.test('after all that, nothing was queued and the daemon serves a new client', async () => {
    assert.deepEqual(spool(relay), { queue: [], tmp: [] });
    const id = await stillServes(relay, '127.0.0.1');
    assert.deepEqual(queuedIds(relay), [id]);
  });
});

test('SMTPUTF8: a non-ASCII sender and recipient are accepted and queued as SMTPUTF8', async (t) => {
  const { doc, ports } = await relayDoc();
  const relay = await startRelay(t, doc, ports);
  const c = await greeted(ports.mx);
  assert.match((await cmdUtf8(c, 'MAIL FROM:<jöe@exämple.net> SMTPUTF8')) ?? '', /^250 2\.1\.0/);
  assert.match((await cmdUtf8(c, 'RCPT TO:<zoë@example.org>')) ?? '', /^250 2\.1\.5/);
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  c.write(Buffer.from('Subject: héllo\r\n\r\nbödy\r\n.\r\n', 'utf8'));
  const ok = (await c.reply()) ?? '';
  assert.match(ok, /^250 2\.0\.0 Ok: queued as [0-9a-z]{16}$/);
  c.end();
  const list = await queueList(relay);
  assert.equal(list.length, 1);
  assert.equal(list[0]?.smtputf8, true);
  assert.deepEqual(list[0]?.recipients.map((r) => r.address), ['zoë@example.org']);
  // The stored message is UTF-8 throughout, our Received header included.
  const eml = spooledMessage(relay.dataDir, ok.slice(-16));
  const head = eml.subarray(0, eml.indexOf('\r\n\r\n'));
  let text = '';
  assert.doesNotThrow(() => (text = new TextDecoder('utf-8', { fatal: true }).decode(eml)), `the stored header section is not UTF-8: ${JSON.stringify(head.toString('latin1'))}`);
  assert.match(text, /^Received: from client\.example [^]*\r\n\tfor <zoë@example\.org>;\r\n/);
  assert.ok(text.endsWith('Subject: héllo\r\n\r\nbödy\r\n'));
});

test('SMTPUTF8: a recipient cannot inject header lines into our Received header', async (t) => {
  const { doc, ports } = await relayDoc();
  const relay = await startRelay(t, doc, ports);
  const c = await greeted(ports.mx);
  assert.match((await c.cmd('MAIL FROM:<a@example.net> SMTPUTF8')) ?? '', /^250 2\.1\.0/);
  // U+010D U+010A: valid UTF-8 letters whose low bytes are CR and LF.
  const rcpt = '"x\u010D\u010AX-Injected:yes"@example.org';
  const r = (await cmdUtf8(c, `RCPT TO:<${rcpt}>`)) ?? '';
  if (/^5\d\d /.test(r)) {
    c.end();
    return; // refusing such a recipient is fine too
  }
  assert.match(r, /^250 /);
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  const ok = (await c.cmd('Subject: hi\r\n\r\nhi\r\n.')) ?? '';
  assert.match(ok, /^250 2\.0\.0 Ok: queued as [0-9a-z]{16}$/);
  c.end();
  const eml = spooledMessage(relay.dataDir, ok.slice(-16));
  const head = eml.subarray(0, eml.indexOf('\r\n\r\n')).toString('latin1');
  const lines = head.split('\r\n');
  assert.ok(!lines.some((l) => /^X-Injected:/i.test(l)), `an injected header line: ${JSON.stringify(head)}`);
  // Lines of the Received header: the first, then folded ones until Subject.
  const received = lines.slice(0, lines.findIndex((l) => l.startsWith('Subject:')));
  assert.ok(received.slice(1).every((l) => l.startsWith('\t')), `Received header broken: ${JSON.stringify(received)}`);
  assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(eml), 'the stored message is not UTF-8');
});

// ---------------------------------------------------------------- dropped client, early talker

test('a client that drops mid-DATA leaves nothing behind and the daemon keeps serving', async (t) => {
  const { doc, ports } = await relayDoc();
  const relay = await startRelay(t, doc, ports);
  // A message's file is created in queue/ as DATA starts (committed only by its trailer at the final dot).
  const queueDir = join(relay.dataDir, 'spool', 'queue');
  const c = await toData(ports.mx);
  // Wait (for an event, not a time) until the server has started a spool file.
  const started = new Promise<void>((done) => {
    const w = watch(queueDir, () => {
      w.close();
      done();
    });
  });
  const chunk = 'Subject: big\r\n\r\n' + ('x'.repeat(998) + '\r\n').repeat(100);
  const writer = (async () => {
    for (let i = 0; i < 50 && !c.closed; i++) {
      await new Promise<void>((done) => c.socket.write(Buffer.from(i === 0 ? chunk : chunk.slice(16), 'latin1'), () => done()));
    }
  })();
  let failsafe: NodeJS.Timeout | undefined;
  await Promise.race([
    started,
    new Promise((_, fail) => (failsafe = setTimeout(() => fail(new Error('no spool file appeared in spool/queue')), 10_000))),
  ]);
  clearTimeout(failsafe);
  c.end();
  await writer.catch(() => {});
  const err = await relay.waitLog((l) => l.event === 'data.error');
  assert.equal(typeof err.id, 'string');
  assert.deepEqual(spool(relay), { queue: [], tmp: [] });
  assert.equal(relay.logs.filter((l) => l.event === 'queued').length, 0);
  const id = await stillServes(relay);
  assert.deepEqual(queuedIds(relay), [id]);
  assert.deepEqual(spool(relay).tmp, []);
});

test('early talker: EHLO sent before the greeting is never answered ahead of the greeting', async (t) => {
  // Deterministic part only: whatever the server decides (serve or refuse as an
  // early talker), the greeting (or the 421) comes first, and nothing runs twice.
  const { doc, ports } = await relayDoc();
  const relay = await startRelay(t, doc, ports);
  const c = await RawClient.connect(ports.mx);
  c.write('EHLO early.example\r\n');
  const first = (await c.reply()) ?? '';
  if (first.startsWith('421')) {
    assert.match(first, /^421 4\.7\.0 .*talk too soon/i);
    assert.ok(await c.closedByServer());
  } else {
    assert.match(first, /^220 mx\.test\.example ESMTP/);
    assert.match((await c.reply()) ?? '', /^250-mx\.test\.example/);
    assert.match((await c.cmd('NOOP')) ?? '', /^250 /);
    c.end();
  }
  assert.equal(relay.child.exitCode, null);
});

test('a parameter carrying CR LF through xtext is refused 501 5.5.4 and logged; the session goes on', async (t) => {
  const { doc, ports } = await relayDoc();
  const relay = await startRelay(t, doc, ports);
  const c = await greeted(ports.mx);
  assert.match((await c.cmd('MAIL FROM:<a@example.net> ENVID=x+0D+0AInjected:1')) ?? '', /^501 5\.5\.4 /);
  assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 2\.1\.0/);
  assert.match((await c.cmd('RCPT TO:<b@example.org> ORCPT=rfc822;x+0A')) ?? '', /^501 5\.5\.4 /);
  assert.match((await c.cmd('RCPT TO:<b@example.org>')) ?? '', /^250 2\.1\.5/);
  c.end();
  const line = await relay.waitLog((l) => l.event === 'mail' && l.action === 'reject');
  assert.match(String((line.trail as string[])[0]), /control character in the ENVID parameter/);
});
