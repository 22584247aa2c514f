// End-to-end tests of the queue manager through the real daemon: per-recipient
// outcomes and retries, expiry, delivery status notifications (parsed as RFC
// 3464 reports by a small boundary-based MIME splitter below), the bounce of
// a bounce going to the postmaster once, queue administration on the CLI (with
// the daemon running, through its control socket, and on the files with no
// daemon), and the delay warning.
//
// Every next hop is a sink on 127.0.0.x reached through a local domain's
// static route, so no DNS is asked: recipients live in example.com (sink
// 127.0.0.22), senders in sender.example (127.0.0.23, where the notifications
// arrive), the postmaster in admin.example (127.0.0.24). Durations are short;
// every wait is on a log line or a sink message, and bounded.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, watch } from 'node:fs';
import { join } from 'node:path';
import { freePort, queuedId, RawClient, relayDoc, restartRelay, runCli, startRelay, type LogLine, type Relay } from '../smtp/harness.ts';
import { startSink, type ReceivedMessage, type Sink, type SinkBehaviour } from './sink.ts';
import { storedEnvelope } from '../support/spool-files.ts';
import type { Envelope } from '../../src/queue/envelope.ts';

type T = { after: (fn: () => void | Promise<void>) => void };

const SENDER = 's@sender.example';
const POSTMASTER = 'postmaster@admin.example';
const HOSTNAME = 'mx.test.example';

// ------------------------------------------------------------ MIME / RFC 3464

interface Fields {
  /** Every field in order, names as written. */
  list: [string, string][];
  /** The first value of a field, by name (case-insensitive). */
  get(name: string): string | undefined;
}

