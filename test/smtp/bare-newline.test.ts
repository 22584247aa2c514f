// Bare LF in DATA on the wire (limits.bare_newline), through the real daemon
// to a real next hop (test/delivery/sink.ts): relay hosts, authenticated
// clients and limits.bare_newline_networks get their bare LFs made CRLF, and
// a fake end of data ("\n.\n" and friends) stays message text, so the
// commands smuggled behind it are never run, here or at the next hop.
// Everybody else is refused 550 5.5.2, and bare_newline: reject refuses
// relay hosts too. Also here, since they need the same next hop: a
// recipient domain's trailing dot never reaches it, and an SMTPUTF8
// message's Received header says UTF8SMTP.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, relayDoc, startRelay, type LogLine, type Relay } from './harness.ts';
import { startSink, type Sink } from '../delivery/sink.ts';

const SMUGGLED = 'MAIL FROM:<evil@x.example>\r\nRCPT TO:<victim@ours.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n';
const SLOPPY = `Subject: from a script\n\nline one\nhello\n.\n${SMUGGLED}last line\r\n`;
const NORMALIZED = `Subject: from a script\r\n\r\nline one\r\nhello\r\n.\r\n${SMUGGLED}last line\r\n`;
const SLOPPY_LFS = 5;

const PASSWORD = 'Alice-pw-7f3c9';
const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

type T = { after: (fn: () => void | Promise<void>) => void };

async function setup(t: T, limits: Record<string, unknown> = {}): Promise<{ relay: Relay; sink: Sink }> {
  const sink = await startSink({ address: '127.0.0.22' });
  t.after(() => sink.close());
  const { doc, ports } = await relayDoc({
    networks: [
      { name: 'localhost', type: 'host', address: '127.0.0.1' },
      { name: 'printers', type: 'host', address: '127.0.0.3' },
    ],
    users: [{ name: 'alice', password: PASSWORD, groups: [] }],
    domains: [{ name: 'ours.example', route: { hosts: [`127.0.0.22:${sink.port}`] } }],
    // AUTH is only accepted for users named in authenticated relay.
    relaying: { allowed_hosts: ['localhost'], authenticated_relay: { enabled: true, users: ['alice'] } },
    delivery: { enabled: true },
    limits: { bare_newline_networks: ['printers'], ...limits },
  });
  const relay = await startRelay(t, doc, ports);
  return { relay, sink };
}

/** Greeting, EHLO, MAIL, RCPT, DATA (354) from `src`; on submission after STARTTLS and AUTH as alice. */
async function toData(port: number, src: string, opts: { auth?: boolean; rcpt?: string; mail?: string } = {}): Promise<RawClient> {
  const c = await RawClient.connect(port, src);
  assert.match((await c.reply()) ?? '', /^220 /);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
  if (opts.auth) {
    await c.starttls();
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
    assert.equal(await c.cmd(`AUTH PLAIN ${plain('alice', PASSWORD)}`), '235 2.7.0 Authentication successful');
  }
  c.write(Buffer.from(`${opts.mail ?? 'MAIL FROM:<app@example.net>'}\r\n`, 'utf8'));
  assert.match((await c.reply()) ?? '', /^250 2\.1\.0/);
  c.write(Buffer.from(`RCPT TO:${opts.rcpt ?? '<v@ours.example>'}\r\n`, 'utf8'));
  assert.match((await c.reply()) ?? '', /^250 2\.1\.5/);
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  return c;
}

/** The message body after our Received header (the first header, three lines). */
function afterReceived(raw: Buffer): string {
  const text = raw.toString('latin1');
  const m = /^Received: [^\r\n]*\r\n\t[^\r\n]*\r\n(?:\t[^\r\n]*\r\n)*/.exec(text);
  assert.ok(m, `no Received header first: ${JSON.stringify(text.slice(0, 200))}`);
  return text.slice(m[0].length);
}

