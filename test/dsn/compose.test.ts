// composeDsn (src/dsn/compose.ts) on its own: its output, taken apart by a
// small MIME splitter written here, is an RFC 3464 report: multipart/report
// with report-type=delivery-status (RFC 6522), a text/plain part, a
// message/delivery-status part (per-message fields, then one block per
// recipient, blocks separated by blank lines), and the original headers
// (text/rfc822-headers) or, with RET=FULL, the whole message
// (message/rfc822). SMTPUTF8 addresses switch to the RFC 6533 "global" types
// and the utf-8 address type. CRLF only; no way to add a field through a CR or
// LF in a diagnostic or any other value that comes from outside.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { composeDsn, rfc5322Date, type DsnInput, type DsnRecipient } from '../../src/dsn/compose.ts';
import { errorText, type SmtpClientError } from '../../src/delivery/outcome.ts';

// ---------------------------------------------------------------- a minimal MIME reader

interface Entity {
  /** Header fields in order, names lower-cased, values unfolded (RFC 5322 2.2.3) and trimmed. */
  fields: [string, string][];
  body: Buffer;
}

function field(e: Entity, name: string): string | undefined {
  return e.fields.find(([n]) => n === name.toLowerCase())?.[1];
}

function fieldsNamed(e: Entity, name: string): string[] {
  return e.fields.filter(([n]) => n === name.toLowerCase()).map(([, v]) => v);
}

/** Header section and body of a message or body part; a part may start with its blank line (no fields). */
function parseEntity(buf: Buffer, what: string): Entity {
  const text = buf.toString('latin1');
  let end: number;
  let bodyStart: number;
  if (text.startsWith('\r\n')) {
    end = 0;
    bodyStart = 2;
  } else {
    end = text.indexOf('\r\n\r\n');
    assert.ok(end >= 0, `${what}: no blank line after the header section`);
    bodyStart = end + 4;
  }
  const fields: [string, string][] = [];
  const unfolded = text.slice(0, end).replace(/\r\n(?=[ \t])/g, '');
  for (const line of unfolded ? unfolded.split('\r\n') : []) {
    const m = /^([\x21-\x39\x3b-\x7e]+):(.*)$/s.exec(line);
    assert.ok(m, `${what}: not a header field: ${JSON.stringify(line)}`);
    fields.push([(m[1] as string).toLowerCase(), (m[2] as string).trim()]);
  }
  return { fields, body: buf.subarray(bodyStart) };
}

/** "type/subtype; a=b; c="d"" → type and parameters (names lower-cased). */
function parseContentType(value: string): { type: string; params: Map<string, string> } {
  const m = /^\s*([^;\s]+)\s*(.*)$/s.exec(value);
  assert.ok(m, `Content-Type ${JSON.stringify(value)}`);
  const params = new Map<string, string>();
  const re = /;\s*([^=\s;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/gy;
  const rest = (m[2] as string).replace(/;\s*$/, '');
  let p: RegExpExecArray | null;
  let last = 0;
  while ((p = re.exec(rest))) {
    params.set((p[1] as string).toLowerCase(), p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] as string));
    last = re.lastIndex;
  }
  assert.equal(rest.slice(last).trim(), '', `Content-Type ${JSON.stringify(value)}: unparsed parameters`);
  return { type: (m[1] as string).toLowerCase(), params };
}

/**
 * RFC 2046 5.1.1: the body split at "--boundary" lines (a delimiter is CRLF,
 * "--", the boundary, optional white space, CRLF; the CRLF before it belongs to
 * it). Returns the parts' bytes, the preamble and what follows the close delimiter.
 */
