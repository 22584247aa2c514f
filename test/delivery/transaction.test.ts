// src/delivery/transaction.ts on its own: which parameters, addresses and
// refusals a transaction gets from the envelope and the hop's extensions.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressFor, bodyVerdict, defaultOrcpt, orcptParam, planTransaction, utf8AddrXtext, xtext, type HopExtensions, type TransactionInput } from '../../src/delivery/transaction.ts';

const ALL: HopExtensions = { dsn: true, smtputf8: true, eightBitMime: true };
const NONE: HopExtensions = { dsn: false, smtputf8: false, eightBitMime: false };

const input = (over: Partial<TransactionInput> = {}): TransactionInput => ({
  sender: 's@example.org',
  smtputf8: false,
  eightBit: false,
  dsn: { ret: 'FULL', envid: 'id=1+2' },
  recipients: [
    { received: 'a@example.com', sendAs: 'a@example.com', notify: ['SUCCESS', 'DELAY'], orcpt: 'rfc822;A+B@example.com' },
    { received: 'postmaster', sendAs: 'postmaster@example.com' },
  ],
  ...over,
});

test('xtext and utf-8-addr-xtext (RFC 3461 §4, RFC 6533 §3)', () => {
  assert.equal(xtext('a+b=c d'), 'a+2Bb+3Dc+20d');
  assert.equal(xtext('ü'), '+C3+BC');
  assert.equal(utf8AddrXtext('jörg+x@bücher.example'), 'j\\x{F6}rg\\x{2B}x@b\\x{FC}cher.example');
  assert.equal(utf8AddrXtext('a\\x{F6}b'), 'a\\x{F6}b', 'an escape already there stays');
  assert.equal(orcptParam('rfc822;A+B@example.com'), 'rfc822;A+2BB@example.com');
  assert.equal(orcptParam('utf-8;jörg@example.com'), 'utf-8;j\\x{F6}rg@example.com');
  assert.equal(defaultOrcpt('b@example.com'), 'rfc822;b@example.com');
  assert.equal(defaultOrcpt('jörg@example.com'), 'utf-8;j\\x{F6}rg@example.com');
});

test('a hop with DSN: RET and ENVID on MAIL, each recipient its NOTIFY and ORCPT (added when absent)', () => {
  const p = planTransaction(input(), ALL);
  assert.deepEqual(p.mailParams, ['RET=FULL', 'ENVID=id+3D1+2B2']);
  assert.deepEqual(p.recipients, [
    { ok: true, address: 'a@example.com', params: ['NOTIFY=SUCCESS,DELAY', 'ORCPT=rfc822;A+2BB@example.com'] },
    // A bare postmaster was received as such: its ORCPT names what it was sent as.
    { ok: true, address: 'postmaster@example.com', params: ['ORCPT=rfc822;postmaster@example.com'] },
  ]);
});

test('a hop without DSN, SMTPUTF8 or 8BITMIME: no parameters; an 8-bit message must be converted', () => {
  const p = planTransaction(input({ eightBit: true }), NONE);
  assert.deepEqual(p.mailParams, []);
  assert.ok(p.recipients.every((r) => r.ok && r.params.length === 0));
  assert.equal(p.downgrade, true);
  assert.equal(planTransaction(input({ eightBit: false }), NONE).downgrade, false, '7-bit mail is sent as it is');
  assert.equal(planTransaction(input({ eightBit: true }), ALL).downgrade, false);
});