/** Header-style fields (RFC 5322 2.2: unfolded), as in a header section or a delivery-status group. */
function parseFields(text: string): Fields {
  const list: [string, string][] = [];
  for (const line of text.split('\r\n')) {
    if (line === '') continue;
    const last = list[list.length - 1];
    if (/^[ \t]/.test(line)) {
      assert.ok(last, `a continuation line with no field before it: ${JSON.stringify(line)}`);
      last[1] += ' ' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    assert.ok(colon > 0, `not a header field: ${JSON.stringify(line)}`);
    list.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { list, get: (name) => list.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1] };
}

interface Entity {
  head: Fields;
  headText: string;
  body: string;
}

/** Splits an entity at its first empty line; CRLF line ends are required. */
function parseEntity(raw: string): Entity {
  assert.ok(!/[^\r]\n/.test(raw), 'a bare LF in the message: every line must end in CRLF');
  const end = raw.indexOf('\r\n\r\n');
  const headText = end < 0 ? raw : raw.slice(0, end + 2);
  const body = end < 0 ? '' : raw.slice(end + 4);
  return { head: parseFields(headText), headText, body };
}

/** "type/subtype; a=b; c=\"d\"" → lower-case type and the parameters (names lower case). */
function contentType(value: string | undefined): { type: string; params: Record<string, string> } {
  assert.ok(value, 'no Content-Type');
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  const params: Record<string, string> = {};
  const re = /;\s*([A-Za-z0-9!#$%&'*+.^_`{|}~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]+)/g;
  for (const m of value.slice(Math.max(semi, 0)).matchAll(re)) {
    const v = m[2] ?? '';
    params[(m[1] ?? '').toLowerCase()] = v.startsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
  }
  return { type, params };
}

/** The body parts of a multipart body (RFC 2046 5.1.1): preamble and epilogue dropped. */
function splitMultipart(body: string, boundary: string): string[] {
  const text = '\r\n' + body; // the first delimiter may open the body
  const delim = '\r\n--' + boundary;
  const parts: string[] = [];
  let pos = text.indexOf(delim);
  assert.ok(pos >= 0, `no delimiter line for boundary ${JSON.stringify(boundary)}`);
  for (;;) {
    const after = pos + delim.length;
    if (text.startsWith('--', after)) return parts; // the close delimiter
    const eol = text.indexOf('\r\n', after);
    assert.ok(eol >= 0 && /^[ \t]*$/.test(text.slice(after, eol)), 'a delimiter line with text after the boundary');
    const next = text.indexOf(delim, eol);
    assert.ok(next >= 0, 'the multipart body has no close delimiter');
    parts.push(text.slice(eol + 2, next));
    pos = next;
  }
}

interface Dsn {
  raw: string;
  head: Fields;
  text: string;
  /** The delivery-status part's content. */
  status: string;
  /** The per-message fields of the delivery-status part. */
  perMessage: Fields;
  /** The per-recipient groups, in order. */
  recipients: Fields[];
  /** The third part: text/rfc822-headers or message/rfc822, and its content. */
  returned: { type: string; content: string };
}

/** Parses a notification as RFC 3464 and checks the structure every report must have. */
function parseDsn(msg: ReceivedMessage): Dsn {
  const raw = msg.raw.toString('utf8');
  assert.equal(msg.from, '', 'a notification is sent from the null sender <>');
  const top = parseEntity(raw);
  const ct = contentType(top.head.get('Content-Type'));
  assert.equal(ct.type, 'multipart/report', `Content-Type of the notification: ${top.head.get('Content-Type')}`);
  assert.equal(ct.params['report-type']?.toLowerCase(), 'delivery-status', 'report-type parameter');
  const boundary = ct.params.boundary;
  assert.ok(boundary, 'multipart/report without a boundary');
  const parts = splitMultipart(top.body, boundary).map(parseEntity);
  assert.equal(parts.length, 3, `a report has three parts here (text, status, original); got ${parts.length}`);
  const [text, status, original] = parts as [Entity, Entity, Entity];
  assert.equal(contentType(text.head.get('Content-Type')).type, 'text/plain', 'first part: human-readable text/plain');
  assert.equal(contentType(status.head.get('Content-Type')).type, 'message/delivery-status', 'second part: message/delivery-status');
  const groups = status.body.split(/\r\n(?:[ \t]*\r\n)+/).filter((g) => g.trim() !== '');
  assert.ok(groups.length >= 2, 'the delivery-status part needs per-message fields and at least one recipient group');
  const perMessage = parseFields(groups[0] ?? '');
  assert.equal(perMessage.get('Reporting-MTA'), `dns; ${HOSTNAME}`, 'Reporting-MTA');
  const arrival = perMessage.get('Arrival-Date');
  assert.ok(arrival && !Number.isNaN(Date.parse(arrival)), `Arrival-Date is a date: ${arrival}`);
  const recipients = groups.slice(1).map(parseFields);
  for (const r of recipients) {
    assert.match(r.get('Final-Recipient') ?? '', /^rfc822; ?\S+@\S+$/i, 'Final-Recipient: rfc822; address');
    assert.match(r.get('Action') ?? '', /^(failed|delayed|delivered|relayed|expanded)$/, 'Action');
    assert.match(r.get('Status') ?? '', /^[245]\.\d{1,3}\.\d{1,3}$/, 'Status');
  }
  const rt = contentType(original.head.get('Content-Type')).type;
  assert.ok(rt === 'text/rfc822-headers' || rt === 'message/rfc822', `third part: the original headers or message, not ${rt}`);
  return { raw, head: top.head, text: text.body, status: status.body, perMessage, recipients, returned: { type: rt, content: original.body } };
}

const finalRecipient = (r: Fields) => (r.get('Final-Recipient') ?? '').replace(/^rfc822; ?/i, '').toLowerCase();

// ------------------------------------------------------------ set-up

interface Rig {
  relay: Relay;
  /** example.com's next hop. */
  rcpt: Sink;
  /** sender.example's next hop: where notifications to the sender arrive. */
  sender: Sink;
  /** admin.example's next hop: the postmaster's. */
  pm: Sink;
}

async function sink(t: T, address: string, behaviour: SinkBehaviour = {}): Promise<Sink> {
  const s = await startSink({ address, behaviour });
  t.after(() => s.close());
  return s;
}

async function rig(t: T, extra: Record<string, unknown>, rcptBehaviour: SinkBehaviour = {}, rcptRoute?: string): Promise<Rig> {
  const rcpt = await sink(t, '127.0.0.22', rcptBehaviour);
  const sender = await sink(t, '127.0.0.23');
  const pm = await sink(t, '127.0.0.24');
  const { doc, ports } = await relayDoc({
    domains: [
      { name: 'example.com', route: { hosts: [rcptRoute ?? `127.0.0.22:${rcpt.port}`] } },
      { name: 'sender.example', route: { hosts: [`127.0.0.23:${sender.port}`] } },
      { name: 'admin.example', route: { hosts: [`127.0.0.24:${pm.port}`] } },
    ],
    postmaster: POSTMASTER,
    delivery: { enabled: true },
    ...extra,
  });
  const relay = await startRelay(t, doc, ports);
  return { relay, rcpt, sender, pm };
}

/** One message over a raw connection; `from` and each of `rcpts` are what follows "MAIL FROM:" / "RCPT TO:". */
async function submit(relay: Relay, from: string, rcpts: string[], subject: string, body = 'hello'): Promise<string> {
  const c = await RawClient.connect(relay.ports.mx);
  try {
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[ -]/);
    assert.match((await c.cmd(`MAIL FROM:${from}`)) ?? '', /^250 /, `MAIL FROM:${from}`);
    for (const r of rcpts) assert.match((await c.cmd(`RCPT TO:${r}`)) ?? '', /^250 /, `RCPT TO:${r}`);
    assert.match((await c.cmd('DATA')) ?? '', /^354 /);
    const text = `From: <${SENDER}>\r\nTo: <someone@example.com>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W+/g, '.')}@client.example>\r\n\r\n${body}\r\n.`;
    return queuedId((await c.cmd(text)) ?? '(closed)');
  } finally {
    c.end();
  }
}

/** Resolves with the first message at the sink (already there or to come) that matches. */
async function waitMessage(s: Sink, pred: (m: ReceivedMessage) => boolean, what: string, timeoutMs = 15_000): Promise<ReceivedMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = s.messages.find(pred);
    if (found) return found;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no ${what} at ${s.address}:${s.port} within ${timeoutMs} ms`);
    await s.waitFor(s.messages.length + 1, left).catch((err: Error) => {
      throw new Error(`no ${what} at ${s.address}:${s.port} within ${timeoutMs} ms: ${err.message}`);
    });
  }
}

/** The notification about queue id `of` (the original message's id appears in the report). */
const about = (of: string) => (m: ReceivedMessage) => m.from === '' && m.raw.toString('utf8').includes(of);

const subjectIs = (subject: string) => (m: ReceivedMessage) => m.raw.toString('utf8').includes(`\r\nSubject: ${subject}\r\n`);

const logsOf = (relay: Relay, event: string, fields: Record<string, unknown>): LogLine[] =>
  relay.logs.filter((l) => l.event === event && Object.entries(fields).every(([k, v]) => l[k] === v));

const waitEvent = (relay: Relay, event: string, fields: Record<string, unknown>, timeoutMs?: number): Promise<LogLine> =>
  relay.waitLog((l) => l.event === event && Object.entries(fields).every(([k, v]) => l[k] === v), timeoutMs);

async function cli(relay: Relay, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return runCli(['queue', ...args, '--data', relay.dataDir]);
}

async function listJson(relay: Relay, ...filters: string[]): Promise<(Envelope & { state: string })[]> {
  const r = await cli(relay, ['list', '--json', ...filters]);
  assert.equal(r.status, 0, `queue list failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as (Envelope & { state: string })[];
}

async function showJson(relay: Relay, id: string): Promise<Envelope & { state: string }> {
  const r = await cli(relay, ['show', id, '--json']);
  assert.equal(r.status, 0, `queue show ${id} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Envelope & { state: string };
}

// ------------------------------------------------------------ 1. per-recipient outcomes

test('three recipients: one delivered, one deferred then delivered on retry, one refused with one DSN naming only it', async (t) => {
  let laterTries = 0;
  const r = await rig(t, { queue: { retry: { first: '1s', max: '2s' } } }, {
    rcpt: (to) => {
      if (to === 'bad@example.com') return { code: 550, text: '5.1.1 <bad@example.com>: no such user' };
      if (to === 'later@example.com' && ++laterTries === 1) return { code: 451, text: '4.2.0 <later@example.com>: try again later' };
      return undefined;
    },
  });
  const subject = 'three recipients q1';
  const id = await submit(r.relay, `<${SENDER}>`, ['<ok@example.com>', '<later@example.com>', '<bad@example.com>'], subject, 'body text of q1');

  const deferred = await waitEvent(r.relay, 'delivery', { id, recipient: 'later@example.com', status: 'deferred' });
  assert.equal(deferred.code, 451);
  assert.equal(typeof deferred.next_attempt, 'string', 'a deferred recipient has a next attempt');
  const failed = await waitEvent(r.relay, 'delivery', { id, recipient: 'bad@example.com', status: 'failed' });
  assert.equal(failed.dsn, '5.1.1');
  const ok = await waitEvent(r.relay, 'delivery', { id, recipient: 'ok@example.com', status: 'delivered' });
  assert.equal(ok.attempt, 1);

  const later = await waitEvent(r.relay, 'delivery', { id, recipient: 'later@example.com', status: 'delivered' }, 10_000);
  assert.equal(later.attempt, 2, 'delivered on the second attempt');
  await waitEvent(r.relay, 'queue.removed', { id });

  // The sink got the message twice: once for ok@, once (the retry) for later@ alone.
  const delivered = r.rcpt.messages.filter(subjectIs(subject));
  assert.deepEqual(delivered.map((m) => m.to), [['ok@example.com'], ['later@example.com']]);
  assert.ok(delivered[1]?.raw.toString('utf8').includes('body text of q1'));

  // Exactly one notification, about bad@ only.
  const queued = logsOf(r.relay, 'dsn.queued', { of: id });
  assert.equal(queued.length, 1, `one DSN for the message; got ${JSON.stringify(queued)}`);
  assert.equal(queued[0]?.type, 'failure');
  assert.equal(queued[0]?.to, SENDER);
  await waitEvent(r.relay, 'queue.removed', { id: queued[0]?.id });
  const dsns = r.sender.messages.filter(about(id));
  assert.equal(dsns.length, 1, 'one DSN reached the sender');
  const m = dsns[0] as ReceivedMessage;
  assert.deepEqual(m.to, [SENDER]);
  const dsn = parseDsn(m);
  assert.equal(dsn.recipients.length, 1, 'the DSN names only the refused recipient');
  const rec = dsn.recipients[0] as Fields;
  assert.equal(finalRecipient(rec), 'bad@example.com');
  assert.equal(rec.get('Action'), 'failed');
  assert.equal(rec.get('Status'), '5.1.1');
  assert.match(rec.get('Remote-MTA') ?? '', /^dns; ?\S*127\.0\.0\.22/, 'Remote-MTA names the next hop');
  assert.match(rec.get('Diagnostic-Code') ?? '', /^smtp; ?550 5\.1\.1 .*no such user/, 'Diagnostic-Code carries the reply');
  assert.ok(!/later@example\.com|ok@example\.com/.test(dsn.text + dsn.status), 'the DSN says nothing about the other recipients');
  assert.equal(dsn.returned.type, 'text/rfc822-headers', 'no RET: headers only');
  const orig = parseFields(dsn.returned.content);
  assert.equal(orig.get('Subject'), subject, 'the original headers come back');
  assert.ok(!dsn.returned.content.includes('body text of q1'), 'headers only: no body');
  assert.match(dsn.text, /bad@example\.com/, 'the text part names the recipient');
});

// ------------------------------------------------------------ 2. expiry

test('a next hop down for longer than the lifetime: the message expires with a failure DSN and leaves the queue', async (t) => {
  const dead = await freePort();
  const r = await rig(t, { queue: { retry: { first: '1s', max: '2s' }, lifetime: '3s' } }, {}, `127.0.0.21:${dead}`);
  const subject = 'expires q2';
  const id = await submit(r.relay, `<${SENDER}>`, ['<gone@example.com>'], subject);

  const failed = await waitEvent(r.relay, 'delivery', { id, status: 'failed' }, 15_000);
  assert.ok(Number(failed.attempt) >= 2, `retried before expiring (attempts: ${String(failed.attempt)})`);
  assert.ok(Number(failed.delay_s) >= 3, `not before the lifetime (delay_s ${String(failed.delay_s)})`);
  assert.ok(logsOf(r.relay, 'delivery', { id, status: 'deferred' }).length >= 1, 'deferred before expiry');
  await waitEvent(r.relay, 'queue.removed', { id });
  assert.ok(!(await listJson(r.relay)).some((e) => e.id === id), 'the message has left the queue');
  assert.ok(!existsSync(join(r.relay.dataDir, 'spool', 'queue', `${id}.msg`)));
  assert.ok(!existsSync(join(r.relay.dataDir, 'spool', 'queue', `${id}.json`)));

  const m = await waitMessage(r.sender, about(id), 'expiry DSN');
  const dsn = parseDsn(m);
  assert.equal(dsn.recipients.length, 1);
  const rec = dsn.recipients[0] as Fields;
  assert.equal(finalRecipient(rec), 'gone@example.com');
  assert.equal(rec.get('Action'), 'failed');
  assert.match(rec.get('Status') ?? '', /^[45]\.4\.7$/, 'expiry is X.4.7 (delivery time expired)');
  // "Connection refused" and "expired" are our words, not a reply of the next hop (RFC 3464 2.3.6).
  assert.match(rec.get('Diagnostic-Code') ?? '', /^x-mailwarden; ?message expired .+/, 'Diagnostic-Code of our own type');
  assert.equal(parseFields(dsn.returned.content).get('Subject'), subject);
  assert.equal(logsOf(r.relay, 'dsn.queued', { of: id }).length, 1);
});

// ------------------------------------------------------------ 3. DSN rules

const refuseBad: SinkBehaviour = {
  rcpt: (to) => (to.startsWith('bad') ? { code: 550, text: `5.1.1 <${to}>: no such user` } : undefined),
};

test('no bounce to <>: a refused message from the null sender is dropped with dsn.dropped, nothing sent', async (t) => {
  const r = await rig(t, {}, refuseBad);
  const id = await submit(r.relay, '<>', ['<bad@example.com>'], 'null sender q3a');
  const dropped = await waitEvent(r.relay, 'dsn.dropped', { id });
  assert.equal(dropped.type, 'failure');
  await waitEvent(r.relay, 'queue.removed', { id });
  assert.deepEqual(logsOf(r.relay, 'dsn.queued', { of: id }), [], 'no notification queued');
  assert.equal(r.sender.messages.length + r.pm.messages.length, 0, 'nothing sent');
  assert.ok(!r.rcpt.messages.some((m) => m.from === ''), 'nothing sent');
});

test('NOTIFY=NEVER: a refused recipient gets no DSN', async (t) => {
  const r = await rig(t, {}, refuseBad);
  const id = await submit(r.relay, `<${SENDER}>`, ['<bad@example.com> NOTIFY=NEVER'], 'never q3b');
  await waitEvent(r.relay, 'delivery', { id, recipient: 'bad@example.com', status: 'failed' });
  await waitEvent(r.relay, 'queue.removed', { id });
  // A notification is queued before the message leaves the queue: none now means none ever.
  assert.deepEqual(logsOf(r.relay, 'dsn.queued', { of: id }), []);
  assert.deepEqual(logsOf(r.relay, 'dsn.dropped', { id }), []);
  assert.equal(r.sender.messages.length, 0);
});

test('NOTIFY=SUCCESS gets a success notice, NOTIFY=FAILURE a failure one; RET=HDRS, ENVID and ORCPT come back', async (t) => {
  const r = await rig(t, {}, refuseBad);
  const subject = 'success and failure q3c';
  const id = await submit(
    r.relay,
    `<${SENDER}> RET=HDRS ENVID=env-q3c-42`,
    ['<good@example.com> NOTIFY=SUCCESS ORCPT=rfc822;Good-Orig@example.com', '<bad@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bad-orig@example.com'],
    subject,
    'secret body q3c',
  );
  await waitEvent(r.relay, 'queue.removed', { id });
  const queued = logsOf(r.relay, 'dsn.queued', { of: id });
  assert.deepEqual(queued.map((l) => l.type).sort(), ['failure', 'success'], 'one success and one failure notice');
  for (const q of queued) await waitEvent(r.relay, 'queue.removed', { id: q.id });
  const dsns = r.sender.messages.filter(about(id)).map(parseDsn);
  assert.equal(dsns.length, 2);

  const success = dsns.find((d) => d.recipients[0]?.get('Action') !== 'failed');
  const failure = dsns.find((d) => d.recipients[0]?.get('Action') === 'failed');
  assert.ok(success && failure, 'a success and a failure report');

  assert.equal(success.recipients.length, 1, 'the success notice is about good@ only');
  const s = success.recipients[0] as Fields;
  assert.equal(finalRecipient(s), 'good@example.com');
  assert.match(s.get('Action') ?? '', /^(relayed|delivered)$/);
  assert.match(s.get('Status') ?? '', /^2\.\d+\.\d+$/);
  assert.match(s.get('Original-Recipient') ?? '', /^rfc822; ?Good-Orig@example\.com$/);

  assert.equal(failure.recipients.length, 1, 'the failure notice is about bad@ only');
  const f = failure.recipients[0] as Fields;
  assert.equal(finalRecipient(f), 'bad@example.com');
  assert.equal(f.get('Status'), '5.1.1');
  assert.match(f.get('Original-Recipient') ?? '', /^rfc822; ?bad-orig@example\.com$/);

  for (const d of dsns) {
    assert.equal(d.perMessage.get('Original-Envelope-Id'), 'env-q3c-42', 'ENVID comes back as Original-Envelope-Id');
    assert.equal(d.returned.type, 'text/rfc822-headers', 'RET=HDRS: headers only');
    assert.equal(parseFields(d.returned.content).get('Subject'), subject);
    assert.ok(!d.raw.includes('secret body q3c'), 'RET=HDRS: the body does not come back');
  }
});

test('RET=FULL returns the whole message as message/rfc822', async (t) => {
  const r = await rig(t, {}, refuseBad);
  const subject = 'full return q3d';
  const id = await submit(r.relay, `<${SENDER}> RET=FULL`, ['<bad@example.com>'], subject, 'first body line q3d\r\nsecond body line q3d');
  const m = await waitMessage(r.sender, about(id), 'failure DSN');
  const dsn = parseDsn(m);
  assert.equal(dsn.returned.type, 'message/rfc822', 'RET=FULL: the message comes back whole');
  const inner = parseEntity(dsn.returned.content);
  assert.equal(inner.head.get('Subject'), subject);
  assert.match(inner.body, /^first body line q3d\r\nsecond body line q3d\r\n/, 'the body comes back');
  assert.equal(dsn.perMessage.get('Original-Envelope-Id'), undefined, 'no ENVID given, none reported');
});

// ------------------------------------------------------------ 4. bounces of bounces

test('a DSN the sender\'s host refuses goes to the postmaster once, as a level-2 DSN', async (t) => {
  const r = await rig(t, {}, refuseBad);
  r.sender.setBehaviour({ rcpt: (to) => (to === SENDER ? { code: 550, text: `5.1.1 <${to}>: mailbox unavailable` } : undefined) });
  const id = await submit(r.relay, `<${SENDER}>`, ['<bad@example.com>'], 'bounce of bounce q4a');
  const first = await waitEvent(r.relay, 'dsn.queued', { of: id });
  assert.equal(first.level, 1);
  assert.equal(first.to, SENDER);
  const l1 = String(first.id);
  await waitEvent(r.relay, 'delivery', { id: l1, recipient: SENDER, status: 'failed' });
  await waitEvent(r.relay, 'queue.removed', { id: l1 });
  // The level-1 notification's failure is noted before it leaves the queue.
  const second = logsOf(r.relay, 'dsn.queued', { of: l1 });
  assert.equal(
    second.length,
    1,
    `the failed level-1 DSN ${l1} must produce one level-2 DSN to the postmaster (${POSTMASTER}); dsn.queued of it: ${JSON.stringify(second)}, dsn.dropped: ${JSON.stringify(logsOf(r.relay, 'dsn.dropped', { id: l1 }))}`,
  );
  assert.equal(second[0]?.level, 2);
  assert.equal(second[0]?.to, POSTMASTER);
  const m = await waitMessage(r.pm, about(l1), 'level-2 DSN');
  assert.deepEqual(m.to, [POSTMASTER]);
  const dsn = parseDsn(m);
  assert.equal(finalRecipient(dsn.recipients[0] as Fields), SENDER);
  assert.equal(dsn.recipients[0]?.get('Action'), 'failed');
  assert.equal(dsn.recipients[0]?.get('Status'), '5.1.1');
  await waitEvent(r.relay, 'queue.removed', { id: second[0]?.id });
  assert.equal(r.relay.logs.filter((l) => l.event === 'dsn.queued').length, 2, 'two notifications in all');
});

test('a level-2 DSN the postmaster\'s host refuses too is dropped: no loop', async (t) => {
  const r = await rig(t, {}, refuseBad);
  r.sender.setBehaviour({ rcpt: () => ({ code: 550, text: '5.1.1 mailbox unavailable' }) });
  r.pm.setBehaviour({ rcpt: () => ({ code: 550, text: '5.1.1 postmaster unavailable' }) });
  const id = await submit(r.relay, `<${SENDER}>`, ['<bad@example.com>'], 'no loop q4b');
  const first = await waitEvent(r.relay, 'dsn.queued', { of: id });
  const l1 = String(first.id);
  await waitEvent(r.relay, 'queue.removed', { id: l1 });
  const second = logsOf(r.relay, 'dsn.queued', { of: l1 });
  assert.equal(second.length, 1, `the failed level-1 DSN ${l1} must produce a level-2 DSN to the postmaster; got none`);
  const l2 = String(second[0]?.id);
  const dropped = await waitEvent(r.relay, 'dsn.dropped', { id: l2 });
  assert.equal(dropped.type, 'failure');
  await waitEvent(r.relay, 'queue.removed', { id: l2 });
  assert.equal(r.relay.logs.filter((l) => l.event === 'dsn.queued').length, 2, 'no third notification');
  assert.equal(r.pm.messages.length + r.sender.messages.length, 0);
});

// ------------------------------------------------------------ 5. queue administration

const defer: SinkBehaviour = { rcpt: () => ({ code: 451, text: '4.3.2 come back later' }) };

/** Resolves once the envelope file of `id` satisfies `pred` (watching spool/queue: the envelope is renamed into place). */
function waitEnvelope(relay: Relay, id: string, pred: (e: Envelope) => boolean, what: string, timeoutMs = 10_000): Promise<Envelope> {
  const dir = join(relay.dataDir, 'spool', 'queue');
  const read = (): Envelope | null => {
    try {
      return storedEnvelope(dir, id);
    } catch {
      return null;
    }
  };
  return new Promise((done, fail) => {
    let settled = false;
    const check = (): void => {
      if (settled) return;
      const e = read();
      if (!e || !pred(e)) return;
      settled = true;
      clearTimeout(timer);
      watcher.close();
      done(e);
    };
    const watcher = watch(dir, check);
    const timer = setTimeout(() => {
      settled = true;
      watcher.close();
      fail(new Error(`envelope of ${id} not ${what} within ${timeoutMs} ms: ${JSON.stringify(read())}`));
    }, timeoutMs);
    check();
  });
}

async function deferredMessage(r: Rig, subject: string, to = 'user@example.com'): Promise<string> {
  const id = await submit(r.relay, `<${SENDER}>`, [`<${to}>`], subject);
  await waitEvent(r.relay, 'delivery', { id, status: 'deferred' });
  // The envelope is rewritten just after the attempt's log line.
  await waitEnvelope(r.relay, id, (e) => e.recipients.every((x) => x.status === 'deferred'), 'deferred');
  return id;
}

test('queue admin with the daemon running: list, show, hold, release, retry, bounce, delete', async (t) => {
  const r = await rig(t, { queue: { retry: { first: '1h', max: '2h' } } }, defer);
  const a = await deferredMessage(r, 'admin A q5');

  // list: filters by state and by recipient domain, with a state field.
  const deferredList = await listJson(r.relay, '--state', 'deferred');
  assert.deepEqual(deferredList.map((e) => [e.id, e.state]), [[a, 'deferred']]);
  assert.deepEqual((await listJson(r.relay, '--to', 'example.com')).map((e) => e.id), [a]);
  assert.deepEqual((await listJson(r.relay, '--to', 'other.example')).map((e) => e.id), []);
  assert.deepEqual((await listJson(r.relay, '--state', 'held')).map((e) => e.id), []);

  // show: per-recipient status, last error, next attempt, history.
  const shown = await showJson(r.relay, a);
  assert.equal(shown.id, a);
  assert.equal(shown.state, 'deferred');
  const rcpt = shown.recipients[0];
  assert.ok(rcpt);
  assert.equal(rcpt.status, 'deferred');
  assert.match(rcpt.last_error ?? '', /451 4\.3\.2 come back later/);
  assert.ok(rcpt.next_attempt && Date.parse(rcpt.next_attempt) > Date.now() + 30 * 60_000, `next attempt about an hour away: ${rcpt.next_attempt}`);
  assert.ok(shown.history?.some((h) => h.event === 'attempt'), `history has the attempt: ${JSON.stringify(shown.history)}`);

  // hold: state held; nothing retries it, not even retry --all.
  let c = await cli(r.relay, ['hold', a]);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout.trim(), `${a} held`);
  r.rcpt.setBehaviour({});
  assert.deepEqual((await listJson(r.relay, '--state', 'held')).map((e) => [e.id, e.state, e.held]), [[a, 'held', true]]);
  c = await cli(r.relay, ['retry', '--all']);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout.trim(), '0 messages to be retried now', 'a held message is not retried');
  assert.deepEqual((await listJson(r.relay, '--state', 'held')).map((e) => e.id), [a]);
  assert.equal(logsOf(r.relay, 'delivery', { id: a }).length, 1, 'no attempt while held');
  assert.ok(!r.rcpt.messages.some(subjectIs('admin A q5')));

  // release: delivered now.
  c = await cli(r.relay, ['release', a]);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout.trim(), `${a} released`);
  const rel = await waitEvent(r.relay, 'delivery', { id: a, status: 'delivered' });
  assert.equal(rel.attempt, 2);
  await waitEvent(r.relay, 'queue.removed', { id: a });
  await waitMessage(r.rcpt, subjectIs('admin A q5'), 'released message');

  // retry ID: an attempt at once (retry.first is an hour: only the command can cause it).
  r.rcpt.setBehaviour(defer);
  const b = await deferredMessage(r, 'admin B q5');
  r.rcpt.setBehaviour({});
  c = await cli(r.relay, ['retry', b]);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout.trim(), '1 message to be retried now');
  const retried = await waitEvent(r.relay, 'delivery', { id: b, status: 'delivered' });
  assert.equal(retried.attempt, 2);
  await waitEvent(r.relay, 'queue.removed', { id: b });

  // bounce: a DSN to the sender, and gone.
  r.rcpt.setBehaviour(defer);
  const cId = await deferredMessage(r, 'admin C q5', 'carol@example.com');
  c = await cli(r.relay, ['bounce', cId]);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout.trim(), `${cId} bounced`);
  await waitEvent(r.relay, 'queue.removed', { id: cId });
  assert.ok(!(await listJson(r.relay)).some((e) => e.id === cId));
  const bounced = parseDsn(await waitMessage(r.sender, about(cId), 'DSN of the bounced message'));
  assert.equal(finalRecipient(bounced.recipients[0] as Fields), 'carol@example.com');
  assert.equal(bounced.recipients[0]?.get('Action'), 'failed');
  assert.match(bounced.recipients[0]?.get('Status') ?? '', /^5\./);
  assert.equal(parseFields(bounced.returned.content).get('Subject'), 'admin C q5');

  // delete: gone, no DSN.
  const d = await deferredMessage(r, 'admin D q5');
  c = await cli(r.relay, ['delete', d]);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout.trim(), `${d} deleted`);
  await waitEvent(r.relay, 'queue.removed', { id: d });
  assert.ok(!(await listJson(r.relay)).some((e) => e.id === d));
  assert.ok(!existsSync(join(r.relay.dataDir, 'spool', 'queue', `${d}.msg`)));
  assert.deepEqual(logsOf(r.relay, 'dsn.queued', { of: d }), [], 'delete sends no notification');
  const admin = logsOf(r.relay, 'queue.admin', { id: d });
  assert.deepEqual(admin.map((l) => [l.op, l.ok]), [['delete', true]], 'the daemon carried out the delete');

  // Errors: an unknown id is refused (1), a missing id is a usage error (2).
  for (const op of ['hold', 'release', 'delete', 'bounce', 'retry', 'show']) {
    const u = await cli(r.relay, [op, '0000000000000000']);
    assert.equal(u.status, 1, `${op} of an unknown id: exit 1 (${u.stderr})`);
    assert.match(u.stderr, /no message 0000000000000000/, `${op}: says which id`);
  }
  for (const op of ['hold', 'release', 'delete', 'bounce', 'show', 'retry']) {
    const u = await cli(r.relay, [op]);
    assert.equal(u.status, 2, `${op} without an id: exit 2 (${u.stderr})`);
  }
});

test('queue admin with no daemon running: hold, release and delete work on the files', async (t) => {
  const r = await rig(t, { queue: { retry: { first: '1h', max: '2h' } } }, defer);
  const e = await deferredMessage(r, 'offline E q5');
  const f = await deferredMessage(r, 'offline F q5');
  const g = await deferredMessage(r, 'offline G q5');
  assert.equal(await r.relay.stop(), 0, 'the daemon stops cleanly');
  assert.ok(!existsSync(join(r.relay.dataDir, 'control.sock')), 'no control socket without a daemon');

  let c = await cli(r.relay, ['hold', e]);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout.trim(), `${e} held`);
  let shown = await showJson(r.relay, e);
  assert.equal(shown.state, 'held');
  assert.equal(shown.held, true);

  c = await cli(r.relay, ['release', e]);
  assert.equal(c.status, 0, c.stderr);
  shown = await showJson(r.relay, e);
  assert.equal(shown.state, 'deferred');
  assert.ok(!shown.held);
  assert.equal(shown.recipients[0]?.next_attempt, undefined, 'released: due at once');

  c = await cli(r.relay, ['delete', f]);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout.trim(), `${f} deleted`);
  assert.equal((await cli(r.relay, ['show', f])).status, 1, 'deleted: show says no such message');
  assert.ok(!existsSync(join(r.relay.dataDir, 'spool', 'queue', `${f}.msg`)));

  c = await cli(r.relay, ['hold', g]);
  assert.equal(c.status, 0, c.stderr);
  assert.deepEqual((await listJson(r.relay)).map((x) => [x.id, x.state]), [[e, 'deferred'], [g, 'held']]);

  const u = await cli(r.relay, ['hold', '0000000000000000']);
  assert.equal(u.status, 1, `unknown id offline: exit 1 (${u.stderr})`);
  assert.match(u.stderr, /no message 0000000000000000/);
  assert.equal((await cli(r.relay, ['hold'])).status, 2, 'hold without an id: exit 2');

  // Restart with the next hop accepting: E (released, due now) goes at once
  // although retry.first is an hour; G stays held; F is gone.
  r.rcpt.setBehaviour({});
  const relay = await restartRelay(t, r.relay.dataDir, r.relay.ports);
  const de = await waitEvent(relay, 'delivery', { id: e, status: 'delivered' });
  assert.equal(de.attempt, 2);
  await waitEvent(relay, 'queue.removed', { id: e });
  c = await cli(relay, ['retry', '--all']);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout.trim(), '0 messages to be retried now', 'the held message is not retried');
  assert.deepEqual((await listJson(relay)).map((x) => [x.id, x.state]), [[g, 'held']]);
  assert.deepEqual(logsOf(relay, 'delivery', { id: g }), [], 'no attempt for the held message');

  c = await cli(relay, ['release', g]);
  assert.equal(c.status, 0, c.stderr);
  await waitEvent(relay, 'delivery', { id: g, status: 'delivered' });
  await waitEvent(relay, 'queue.removed', { id: g });
  assert.deepEqual(await listJson(relay), []);
  assert.ok(!r.rcpt.messages.some(subjectIs('offline F q5')), 'the deleted message was never delivered');
  assert.equal(r.rcpt.messages.filter(subjectIs('offline E q5')).length, 1);
  assert.equal(r.rcpt.messages.filter(subjectIs('offline G q5')).length, 1);
});

// ------------------------------------------------------------ 6. delay warning

test('delay warning: one "delayed" DSN with Will-Retry-Until, once per message', async (t) => {
  const r = await rig(t, { queue: { retry: { first: '1s', max: '1s' }, lifetime: '1m', delay_warning: '1s' } }, defer);
  const subject = 'delayed q6';
  const id = await submit(r.relay, `<${SENDER}>`, ['<slow@example.com>'], subject);
  const warned = await waitEvent(r.relay, 'dsn.queued', { of: id }, 10_000);
  assert.equal(warned.type, 'delay');
  assert.equal(warned.to, SENDER);
  // The attempt that warned, then two more: still one warning.
  const attempts = logsOf(r.relay, 'delivery', { id }).length;
  await waitEvent(r.relay, 'delivery', { id, attempt: attempts + 2 }, 10_000);
  assert.equal(logsOf(r.relay, 'dsn.queued', { of: id }).length, 1, 'one delay warning per message');

  const dsn = parseDsn(await waitMessage(r.sender, about(id), 'delay DSN'));
  assert.equal(dsn.recipients.length, 1);
  const rec = dsn.recipients[0] as Fields;
  assert.equal(finalRecipient(rec), 'slow@example.com');
  assert.equal(rec.get('Action'), 'delayed');
  assert.match(rec.get('Status') ?? '', /^4\.\d+\.\d+$/);
  const until = rec.get('Will-Retry-Until');
  assert.ok(until && !Number.isNaN(Date.parse(until)), `Will-Retry-Until is a date: ${until}`);
  const arrival = Date.parse(dsn.perMessage.get('Arrival-Date') ?? '');
  assert.ok(Math.abs(Date.parse(until) - arrival - 60_000) <= 2000, 'Will-Retry-Until is arrival + lifetime');
  assert.equal(parseFields(dsn.returned.content).get('Subject'), subject);
  assert.equal(r.sender.messages.filter(about(id)).length, 1);
});
