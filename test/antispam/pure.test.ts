// The pure parts of the origin checks (src/antispam): reading the sending
// address from the Received formats of Postfix, Exim, Sendmail, Exchange and
// our own (IPv4 and IPv6 literals); the walk past upstream hosts and where
// it stops; blocklist query names (IPv6 nibbles) and which answers count;
// HELO checks; exceptions; the greylisting decision table.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findOrigin, readReceivedFrom, receivedFromAddress } from '../../src/antispam/received-walk.ts';
import { answerCounts, checkDnsbl, dnsblQueryName, parseAnswerRange } from '../../src/antispam/dnsbl.ts';
import { checkHelo } from '../../src/antispam/helo-check.ts';
import { dependsOnSender, skippedChecks } from '../../src/antispam/exceptions.ts';
import { decideGreylist, originNetwork, tripletKey } from '../../src/antispam/greylist.ts';
import { parseIp } from '../../src/objects/ip.ts';
import { NetworkIndex } from '../../src/objects/networks.ts';
import { Findings } from '../../src/config/issues.ts';
import { HeaderCollector } from '../../src/antispam/header-collector.ts';

const ip = (s: string): bigint => {
  const p = parseIp(s);
  if (!p.ok) throw new Error(s);
  return p.value;
};

const FORMATS: [string, string, string | null][] = [
  ['Postfix', 'from mail.example.com (mail.example.com [192.0.2.1])\r\n\tby mx.example.net (Postfix) with ESMTPS id 4Xyz; Mon, 30 Nov 2026 10:00:00 +0000', '192.0.2.1'],
  ['Postfix, unknown rDNS', 'from helo.example (unknown [198.51.100.20]) by mx.example.net (Postfix) with ESMTP id A1', '198.51.100.20'],
  ['Postfix, IPv6', 'from mail.example.com (mail.example.com [IPv6:2001:db8::25])\r\n\tby mx.example.net (Postfix) with ESMTPS id 4Xyz', '2001:db8::25'],
  ['Sendmail', 'from host.example.org (host.example.org [203.0.113.9] (may be forged))\r\n\tby relay.example.net (8.15.2/8.15.2) with ESMTP id 0AB1; Mon, 30 Nov 2026', '203.0.113.9'],
  ['Exim', 'from [192.0.2.44] (helo=client.example)\r\n\tby mx.example.net with esmtp (Exim 4.96)\r\n\t(envelope-from <a@example.com>)\r\n\tid 1kA2b3-000123-AB', '192.0.2.44'],
  ['Exim, with name', 'from host.example ([192.0.2.45] helo=host.example) by mx.example.net with esmtps (TLS1.3) (Exim 4.96) id 1k', '192.0.2.45'],
  ['Exim, IPv6', 'from [2001:db8:1::7] (helo=v6.example) by mx.example.net with esmtp (Exim 4.96) id 1k', '2001:db8:1::7'],
  ['Exchange', 'from EXCH01.corp.example (10.0.0.5) by EXCH02.corp.example (10.0.0.6) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.1.2507.6; Mon, 30 Nov 2026 10:00:00 +0000', '10.0.0.5'],
  ['Exchange, IPv6', 'from EXCH01.corp.example (2001:db8::5) by EXCH02.corp.example (2001:db8::6) with Microsoft SMTP Server id 15.1.2507.6', '2001:db8::5'],
  ['ours', 'from client.test.example ([127.0.0.2])\r\n\tby mx.test.example (mailwarden, listener mx) with ESMTP id 1m8pmsqbt8cwdhkg\r\n\tfor <user@example.com>;\r\n\tMon, 30 Nov 2026 16:32:21 +0000', '127.0.0.2'],
  ['local submission (no from clause)', 'by mail.example.com (Postfix, from userid 1000) id 7C2; Mon, 30 Nov 2026', null],
  ['from without an address', 'from localhost by mail.example.com with LMTP id x', null],
  ['the by part names an address, not the from part', 'from somewhere by mx.example.net ([192.0.2.99]) with ESMTP', null],
];

test('the sending address of each common Received format', () => {
  for (const [label, value, want] of FORMATS) assert.equal(receivedFromAddress(value), want, label);
});

