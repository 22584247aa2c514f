// The `limits` of the settings, enforced on the wire by the real daemon:
// message size (SIZE= and while streaming), recipients, Received headers
// (mail loops), command line length, errors per session, idle clients and
// connection counts. Each refusal is checked with its exact reply and, where
// a message was refused, with an empty spool/tmp and nothing queued.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spooledMessage, storedEnvelope } from '../support/spool-files.ts';
import { RawClient, relayDoc, startRelay, type LogLine, type Relay, spoolFiles as spool, queuedIds } from './harness.ts';

// ---------------------------------------------------------------- helpers

function envelope(relay: Relay, id: string): { recipients: { address: string }[]; size: number } {
  return storedEnvelope(join(relay.dataDir, 'spool', 'queue'), id);
}

/** Resolves with the n-th log line (1-based) matching `pred`, once it has been seen. */
async function nthLog(relay: Relay, pred: (l: LogLine) => boolean, n: number, timeoutMs?: number): Promise<LogLine> {
  await relay.waitLog((l) => pred(l) && relay.logs.filter(pred).length >= n, timeoutMs);
  const line = relay.logs.filter(pred)[n - 1];
  assert.ok(line);
  return line;
}

async function greeted(port: number, local = '127.0.0.1'): Promise<RawClient> {
  const c = await RawClient.connect(port, local);
  assert.match((await c.reply()) ?? '', /^220 mx\.test\.example ESMTP/);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
  return c;
}

async function toData(c: RawClient, rcpts = ['b@example.org']): Promise<void> {
  assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 2\.1\.0/);
  for (const r of rcpts) assert.match((await c.cmd(`RCPT TO:<${r}>`)) ?? '', /^250 2\.1\.5/);
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
}

/** Writes, waiting for the socket to take each piece (bounded memory). */
function send(c: RawClient, data: Buffer): Promise<void> {
  return new Promise((done, fail) => c.socket.write(data, (err) => (err ? fail(err) : done())));
}

/** DATA content (dot-stuffing not needed: no line starts with '.') of exactly `n` octets, CRLF included. */
function messageOf(n: number): string {
  const head = 'Subject: size\r\n\r\n';
  let body = '';
  let left = n - head.length;
  while (left > 0) {
    const len = Math.min(left, 78);
    if (len >= 2) {
      body += 'y'.repeat(len - 2) + '\r\n';
      left -= len;
    } else {
      // 1 octet left: lengthen the previous line by one
      body = body.slice(0, -2) + 'y\r\n';
      left -= 1;
    }
  }
  const out = head + body;
  assert.equal(out.length, n);
  return out;
}

const QUEUED = /^250 2\.0\.0 Ok: queued as [0-9a-z]{16}$/;

// ---------------------------------------------------------------- size, recipients, loops, lines, errors