function splitMultipart(body: Buffer, boundary: string, what: string): { preamble: string; parts: Buffer[]; epilogue: string } {
  const text = '\r\n' + body.toString('latin1');
  const delim = '\r\n--' + boundary;
  const positions: number[] = [];
  for (let i = text.indexOf(delim); i >= 0; i = text.indexOf(delim, i + 1)) positions.push(i);
  assert.ok(positions.length >= 2, `${what}: fewer than two boundary lines`);
  const parts: Buffer[] = [];
  let closed = false;
  let epilogue = '';
  for (let k = 0; k < positions.length; k++) {
    const at = positions[k] as number;
    const after = text.slice(at + delim.length);
    const close = after.startsWith('--');
    const lineEnd = after.indexOf('\r\n');
    const restOfLine = lineEnd < 0 ? after : after.slice(0, lineEnd);
    assert.match(restOfLine, close ? /^--[ \t]*$/ : /^[ \t]*$/, `${what}: text after a boundary on its line: ${JSON.stringify(restOfLine)}`);
    if (close) {
      assert.equal(k, positions.length - 1, `${what}: a boundary line after the close delimiter`);
      closed = true;
      epilogue = lineEnd < 0 ? '' : after.slice(lineEnd + 2);
      break;
    }
    const start = at + delim.length + restOfLine.length + 2;
    const next = positions[k + 1];
    assert.ok(next !== undefined, `${what}: no close delimiter`);
    parts.push(Buffer.from(text.slice(start, next), 'latin1'));
  }
  assert.ok(closed, `${what}: no close delimiter`);
  return { preamble: text.slice(2, positions[0]), parts, epilogue };
}

interface Report {
  raw: Buffer;
  top: Entity;
  contentType: { type: string; params: Map<string, string> };
  boundary: string;
  parts: Entity[];
  /** The delivery-status part: per-message block, then one block per recipient. */
  perMessage: Entity;
  perRecipient: Entity[];
}

function parseReport(raw: Buffer, what = 'DSN'): Report {
  const top = parseEntity(raw, what);
  const ct = field(top, 'content-type');
  assert.ok(ct, `${what}: no Content-Type`);
  const contentType = parseContentType(ct);
  const boundary = contentType.params.get('boundary');
  assert.ok(boundary, `${what}: no boundary parameter`);
  const { parts: bytes, epilogue } = splitMultipart(top.body, boundary, what);
  assert.equal(epilogue, '', `${what}: something after the close delimiter`);
  const parts = bytes.map((b, i) => parseEntity(b, `${what} part ${i + 1}`));
  assert.equal(parts.length, 3, `${what}: three body parts`);
  const status = parts[1] as Entity;
  const blocks = status.body.toString('latin1').replace(/\r\n$/, '').split('\r\n\r\n');
  const [first, ...rest] = blocks.map((b, i) => parseEntity(Buffer.from(b + '\r\n\r\n', 'latin1'), `${what} delivery-status block ${i + 1}`));
  return { raw, top, contentType, boundary, parts, perMessage: first as Entity, perRecipient: rest };
}

// ---------------------------------------------------------------- inputs

const arrival = new Date(Date.UTC(2026, 10, 28, 7, 18, 12, 451));
const now = new Date(Date.UTC(2026, 10, 29, 9, 5, 3));
const lastAttempt = new Date(Date.UTC(2026, 10, 29, 9, 4, 59));
const headers = Buffer.from('Received: from a.example ([192.0.2.9])\r\n\tby mx.test.example; Sat, 28 Nov 2026 07:18:12 +0000\r\nFrom: <me@example.net>\r\nTo: <bob@example.com>\r\nSubject: hello\r\nMessage-ID: <orig-1@example.net>\r\n', 'latin1');
const message = Buffer.concat([headers, Buffer.from('\r\nline one\r\n.leading dot\r\n\r\nlast line\r\n')]);

function input(over: Partial<DsnInput> = {}): DsnInput {
  return {
    type: 'failure',
    hostname: 'mx.test.example',
    queueId: '1m8gg9k6zt2pwbfr',
    envid: null,
    arrival,
    now,
    recipients: [
      { address: 'bob@example.com', action: 'failed', status: '5.1.1', remote: 'mx1.example.com [192.0.2.1]:25', diagnostic: '550 5.1.1 <bob@example.com>: no such user', diagnosticType: 'smtp', lastAttempt },
      { address: 'carol@example.org', action: 'failed', status: '4.4.7', remote: null, diagnostic: 'message expired in the queue after 9 attempts; last error: 451 4.3.0 later', lastAttempt },
    ],
    to: 'me@example.net',
    originalHeaders: headers,
    originalMessage: null,
    ...over,
  };
}