test('the walk goes past upstream hosts, stops at the first outside address, and falls back with a reason', () => {
  const up = new Set(['127.0.0.10', '10.0.0.5']);
  const isUp = (a: string) => up.has(a);
  const chain = [
    'from EXCH01.corp.example (10.0.0.5) by isp.example (127.0.0.10) with Microsoft SMTP Server id 15',
    'from spammer.example (spammer.example [198.51.100.7]) by EXCH01.corp.example (Postfix) with ESMTP id 1',
    'from forged.example ([192.0.2.1]) by spammer.example with ESMTP id 2',
  ];
  assert.deepEqual(findOrigin('127.0.0.10', chain, isUp), { origin: '198.51.100.7', via: ['127.0.0.10', '10.0.0.5'], fallback: null, headerIndex: 1 });
  // A direct client is its own origin: no header is read.
  assert.deepEqual(findOrigin('192.0.2.50', chain, isUp), { origin: '192.0.2.50', via: [], fallback: null });
  // IPv6 origin.
  assert.deepEqual(findOrigin('127.0.0.10', ['from v6.example (v6.example [IPv6:2001:db8::77]) by isp.example (Postfix) with ESMTP id 3'], isUp).origin, '2001:db8::77');
  // Unreadable header below an upstream host: the last address known, and why.
  const bad = findOrigin('127.0.0.10', ['by isp.example (Postfix, from userid 0) id 4'], isUp);
  assert.equal(bad.origin, '127.0.0.10');
  assert.match(bad.fallback ?? '', /cannot read the sending address in Received header 1/);
  const none = findOrigin('127.0.0.10', [], isUp);
  assert.equal(none.origin, '127.0.0.10');
  assert.match(none.fallback ?? '', /no Received header/);
});

