// The sender binding's decision (src/policy/sender-login.ts), exhaustively:
// each mode against the user's own address, another, <>, case, quoting,
// `+` sub-addressing, whole domains, IDN spellings and a user with no
// addresses; and the header From: reading (several mailboxes, groups,
// display names, unreadable values).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePath } from '../../src/address/path.ts';
import type { SenderLoginMode } from '../../src/config/document.ts';
import { judgeHeaderFrom, judgeSender, ownedBy } from '../../src/policy/sender-login.ts';
import { fromAddresses } from '../../src/checks/header-from.ts';

const KAI = ownedBy(['Kai.Berg@Example.COM', 'postmaster@bücher.example', ' ops@lab.example. ']);
const NOBODY = ownedBy([]);
const WHOLE = ownedBy(['@Service.example']);

const sender = (s: string) => parsePath(s, { allowNull: true, requireBrackets: false });
const ok = (mode: SenderLoginMode, owned: ReturnType<typeof ownedBy>, s: string) => judgeSender(mode, owned, sender(s)).ok;

test('address mode: only the user\'s own mailboxes', () => {
  const table: [string, boolean][] = [
    ['kai.berg@example.com', true],
    ['<Kai.Berg@example.com>', true],
    ['KAI.BERG@EXAMPLE.COM', true], // local part compared case-insensitively
    ['"kai.berg"@example.com', true], // quoting removed
    ['kai.berg@example.com.', true], // trailing dot
    ['kai.berg+lists@example.com', true], // sub-address of an owned mailbox
    ['kai.berg+@example.com', true],
    ['kai.bergx@example.com', false],
    ['kai@example.com', false],
    ['anna@example.com', false], // same domain, another mailbox
    ['kai.berg@example.org', false], // same local part, another domain
    ['kai.berg@sub.example.com', false], // subdomains are other domains
    ['postmaster@xn--bcher-kva.example', true], // the A-label spelling of an owned IDN domain
    ['postmaster@BÜCHER.example', true],
    ['ops@lab.example', true], // an owned address given with a trailing dot and spaces
    ['+kai.berg@example.com', false], // "+" first: no base
    ['<>', true],
  ];
  for (const [s, want] of table) assert.equal(ok('address', KAI, s), want, s);
});

test('a sub-address owns only itself, not its base', () => {
  const sub = ownedBy(['kai+news@example.com']);
  assert.equal(ok('address', sub, 'kai+news@example.com'), true);
  assert.equal(ok('address', sub, 'KAI+NEWS@example.com'), true);
  assert.equal(ok('address', sub, 'kai@example.com'), false);
  assert.equal(ok('address', sub, 'kai+other@example.com'), false);
});

test('domain mode: any mailbox in the domains of the user\'s addresses', () => {
  const table: [string, boolean][] = [
    ['kai.berg@example.com', true],
    ['anna@EXAMPLE.com', true],
    ['anything+x@example.com', true],
    ['root@bücher.example', true],
    ['root@xn--bcher-kva.example', true],
    ['x@lab.example', true],
    ['kai.berg@example.org', false],
    ['kai.berg@sub.example.com', false],
    ['<>', true],
  ];
  for (const [s, want] of table) assert.equal(ok('domain', KAI, s), want, s);
});

test('off: every sender passes, addresses or not', () => {
  for (const s of ['kai.berg@example.com', 'ceo@bank.example', '<>']) {
    assert.equal(ok('off', KAI, s), true, s);
    assert.equal(ok('off', NOBODY, s), true, s);
  }
});

test('a user with no addresses may send only <> when the binding is on', () => {
  for (const mode of ['address', 'domain'] as const) {
    assert.equal(ok(mode, NOBODY, '<>'), true);
    const v = judgeSender(mode, NOBODY, sender('kai@example.com'));
    assert.equal(v.ok, false);
    assert.match(v.why, /has no addresses/);
  }
});

test('"@domain" owns every mailbox of that domain in both modes', () => {
  for (const mode of ['address', 'domain'] as const) {
    assert.equal(ok(mode, WHOLE, 'alerts@service.example'), true, mode);
    assert.equal(ok(mode, WHOLE, 'Anyone+x@SERVICE.example'), true, mode);
    assert.equal(ok(mode, WHOLE, 'alerts@other.example'), false, mode);
    assert.equal(ok(mode, WHOLE, 'alerts@sub.service.example'), false, mode);
  }
});