/** Every CR is followed by LF and every LF preceded by CR. */
function assertCrlfOnly(raw: Buffer, what: string): void {
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x0d) assert.equal(raw[i + 1], 0x0a, `${what}: bare CR at ${i}`);
    if (raw[i] === 0x0a) assert.equal(raw[i - 1], 0x0d, `${what}: bare LF at ${i}: ${JSON.stringify(raw.subarray(Math.max(0, i - 40), i + 10).toString())}`);
  }
  assert.ok(raw.subarray(-2).equals(Buffer.from('\r\n')), `${what}: ends with CRLF`);
}

// ---------------------------------------------------------------- structure

test('a failure report is multipart/report; report-type=delivery-status with the three parts of RFC 3464', () => {
  const raw = composeDsn(input());
  assertCrlfOnly(raw, 'failure DSN');
  const r = parseReport(raw);
  assert.equal(r.contentType.type, 'multipart/report');
  assert.equal(r.contentType.params.get('report-type'), 'delivery-status');
  assert.equal(field(r.top, 'mime-version'), '1.0');
  assert.equal(field(r.top, 'from'), 'Mail Delivery System <MAILER-DAEMON@mx.test.example>');
  assert.equal(field(r.top, 'to'), '<me@example.net>');
  assert.match(field(r.top, 'subject') ?? '', /Undelivered/);
  assert.equal(field(r.top, 'date'), rfc5322Date(now));
  assert.match(field(r.top, 'message-id') ?? '', /^<[^<>@\s]+@mx\.test\.example>$/);
  assert.equal(field(r.top, 'auto-submitted'), 'auto-replied');
  for (const name of ['from', 'to', 'subject', 'date', 'message-id', 'mime-version', 'content-type']) {
    assert.equal(fieldsNamed(r.top, name).length, 1, `exactly one ${name} field`);
  }

  const [text, status, original] = r.parts as [Entity, Entity, Entity];
  const textType = parseContentType(field(text, 'content-type') ?? '');
  assert.equal(textType.type, 'text/plain');
  assert.equal(textType.params.get('charset'), 'utf-8');
  const readable = text.body.toString('utf8');
  assert.match(readable, /<bob@example\.com>/);
  assert.match(readable, /<carol@example\.org>/);
  assert.match(readable, /550 5\.1\.1 <bob@example\.com>: no such user/);

  assert.equal(parseContentType(field(status, 'content-type') ?? '').type, 'message/delivery-status');
  assert.equal(parseContentType(field(original, 'content-type') ?? '').type, 'text/rfc822-headers');
  assert.ok(original.body.equals(headers), `the original header section, exactly: ${JSON.stringify(original.body.toString())}`);
});

test('the delivery-status part: per-message fields, then one block per recipient, separated by blank lines', () => {
  const r = parseReport(composeDsn(input()));
  assert.equal(field(r.perMessage, 'reporting-mta'), 'dns; mx.test.example');
  assert.equal(field(r.perMessage, 'arrival-date'), rfc5322Date(arrival));
  assert.equal(Date.parse(field(r.perMessage, 'arrival-date') ?? ''), Math.floor(arrival.getTime() / 1000) * 1000, 'Arrival-Date parses back to the arrival (to the second)');
  assert.equal(field(r.perMessage, 'original-envelope-id'), undefined, 'no Original-Envelope-Id without an ENVID');
  for (const [name] of r.perMessage.fields) assert.ok(!['final-recipient', 'action', 'status'].includes(name), `per-recipient field ${name} in the per-message block`);

  assert.equal(r.perRecipient.length, 2, 'one block per recipient');
  const [bob, carol] = r.perRecipient as [Entity, Entity];
  assert.equal(field(bob, 'final-recipient'), 'rfc822; bob@example.com');
  assert.equal(field(bob, 'action'), 'failed');
  assert.equal(field(bob, 'status'), '5.1.1');
  assert.equal(field(bob, 'remote-mta'), 'dns; mx1.example.com');
  assert.equal(field(bob, 'diagnostic-code'), 'smtp; 550 5.1.1 <bob@example.com>: no such user');
  assert.equal(field(bob, 'last-attempt-date'), rfc5322Date(lastAttempt));
  assert.equal(field(bob, 'original-recipient'), undefined, 'no Original-Recipient without ORCPT');
  assert.equal(field(bob, 'will-retry-until'), undefined);

  assert.equal(field(carol, 'final-recipient'), 'rfc822; carol@example.org');
  assert.equal(field(carol, 'status'), '4.4.7');
  assert.equal(field(carol, 'remote-mta'), undefined, 'no Remote-MTA when no host answered');
  // Our own words are not an SMTP reply (RFC 3464 2.3.6): x-mailwarden, even when they quote one.
  assert.match(field(carol, 'diagnostic-code') ?? '', /^x-mailwarden; message expired/);

  for (const block of [r.perMessage, ...r.perRecipient]) {
    const names = block.fields.map(([n]) => n);
    assert.equal(new Set(names).size, names.length, `no field twice in a block: ${names.join(', ')}`);
  }
  // RFC 3464 2.3.4: a status code is class.subject.detail.
  for (const b of r.perRecipient) assert.match(field(b, 'status') ?? '', /^[245]\.\d{1,3}\.\d{1,3}$/);
});