test('blocklist query names: reversed octets, reversed IPv6 nibbles', () => {
  assert.equal(dnsblQueryName(ip('127.0.0.2'), 'zen.example'), '2.0.0.127.zen.example');
  assert.equal(dnsblQueryName(ip('192.0.2.99'), 'bl.example.'), '99.2.0.192.bl.example');
  assert.equal(dnsblQueryName(ip('2001:db8::1'), 'bl.example'), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example');
  // An IPv4-mapped client is an IPv4 client.
  assert.equal(dnsblQueryName(ip('::ffff:10.1.2.3'), 'bl.example'), '3.2.1.10.bl.example');
});

test('which answers count: default 127.0.0.0/8 but the 127.255.255.0/24 error codes; listed addresses and ranges otherwise', () => {
  const def = { zone: 'z', answers: [] as string[], action: 'reject' as const, score: 5 };
  assert.equal(answerCounts(def, '127.0.0.2'), true);
  assert.equal(answerCounts(def, '127.255.254.9'), true);
  assert.equal(answerCounts(def, '127.255.255.254'), false, 'Spamhaus: query through a public resolver, not a listing');
  assert.equal(answerCounts(def, '127.255.255.252'), false);
  assert.equal(answerCounts(def, '192.0.2.1'), false, 'a wildcard answer outside 127/8 (some ISPs) is not a listing');
  const ranged = { ...def, answers: ['127.0.0.2-127.0.0.11', '127.0.1.2'] };
  for (const [a, want] of [['127.0.0.2', true], ['127.0.0.11', true], ['127.0.0.12', false], ['127.0.1.2', true], ['127.0.0.1', false]] as const) assert.equal(answerCounts(ranged, a), want, a);
  assert.equal(parseAnswerRange('127.0.0.9-127.0.0.2').ok, false);
  assert.equal(parseAnswerRange('127.0.0.1-127.0.0.2-127.0.0.3').ok, false);
  assert.equal(parseAnswerRange('nonsense').ok, false);
});

test('checkDnsbl: listed, clean (NXDOMAIN) and skipped (DNS failure) zones, in the order of the settings', async () => {
  const zones = [
    { zone: 'a.example', answers: [], action: 'score' as const, score: 2 },
    { zone: 'b.example', answers: [], action: 'reject' as const, score: 5 },
    { zone: 'c.example', answers: [], action: 'reject' as const, score: 5 },
    { zone: 'd.example', answers: [], action: 'reject' as const, score: 5 },
  ];
  const asked: string[] = [];
  const o = await checkDnsbl(ip('192.0.2.1'), zones, async (name) => {
    asked.push(name);
    if (name.endsWith('c.example')) throw Object.assign(new Error('timeout'), { code: 'ETIMEOUT' });
    if (name.endsWith('d.example')) throw Object.assign(new Error('no'), { code: 'ENOTFOUND' });
    // b answers first, a later: the order of the settings is kept.
    await new Promise((r) => setImmediate(r));
    if (name.endsWith('a.example')) await new Promise((r) => setImmediate(r));
    return ['127.0.0.2'];
  });
  assert.deepEqual(asked.sort(), ['1.2.0.192.a.example', '1.2.0.192.b.example', '1.2.0.192.c.example', '1.2.0.192.d.example']);
  assert.deepEqual(o.listed.map((h) => h.zone), ['a.example', 'b.example']);
  assert.deepEqual(o.clean, ['d.example']);
  assert.deepEqual(o.skipped.map((s) => s.zone), ['c.example']);
});

test('HELO checks: our name and addresses, bad syntax; ordinary names and literals pass', () => {
  const ours = { hostname: 'mx.example.com', addresses: [ip('192.0.2.25')] };
  for (const [helo, ok] of [
    ['mx.example.com', false],
    ['MX.Example.COM.', false],
    ['[192.0.2.25]', false],
    ['192.0.2.25', false],
    ['192.0.2.26', false],
    ['[192.0.2.26]', true],
    ['[IPv6:2001:db8::1]', true],
    ['[999.1.1.1]', false],
    ['mail.sender.example', true],
    ['localhost', true],
    ['bad_name!', false],
    ['', false],
    ['-dash.example', false],
  ] as const) {
    assert.equal(checkHelo(helo, ours).ok, ok, helo);
  }
});

test('exceptions: by network (client or origin) and by sender (address, domain, *@domain); skip lists', () => {
  const f = new Findings();
  const networks = NetworkIndex.build([{ name: 'partner', type: 'network', address: '192.0.2.0/24' }], f);
  const exceptions = [
    { networks: ['partner'], senders: [], skip: ['dnsbl' as const] },
    { networks: [], senders: ['boss@example.com', 'newsletter.example', '*@Vendor.example'], skip: [] },
  ];
  assert.deepEqual([...skippedChecks(exceptions, networks, { addresses: [ip('192.0.2.9')], sender: null })], [['dnsbl', 0]]);
  assert.deepEqual([...skippedChecks(exceptions, networks, { addresses: [ip('10.0.0.1'), ip('192.0.2.9')], sender: null })], [['dnsbl', 0]], 'the origin counts too');
  assert.deepEqual([...skippedChecks(exceptions, networks, { addresses: [ip('10.0.0.1')], sender: 'Boss@Example.com' }).keys()], ['dnsbl', 'spf', 'helo', 'greylisting', 'dmarc']);
  assert.equal(skippedChecks(exceptions, networks, { addresses: [ip('10.0.0.1')], sender: 'x@newsletter.example' }).size, 5);
  assert.equal(skippedChecks(exceptions, networks, { addresses: [ip('10.0.0.1')], sender: 'x@vendor.example' }).size, 5);
  assert.equal(skippedChecks(exceptions, networks, { addresses: [ip('10.0.0.1')], sender: 'x@sub.vendor.example' }).size, 0);
  assert.equal(skippedChecks(exceptions, networks, { addresses: [ip('10.0.0.1')], sender: '' }).size, 0, 'the null sender matches no sender exception');
  assert.equal(dependsOnSender(exceptions, 'dnsbl'), true);
  assert.equal(dependsOnSender([exceptions[0]!], 'dnsbl'), false);
});

test('greylisting decisions: first attempt, early retry, retry in the window, expiry, remembered, forgotten', () => {
  const t = { delayMs: 60_000, expiryMs: 3_600_000, lifetimeMs: 86_400_000 };
  const first = decideGreylist(null, 1000, t);
  assert.deepEqual(first.verdict, { pass: false, retryInMs: 60_000 });
  const early = decideGreylist(first.store, 31_000, t);
  assert.deepEqual(early.verdict, { pass: false, retryInMs: 30_000 });
  assert.deepEqual(early.store, first.store, 'an early retry does not restart the clock');
  const ok = decideGreylist(first.store, 61_000, t);
  assert.deepEqual(ok.verdict, { pass: true, known: false });
  assert.equal(ok.store.passed, true);
  const later = decideGreylist(ok.store, 61_000 + 86_000_000, t);
  assert.deepEqual(later.verdict, { pass: true, known: true });
  const forgotten = decideGreylist(ok.store, 61_000 + 86_400_001, t);
  assert.equal(forgotten.verdict.pass, false);
  const expired = decideGreylist(first.store, 1000 + 3_600_001, t);
  assert.deepEqual(expired.verdict, { pass: false, retryInMs: 60_000 });
  assert.equal(expired.store.first, 1000 + 3_600_001, 'an expired first attempt starts again');
});

test('greylisting triplets: one per /24 or /64, case-insensitive addresses', () => {
  assert.equal(originNetwork(ip('192.0.2.1')), originNetwork(ip('192.0.2.254')));
  assert.notEqual(originNetwork(ip('192.0.2.1')), originNetwork(ip('192.0.3.1')));
  assert.equal(originNetwork(ip('2001:db8:0:1::1')), originNetwork(ip('2001:db8:0:1:ffff::9')));
  assert.notEqual(originNetwork(ip('2001:db8:0:1::1')), originNetwork(ip('2001:db8:0:2::1')));
  assert.equal(tripletKey(ip('192.0.2.1'), 'A@Example.com', 'U@example.org'), tripletKey(ip('192.0.2.9'), 'a@example.com', 'u@EXAMPLE.org'));
});

test('the header collector finds fields even when the empty line is split across chunks', () => {
  const h = new HeaderCollector();
  const text = 'Received: from a ([192.0.2.1])\r\n\tby b\r\nSubject: x\r\nReceived: from c ([192.0.2.2]) by d\r\n\r\nReceived: in the body\r\n';
  for (const ch of text) h.feed(Buffer.from(ch, 'latin1'));
  assert.deepEqual(h.values('received'), ['from a ([192.0.2.1]) by b', 'from c ([192.0.2.2]) by d']);
});

test('the client\'s HELO is never taken for its address, whatever it says', () => {
  // Postfix with an unknown client that greets with someone else's address.
  assert.equal(receivedFromAddress('from [8.8.8.8] (unknown [198.51.100.7]) by relay.isp.example (Postfix) with ESMTP id 1'), '198.51.100.7');
  // Exim with no name for the address: the address first, the HELO after helo=.
  assert.equal(receivedFromAddress('from [198.51.100.7] (helo=[8.8.8.8]) by mx.isp.example with esmtp (Exim 4.96) id 1'), '198.51.100.7');
  assert.equal(receivedFromAddress('from rdns.example ([198.51.100.8] helo=[203.0.113.10]) by mx.isp.example with esmtp id 1'), '198.51.100.8');
  // Our own format with a literal HELO.
  assert.equal(receivedFromAddress('from [203.0.113.10] ([198.51.100.9])\r\n\tby mx.test.example (mailwarden, listener mx) with ESMTP id x'), '198.51.100.9');
  // A HELO literal and no comment with an address: not readable, rather than believed.
  assert.equal(receivedFromAddress('from [203.0.113.10] (comment) by x with ESMTP'), null);
  // Walking on through an upstream host's address given as HELO does not happen.
  const up = (a: string) => a === '203.0.113.10';
  const r = findOrigin('203.0.113.10', ['from [203.0.113.10] (unknown [198.51.100.7]) by relay.isp.example (Postfix) id 1', 'from forged ([192.0.2.99]) by x'], up);
  assert.deepEqual(r, { origin: '198.51.100.7', via: ['203.0.113.10'], fallback: null, headerIndex: 0 });
});

test('an upstream host\'s own loopback hop (content filter) is walked past; an internal address it names is a fallback', () => {
  const up = (a: string) => a === '203.0.113.10';
  const chain = [
    'from localhost (localhost [127.0.0.1]) by mx.isp.example (Postfix) with ESMTP id 2',
    'from sender.example (sender.example [198.51.100.7]) by mx.isp.example (Postfix) with ESMTP id 1',
  ];
  assert.deepEqual(findOrigin('203.0.113.10', chain, up), { origin: '198.51.100.7', via: ['203.0.113.10'], fallback: null, headerIndex: 1 });
  const internal = findOrigin('203.0.113.10', ['from EXCH01 (10.0.0.5) by gw.isp.example (203.0.113.10) with Microsoft SMTP Server id 15'], up);
  assert.equal(internal.origin, '203.0.113.10');
  assert.match(internal.fallback ?? '', /internal address \(10\.0\.0\.5\)/);
  // The HELO of each format, for SPF of the null sender.
  assert.equal(readReceivedFrom('from rdns.example ([198.51.100.8] helo=mail.sender.example) by x')?.helo, 'mail.sender.example');
  assert.equal(readReceivedFrom('from mail.sender.example (rdns [198.51.100.8]) by x')?.helo, 'mail.sender.example');
  assert.equal(readReceivedFrom('from [198.51.100.7] (helo=mail.sender.example) by x')?.helo, 'mail.sender.example');
});