test('entries that are not mailboxes own nothing and are reported', () => {
  const odd = ownedBy(['not an address', 'kai@[192.0.2.1]', 'a%b@example.com', '@', '@bad..example', 'good@example.net']);
  assert.deepEqual(odd.ignored, ['not an address', 'kai@[192.0.2.1]', 'a%b@example.com', '@', '@bad..example']);
  assert.deepEqual([...odd.mailboxes], ['good@example.net']);
  assert.equal(ok('address', odd, 'kai@[192.0.2.1]'), false);
  assert.equal(ok('domain', odd, 'x@example.com'), false);
});

test('a sender that is not a mailbox is not owned', () => {
  assert.equal(judgeSender('address', KAI, sender('not-an-address')).ok, false);
  assert.equal(judgeSender('address', KAI, parsePath('<postmaster>', { allowNull: true, requireBrackets: true })).ok, false);
});

test('header From: every mailbox must be owned', () => {
  assert.deepEqual(judgeHeaderFrom('address', KAI, ['kai.berg@example.com']).ok, true);
  assert.deepEqual(judgeHeaderFrom('address', KAI, ['kai.berg@example.com', 'ops@lab.example']).ok, true);
  const v = judgeHeaderFrom('address', KAI, ['kai.berg@example.com', 'ceo@bank.example']);
  assert.equal(v.ok, false);
  assert.match(v.why, /ceo@bank\.example is not one of the user's addresses/);
  assert.equal(judgeHeaderFrom('domain', KAI, ['anna@example.com']).ok, true);
  assert.equal(judgeHeaderFrom('address', KAI, ['']).ok, false, 'an unreadable mailbox is refused');
  assert.equal(judgeHeaderFrom('address', KAI, []).ok, true, 'no From: claims nobody');
  assert.equal(judgeHeaderFrom('off', NOBODY, ['ceo@bank.example']).ok, true);
});

test('header From: values as mail programs write them', () => {
  const section = [
    'Received: from x by y; Fri, 4 Dec 2026 10:00:00 +0000',
    'From: "Berg, Kai" <kai.berg@example.com>, ops@lab.example (Ops),',
    '\tteam: a@example.com, b@example.com;',
    'To: other@example.org',
    'from: =?utf-8?q?K=C3=A4i?= <KAI.BERG@EXAMPLE.COM>',
    'Subject: From: ceo@bank.example',
    'X-From: ceo@bank.example',
    '',
  ].join('\r\n');
  assert.deepEqual(fromAddresses(section), ['kai.berg@example.com', 'ops@lab.example', 'a@example.com', 'b@example.com', 'KAI.BERG@EXAMPLE.COM']);
  assert.deepEqual(fromAddresses('From: garbage\r\n'), ['']);
  assert.deepEqual(fromAddresses('From: \r\n'), []);
  assert.deepEqual(fromAddresses('Subject: none\r\n'), []);
  // A display name or comment that is another address is how a From: is spoofed where only the name is shown: unreadable ('').
  assert.deepEqual(fromAddresses('From: "ceo@bank.example" <kai.berg@example.com>\r\n'), ['', 'kai.berg@example.com']);
  assert.deepEqual(fromAddresses('From: kai.berg@example.com (ceo@bank.example)\r\n'), ['', 'kai.berg@example.com']);
  // A display name that is the address itself, as many mail programs write it, is fine.
  assert.deepEqual(fromAddresses('From: "Kai.Berg@example.com" <kai.berg@example.com>\r\n'), ['kai.berg@example.com']);
});

test('header From: a broken field that other mail programs read as another mailbox is unreadable, never the one the parser kept', () => {
  // Found by probing as an attacker: the parser kept kai and dropped boss, while Python's email package reads boss (or both).
  for (const value of ['<boss@bank.example<kai@example.com>>', '<kai@example.com> <boss@bank.example>', 'kai@example.com\r\n\tboss@bank.example', '<kai@example.com> boss@bank.example', 'kai@example.com boss@bank.example', '(a (b) <boss@bank.example>) kai@example.com']) {
    const got = fromAddresses(`From: ${value}\r\n`);
    assert.ok(got.includes(''), `${JSON.stringify(value)}: ${JSON.stringify(got)}`);
    const owned = ownedBy(['kai@example.com']);
    assert.equal(judgeHeaderFrom('address', owned, got).ok, false, value);
  }
});

test('a look-alike local part is another mailbox: the Kelvin sign is not "k"', () => {
  const owned = ownedBy(['kai@example.com']);
  assert.equal(judgeHeaderFrom('address', owned, ['\u212Aai@example.com']).ok, false);
  assert.equal(judgeHeaderFrom('address', owned, ['KAI@example.com']).ok, true);
});