test('Remote-MTA names the host that answered, never with a port (also when the next hop has no name, only an address)', () => {
  // What src/delivery/outbound.ts labels a target: "name [ip]:port", or "[ip]:port" when it was given by address
  // (a route host or smarthost written as an IP address, an address literal).
  const remotes: [string, RegExp][] = [
    ['mx1.example.com [192.0.2.1]:25', /^dns; mx1\.example\.com$/],
    ['[127.0.0.22]:2525', /^dns; \[?127\.0\.0\.22\]?$/],
    ['[2001:db8::1]:25', /^dns; \[?2001:db8::1\]?$/],
  ];
  for (const [remote, want] of remotes) {
    const r = parseReport(composeDsn(input({ recipients: [{ address: 'bob@example.com', action: 'failed', status: '5.1.1', remote, diagnostic: '550 5.1.1 no' }] })));
    const value = field(r.perRecipient[0] as Entity, 'remote-mta') ?? '';
    assert.match(value, want, `remote ${JSON.stringify(remote)} gives "Remote-MTA: ${value}": RFC 3464 2.3.5 wants the MTA's name (dns type), the ":port" is no part of it`);
  }
});

test('Original-Envelope-Id and Original-Recipient when given', () => {
  const recipients: DsnRecipient[] = [
    { address: 'bob@example.com', orcpt: 'rfc822;Bob@Example.COM', action: 'failed', status: '5.1.1', diagnostic: '550 5.1.1 no' },
    { address: 'dave@example.com', action: 'failed', status: '5.2.2', diagnostic: '552 5.2.2 full' },
  ];
  const r = parseReport(composeDsn(input({ envid: 'QQ314159', recipients })));
  assert.equal(field(r.perMessage, 'original-envelope-id'), 'QQ314159');
  const [bob, dave] = r.perRecipient as [Entity, Entity];
  assert.equal(field(bob, 'original-recipient'), 'rfc822;Bob@Example.COM');
  // RFC 3464 2.3.1: Original-Recipient, when present, comes before Final-Recipient.
  const names = bob.fields.map(([n]) => n);
  assert.ok(names.indexOf('original-recipient') < names.indexOf('final-recipient'), names.join(', '));
  assert.equal(field(dave, 'original-recipient'), undefined);
});

test('RET=FULL: the whole original message as message/rfc822, byte for byte', () => {
  const r = parseReport(composeDsn(input({ originalMessage: message })));
  const original = r.parts[2] as Entity;
  assert.equal(parseContentType(field(original, 'content-type') ?? '').type, 'message/rfc822');
  assert.match(field(original, 'content-description') ?? '', /Undelivered Message$/);
  assert.ok(original.body.equals(message), `the message returned exactly: ${JSON.stringify(original.body.toString())}`);
  // The returned message is itself a message with its own header section.
  const inner = parseEntity(original.body, 'returned message');
  assert.equal(field(inner, 'message-id'), '<orig-1@example.net>');
});

