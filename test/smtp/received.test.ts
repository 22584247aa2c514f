// Our Received header alone: exact format, the protocol keyword (ESMTP,
// ESMTPS, ESMTPA, ESMTPSA, RFC 3848), IPv4 and IPv6 literals, and hostile
// client-supplied text that must never break out of the header.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { receivedHeader, type ReceivedFacts } from '../../src/smtp/received.ts';

const DATE = new Date(Date.UTC(2026, 0, 5, 3, 4, 5)); // Monday

function facts(over: Partial<ReceivedFacts> = {}): ReceivedFacts {
  return {
    helo: 'client.example',
    clientAddress: '192.0.2.7',
    hostname: 'mx.test.example',
    listener: 'mx',
    id: '0123456789abcdef',
    tls: null,
    authenticated: false,
    smtputf8: false,
    recipient: 'b@example.org',
    date: DATE,
    ...over,
  };
}

/** The header is CRLF-terminated, every line but the first is folded (starts with a tab), no other CR or LF. */
function assertWellFormed(h: string): string[] {
  assert.ok(h.endsWith('\r\n'), JSON.stringify(h));
  const lines = h.slice(0, -2).split('\r\n');
  for (const l of lines) assert.ok(!/[\r\n]/.test(l), `stray CR/LF in ${JSON.stringify(l)}`);
  assert.match(lines[0] ?? '', /^Received: from /);
  for (const l of lines.slice(1)) assert.ok(l.startsWith('\t'), `not a continuation line: ${JSON.stringify(l)}`);
  return lines;
}

test('the exact format for a plain ESMTP client with one recipient', () => {
  assert.equal(
    receivedHeader(facts()),
    'Received: from client.example ([192.0.2.7])\r\n' +
      '\tby mx.test.example (mailwarden, listener mx) with ESMTP id 0123456789abcdef\r\n' +
      '\tfor <b@example.org>;\r\n' +
      '\tMon, 5 Jan 2026 03:04:05 +0000\r\n',
  );
});

test('no "for" clause without exactly one recipient', () => {
  const h = receivedHeader(facts({ recipient: null }));
  assert.equal(
    h,
    'Received: from client.example ([192.0.2.7])\r\n' + '\tby mx.test.example (mailwarden, listener mx) with ESMTP id 0123456789abcdef;\r\n' + '\tMon, 5 Jan 2026 03:04:05 +0000\r\n',
  );
});

test('the date is RFC 5322, in UTC, two-digit time fields', () => {
  const h = receivedHeader(facts({ date: new Date(Date.UTC(2025, 11, 31, 23, 59, 9)) }));
  assert.match(h, /;\r\n\tWed, 31 Dec 2025 23:59:09 \+0000\r\n$/);
  const h2 = receivedHeader(facts({ date: new Date('2026-07-04T00:00:00.000-05:00') }));
  assert.match(h2, /\tSat, 4 Jul 2026 05:00:00 \+0000\r\n$/);
});

