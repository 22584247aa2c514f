// What a relay owes the next hop (issue #13), end to end: the real daemon
// takes mail from a raw SMTP client and delivers it to sinks (sink.ts) that
// announce, or do not announce, DSN, 8BITMIME and SMTPUTF8, and that record
// the MAIL and RCPT parameters they receive.
// - DSN (RFC 3461 §5.2): RET, ENVID, NOTIFY and ORCPT reach a hop that
//   announces DSN, per recipient, and that hop (not we) reports success;
//   a hop without DSN gets none of them and we send the "relayed" report.
// - 8BITMIME (RFC 6152 §3): to a hop that announces only SIZE and
//   PIPELINING, 8-bit parts arrive as quoted-printable or base64 with their
//   content intact; 7-bit mail arrives byte for byte; 8-bit header fields
//   bounce with 5.6.9.
// - SMTPUTF8 (RFC 6531 §3.4): a non-ASCII local part to a hop without it
//   bounces with 5.6.7; a non-ASCII domain goes out in A-labels (by MX, with
//   a real DNS server); SMTPUTF8 is kept when the hop announces it.
// Every next hop listens on 127.0.0.x; every wait is on a log line or a sink.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, queuedId, relayDoc, startRelay, type LogLine, type Relay } from '../smtp/harness.ts';
import { startSink, type Sink, type SinkOptions } from './sink.ts';
import { dnsmasqMissing, startDns } from './dns-server.ts';
import { qpDecode } from './qp-decode.ts';

type T = { after(fn: () => unknown): void };

const SENDER = 's@sender.example';

async function sink(t: T, opts: SinkOptions): Promise<Sink> {
  const s = await startSink(opts);
  t.after(() => s.close());
  return s;
}

/** A relay whose example.com goes to `hop`, sender.example (notifications) to a plain sink, plus `more` domains. */
async function rig(t: T, hop: Sink, more: { name: string; sink: Sink }[] = [], extra: Record<string, unknown> = {}): Promise<{ relay: Relay; sender: Sink }> {
  const sender = await sink(t, { address: '127.0.0.43' });
  const { doc, ports } = await relayDoc({
    domains: [
      { name: 'example.com', route: { hosts: [`${hop.address}:${hop.port}`] } },
      { name: 'sender.example', route: { hosts: [`127.0.0.43:${sender.port}`] } },
      ...more.map((m) => ({ name: m.name, route: { hosts: [`${m.sink.address}:${m.sink.port}`] } })),
    ],
    delivery: { enabled: true },
    ...extra,
  });
  const relay = await startRelay(t, doc, ports);
  return { relay, sender };
}