test('headers only: text/rfc822-headers, described as such', () => {
  const r = parseReport(composeDsn(input()));
  const original = r.parts[2] as Entity;
  assert.equal(parseContentType(field(original, 'content-type') ?? '').type, 'text/rfc822-headers');
  assert.match(field(original, 'content-description') ?? '', /Headers/);
});

test('an original that does not end in CRLF still leaves the close delimiter on its own line', () => {
  const odd = Buffer.from('Subject: x\r\n\r\nno final line end');
  const raw = composeDsn(input({ originalMessage: odd }));
  assertCrlfOnly(raw, 'DSN');
  const r = parseReport(raw);
  assert.equal((r.parts[2] as Entity).body.toString(), 'Subject: x\r\n\r\nno final line end\r\n');
  const empty = parseReport(composeDsn(input({ originalHeaders: Buffer.alloc(0) })));
  assert.equal((empty.parts[2] as Entity).body.length, 0);
});

test('delay and success reports: their subject, action and Will-Retry-Until', () => {
  const until = new Date(Date.UTC(2026, 11, 3, 7, 18, 12));
  const delay = parseReport(composeDsn(input({ type: 'delay', recipients: [{ address: 'bob@example.com', action: 'delayed', status: '4.4.1', remote: null, diagnostic: 'connection refused', lastAttempt, willRetryUntil: until }] })));
  assert.match(field(delay.top, 'subject') ?? '', /Delayed/);
  assert.equal(field(delay.perRecipient[0] as Entity, 'action'), 'delayed');
  assert.equal(field(delay.perRecipient[0] as Entity, 'will-retry-until'), rfc5322Date(until));
  assert.match((delay.parts[0] as Entity).body.toString(), /retry until/i);

  const success = parseReport(composeDsn(input({ type: 'success', recipients: [{ address: 'bob@example.com', action: 'relayed', status: '2.0.0', remote: 'mx1.example.com [192.0.2.1]:25', diagnostic: '250 2.0.0 Ok' }] })));
  assert.match(field(success.top, 'subject') ?? '', /Successful/);
  assert.equal(field(success.perRecipient[0] as Entity, 'action'), 'relayed');
  assert.equal(field(success.perRecipient[0] as Entity, 'status'), '2.0.0');
  assert.equal(success.perRecipient.length, 1);
});

test('many recipients: as many blocks, in order', () => {
  const recipients: DsnRecipient[] = Array.from({ length: 25 }, (_, i) => ({ address: `u${i}@example.com`, action: 'failed', status: '5.1.1', diagnostic: `550 5.1.1 u${i}` }));
  const r = parseReport(composeDsn(input({ recipients })));
  assert.deepEqual(r.perRecipient.map((b) => field(b, 'final-recipient')), recipients.map((x) => `rfc822; ${x.address}`));
});

// ---------------------------------------------------------------- SMTPUTF8

test('SMTPUTF8 recipient: global-delivery-status (RFC 6533), the utf-8 address type, message/global-headers', () => {
  const raw = composeDsn(input({ recipients: [{ address: 'bøb@exämple.com', action: 'failed', status: '5.1.1', diagnostic: '550 5.1.1 no' }, { address: 'ascii@example.com', action: 'failed', status: '5.1.1' }] }));
  assertCrlfOnly(raw, 'DSN');
  const r = parseReport(raw);
  assert.equal(r.contentType.params.get('report-type'), 'global-delivery-status');
  assert.equal(parseContentType(field(r.parts[1] as Entity, 'content-type') ?? '').type, 'message/global-delivery-status');
  assert.equal(parseContentType(field(r.parts[2] as Entity, 'content-type') ?? '').type, 'message/global-headers');
  const blocks = (r.parts[1] as Entity).body.toString('utf8').split('\r\n\r\n');
  assert.match(blocks[1] ?? '', /^Final-Recipient: utf-8; bøb@exämple\.com\r\n/m, 'the address in UTF-8, typed utf-8');
  assert.equal(field(r.perRecipient[1] as Entity, 'final-recipient'), 'rfc822; ascii@example.com', 'an ASCII address keeps rfc822');
  assert.match((r.parts[0] as Entity).body.toString('utf8'), /<bøb@exämple\.com>/);
});

