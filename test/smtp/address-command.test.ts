// The MAIL FROM / RCPT TO argument splitter (patch 5): the path comes out as
// sent, whitespace inside quotes included; parameters as smtp-server reads them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitAddressCommand, supportedParameters } from '../../src/smtp/address-command.ts';

const split = (line: string, name = 'MAIL FROM') => splitAddressCommand(name, line);

test('a plain path with no parameters', () => {
  assert.deepEqual(split('MAIL FROM:<a@example.com>'), { path: '<a@example.com>', args: false });
  assert.deepEqual(split('RCPT TO:<b@example.org>', 'RCPT TO'), { path: '<b@example.org>', args: false });
});

test('the verb is case-insensitive and a space after the colon is tolerated', () => {
  assert.equal(split('mail from: <a@example.com>')?.path, '<a@example.com>');
  assert.equal(split('MAIL  FROM:<a@example.com>')?.path, '<a@example.com>');
});

test('another verb or no colon is not this command', () => {
  assert.equal(split('MAIL FRM:<a@example.com>'), null);
  assert.equal(split('MAIL FROM <a@example.com>'), null);
  assert.equal(split('RCPT TO:<a@example.com>'), null);
});

test('a quoted local part keeps its spaces; the parameters follow it', () => {
  assert.deepEqual(split('MAIL FROM:<"john doe"@example.com> SIZE=100 BODY=8BITMIME'), {
    path: '<"john doe"@example.com>',
    args: { SIZE: '100', BODY: '8BITMIME' },
  });
  assert.equal(split('MAIL FROM:<"a\\" b"@example.com> SMTPUTF8')?.path, '<"a\\" b"@example.com>');
});

test('an unterminated quote runs to the end of the line (the path parser refuses it)', () => {
  assert.deepEqual(split('MAIL FROM:<"john doe@example.com> SIZE=1'), { path: '<"john doe@example.com> SIZE=1', args: false });
});

test('the path is left exactly as sent, source routes, null path and junk included', () => {
  assert.equal(split('RCPT TO:<@relay.example:u@example.com>', 'RCPT TO')?.path, '<@relay.example:u@example.com>');
  assert.equal(split('MAIL FROM:<>')?.path, '<>');
  assert.equal(split('MAIL FROM:broken')?.path, 'broken');
  assert.equal(split('MAIL FROM:<<>>')?.path, '<<>>');
  assert.equal(split('MAIL FROM:<a@b>x SIZE=1')?.path, '<a@b>x');
  assert.equal(split('MAIL FROM:')?.path, '');
});

test('parameters: keywords upper-cased, no value is true, xtext decoded', () => {
  assert.deepEqual(split('MAIL FROM:<a@b.example> smtputf8 envid=a+2Bb size=')?.args, { SMTPUTF8: true, ENVID: 'a+b', SIZE: true });
  assert.deepEqual(split('MAIL FROM:<a@b.example> X=1=2')?.args, { X: '1=2' });
});

test('a repeated keyword is reported as a duplicate', () => {
  assert.equal(split('MAIL FROM:<a@b.example> SIZE=1 size=2')?.duplicate, 'SIZE');
  assert.equal(split('MAIL FROM:<a@b.example> SIZE=1')?.duplicate, undefined);
});

test('a CR or LF smuggled through xtext drops the parameter and says why', () => {
  const r = split('MAIL FROM:<a@b.example> ENVID=a+0D+0Ab SIZE=5');
  assert.deepEqual(r?.args, { SIZE: '5' });
  assert.match(r?.paramError ?? '', /control character in the ENVID parameter/);
});

const ALL = { auth: false, size: true, eightBitMime: true, smtputf8: true, dsn: true };

test('with the supported set, another keyword or a second path is named in "unsupported" and left out of args', () => {
  const mail = supportedParameters('mail from', ALL);
  const rcpt = supportedParameters('rcpt to', ALL);
  assert.deepEqual(splitAddressCommand('MAIL FROM', 'MAIL FROM:<a@b.example> SIZE=10 FOO=BAR BAZ', mail), { path: '<a@b.example>', args: { SIZE: '10' }, unsupported: 'FOO=BAR' });
  assert.deepEqual(splitAddressCommand('RCPT TO', 'RCPT TO:<x@ours.example> NOTIFY=NEVER <victim@evil.example>', rcpt), {
    path: '<x@ours.example>',
    args: { NOTIFY: 'NEVER' },
    unsupported: '<victim@evil.example>',
  });
  assert.equal(splitAddressCommand('MAIL FROM', 'MAIL FROM:<a@b.example> REQUIRETLS', mail)?.unsupported, 'REQUIRETLS');
  assert.equal(splitAddressCommand('MAIL FROM', 'MAIL FROM:<a@b.example> =x', mail)?.unsupported, '=x');
  assert.equal(splitAddressCommand('RCPT TO', 'RCPT TO:<a@b.example> SIZE=1', rcpt)?.unsupported, 'SIZE=1');
  assert.equal(splitAddressCommand('MAIL FROM', 'MAIL FROM:<a@b.example> size=1 body=8bitmime smtputf8 ret=full envid=x', mail)?.unsupported, undefined);
  assert.equal(splitAddressCommand('RCPT TO', 'RCPT TO:<a@b.example> notify=delay orcpt=rfc822;a@b.example', rcpt)?.unsupported, undefined);
});

test('AUTH= is a MAIL parameter only where AUTH is offered', () => {
  const line = 'MAIL FROM:<a@b.example> AUTH=<>';
  assert.equal(splitAddressCommand('MAIL FROM', line, supportedParameters('mail from', ALL))?.unsupported, 'AUTH=<>');
  assert.deepEqual(splitAddressCommand('MAIL FROM', line, supportedParameters('mail from', { ...ALL, auth: true }))?.args, { AUTH: '<>' });
  assert.equal(supportedParameters('rcpt to', { ...ALL, auth: true }).has('AUTH'), false);
});

test('an unsupported parameter is echoed as printable ASCII, and cut', () => {
  const mail = supportedParameters('mail from', ALL);
  assert.equal(splitAddressCommand('MAIL FROM', 'MAIL FROM:<a@b.example> X\x00\x1b=\u00e9', mail)?.unsupported, 'X??=?');
  assert.equal(splitAddressCommand('MAIL FROM', `MAIL FROM:<a@b.example> ${'Y'.repeat(200)}`, mail)?.unsupported, `${'Y'.repeat(64)}...`);
});

test('an extension that is not announced brings no parameters', () => {
  const none = { auth: false, size: false, eightBitMime: false, smtputf8: false, dsn: false };
  assert.deepEqual([...supportedParameters('mail from', none)], []);
  assert.deepEqual([...supportedParameters('rcpt to', none)], []);
  assert.deepEqual([...supportedParameters('mail from', { ...none, dsn: true })].sort(), ['ENVID', 'RET']);
  assert.deepEqual([...supportedParameters('rcpt to', { ...none, dsn: true })].sort(), ['NOTIFY', 'ORCPT']);
  assert.deepEqual([...supportedParameters('mail from', { ...none, size: true, eightBitMime: true, smtputf8: true })].sort(), ['BODY', 'SIZE', 'SMTPUTF8']);
});