/** One transaction; `from` and `rcpts` are what follows "MAIL FROM:" / "RCPT TO:" (parameters included). */
async function submit(relay: Relay, from: string, rcpts: string[], data: Buffer): Promise<string> {
  const c = await RawClient.connect(relay.ports.mx);
  try {
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[ -]/);
    // The harness writes strings as latin1: commands go as UTF-8 octets here.
    const cmd = async (line: string): Promise<string> => {
      c.write(Buffer.from(`${line}\r\n`, 'utf8'));
      return (await c.reply()) ?? '(closed)';
    };
    assert.match(await cmd(`MAIL FROM:${from}`), /^250 /, `MAIL FROM:${from}`);
    for (const r of rcpts) assert.match(await cmd(`RCPT TO:${r}`), /^250 /, `RCPT TO:${r}`);
    assert.match((await c.cmd('DATA')) ?? '', /^354 /);
    c.write(Buffer.concat([Buffer.from(data.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1'), Buffer.from('.\r\n')]));
    const r = (await c.reply()) ?? '(closed)';
    await c.cmd('QUIT');
    return queuedId(r);
  } finally {
    c.end();
  }
}

const text = (s: string): Buffer => Buffer.from(s.replace(/\n/g, '\r\n'), 'utf8');

const waitEvent = (relay: Relay, event: string, fields: Record<string, unknown>, timeoutMs?: number): Promise<LogLine> =>
  relay.waitLog((l) => l.event === event && Object.entries(fields).every(([k, v]) => l[k] === v), timeoutMs);

const logsOf = (relay: Relay, event: string, fields: Record<string, unknown>): LogLine[] =>
  relay.logs.filter((l) => l.event === event && Object.entries(fields).every(([k, v]) => l[k] === v));

/** The message as we stored it: what follows our Received header (the first field, folded). */
function afterReceived(raw: Buffer): Buffer {
  const s = raw.toString('latin1');
  assert.ok(s.startsWith('Received: '), 'our Received header comes first');
  const m = /\r\n(?![ \t])/.exec(s);
  assert.ok(m);
  return raw.subarray(m.index + 2);
}


const has8Bit = (b: Buffer): boolean => b.some((x) => x > 0x7f);

// ------------------------------------------------------------ 1. DSN

test('DSN: RET, ENVID and each recipient\'s NOTIFY and ORCPT reach a hop that announces DSN; it reports success, we do not', async (t) => {
  const hop = await sink(t, { address: '127.0.0.41', dsn: true });
  const old = await sink(t, { address: '127.0.0.42' });
  // Without PIPELINING the library writes each RCPT after the previous reply: the same parameters must follow.
  const slow = await sink(t, { address: '127.0.0.53', dsn: true, pipelining: false });
  const { relay, sender } = await rig(t, hop, [
    { name: 'old.example', sink: old },
    { name: 'slow.example', sink: slow },
  ]);
  const id = await submit(
    relay,
    `<${SENDER}> RET=HDRS ENVID=env+2Bq1`,
    [
      '<a@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Orig-A@example.com',
      '<b@example.com>',
      '<c@example.com> NOTIFY=NEVER',
      '<x@old.example> NOTIFY=SUCCESS',
      '<y@slow.example> NOTIFY=DELAY ORCPT=rfc822;first@slow.example',
      '<z@slow.example> NOTIFY=FAILURE',
    ],
    text('From: <s@sender.example>\nTo: <a@example.com>\nSubject: dsn passed on\n\nhello\n'),
  );
  const [m] = await hop.waitFor(1);
  assert.ok(m);
  assert.equal(m.params.RET, 'HDRS', 'RET on MAIL');
  assert.equal(m.params.ENVID, 'env+q1', 'ENVID on MAIL (xtext-encoded on the wire, decoded by the sink)');
  const byAddr = new Map(m.rcpts.map((r) => [r.address, r.params]));
  assert.deepEqual(byAddr.get('a@example.com'), { NOTIFY: 'SUCCESS,FAILURE', ORCPT: 'rfc822;Orig-A@example.com' }, "a's own NOTIFY and ORCPT");
  // No ORCPT from the client: the address as received (as Postfix does).
  assert.deepEqual(byAddr.get('b@example.com'), { ORCPT: 'rfc822;b@example.com' }, 'no NOTIFY for b, ORCPT added');
  assert.deepEqual(byAddr.get('c@example.com'), { NOTIFY: 'NEVER', ORCPT: 'rfc822;c@example.com' });

  const [sl] = await slow.waitFor(1);
  assert.deepEqual(
    sl?.rcpts.map((r) => [r.address, r.params]),
    [
      ['y@slow.example', { NOTIFY: 'DELAY', ORCPT: 'rfc822;first@slow.example' }],
      ['z@slow.example', { NOTIFY: 'FAILURE', ORCPT: 'rfc822;z@slow.example' }],
    ],
    'each RCPT its own parameters without PIPELINING too',
  );

  const [o] = await old.waitFor(1);
  assert.ok(o);
  for (const k of ['RET', 'ENVID']) assert.equal(o.params[k], undefined, `no ${k} to a hop without DSN`);
  assert.deepEqual(o.rcpts[0]?.params, {}, 'no NOTIFY or ORCPT to a hop without DSN');

  await waitEvent(relay, 'queue.removed', { id });
  const reports = logsOf(relay, 'dsn.queued', { of: id });
  assert.equal(reports.length, 1, `one report: the "relayed" one for the hop without DSN; got ${JSON.stringify(reports)}`);
  assert.equal(reports[0]?.type, 'success');
  assert.deepEqual(reports[0]?.recipients, ['x@old.example'], 'a@ was delivered to a hop that got NOTIFY=SUCCESS: its report is the hop\'s');
  const [report] = await sender.waitFor(1);
  assert.match(report?.raw.toString('utf8') ?? '', /Action: relayed/);
});

// ------------------------------------------------------------ 2. 8BITMIME

const MIXED = text(
  [
    'From: <s@sender.example>',
    'To: <a@example.com>',
    'Subject: eight bit',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    'Content-Transfer-Encoding: 8bit',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'Grüße aus Köln = schön ',
    '.a dot, and a line that is rather long: ' + 'ä'.repeat(60),
    '--b1',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'plain ascii part',
    '--b1--',
    '',
  ].join('\n'),
);
const OCTETS = Buffer.from([0x01, 0xfe, 0xff, 0x80, 0x41, 0x0d, 0x0a, 0x42, 0xc3, 0xa9]);

test('8BITMIME: to a hop that announces only SIZE and PIPELINING, 8-bit parts arrive re-encoded and intact; no BODY=8BITMIME', async (t) => {
  const hop = await sink(t, { address: '127.0.0.44', eightBitMime: false, smtputf8: false, dsn: false, pipelining: true });
  const { relay } = await rig(t, hop);
  const binary = Buffer.concat([
    text('From: <s@sender.example>\nTo: <a@example.com>\nSubject: binary\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b2"\n\n--b2\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: 8bit\n\n'),
    OCTETS,
    text('\n--b2--\n'),
  ]);
  const id1 = await submit(relay, `<${SENDER}> BODY=8BITMIME`, ['<a@example.com>'], MIXED);
  const id2 = await submit(relay, `<${SENDER}> BODY=8BITMIME`, ['<a@example.com>'], binary);
  await waitEvent(relay, 'delivery', { id: id1, status: 'delivered' });
  await waitEvent(relay, 'delivery', { id: id2, status: 'delivered' });
  // The two are delivered in parallel: tell them apart by their boundary, not by their order.
  const both = await hop.waitFor(2);
  const m1 = both.find((m) => m.raw.includes('boundary="b1"'));
  const m2 = both.find((m) => m.raw.includes('boundary="b2"'));
  for (const m of [m1, m2]) {
    assert.ok(m);
    assert.ok(!has8Bit(m.raw), 'not one 8-bit octet reaches a hop without 8BITMIME');
    assert.equal(m.params.BODY, undefined, 'no BODY=8BITMIME to a hop that did not announce it');
  }
  const s1 = m1?.raw.toString('latin1') ?? '';
  assert.match(s1, /\r\nContent-Type: multipart\/mixed; boundary="b1"\r\nContent-Transfer-Encoding: 7bit\r\n/, 'the multipart is relabelled 7bit');
  const qp = /Content-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n([\s\S]*?)\r\n--b1\r\n/.exec(s1);
  assert.ok(qp?.[1], `the 8-bit text part is quoted-printable: ${s1}`);
  assert.ok(qp[1].split('\r\n').every((l) => l.length <= 76), 'quoted-printable lines of at most 76 characters');
  assert.equal(qpDecode(qp[1]).toString('utf8'), 'Grüße aus Köln = schön \r\n.a dot, and a line that is rather long: ' + 'ä'.repeat(60), 'the text decodes to what was sent');
  assert.match(s1, /\r\n--b1\r\nContent-Type: text\/plain; charset=us-ascii\r\n\r\nplain ascii part\r\n--b1--\r\n$/, 'the 7-bit part is untouched');

  const s2 = m2?.raw.toString('latin1') ?? '';
  const b64 = /Content-Type: application\/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n([\s\S]*?)\r\n--b2--/.exec(s2);
  assert.ok(b64?.[1], `a non-text 8-bit part is base64: ${s2}`);
  assert.deepEqual(Buffer.from(b64[1], 'base64'), OCTETS, 'the octets decode to what was sent');
});

test('8BITMIME: 7-bit mail to a hop without 8BITMIME goes out byte for byte (with or without BODY=8BITMIME)', async (t) => {
  const hop = await sink(t, { address: '127.0.0.45', eightBitMime: false, smtputf8: false });
  const { relay } = await rig(t, hop);
  const data = text('From: <s@sender.example>\nTo: <a@example.com>\nSubject: seven\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 8bit\n\nplain =20 text\n.dot\n');
  const ids = [await submit(relay, `<${SENDER}>`, ['<a@example.com>'], data), await submit(relay, `<${SENDER}> BODY=8BITMIME`, ['<a@example.com>'], data)];
  for (const id of ids) await waitEvent(relay, 'delivery', { id, status: 'delivered' });
  for (const m of await hop.waitFor(2)) assert.deepEqual(afterReceived(m.raw).toString('latin1'), data.toString('latin1'), 'byte for byte');
});

test('8BITMIME: a hop that announces it gets BODY=8BITMIME and the 8-bit message as it was', async (t) => {
  const hop = await sink(t, { address: '127.0.0.46' });
  const { relay } = await rig(t, hop);
  const id = await submit(relay, `<${SENDER}> BODY=8BITMIME`, ['<a@example.com>'], MIXED);
  await waitEvent(relay, 'delivery', { id, status: 'delivered' });
  const [m] = await hop.waitFor(1);
  assert.equal(m?.params.BODY, '8BITMIME');
  assert.deepEqual(afterReceived(m?.raw ?? Buffer.alloc(0)), MIXED);
});

test('8BITMIME: 8-bit octets in a header field cannot be converted: bounced with 5.6.9, nothing sent', async (t) => {
  const hop = await sink(t, { address: '127.0.0.47', eightBitMime: false, smtputf8: false });
  const { relay, sender } = await rig(t, hop);
  const id = await submit(relay, `<${SENDER}> BODY=8BITMIME`, ['<a@example.com>'], text('From: <s@sender.example>\nSubject: Grüße\n\nbody ü\n'));
  const line = await waitEvent(relay, 'delivery', { id, recipient: 'a@example.com' });
  assert.equal(line.status, 'failed');
  assert.equal(line.dsn, '5.6.9');
  const [report] = await sender.waitFor(1);
  const r = report?.raw.toString('utf8') ?? '';
  assert.match(r, /Status: 5\.6\.9/);
  assert.match(r, /Diagnostic-Code: x-mailwarden; .*header/, 'our own words, not an SMTP reply');
  assert.equal(hop.messages.length, 0);
  assert.equal(hop.events.filter((e) => e.command === 'MAIL').length, 0, 'no transaction started');
});

// ------------------------------------------------------------ 3. SMTPUTF8

test('SMTPUTF8: a non-ASCII local part to a hop without SMTPUTF8 bounces with 5.6.7; the ASCII recipient is delivered', async (t) => {
  const hop = await sink(t, { address: '127.0.0.48', smtputf8: false });
  const { relay, sender } = await rig(t, hop);
  const id = await submit(relay, `<${SENDER}> SMTPUTF8`, ['<jörg@example.com>', '<plain@example.com>'], text('From: <s@sender.example>\nSubject: utf8\n\nhi\n'));
  const bad = await waitEvent(relay, 'delivery', { id, recipient: 'jörg@example.com' });
  assert.equal(bad.status, 'failed', 'never "delivered" raw');
  assert.equal(bad.dsn, '5.6.7');
  const ok = await waitEvent(relay, 'delivery', { id, recipient: 'plain@example.com' });
  assert.equal(ok.status, 'delivered');
  const [m] = await hop.waitFor(1);
  assert.deepEqual(m?.to, ['plain@example.com']);
  assert.equal(m?.params.SMTPUTF8, undefined, 'no SMTPUTF8 to a hop that did not announce it');
  assert.ok(!hop.events.some((e) => /[^\x00-\x7f]/.test(e.arg)), 'no non-ASCII address was sent');
  const [report] = await sender.waitFor(1);
  assert.match(report?.raw.toString('utf8') ?? '', /Status: 5\.6\.7/);
});

test('SMTPUTF8: a non-ASCII sender local part fails every recipient with 5.6.7 at a hop without it', async (t) => {
  const hop = await sink(t, { address: '127.0.0.49', smtputf8: false });
  const { relay } = await rig(t, hop);
  const id = await submit(relay, '<jörg@sender.example> SMTPUTF8', ['<p@example.com>', '<q@example.com>'], text('From: <s@sender.example>\nSubject: utf8 sender\n\nhi\n'));
  for (const r of ['p@example.com', 'q@example.com']) {
    const line = await waitEvent(relay, 'delivery', { id, recipient: r });
    assert.equal(line.status, 'failed');
    assert.equal(line.dsn, '5.6.7');
  }
  assert.equal(hop.events.filter((e) => e.command === 'MAIL').length, 0, 'no MAIL FROM with a raw UTF-8 sender');
});

test('SMTPUTF8: a message received with it goes out with it to a hop that announces it, ASCII addresses or not', async (t) => {
  const hop = await sink(t, { address: '127.0.0.50' });
  const { relay } = await rig(t, hop);
  // ASCII addresses, a UTF-8 header (RFC 6532): SMTPUTF8 is about the message, not only the addresses.
  const id1 = await submit(relay, `<${SENDER}> SMTPUTF8 BODY=8BITMIME`, ['<plain@example.com>'], text('From: <s@sender.example>\nSubject: Grüße\n\nhi\n'));
  await waitEvent(relay, 'delivery', { id: id1, recipient: 'plain@example.com', status: 'delivered' });
  const id2 = await submit(relay, `<${SENDER}> SMTPUTF8`, ['<jörg@example.com>'], text('From: <s@sender.example>\nSubject: utf8 address\n\nhi\n'));
  await waitEvent(relay, 'delivery', { id: id2, recipient: 'jörg@example.com', status: 'delivered' });
  const [m1, m2] = await hop.waitFor(2);
  assert.equal(m1?.params.SMTPUTF8, true, 'SMTPUTF8 kept for a message with ASCII addresses');
  assert.equal(m2?.params.SMTPUTF8, true);
  assert.deepEqual(m2?.to, ['jörg@example.com'], 'the address as received');
});

test('SMTPUTF8: UTF-8 header fields of a message received with it bounce with 5.6.7 at a hop with 8BITMIME but no SMTPUTF8', async (t) => {
  const hop = await sink(t, { address: '127.0.0.54', smtputf8: false });
  const { relay, sender } = await rig(t, hop);
  const id = await submit(relay, `<${SENDER}> SMTPUTF8 BODY=8BITMIME`, ['<plain@example.com>'], text('From: <s@sender.example>\nSubject: Grüße\n\nhi\n'));
  const line = await waitEvent(relay, 'delivery', { id, recipient: 'plain@example.com' });
  assert.equal(line.status, 'failed', 'not sent raw as if the hop could take it');
  assert.equal(line.dsn, '5.6.7');
  assert.equal(hop.events.filter((e) => e.command === 'MAIL').length, 0);
  const [report] = await sender.waitFor(1);
  assert.match(report?.raw.toString('utf8') ?? '', /Status: 5\.6\.7/);
});

const noDns = dnsmasqMissing();

test('SMTPUTF8: an MX-routed recipient in a non-ASCII domain is sent in A-labels to a hop without SMTPUTF8', { skip: noDns || false }, async (t) => {
  const hop = await sink(t, { address: '127.0.0.51', smtputf8: false });
  const dns = await startDns(t, { mx: [{ domain: 'xn--bcher-kva.test', exchange: 'mx.xn--bcher-kva.test', preference: 10 }], a: [{ name: 'mx.xn--bcher-kva.test', address: '127.0.0.51' }] });
  const { doc, ports } = await relayDoc({ delivery: { enabled: true, mx_port: hop.port }, dns: { servers: [dns.server] } });
  const relay = await startRelay(t, doc, ports);
  const id = await submit(relay, `<${SENDER}> SMTPUTF8`, ['<kai@bücher.test>'], text('From: <s@sender.example>\nSubject: idn\n\nhi\n'));
  const line = await waitEvent(relay, 'delivery', { id, recipient: 'kai@bücher.test' });
  assert.equal(line.status, 'delivered', String(line.response));
  const [m] = await hop.waitFor(1);
  assert.equal(m?.params.SMTPUTF8, undefined);
  // smtp-server hands addresses over in U-labels: look at the command as it came.
  const rcpts = hop.commands.filter((c) => /^RCPT TO:/i.test(c.line)).map((c) => c.line);
  assert.deepEqual(rcpts, ['RCPT TO:<kai@xn--bcher-kva.test>'], 'the domain in A-labels');
});