test('SMTPUTF8 with RET=FULL: message/global', () => {
  const r = parseReport(composeDsn(input({ originalMessage: message, recipients: [{ address: 'bøb@example.com', action: 'failed', status: '5.1.1' }] })));
  assert.equal(parseContentType(field(r.parts[2] as Entity, 'content-type') ?? '').type, 'message/global');
  assert.ok((r.parts[2] as Entity).body.equals(message));
});

test('SMTPUTF8 sender or ORCPT alone also switch to the global types', () => {
  const bySender = parseReport(composeDsn(input({ to: 'mé@example.net' })));
  assert.equal(bySender.contentType.params.get('report-type'), 'global-delivery-status');
  assert.equal(Buffer.from(field(bySender.top, 'to') ?? '', 'latin1').toString('utf8'), '<mé@example.net>');
  const byOrcpt = parseReport(composeDsn(input({ recipients: [{ address: 'bob@example.com', orcpt: 'utf-8;bøb@example.com', action: 'failed', status: '5.1.1' }] })));
  assert.equal(byOrcpt.contentType.params.get('report-type'), 'global-delivery-status');
  assert.equal(field(byOrcpt.perRecipient[0] as Entity, 'final-recipient'), 'rfc822; bob@example.com');
});

test('ASCII only: no global type anywhere', () => {
  const raw = composeDsn(input({ originalMessage: message }));
  assert.doesNotMatch(raw.toString('latin1'), /global|utf-8; /);
});

// ---------------------------------------------------------------- injection and limits

test('no field injection: CR, LF and other controls in diagnostics, ENVID, ORCPT and Remote-MTA stay inside their field', () => {
  const evil = '550 5.1.1 nope\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\nFinal-Recipient: rfc822; evil@example.org\nX-Injected: 1\rX-Also: 2\0\x1b\x7f';
  const raw = composeDsn(
    input({
      envid: 'E1\r\nReporting-MTA: dns; evil.example',
      recipients: [
        { address: 'bob@example.com', orcpt: 'rfc822;bob@example.com\r\nFinal-Recipient: rfc822; evil@example.org', action: 'failed', status: '5.1.1', remote: 'mx.example.com\r\nX-Remote: 1 [192.0.2.1]:25', diagnostic: evil, diagnosticType: 'smtp', lastAttempt },
      ],
    }),
  );
  assertCrlfOnly(raw, 'DSN with hostile values');
  const r = parseReport(raw);
  assert.equal(r.perRecipient.length, 1, `one recipient block, not more: ${(r.parts[1] as Entity).body.toString()}`);
  const bob = r.perRecipient[0] as Entity;
  assert.deepEqual(fieldsNamed(bob, 'final-recipient'), ['rfc822; bob@example.com']);
  assert.deepEqual(fieldsNamed(bob, 'action'), ['failed']);
  assert.deepEqual(fieldsNamed(bob, 'status'), ['5.1.1']);
  assert.equal(fieldsNamed(bob, 'x-injected').length + fieldsNamed(bob, 'x-also').length + fieldsNamed(bob, 'x-remote').length, 0);
  const diag = field(bob, 'diagnostic-code') ?? '';
  assert.match(diag, /^smtp; 550 5\.1\.1 nope .*Action: delivered.*evil@example\.org.*X-Also: 2$/);
  assert.doesNotMatch(diag, /[\x00-\x1f\x7f]/);
  assert.deepEqual(fieldsNamed(r.perMessage, 'reporting-mta'), ['dns; mx.test.example']);
  assert.match(field(r.perMessage, 'original-envelope-id') ?? '', /^E1 Reporting-MTA: dns; evil\.example$/);
  assert.equal(fieldsNamed(bob, 'original-recipient').length, 1);
  // The readable part shows the diagnostic on one line too.
  const lines = (r.parts[0] as Entity).body.toString().split('\r\n');
  assert.ok(!lines.some((l) => /^(Action|Status|Final-Recipient|X-Injected|X-Also):/.test(l)), 'no injected line in the text part');
});