test('protocol keywords: ESMTPS with TLS, ESMTPA authenticated, ESMTPSA both (RFC 3848)', () => {
  const tls = { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' };
  assert.match(receivedHeader(facts({ tls })), / with ESMTPS id 0123456789abcdef \(TLSv1\.3 TLS_AES_256_GCM_SHA384\)\r\n/);
  assert.match(receivedHeader(facts({ authenticated: true })), / with ESMTPA id 0123456789abcdef \(authenticated sender\)\r\n/);
  const both = receivedHeader(facts({ tls, authenticated: true }));
  assert.match(both, / with ESMTPSA id 0123456789abcdef \(TLSv1\.3 TLS_AES_256_GCM_SHA384\) \(authenticated sender\)\r\n/);
  assertWellFormed(both);
  assert.doesNotMatch(receivedHeader(facts()), /ESMTP[SA]|authenticated/);
});

test('an SMTPUTF8 transaction: UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA (RFC 6531 3.7.3)', () => {
  const tls = { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' };
  const kw = (over: Partial<ReceivedFacts>) => / with (\S+) id /.exec(receivedHeader(facts({ smtputf8: true, ...over })))?.[1];
  assert.equal(kw({}), 'UTF8SMTP');
  assert.equal(kw({ tls }), 'UTF8SMTPS');
  assert.equal(kw({ authenticated: true }), 'UTF8SMTPA');
  assert.equal(kw({ tls, authenticated: true }), 'UTF8SMTPSA');
  assertWellFormed(receivedHeader(facts({ smtputf8: true, tls, authenticated: true, recipient: 'δοκιμή@παράδειγμα.δοκιμή' })));
});

test('an IPv6 client is written as an IPv6 address literal, IPv4 without a tag', () => {
  assert.match(receivedHeader(facts({ clientAddress: '2001:db8::1' })), /^Received: from client\.example \(\[IPv6:2001:db8::1\]\)\r\n/);
  assert.match(receivedHeader(facts({ clientAddress: '127.0.0.1' })), /^Received: from client\.example \(\[127\.0\.0\.1\]\)\r\n/);
});

test('a hostile HELO cannot add lines, comments or escapes', () => {
  const hostile = 'evil.example\r\nBcc: victim@example.org\r\n\r\nbody (x) \\ "q"\t\x00\x7f\u00e9';
  const h = receivedHeader(facts({ helo: hostile }));
  const lines = assertWellFormed(h);
  assert.equal(lines.length, 4);
  const from = /^Received: from (\S+) \(\[192\.0\.2\.7\]\)$/.exec(lines[0] ?? '');
  assert.ok(from, `first line: ${JSON.stringify(lines[0])}`);
  const shown = from[1] ?? '';
  assert.match(shown, /^[\x21-\x7e]+$/);
  assert.doesNotMatch(shown, /[()\\]/);
  assert.ok(shown.startsWith('evil.example??Bcc:'));
  assert.ok(!h.includes('\nBcc'));
});

test('an empty HELO is "unknown", a huge one is cut', () => {
  assert.match(receivedHeader(facts({ helo: '' })), /^Received: from unknown \(/);
  const h = receivedHeader(facts({ helo: 'a'.repeat(5000) }));
  const first = h.split('\r\n')[0] ?? '';
  assert.equal(first, `Received: from ${'a'.repeat(255)}... ([192.0.2.7])`);
});

test('hostile listener name and TLS strings stay inside their comments', () => {
  const h = receivedHeader(facts({ listener: 'mx)\r\nX-Evil: 1', tls: { protocol: 'TLS)\r\n', cipher: 'A(B)\r\nX-Evil: 2' } }));
  const lines = assertWellFormed(h);
  assert.equal(lines.length, 4);
  assert.ok(!lines.some((l) => /^\t?X-Evil/.test(l)));
  // each comment opens and closes once: no parentheses from the client
  assert.equal((lines[1] ?? '').split('(').length, (lines[1] ?? '').split(')').length);
  assert.match(lines[1] ?? '', /\(mailwarden, listener mx\?\?\?X-Evil:\?1\)/);
});

test('a recipient cannot inject CR/LF or close the angle brackets', () => {
  const h = receivedHeader(facts({ recipient: 'x\r\nX-Injected: yes\r\n>@example.org' }));
  const lines = assertWellFormed(h);
  assert.equal(lines.length, 4);
  assert.ok(!lines.some((l) => /^X-Injected/i.test(l)));
  assert.match(lines[2] ?? '', /^\tfor <[^<>]*>;$/);
});

test('the recipient\'s domain is an A-label when its local part is ASCII (the header stays 7-bit for a hop without SMTPUTF8); a UTF-8 local part stays', () => {
  const base = { helo: 'client.example', clientAddress: '192.0.2.1', hostname: 'mx.example', listener: 'mx', id: 'abcdefghij234567', tls: null, authenticated: false, smtputf8: true, date: new Date(0) };
  const idn = receivedHeader({ ...base, recipient: 'x7@bücher.example' });
  assert.match(idn, /\tfor <x7@xn--bcher-kva\.example>;/);
  assert.equal(/[^\x00-\x7f]/.test(idn), false);
  assert.match(receivedHeader({ ...base, recipient: 'jörg@bücher.example' }), /\tfor <jörg@bücher\.example>;/);
  assert.match(receivedHeader({ ...base, recipient: 'b@example.org' }), /\tfor <b@example\.org>;/);
});
