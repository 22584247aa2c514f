// src/delivery/outcome.ts on its own: how a reply code becomes a fate
// (2xx delivered, 5xx failed, anything else deferred), the RFC 3463 status of
// a reply (its enhanced code only when the code's class matches the reply's,
// else the generic one of the class, 4.4.1 without a reply), one outcome per
// recipient for a transaction that failed as a whole, and the one-line text of
// a client error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCertificateError, cleanError, cleanText, allRecipients, errorText, fateOf, statusOf, type SmtpClientError } from '../../src/delivery/outcome.ts';

test('fateOf: 2xx delivered, 5xx failed, everything else deferred', () => {
  for (const c of [200, 211, 220, 250, 251, 252, 299]) assert.equal(fateOf(c), 'delivered', String(c));
  for (const c of [500, 501, 550, 552, 553, 554, 599]) assert.equal(fateOf(c), 'failed', String(c));
  for (const c of [400, 421, 450, 451, 452, 499]) assert.equal(fateOf(c), 'deferred', String(c));
  // Not a final answer at all: never delivered nor failed.
  for (const c of [0, 100, 199, 300, 334, 354, 399, 600, 999]) assert.equal(fateOf(c), 'deferred', String(c));
});

test('statusOf: the enhanced code of the reply when its class matches the code', () => {
  const cases: [number, string, string][] = [
    [250, '250 2.1.5 Ok', '2.1.5'],
    [250, '250 2.0.0 Ok: queued as ABC', '2.0.0'],
    [550, '550 5.1.1 <bob@example.com>: no such user', '5.1.1'],
    [552, '552 5.3.4 Message too big', '5.3.4'],
    [451, '451 4.7.1 Greylisted, try again', '4.7.1'],
    [421, '421 4.4.2 Idle too long', '4.4.2'],
    [554, '554 5.7.1 Relay access denied', '5.7.1'],
    [550, '550 5.100.999 three-digit parts', '5.100.999'],
    [250, '250-2.6.0 first line of a multi-line reply', '2.6.0'],
    [550, '550 5.1.1', '5.1.1'],
  ];
  for (const [code, reply, want] of cases) assert.equal(statusOf(code, reply), want, `${code} ${JSON.stringify(reply)}`);
});

test('statusOf: an enhanced code of another class is ignored in favour of the generic status of the code', () => {
  assert.equal(statusOf(550, '550 4.2.2 Mailbox full'), '5.0.0');
  assert.equal(statusOf(451, '451 5.7.1 looks permanent'), '4.0.0');
  assert.equal(statusOf(250, '250 5.0.0 odd'), '2.0.0');
  // The code given is what counts, not the one at the start of the text.
  assert.equal(statusOf(550, '451 4.7.1 try later'), '5.0.0');
  assert.equal(statusOf(451, '550 4.7.1 mismatched codes'), '4.7.1');
});

test('statusOf: no enhanced code, or a malformed one, gives the generic status of the class', () => {
  const cases: [number, string, string][] = [
    [250, '250 Ok', '2.0.0'],
    [250, '250 ok: queued', '2.0.0'],
    [451, '451 try again later', '4.0.0'],
    [550, '550 no such user', '5.0.0'],
    [550, '550 5.1.1234 four digits', '5.0.0'],
    [550, '550 5.1234.1 four digits', '5.0.0'],
    [550, '550 6.1.1 no such class', '5.0.0'],
    [550, '550 3.1.1 no such class', '5.0.0'],
    [550, '550 5.1 two parts', '5.0.0'],
    [550, '550 5.1.1x glued', '5.0.0'],
    [550, '5501 5.1.1 four-digit code', '5.0.0'],
    [550, 'Error: 550 5.1.1 not at the start', '5.0.0'],
    [550, '550  5.1.1 two spaces', '5.0.0'],
    [550, '', '5.0.0'],
  ];
  for (const [code, reply, want] of cases) assert.equal(statusOf(code, reply), want, `${code} ${JSON.stringify(reply)}`);
});