test('the boundary is a valid RFC 2046 boundary (1 to 70 characters of bchars) and occurs nowhere in the content', () => {
  for (const hostname of ['mx.test.example', 'mx', 'smtp-out-01.mail.eu-central-1.corp.example.com', `${'a'.repeat(63)}.${'b'.repeat(63)}.example`]) {
    const raw = composeDsn(input({ hostname, originalMessage: message }));
    const r = parseReport(raw, `DSN from ${hostname}`);
    assert.match(r.boundary, /^[0-9A-Za-z'()+_,\-./:=? ]*[0-9A-Za-z'()+_,\-./:=?]$/, `boundary characters: ${r.boundary}`);
    assert.ok(r.boundary.length >= 1 && r.boundary.length <= 70, `RFC 2046 5.1.1 allows at most 70 characters in a boundary; with hostname ${JSON.stringify(hostname)} (${hostname.length} characters) it is ${r.boundary.length}: ${r.boundary}`);
    for (const p of r.parts) assert.ok(!p.body.toString('latin1').includes(r.boundary), 'boundary inside a part');
  }
});

test('every compose draws a new boundary and Message-ID', () => {
  const a = parseReport(composeDsn(input()));
  const b = parseReport(composeDsn(input()));
  assert.notEqual(a.boundary, b.boundary);
  assert.notEqual(field(a.top, 'message-id'), field(b.top, 'message-id'));
});

test('no line of the report passes 998 octets (RFC 5322 2.1.1), even with a long diagnostic', () => {
  // A long multi-line reply from a next hop that answers in UTF-8, as src/delivery/outcome.ts errorText() passes it on (one line, at most 500 characters).
  const reply = Array.from({ length: 12 }, (_, i) => `550${i === 11 ? ' ' : '-'}5.7.1 メッセージはセキュリティポリシーにより拒否されました（${i}）`).join('\r\n');
  const utf8 = errorText(Object.assign(new Error('x'), { response: reply, responseCode: 550 }) as SmtpClientError);
  const cases: [string, string][] = [
    ['ASCII', '550 5.7.1 ' + 'x'.repeat(5000)],
    [`UTF-8 (${utf8.length} characters, ${Buffer.byteLength(utf8)} octets, from errorText())`, utf8],
  ];
  for (const [what, diagnostic] of cases) {
    const raw = composeDsn(input({ recipients: [{ address: 'bob@example.com', action: 'failed', status: '5.7.1', diagnostic }] }));
    const lines = raw.toString('latin1').split('\r\n');
    const longest = Math.max(...lines.map((l) => l.length));
    const which = lines.find((l) => l.length === longest)?.slice(0, 24);
    assert.ok(
      longest <= 998,
      `${what} diagnostic: a line of ${longest} octets in the report (${JSON.stringify(which)}…): field() in src/dsn/compose.ts cuts at 900 UTF-16 code units, not octets; on the way out LineLimit folds it with a plain CRLF (a body fold), which breaks the Diagnostic-Code field in two`,
    );
  }
});

test('rfc5322Date: day, date, month, year, time and +0000', () => {
  assert.equal(rfc5322Date(new Date(Date.UTC(2026, 0, 4, 3, 7, 9))), 'Sun, 4 Jan 2026 03:07:09 +0000');
  assert.equal(rfc5322Date(new Date(Date.UTC(2026, 11, 31, 23, 59, 59))), 'Thu, 31 Dec 2026 23:59:59 +0000');
});

test('Node.js hints never reach a notification: "try running Node.js with --use-system-ca" is cut from the diagnostic', () => {
  const r = parseReport(
    composeDsn(
      input({
        recipients: [
          {
            address: 'bob@example.com',
            action: 'delayed',
            status: '4.7.5',
            remote: null,
            diagnostic: 'smarthost [127.0.0.1]:2525: ESOCKET: self-signed certificate; if the root CA is installed locally, try running Node.js with --use-system-ca',
            lastAttempt,
          },
        ],
      }),
    ),
  );
  const bob = r.perRecipient[0] as Entity;
  assert.equal(field(bob, 'diagnostic-code'), 'x-mailwarden; smarthost [127.0.0.1]:2525: ESOCKET: self-signed certificate');
  const all = r.parts.map((p) => p.body.toString()).join('\n');
  assert.doesNotMatch(all, /Node\.js|use-system-ca/);
});