/** Nothing smuggled ran: no MAIL or RCPT for the smuggled addresses, here or at the next hop. */
function nothingSmuggled(relay: Relay, sink: Sink): void {
  assert.equal(relay.logs.some((l) => (l.event === 'mail' || l.event === 'rcpt') && /evil@x|victim@/.test(JSON.stringify(l))), false);
  assert.equal(sink.events.some((e) => /evil@x|victim@/.test(e.arg)), false);
  assert.equal(sink.messages.some((m) => m.from.includes('evil') || m.to.some((r) => r.includes('victim'))), false);
}

test('bare LF by default: made CRLF for relay hosts, authenticated clients and bare_newline_networks; refused for the rest', async (t) => {
  const { relay, sink } = await setup(t);

  await t.test('a relay host: 250, the next hop gets CRLF lines, the fake end of data and the commands after it as text', async () => {
    const c = await toData(relay.ports.mx, '127.0.0.1');
    c.write(`${SLOPPY}.\r\n`);
    const r = (await c.reply()) ?? '';
    assert.match(r, /^250 2\.0\.0 Ok: queued as [0-9a-z]{16}$/);
    // One reply to one DATA: the next is RSET's, not a smuggled command's.
    assert.equal(await c.cmd('RSET'), '250 2.0.0 Flushed');
    c.end();
    const [m] = await sink.waitFor(1);
    assert.ok(m);
    assert.deepEqual(m.to, ['v@ours.example']);
    assert.equal(afterReceived(m.raw), NORMALIZED);
    const queued = await relay.waitLog((l) => l.event === 'queued' && l.id === r.slice(-16));
    assert.equal(queued.bare_lf_normalized, SLOPPY_LFS);
    nothingSmuggled(relay, sink);
  });

  await t.test('the same data one byte per packet: the same message', async () => {
    const c = await toData(relay.ports.mx, '127.0.0.1');
    c.socket.setNoDelay(true);
    for (const ch of `${SLOPPY}.\r\n`) await new Promise<void>((done) => c.socket.write(Buffer.from(ch, 'latin1'), () => done()));
    assert.match((await c.reply()) ?? '', /^250 2\.0\.0 /);
    c.end();
    const [, m] = await sink.waitFor(2);
    assert.ok(m);
    assert.equal(afterReceived(m.raw), NORMALIZED);
    nothingSmuggled(relay, sink);
  });

  await t.test('a client in limits.bare_newline_networks (no relay right): 250, normalised', async () => {
    const c = await toData(relay.ports.mx, '127.0.0.3');
    c.write(`${SLOPPY}.\r\n`);
    assert.match((await c.reply()) ?? '', /^250 2\.0\.0 /);
    c.end();
    const [, , m] = await sink.waitFor(3);
    assert.ok(m);
    assert.equal(afterReceived(m.raw), NORMALIZED);
  });

  await t.test('an authenticated client (submission, from an address with no rights): 250, normalised', async () => {
    const c = await toData(relay.ports.submission, '127.0.0.2', { auth: true });
    c.write(`${SLOPPY}.\r\n`);
    const r = (await c.reply()) ?? '';
    assert.match(r, /^250 2\.0\.0 /);
    c.end();
    const [, , , m] = await sink.waitFor(4);
    assert.ok(m);
    assert.equal(afterReceived(m.raw), NORMALIZED);
    assert.equal((await relay.waitLog((l) => l.event === 'queued' && l.id === r.slice(-16))).user, 'alice');
  });

  await t.test('anybody else (Internet client to a local domain): 550 5.5.2, nothing queued or delivered', async () => {
    const before = sink.messages.length;
    const c = await toData(relay.ports.mx, '127.0.0.2');
    c.write(`${SLOPPY}.\r\n`);
    assert.equal(await c.reply(), '550 5.5.2 Bare LF in message: lines must end with CRLF');
    assert.equal(await c.cmd('RSET'), '250 2.0.0 Flushed');
    c.end();
    const refused = await relay.waitLog((l) => l.event === 'data.refused' && l.client === '127.0.0.2');
    assert.equal(refused.problem, 'bare_lf');
    // A clean message from the same client still goes through: the refusal was the bare LF.
    const ok = await toData(relay.ports.mx, '127.0.0.2');
    ok.write('Subject: clean\r\n\r\nclean\r\n.\r\n');
    assert.match((await ok.reply()) ?? '', /^250 2\.0\.0 /);
    ok.end();
    const msgs = await sink.waitFor(before + 1);
    assert.equal(msgs.length, before + 1);
    assert.match(afterReceived(msgs.at(-1)?.raw ?? Buffer.alloc(0)), /^Subject: clean\r\n/);
    nothingSmuggled(relay, sink);
  });

  await t.test('a bare CR is refused even for a relay host', async () => {
    const c = await toData(relay.ports.mx, '127.0.0.1');
    c.write('Subject: cr\r\n\r\nhello\r.\r\n.\r\n');
    assert.equal(await c.reply(), '550 5.5.2 Bare CR in message: lines must end with CRLF');
    c.end();
  });

  await t.test('a recipient domain with a trailing dot reaches the next hop without it', async () => {
    const before = sink.messages.length;
    const c = await toData(relay.ports.mx, '127.0.0.1', { rcpt: '<v@ours.example.>' });
    c.write('Subject: dot\r\n\r\ntrailing dot\r\n.\r\n');
    const r = (await c.reply()) ?? '';
    assert.match(r, /^250 2\.0\.0 /);
    c.end();
    const m = (await sink.waitFor(before + 1)).at(-1);
    assert.deepEqual(m?.to, ['v@ours.example']);
    assert.ok(sink.events.filter((e) => e.command === 'RCPT').every((e) => !e.arg.endsWith('.')), JSON.stringify(sink.events));
    assert.match(m?.raw.toString('latin1') ?? '', /\r\n\tfor <v@ours\.example>;\r\n/);
    const queued = await relay.waitLog((l) => l.event === 'queued' && l.id === r.slice(-16));
    assert.deepEqual((queued.recipients as { address: string }[]).map((x) => x.address), ['v@ours.example']);
  });

  await t.test('an SMTPUTF8 message: the Received header says UTF8SMTP (RFC 6531 3.7.3)', async () => {
    const before = sink.messages.length;
    const c = await toData(relay.ports.mx, '127.0.0.1', { mail: 'MAIL FROM:<app@example.net> SMTPUTF8', rcpt: '<δοκιμή@ours.example>' });
    c.write('Subject: utf8\r\n\r\nutf8\r\n.\r\n');
    assert.match((await c.reply()) ?? '', /^250 2\.0\.0 /);
    c.end();
    const m = (await sink.waitFor(before + 1)).at(-1);
    assert.match(m?.raw.toString('utf8') ?? '', /^Received: from client\.example \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test\.example \(mailwarden, listener mx\) with UTF8SMTP id [0-9a-z]{16}\r\n\tfor <δοκιμή@ours\.example>;/);
  });
});

test('limits.bare_newline: reject refuses relay hosts and authenticated clients too', async (t) => {
  const { relay, sink } = await setup(t, { bare_newline: 'reject' });
  for (const [name, port, src, auth] of [
    ['relay host', relay.ports.mx, '127.0.0.1', false],
    ['bare_newline_networks', relay.ports.mx, '127.0.0.3', false],
    ['authenticated', relay.ports.submission, '127.0.0.2', true],
  ] as const) {
    const c = await toData(port, src, { auth });
    c.write(`${SLOPPY}.\r\n`);
    assert.equal(await c.reply(), '550 5.5.2 Bare LF in message: lines must end with CRLF', name);
    c.end();
  }
  const refused = (l: LogLine) => l.event === 'data.refused' && l.problem === 'bare_lf';
  await relay.waitLogs(refused, 3);
  assert.equal(relay.logs.filter(refused).length, 3);
  assert.equal(relay.logs.some((l) => l.event === 'queued'), false);
  assert.equal(sink.messages.length, 0);
});