test('limits on one session: size, recipients, Received headers, line length, errors', async (t) => {
  const { doc, ports } = await relayDoc({
    limits: { max_message_size: 10000, max_recipients: 3, max_received: 5, max_errors: 3 },
  });
  const relay = await startRelay(t, doc, ports);
  const refusedCount = () => relay.logs.filter((l) => l.event === 'data.refused').length;

  await t.test('EHLO advertises SIZE 10000', async () => {
    const c = await RawClient.connect(ports.mx);
    await c.reply();
    const ehlo = (await c.cmd('EHLO client.example')) ?? '';
    assert.match(ehlo, /^250[- ]SIZE 10000$/m);
    c.end();
  });

  await t.test('MAIL FROM with SIZE= above the limit: 552 5.3.4; at the limit: accepted', async () => {
    const c = await greeted(ports.mx);
    assert.match((await c.cmd('MAIL FROM:<a@example.net> SIZE=10001')) ?? '', /^552 5\.3\.4 /);
    assert.match((await c.cmd('MAIL FROM:<a@example.net> SIZE=5000000')) ?? '', /^552 5\.3\.4 /);
    assert.match((await c.cmd('MAIL FROM:<a@example.net> SIZE=10000')) ?? '', /^250 2\.1\.0/);
    c.end();
  });

  await t.test('5 MB streamed against a 10000-octet limit: 552 5.3.4, nothing kept, the connection stays usable', async () => {
    const before = refusedCount();
    const c = await greeted(ports.mx);
    await toData(c);
    const chunk = Buffer.from(('z'.repeat(1022) + '\r\n').repeat(64), 'latin1'); // 64 KiB
    await send(c, Buffer.from('Subject: big\r\n\r\n', 'latin1'));
    for (let i = 0; i < 80; i++) await send(c, chunk); // 5 MiB
    c.write('.\r\n');
    assert.match((await c.reply()) ?? '', /^552 5\.3\.4 /);
    const refused = await nthLog(relay, (l) => l.event === 'data.refused', before + 1);
    assert.equal(refused.problem, 'too_big');
    assert.equal(refused.code, 552);
    assert.ok(Number(refused.bytes) > 10000, `bytes: ${String(refused.bytes)}`);
    assert.deepEqual(spool(relay), { queue: [], tmp: [] });
    // Same connection: a small message goes through.
    await toData(c);
    const ok = (await c.cmd('Subject: small\r\n\r\nsmall\r\n.')) ?? '';
    assert.match(ok, QUEUED);
    assert.match((await c.cmd('QUIT')) ?? '', /^221 /);
    assert.deepEqual(queuedIds(relay), [ok.slice(-16)]);
    assert.deepEqual(spool(relay).tmp, []);
  });

  await t.test('512 MiB streamed against the limit: 552 5.3.4 and the daemon\'s peak memory stays bounded', async () => {
    const peakRss = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${relay.child.pid}/status`, 'utf8'))?.[1]) * 1024;
    const before = peakRss();
    const c = await greeted(ports.mx);
    await toData(c);
    const chunk = Buffer.from(('w'.repeat(1022) + '\r\n').repeat(1024), 'latin1'); // 1 MiB
    await send(c, Buffer.from('Subject: huge\r\n\r\n', 'latin1'));
    for (let i = 0; i < 512; i++) await send(c, chunk);
    c.write('.\r\n');
    assert.match((await c.reply(60_000)) ?? '', /^552 5\.3\.4 /);
    c.end();
    const growth = peakRss() - before;
    // Buffering the message would add at least its 512 MiB. Streaming adds the
    // buffers in flight; src/core/memory.ts collects the spent ones every 8 MB
    // (without it, about 80 MiB piled up before V8 collected them).
    assert.ok(growth < 48 * 1024 * 1024, `peak RSS grew by ${Math.round(growth / 1048576)} MiB while 512 MiB were refused`);
    assert.deepEqual(spool(relay).tmp, []);
  });

  await t.test('exactly max_message_size octets is accepted, one more is refused', async () => {
    const before = queuedIds(relay);
    const c = await greeted(ports.mx);
    await toData(c);
    c.write(messageOf(10000) + '.\r\n');
    const ok = (await c.reply()) ?? '';
    assert.match(ok, QUEUED);
    await toData(c);
    c.write(messageOf(10001) + '.\r\n');
    assert.match((await c.reply()) ?? '', /^552 5\.3\.4 /);
    c.end();
    assert.deepEqual(queuedIds(relay), [...before, ok.slice(-16)].sort());
    assert.deepEqual(spool(relay).tmp, []);
  });

  await t.test('the 4th RCPT with max_recipients 3: 452 4.5.3; the message goes to the first three', async () => {
    const d = await greeted(ports.mx);
    assert.match((await d.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    for (const r of ['r1', 'r2', 'r3']) assert.match((await d.cmd(`RCPT TO:<${r}@example.org>`)) ?? '', /^250 2\.1\.5/);
    assert.match((await d.cmd('RCPT TO:<r4@example.org>')) ?? '', /^452 4\.5\.3 /);
    assert.match((await d.cmd('RCPT TO:<r5@example.org>')) ?? '', /^452 4\.5\.3 /);
    assert.match((await d.cmd('DATA')) ?? '', /^354/);
    const ok = (await d.cmd('Subject: many\r\n\r\nmany\r\n.')) ?? '';
    assert.match(ok, QUEUED);
    d.end();
    assert.deepEqual(envelope(relay, ok.slice(-16)).recipients.map((r) => r.address), ['r1@example.org', 'r2@example.org', 'r3@example.org']);
  });

  await t.test('452 too many recipients counts toward max_errors (3) like every other refusal: the third ends the session', async () => {
    const d = await greeted(ports.mx);
    assert.match((await d.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    for (const r of ['r1', 'r2', 'r3']) assert.match((await d.cmd(`RCPT TO:<${r}@example.org>`)) ?? '', /^250 2\.1\.5/);
    assert.match((await d.cmd('RCPT TO:<r4@example.org>')) ?? '', /^452 4\.5\.3 /);
    assert.match((await d.cmd('RCPT TO:<r5@example.org>')) ?? '', /^452 4\.5\.3 /);
    assert.match((await d.cmd('RCPT TO:<r6@example.org>')) ?? '', /^421 4\.7\.0 Too many errors/);
    assert.ok(await d.closedByServer());
    // The line says what the client was told (the 421 of the error limit) and what the RCPT earned on its own.
    const line = await nthLog(relay, (l) => l.event === 'rcpt' && l.recipient === 'r6@example.org', 1);
    assert.equal(line.code, 421);
    assert.equal(line.action, 'tempfail');
    assert.equal(line.rule, 'limits.max_errors');
    assert.deepEqual(line.refused_for, { code: 452, text: 'Too many recipients', rule: 'limits.max_recipients' });
  });

  await t.test('a recipient given twice is queued once', async () => {
    const d = await greeted(ports.mx);
    assert.match((await d.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.match((await d.cmd('RCPT TO:<twice@example.org>')) ?? '', /^250 2\.1\.5/);
    assert.match((await d.cmd('RCPT TO:<twice@example.org>')) ?? '', /^250 2\.1\.5/);
    assert.match((await d.cmd('DATA')) ?? '', /^354/);
    const ok = (await d.cmd('Subject: twice\r\n\r\ntwice\r\n.')) ?? '';
    assert.match(ok, QUEUED);
    d.end();
    const addresses = envelope(relay, ok.slice(-16)).recipients.map((r) => r.address);
    assert.deepEqual(addresses, ['twice@example.org'], 'one mailbox, one delivery');
  });

  await t.test('a recipient repeated does not use up max_recipients', async () => {
    const d = await greeted(ports.mx);
    assert.match((await d.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    for (let i = 0; i < 3; i++) assert.match((await d.cmd('RCPT TO:<again@example.org>')) ?? '', /^250 2\.1\.5/);
    assert.match((await d.cmd('RCPT TO:<other@example.org>')) ?? '', /^250 2\.1\.5/, 'only one distinct recipient so far');
    d.end();
  });

  const received = (n: number, name = 'Received') =>
    Array.from({ length: n }, (_, i) => `${name}: from hop${i}.example by hop${i + 1}.example; Mon, 5 Jan 2026 10:00:0${i % 10} +0000\r\n`).join('');

  await t.test('max_received (5) Received headers are accepted', async () => {
    const c = await greeted(ports.mx);
    await toData(c);
    c.write(`${received(5)}Subject: five\r\n\r\nbody\r\n.\r\n`);
    const ok = (await c.reply()) ?? '';
    assert.match(ok, QUEUED);
    c.end();
    const eml = spooledMessage(relay.dataDir, ok.slice(-16)).toString('latin1');
    assert.equal(eml.match(/^Received:/gm)?.length, 6, 'five of theirs and ours');
  });

  await t.test('one Received header more (6, mixed case, folded): 554 5.4.6, nothing queued', async () => {
    const queued = queuedIds(relay);
    const before = refusedCount();
    const c = await greeted(ports.mx);
    await toData(c);
    const hdrs = received(3) + 'RECEIVED: from a\r\n\tby b; Mon, 5 Jan 2026 10:00:00 +0000\r\n' + received(2, 'received');
    c.write(`${hdrs}Subject: six\r\n\r\nbody\r\n.\r\n`);
    assert.match((await c.reply()) ?? '', /^554 5\.4\.6 /);
    assert.equal((await nthLog(relay, (l) => l.event === 'data.refused', before + 1)).problem, 'loop');
    // the connection carries on
    assert.match((await c.cmd('NOOP')) ?? '', /^250 /);
    c.end();
    assert.deepEqual(queuedIds(relay), queued);
    assert.deepEqual(spool(relay).tmp, []);
  });

  await t.test('look-alikes are not counted: X-Received, Received in the body, folded lines', async () => {
    const c = await greeted(ports.mx);
    await toData(c);
    const msg = received(5) + received(3, 'X-Received') + 'Subject: x\r\n Received: folded\r\n\r\n' + received(10) + '.\r\n';
    c.write(msg);
    assert.match((await c.reply()) ?? '', QUEUED);
    c.end();
  });

  await t.test('a command line longer than max_line_length (2048): 500 5.5.2, then close', async () => {
    const c = await greeted(ports.mx);
    assert.match((await c.cmd(`MAIL FROM:<${'a'.repeat(3000)}@example.net>`)) ?? '', /^500 5\.5\.2 /);
    assert.ok(await c.closedByServer());
  });

  await t.test('an over-long line without its newline: 500 5.5.2, then close', async () => {
    const c = await greeted(ports.mx);
    c.write('NOOP ' + 'x'.repeat(5000));
    assert.match((await c.reply()) ?? '', /^500 5\.5\.2 /);
    assert.ok(await c.closedByServer());
  });

  await t.test('a command line of exactly 2048 octets is not "too long"', async () => {
    const c = await greeted(ports.mx);
    const line = 'NOOP ' + 'x'.repeat(2048 - 5);
    assert.equal(line.length, 2048);
    assert.match((await c.cmd(line)) ?? '', /^250 /);
    assert.match((await c.cmd('NOOP')) ?? '', /^250 /);
    c.end();
  });

  await t.test('max_errors (3) refused RCPTs: the 3rd gets 421 4.7.0 and the connection closes', async () => {
    const c = await greeted(ports.mx, '127.0.0.2'); // not a relay host
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.equal(await c.cmd('RCPT TO:<x1@example.org>'), '554 5.7.1 Relaying denied');
    assert.equal(await c.cmd('RCPT TO:<x2@example.org>'), '554 5.7.1 Relaying denied');
    assert.match((await c.cmd('RCPT TO:<x3@example.org>')) ?? '', /^421 4\.7\.0 /);
    assert.ok(await c.closedByServer());
    // Logged (and so tracked and counted) as the 421 sent, not as the 554 it would have been.
    const second = await nthLog(relay, (l) => l.event === 'rcpt' && l.recipient === 'x2@example.org', 1);
    assert.deepEqual([second.code, second.action, second.text, second.refused_for], [554, 'reject', 'Relaying denied', undefined]);
    const third = await nthLog(relay, (l) => l.event === 'rcpt' && l.recipient === 'x3@example.org', 1);
    assert.deepEqual([third.code, third.action, third.text, third.rule], [421, 'tempfail', 'Too many errors, closing connection', 'limits.max_errors']);
    const earned = third.refused_for as { code: unknown; text: unknown; rule: unknown };
    assert.deepEqual([earned.code, earned.text], [554, 'Relaying denied']);
    assert.equal(earned.rule, second.rule, 'the relay rule that refused it');
  });

  await t.test('max_errors counts per session: a new connection starts afresh', async () => {
    const c = await greeted(ports.mx, '127.0.0.2');
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.equal(await c.cmd('RCPT TO:<x1@example.org>'), '554 5.7.1 Relaying denied');
    assert.match((await c.cmd('QUIT')) ?? '', /^221 /);
  });

  await t.test('max_errors (3) refused MAIL/RCPT commands with broken syntax: 421 and close', async () => {
    const c = await greeted(ports.mx, '127.0.0.3');
    const replies: string[] = [];
    for (const bad of ['MAIL FROM:<a\x00b@example.net>', 'MAIL FROM:<a@@example.net>', 'MAIL FROM:broken', 'MAIL FROM:<x@@y>', 'MAIL FROM:<<>>']) {
      const r = await c.cmd(bad);
      if (r === null) break;
      replies.push(r);
      if (r.startsWith('421')) break;
    }
    assert.deepEqual(replies.map((r) => r.slice(0, 1)), ['5', '5', '4'], `replies: ${JSON.stringify(replies)}`);
    assert.match(replies[2] ?? '', /^421 4\.7\.0 /);
    assert.ok(await c.closedByServer());
  });

  await t.test('ten unknown commands end in 421 and close', async () => {
    const c = await greeted(ports.mx, '127.0.0.4');
    for (let i = 1; i <= 9; i++) assert.match((await c.cmd(`BOGUS${i}`)) ?? '', /^500 /);
    assert.match((await c.cmd('BOGUS10')) ?? '', /^421 /);
    assert.ok(await c.closedByServer());
  });

  await t.test('nothing is left in spool/tmp and the daemon is still up', async () => {
    assert.deepEqual(spool(relay).tmp, []);
    assert.equal(relay.child.exitCode, null);
  });
});

// ---------------------------------------------------------------- idle

test('idle_timeout 1s: a silent client gets 421 4.4.2 and is closed, also mid-DATA', async (t) => {
  const { doc, ports } = await relayDoc({ limits: { idle_timeout: '1s' } });
  const relay = await startRelay(t, doc, ports);

  const afterGreeting = (async () => {
    const c = await RawClient.connect(ports.mx, '127.0.0.5');
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.reply(5000)) ?? '', /^421 4\.4\.2 /);
    assert.ok(await c.closedByServer(5000));
  })();

  const afterMail = (async () => {
    const c = await greeted(ports.mx, '127.0.0.6');
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.match((await c.reply(5000)) ?? '', /^421 4\.4\.2 /);
    assert.ok(await c.closedByServer(5000));
  })();

  const midData = (async () => {
    const c = await greeted(ports.mx, '127.0.0.1');
    await toData(c);
    // more than the spool's write buffer, so that a spool file exists
    await send(c, Buffer.from('Subject: idle\r\n\r\n' + ('w'.repeat(510) + '\r\n').repeat(300), 'latin1'));
    assert.match((await c.reply(5000)) ?? '', /^421 4\.4\.2 /);
    assert.ok(await c.closedByServer(5000));
    await relay.waitLog((l) => l.event === 'data.error' || l.event === 'data.refused');
  })();

  await Promise.all([afterGreeting, afterMail, midData]);
  assert.deepEqual(spool(relay), { queue: [], tmp: [] });
  // a client that keeps talking is not cut off by the same timer
  const c = await greeted(ports.mx);
  await toData(c);
  assert.match((await c.cmd('Subject: ok\r\n\r\nok\r\n.')) ?? '', QUEUED);
  c.end();
});

// ---------------------------------------------------------------- connections

test('max_connections (3) and max_connections_per_client (2): 421 4.7.0 beyond, others still served', async (t) => {
  const { doc, ports } = await relayDoc({ limits: { max_connections: 3, max_connections_per_client: 2 } });
  const relay = await startRelay(t, doc, ports);
  const isConnect = (l: LogLine) => l.event === 'connect';
  const isDisconnect = (l: LogLine) => l.event === 'disconnect';

  const a1 = await greeted(ports.mx, '127.0.0.4');
  const a2 = await greeted(ports.mx, '127.0.0.4');
  // third from the same client: refused per client
  const a3 = await RawClient.connect(ports.mx, '127.0.0.4');
  assert.match((await a3.reply()) ?? '', /^421 4\.7\.0 /);
  assert.ok(await a3.closedByServer());
  assert.equal((await relay.waitLog((l) => l.event === 'connect.limit')).limit, 'max_connections_per_client');

  // another client is still served (total 3)
  const b1 = await greeted(ports.mx, '127.0.0.2');
  assert.match((await b1.cmd('NOOP')) ?? '', /^250 /);

  // a fourth connection in total, from a fresh client: refused by the total
  const c1 = await RawClient.connect(ports.mx, '127.0.0.3');
  assert.match((await c1.reply()) ?? '', /^421 4\.7\.0 /);
  assert.ok(await c1.closedByServer());
  assert.equal((await nthLog(relay, (l) => l.event === 'connect.limit', 2)).limit, 'max_connections');

  // the held connections are untouched by the refusals
  assert.match((await a1.cmd('NOOP')) ?? '', /^250 /);
  assert.match((await a2.cmd('NOOP')) ?? '', /^250 /);

  // closing one frees its slot (and only after that)
  assert.match((await a1.cmd('QUIT')) ?? '', /^221 /);
  await nthLog(relay, isDisconnect, 1);
  const c2 = await greeted(ports.mx, '127.0.0.3');
  assert.match((await c2.cmd('NOOP')) ?? '', /^250 /);

  // refused connections never took a slot: after everyone leaves, the full count is available again
  for (const c of [a2, b1, c2]) {
    c.write('QUIT\r\n');
    assert.ok(await c.closedByServer());
  }
  await nthLog(relay, isDisconnect, 4);
  const again = await Promise.all([1, 1, 2].map((n) => greeted(ports.mx, `127.0.0.${n}`)));
  // Log lines travel apart from the replies: wait for the seventh, then count.
  await nthLog(relay, isConnect, 4 + 3);
  assert.equal(relay.logs.filter(isConnect).length, 4 + 3);
  for (const c of again) assert.match((await c.cmd('NOOP')) ?? '', /^250 /);
  for (const c of again) c.end();
  assert.equal(relay.logs.filter((l) => l.event === 'connect.limit').length, 2);
});

test('a host with host-based relay rights is exempt from max_connections_per_client, not from max_connections', async (t) => {
  const { doc, ports } = await relayDoc({ limits: { max_connections: 4, max_connections_per_client: 2 } });
  const relay = await startRelay(t, doc, ports);
  // 127.0.0.1 is in relaying.allowed_hosts (network "localhost"): four at once are fine.
  const mine = await Promise.all([1, 2, 3, 4].map(() => greeted(ports.mx, '127.0.0.1')));
  for (const c of mine) assert.match((await c.cmd('NOOP')) ?? '', /^250 /);
  // The fifth hits the total.
  const fifth = await RawClient.connect(ports.mx, '127.0.0.1');
  assert.match((await fifth.reply()) ?? '', /^421 4\.7\.0 /);
  assert.equal((await relay.waitLog((l) => l.event === 'connect.limit')).limit, 'max_connections');
  for (const c of mine) c.end();
});