test('statusOf: no reply at all (connection trouble) is 4.4.1, whatever the text says', () => {
  assert.equal(statusOf(null, 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:25'), '4.4.1');
  assert.equal(statusOf(null, '421 4.4.2 looks like a reply'), '4.4.1');
  assert.equal(statusOf(null, '550 5.1.1 looks permanent'), '4.4.1');
  assert.equal(statusOf(null, ''), '4.4.1');
});

test('allRecipients: the same outcome for every recipient, in order, fate from the code', () => {
  const to = ['a@example.com', 'b@example.com', 'c@example.org'];
  const remote = 'mx.example.com [192.0.2.1]:25';
  const deferred = allRecipients(to, 451, '451 4.3.0 try later', remote);
  assert.deepEqual(deferred, to.map((address) => ({ address, fate: 'deferred', code: 451, status: '4.3.0', diagnostic: '451 4.3.0 try later', remote })));
  const failed = allRecipients(to, 554, '554 5.6.0 content rejected', remote);
  assert.deepEqual(failed.map((o) => [o.address, o.fate, o.status]), to.map((a) => [a, 'failed', '5.6.0']));
  const delivered = allRecipients(to, 250, '250 ok', remote);
  assert.deepEqual(delivered.map((o) => [o.fate, o.status]), to.map(() => ['delivered', '2.0.0']));
});

test('allRecipients: no code is a deferral with 4.4.1 and no remote', () => {
  const out = allRecipients(['x@example.com'], null, 'connection lost before the transaction', null);
  assert.deepEqual(out, [{ address: 'x@example.com', fate: 'deferred', code: null, status: '4.4.1', diagnostic: 'connection lost before the transaction', remote: null }]);
});

test('allRecipients: an explicit fate wins over the code', () => {
  const out = allRecipients(['x@example.com', 'y@example.com'], 552, '552 5.3.4 too big', 'h [192.0.2.1]:25', 'failed');
  assert.deepEqual(out.map((o) => o.fate), ['failed', 'failed']);
  const odd = allRecipients(['x@example.com'], 550, '550 5.0.0 whatever', null, 'deferred');
  assert.equal(odd[0]?.fate, 'deferred');
  assert.equal(odd[0]?.status, '5.0.0');
});

test('allRecipients: no recipients, no outcomes; every outcome is its own object', () => {
  assert.deepEqual(allRecipients([], 250, '250 ok', null), []);
  const [a, b] = allRecipients(['a@x.example', 'b@x.example'], 250, '250 ok', null);
  assert.notEqual(a, b);
});

test('errorText: the server reply on one line, else code and message, at most 500 characters', () => {
  const withReply = Object.assign(new Error('ignored'), { response: '550-5.1.1 first\r\n550 5.1.1 second', responseCode: 550 }) as SmtpClientError;
  assert.equal(errorText(withReply), '550-5.1.1 first 550 5.1.1 second');
  const lf = Object.assign(new Error('x'), { response: '451-a\n451 b' }) as SmtpClientError;
  assert.equal(errorText(lf), '451-a 451 b');
  const conn = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ECONNECTION' }) as SmtpClientError;
  assert.equal(errorText(conn), 'ECONNECTION: connect ECONNREFUSED 127.0.0.1:25');
  assert.equal(errorText(new Error('boom') as SmtpClientError), 'ERROR: boom');
  const long = Object.assign(new Error('x'), { response: '550 ' + 'z'.repeat(2000) }) as SmtpClientError;
  assert.equal(errorText(long).length, 500);
  assert.equal(errorText(Object.assign(new Error('y'.repeat(2000)), { code: 'ETIMEDOUT' }) as SmtpClientError).length, 500);
});

test('cleanText: Node.js hints are cut, the error itself stays', () => {
  assert.equal(cleanText('self-signed certificate; if the root CA is installed locally, try running Node.js with --use-system-ca'), 'self-signed certificate');
  assert.equal(cleanText('unable to get local issuer certificate; if the root CA is installed locally, try running Node.js with --use-system-ca.'), 'unable to get local issuer certificate');
  assert.equal(cleanText('certificate has expired. Try running Node.js with --use-openssl-ca'), 'certificate has expired');
  assert.equal(cleanText('connect ECONNREFUSED 127.0.0.1:25'), 'connect ECONNREFUSED 127.0.0.1:25', 'nothing else changes');
  assert.equal(cleanText('two\r\nlines'), 'two lines');
});

test('errorText and cleanError: no hint, and a thrown non-Error still gives a line', () => {
  const err = Object.assign(new Error('self-signed certificate; if the root CA is installed locally, try running Node.js with --use-system-ca'), { code: 'ESOCKET' });
  assert.equal(errorText(err), 'ESOCKET: self-signed certificate');
  assert.equal(cleanError(err), 'self-signed certificate');
  assert.equal(cleanError('plain string'), 'plain string');
  assert.equal(cleanError(undefined), 'undefined');
});

test('isCertificateError: Node\'s certificate codes under the library\'s ESOCKET, not other socket errors', () => {
  for (const originalCode of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']) {
    assert.equal(isCertificateError(Object.assign(new Error('x'), { code: 'ESOCKET', originalCode })), true, originalCode);
  }
  for (const originalCode of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', undefined]) {
    assert.equal(isCertificateError(Object.assign(new Error('x'), { code: 'ESOCKET', originalCode })), false, String(originalCode));
  }
});