test('SMTPUTF8: kept for a hop with it; without it a non-ASCII local part fails 5.6.7 and a non-ASCII domain goes in A-labels', () => {
  const utf8 = input({
    smtputf8: true,
    recipients: [
      { received: 'jörg@example.com', sendAs: 'jörg@example.com' },
      { received: 'kai@bücher.example', sendAs: 'kai@bücher.example' },
    ],
  });
  const withIt = planTransaction(utf8, ALL);
  assert.ok(withIt.mailParams.includes('SMTPUTF8'));
  assert.deepEqual(withIt.recipients.map((r) => (r.ok ? r.address : r.outcome.status)), ['jörg@example.com', 'kai@bücher.example']);
  const without = planTransaction(utf8, NONE);
  assert.ok(!without.mailParams.includes('SMTPUTF8'));
  assert.deepEqual(without.recipients.map((r) => (r.ok ? r.address : r.outcome.status)), ['5.6.7', 'kai@xn--bcher-kva.example']);
  const r0 = without.recipients[0];
  assert.ok(r0 && !r0.ok && r0.outcome.fate === 'failed');

  const sender = planTransaction(input({ smtputf8: true, sender: 'jörg@example.org' }), NONE);
  assert.equal(sender.from, null);
  assert.ok(sender.recipients.every((r) => !r.ok && r.outcome.status === '5.6.7'), 'a sender that cannot be written fails every recipient');
  assert.equal(planTransaction(input({ smtputf8: true, sender: 's@bücher.example' }), NONE).from, 's@xn--bcher-kva.example');
});

test('addressFor: ASCII unchanged, a trailing dot kept, an impossible domain refused', () => {
  assert.deepEqual(addressFor('a@example.com', false), { ok: true, address: 'a@example.com' });
  assert.deepEqual(addressFor('a@bücher.example.', false), { ok: true, address: 'a@xn--bcher-kva.example.' });
  assert.deepEqual(addressFor('a@b\u0000ü.example', false), { ok: false, why: 'domain' });
});

test('bodyVerdict: convert, send as is, or refuse with the status that says why', () => {
  const scan = (o: Partial<{ headers8Bit: boolean; body8Bit: boolean; unconvertible: string | null }> = {}) => ({ headers8Bit: false, body8Bit: true, parts: new Set([1]), unconvertible: null, ...o });
  const noEight: HopExtensions = { dsn: false, smtputf8: false, eightBitMime: false };
  const eightOnly: HopExtensions = { dsn: false, smtputf8: false, eightBitMime: true };
  assert.deepEqual(bodyVerdict(scan(), { smtputf8: false, eightBit: true }, noEight), { kind: 'convert', parts: new Set([1]) });
  assert.deepEqual(bodyVerdict(scan({ body8Bit: false }), { smtputf8: false, eightBit: true }, noEight), { kind: 'as-is' });
  assert.equal(bodyVerdict(scan({ headers8Bit: true }), { smtputf8: false, eightBit: true }, noEight).kind, 'refuse');
  assert.equal((bodyVerdict(scan({ headers8Bit: true }), { smtputf8: false, eightBit: true }, noEight) as { status: string }).status, '5.6.9');
  assert.equal((bodyVerdict(scan({ unconvertible: 'x' }), { smtputf8: false, eightBit: true }, noEight) as { status: string }).status, '5.6.3');
  // A hop with 8BITMIME: the body goes as it is; UTF-8 headers of an SMTPUTF8 message still need SMTPUTF8.
  assert.deepEqual(bodyVerdict(scan({ unconvertible: 'x' }), { smtputf8: false, eightBit: true }, eightOnly), { kind: 'as-is' });
  assert.deepEqual(bodyVerdict(scan({ headers8Bit: true }), { smtputf8: false, eightBit: true }, eightOnly), { kind: 'as-is' }, 'raw 8-bit headers of a non-SMTPUTF8 message: as Postfix, not ours to judge');
  assert.equal((bodyVerdict(scan({ headers8Bit: true }), { smtputf8: true, eightBit: true }, eightOnly) as { status: string }).status, '5.6.7');
  assert.deepEqual(bodyVerdict(scan({ headers8Bit: true }), { smtputf8: true, eightBit: true }, ALL), { kind: 'as-is' });
  assert.equal(planTransaction(input({ smtputf8: true }), eightOnly).scan, true, 'an SMTPUTF8 message to a hop without it is scanned');
  assert.equal(planTransaction(input({ smtputf8: true, eightBit: true }), ALL).scan, false);
});
