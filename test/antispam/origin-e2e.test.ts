// The origin checks end to end (issue #7): a real DNS server on loopback
// (dnsmasq, test/delivery/dns-server.ts) serving a blocklist zone and SPF
// records; loopback addresses play the ISP's relay (an upstream host), a
// clean origin and a listed origin. Shows why the Upstream Host List
// matters: with the ISP listed as an upstream host, the checks look at the
// origin in the Received headers; without it, they look at the ISP.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { relayDoc, runCli, startRelay, type Relay } from '../smtp/harness.ts';
import { dnsmasqMissing, startDns, type DnsServer } from '../delivery/dns-server.ts';
import { headerOf, message, queued, sendMessage, stored } from '../scan/scan-helpers.ts';
import { RawClient } from '../smtp/harness.ts';

const skip = dnsmasqMissing();
const ISP = '127.0.0.10';
const LISTED = '127.0.0.7';
const CLEAN = '127.0.0.5';
const ZONE = 'bl.test.example';
let dns: DnsServer;

before(async () => {
  if (skip) return;
  dns = await startDns(null, {
    a: [
      // The ISP's relay is itself listed (as dial-up pools and big ISPs often are).
      { name: `10.0.0.127.${ZONE}`, address: '127.0.0.2' },
      { name: `7.0.0.127.${ZONE}`, address: '127.0.0.4' },
      // An IPv6 origin, nibble format.
      { name: `7.7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.${ZONE}`, address: '127.0.0.2' },
    ],
    txt: [
      { name: 'pass.test.example', text: `v=spf1 ip4:${CLEAN} ip4:127.0.0.3 -all` },
      { name: 'fail.test.example', text: 'v=spf1 ip4:192.0.2.1 -all' },
      { name: 'soft.test.example', text: 'v=spf1 ~all' },
      // The HELO name of every test client: checked for the null sender.
      { name: 'client.test.example', text: 'v=spf1 ip4:127.0.0.3 -all' },
    ],
  });
});
after(async () => {
  await dns?.stop();
});

const DOMAIN = { domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }] };
const NETS = [
  { name: 'localhost', type: 'host', address: '127.0.0.1' },
  { name: 'isp', type: 'host', address: ISP },
];

async function relayWith(t: Parameters<typeof startRelay>[0], extra: Record<string, unknown>, antispam: Record<string, unknown>): Promise<Relay> {
  const { doc, ports } = await relayDoc({ ...DOMAIN, networks: NETS, dns: { servers: [dns.server] }, antispam: { dns_timeout: '2s', ...antispam }, ...extra });
  return startRelay(t, doc, ports);
}

/** A message as the ISP forwards it: its own Received header on top, naming the origin. */
function forwarded(origin: string, extra: string[] = []): string {
  const lit = origin.includes(':') ? `IPv6:${origin}` : origin;
  const ours = `Received: from sender.example (sender.example [${lit}])\r\n\tby relay.isp.example (Postfix) with ESMTP id 4AbC; Mon, 30 Nov 2026 10:00:00 +0000\r\n`;
  return extra.join('') + ours + message('Hello from the outside.');
}

const dnsbl = [{ zone: ZONE, action: 'reject' }];

test('with the ISP in the Upstream Host List: forwarded mail from a clean origin passes, from a listed origin is refused; the listed origin is refused at connect', { skip }, async (t) => {
  const relay = await relayWith(t, { relaying: { allowed_hosts: ['localhost'], upstream_hosts: ['isp'] } }, { dnsbl });
  const ok = await sendMessage(relay.ports.mx, { client: ISP, from: 'clean@sender.example', message: forwarded(CLEAN) });
  assert.match(ok.reply, /^250 /, 'the ISP is listed, but it is an upstream host: its own listing does not count');
  const bad = await sendMessage(relay.ports.mx, { client: ISP, from: 'spam@sender.example', message: forwarded(LISTED) });
  assert.match(bad.reply, new RegExp(`^554 5\\.7\\.1 Service unavailable; origin \\[${LISTED.replace(/\./g, '\\.')}\\] listed at ${ZONE.replace(/\./g, '\\.')}`));
  const log = await relay.waitLog((l) => l.event === 'antispam.refused' && l.sender === 'spam@sender.example');
  assert.equal(log.rule, 'antispam.dnsbl[0]');
  assert.equal((log.checks as { origin: string }).origin, LISTED);
  assert.deepEqual((log.checks as { via: string[] }).via, [ISP]);
  // The same listed origin connecting directly: refused at connect, with the zone's name.
  const c = await RawClient.connect(relay.ports.mx, LISTED);
  t.after(() => c.end());
  assert.match((await c.reply()) ?? '', new RegExp(`^554 5\\.7\\.1 Service unavailable; client \\[${LISTED.replace(/\./g, '\\.')}\\] listed at ${ZONE.replace(/\./g, '\\.')}`));
  const q = dns.queries().map((x) => x.name);
  assert.ok(q.includes(`5.0.0.127.${ZONE}`) && q.includes(`7.0.0.127.${ZONE}`), 'the origins were looked up');
  assert.ok(!q.includes(`10.0.0.127.${ZONE}`), 'the upstream host itself was not');
  assert.deepEqual(queued(relay), [ok.id]);
});

test('without the ISP in the Upstream Host List the checks look at the wrong address, as the product warns', { skip }, async (t) => {
  const relay = await relayWith(t, { relaying: { allowed_hosts: ['localhost'] } }, { dnsbl });
  // The listed ISP's connection is refused: clean mail from outside is lost at the door.
  const c = await RawClient.connect(relay.ports.mx, ISP);
  t.after(() => c.end());
  assert.match((await c.reply()) ?? '', /^554 5\.7\.1 Service unavailable; client \[127\.0\.0\.10\] listed at /);
  // And an ISP that is not listed passes spam from a listed origin: the origin is never looked at.
  const unlistedIsp = '127.0.0.11';
  const spam = await sendMessage(relay.ports.mx, { client: unlistedIsp, from: 'spam@sender.example', message: forwarded(LISTED) });
  assert.match(spam.reply, /^250 /);
  const { doc, ports } = await relayDoc({ ...DOMAIN, networks: [...NETS, { name: 'isp2', type: 'host', address: unlistedIsp }], dns: { servers: [dns.server] }, relaying: { allowed_hosts: ['localhost'], upstream_hosts: ['isp2'] }, antispam: { dnsbl } });
  const fixed = await startRelay(t, doc, ports);
  const refused = await sendMessage(fixed.ports.mx, { client: unlistedIsp, message: forwarded(LISTED) });
  assert.match(refused.reply, /^554 5\.7\.1 /, 'with the upstream host entered, the same message is refused');
});

test('a Received chain with an IPv6 origin; an unreadable header falls back to the last address known, with a log line', { skip }, async (t) => {
  const relay = await relayWith(t, { relaying: { allowed_hosts: ['localhost'], upstream_hosts: ['isp'] } }, { dnsbl: [{ zone: ZONE, action: 'reject', answers: ['127.0.0.2'] }] });
  const v6 = await sendMessage(relay.ports.mx, { client: ISP, from: 'v6@sender.example', message: forwarded('2001:db8::77') });
  assert.match(v6.reply, /^554 5\.7\.1 Service unavailable; origin \[2001:db8::77\] listed at /);
  // The ISP's own header cannot be read (no from clause): the walk stops at the ISP, which is listed.
  const broken = `Received: by relay.isp.example (Postfix, from userid 0) id 7; Mon, 30 Nov 2026\r\n${message('x')}`;
  const r = await sendMessage(relay.ports.mx, { client: ISP, from: 'broken@sender.example', message: broken });
  assert.match(r.reply, /^554 5\.7\.1 Service unavailable; origin \[127\.0\.0\.10\] listed at /);
  const fb = await relay.waitLog((l) => l.event === 'antispam.origin_fallback');
  assert.equal(fb.origin, ISP);
  assert.match(String(fb.reason), /cannot read the sending address in Received header 1/);
  // Answers not in the zone's list do not count: 7.0.0.127 answers 127.0.0.4 here.
  const notCounted = await sendMessage(relay.ports.mx, { client: ISP, message: forwarded(LISTED) });
  assert.match(notCounted.reply, /^250 /);
});

test('a blocklist entry with action score adds to the spam score and tags', { skip }, async (t) => {
  const relay = await relayWith(t, { relaying: { allowed_hosts: ['localhost'], upstream_hosts: ['isp'] } }, { dnsbl: [{ zone: ZONE, action: 'score', score: 6 }], subject_tag: '[SPAM]' });
  const r = await sendMessage(relay.ports.mx, { client: ISP, message: forwarded(LISTED) });
  assert.match(r.reply, /^250 /);
  const head = headerOf(stored(relay, r.id!));
  assert.match(head, /^X-Spam-Status: Yes, score=6\.0 required=5\.0 engine=checks\r\n\ttests=DNSBL_bl\.test\.example/);
  assert.match(head, /\r\nX-Spam-Flag: YES\r\n/);
  assert.match(head, /\r\nSubject: \[SPAM\] test\r\n/);
});

test('SPF pass, fail, softfail and none: the Authentication-Results header, and the action for fail', { skip }, async (t) => {
  const tag = await relayWith(t, {}, { spf: { enabled: true, action: 'tag' } });
  const cases: [string, string, string][] = [
    ['a@pass.test.example', CLEAN, 'pass'],
    ['a@fail.test.example', CLEAN, 'fail'],
    ['a@soft.test.example', CLEAN, 'softfail'],
    ['a@none.test.example', CLEAN, 'none'],
  ];
  for (const [from, client, result] of cases) {
    const r = await sendMessage(tag.ports.mx, { client, from, message: message('spf') });
    assert.match(r.reply, /^250 /, `${result}: tagged, not refused`);
    const head = headerOf(stored(tag, r.id!));
    assert.match(head, new RegExp(`^Authentication-Results: mx\\.test\\.example;\\r\\n\\tspf=${result} [^\\r]*\\r\\n\\tsmtp\\.mailfrom=${from.replace(/\./g, '\\.')}\\r\\n\\tsmtp\\.helo=client\\.test\\.example\\r\\n`), result);
    const log = await tag.waitLog((l) => l.event === 'queued' && l.id === r.id);
    assert.equal((log.scan as { checks: { spf: { result: string } } }).checks.spf.result, result);
  }
  // A forged Authentication-Results from the sender is removed.
  const forged = await sendMessage(tag.ports.mx, { client: CLEAN, from: 'a@fail.test.example', message: message('x', { 'Authentication-Results': 'mx.test.example; spf=pass smtp.mailfrom=fail.test.example' }) });
  assert.equal((headerOf(stored(tag, forged.id!)).match(/^Authentication-Results:/gm) ?? []).length, 1);
  assert.match(headerOf(stored(tag, forged.id!)), /spf=fail/);

  const reject = await relayWith(t, {}, { spf: { enabled: true, action: 'reject' } });
  const refused = await sendMessage(reject.ports.mx, { client: CLEAN, from: 'a@fail.test.example', message: message('spf') });
  assert.match(refused.reply, /^550 5\.7\.23 SPF check failed for a@fail\.test\.example/);
  const soft = await sendMessage(reject.ports.mx, { client: CLEAN, from: 'a@soft.test.example', message: message('spf') });
  assert.match(soft.reply, /^250 /, 'softfail is not fail');
  // The null sender: the HELO name (client.test.example, which allows 127.0.0.3 only) is checked.
  const bounce = await sendMessage(reject.ports.mx, { client: '127.0.0.3', from: '', message: message('bounce') });
  assert.match(bounce.reply, /^250 /);
  assert.match(headerOf(stored(reject, bounce.id!)), /spf=pass [^\r]*\r\n\tsmtp\.mailfrom=[^\r]*\r\n\tsmtp\.helo=client\.test\.example/);
  const forgedBounce = await sendMessage(reject.ports.mx, { client: CLEAN, from: '', message: message('bounce') });
  assert.match(forgedBounce.reply, /^550 5\.7\.23 SPF check failed for client\.test\.example/);
});

test('SPF with a DNS server that never answers: temperror in the header, the mail is accepted', { skip }, async (t) => {
  const silent = createSocket('udp4');
  silent.bind(0, '127.0.0.1');
  await once(silent, 'listening');
  t.after(() => silent.close());
  const { doc, ports } = await relayDoc({ ...DOMAIN, dns: { servers: [`127.0.0.1:${silent.address().port}`] }, antispam: { dns_timeout: '300ms', spf: { enabled: true, action: 'reject' } } });
  const relay = await startRelay(t, doc, ports);
  const r = await sendMessage(relay.ports.mx, { client: CLEAN, from: 'a@fail.test.example', message: message('x') });
  assert.match(r.reply, /^250 /);
  assert.match(headerOf(stored(relay, r.id!)), /^Authentication-Results: mx\.test\.example;\r\n\tspf=temperror/);
});

test('HELO with our own name: refused from outside, accepted from a relay client', { skip }, async (t) => {
  const relay = await relayWith(t, { relaying: { allowed_hosts: ['localhost'] } }, { helo_checks: true });
  for (const [client, helo, want] of [
    ['127.0.0.2', 'mx.test.example', /^550 5\.7\.1 HELO\/EHLO refused/],
    ['127.0.0.2', '[127.0.0.1]', /^550 5\.7\.1 /],
    ['127.0.0.2', 'not_a_valid!name', /^550 5\.7\.1 /],
    ['127.0.0.2', 'mail.sender.example', /^250 /],
    ['127.0.0.1', 'mx.test.example', /^250 /],
  ] as const) {
    const c = await RawClient.connect(relay.ports.mx, client);
    await c.reply();
    await c.cmd(`EHLO ${helo}`);
    const r = (await c.cmd('MAIL FROM:<a@sender.example>')) ?? '';
    c.end();
    assert.match(r, want, `${client} EHLO ${helo}`);
  }
  const log = await relay.waitLog((l) => l.event === 'mail' && l.rule === 'antispam.helo_checks');
  assert.match(String((log.trail as string[])[0]), /our own name/);
});

test('greylisting: first attempt 451, early retry 451, retry after the delay 250; a relay client is never greylisted', { skip }, async (t) => {
  const relay = await relayWith(t, { relaying: { allowed_hosts: ['localhost'] } }, { greylisting: { enabled: true, delay: '1s', expiry: '1h' } });
  const attempt = async (client: string, to = 'user@example.com') => {
    const c = await RawClient.connect(relay.ports.mx, client);
    await c.reply();
    await c.cmd('EHLO sender.example');
    await c.cmd('MAIL FROM:<a@sender.example>');
    const r = (await c.cmd(`RCPT TO:<${to}>`)) ?? '';
    c.end();
    return r;
  };
  const started = Date.now();
  assert.match(await attempt('127.0.0.20'), /^451 4\.7\.1 Greylisted, please try again in 1 second/);
  assert.match(await attempt('127.0.0.20'), /^451 4\.7\.1 /, 'an early retry');
  // Another host of the same /24 counts as the same sender.
  assert.match(await attempt('127.0.0.21'), /^451 4\.7\.1 /);
  // The only way to be past the delay is to let it pass.
  await new Promise((r) => setTimeout(r, Math.max(0, 1100 - (Date.now() - started))));
  assert.match(await attempt('127.0.0.21'), /^250 /, 'retry after the delay');
  assert.match(await attempt('127.0.0.20'), /^250 /, 'and remembered');
  assert.match(await attempt('127.0.0.20', 'other@example.com'), /^451 4\.7\.1 /, 'another recipient is another triplet');
  // The relay client: never.
  for (let i = 0; i < 2; i++) assert.match(await attempt('127.0.0.1', 'new@elsewhere.example'), /^250 /);
});

test('policy explain reports the connect-time blocklist check when DNS is reachable', { skip }, async (t) => {
  const { doc } = await relayDoc({ ...DOMAIN, networks: NETS, dns: { servers: [dns.server] }, relaying: { allowed_hosts: ['localhost'], upstream_hosts: ['isp'] }, antispam: { dnsbl } });
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-explain-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'settings.yaml');
  writeFileSync(file, stringify(doc));
  const listed = await runCli(['policy', 'explain', '--config', file, '--client', LISTED, '--to', 'user@example.com', '--json']);
  assert.equal(listed.status, 1, listed.stderr);
  const lj = JSON.parse(listed.stdout) as { action: string; code: number; rule: string; stage: string; checks: { dnsbl: { listed: { zone: string }[] } } };
  assert.deepEqual([lj.action, lj.code, lj.rule, lj.stage], ['reject', 554, 'antispam.dnsbl[0]', 'connect']);
  assert.equal(lj.checks.dnsbl.listed[0]?.zone, ZONE);
  const clean = await runCli(['policy', 'explain', '--config', file, '--client', CLEAN, '--to', 'user@example.com', '--json']);
  assert.equal(clean.status, 0, clean.stderr);
  assert.deepEqual((JSON.parse(clean.stdout) as { checks: { dnsbl: { clean: string[] } } }).checks.dnsbl.clean, [ZONE]);
  // An upstream host is not looked up at connect: its mail is judged by its origin.
  const isp = await runCli(['policy', 'explain', '--config', file, '--client', ISP, '--to', 'user@example.com', '--json']);
  assert.equal(isp.status, 0);
  assert.equal((JSON.parse(isp.stdout) as { checks?: unknown }).checks, undefined);
  // A trusted proxy is checked as the address it claims (a relay host: no lookup), not as its own listed one.
  const proxied = { ...doc, networks: [...NETS, { name: 'lb', type: 'host', address: LISTED }], listeners: (doc.listeners as Record<string, unknown>[]).map((l, i) => (i === 0 ? { ...l, trusted_proxies: ['lb'] } : l)) };
  writeFileSync(file, stringify(proxied));
  const lb = await runCli(['policy', 'explain', '--config', file, '--client', LISTED, '--to', 'user@example.com', '--json']);
  assert.equal(lb.status, 0, lb.stdout + lb.stderr);
  const pj = JSON.parse(lb.stdout) as { action: string; proxy: { claims_as: string } | null; checks?: unknown };
  assert.deepEqual([pj.action, pj.proxy?.claims_as, pj.checks], ['accept', 'relay host', undefined]);
});

test('exceptions: a network skips the blocklist at connect; a sender skips greylisting', { skip }, async (t) => {
  const relay = await relayWith(
    t,
    { networks: [...NETS, { name: 'partner', type: 'host', address: LISTED }], relaying: { allowed_hosts: ['localhost'] } },
    { dnsbl, greylisting: { enabled: true, delay: '1h', expiry: '2h' }, exceptions: [{ networks: ['partner'], skip: ['dnsbl', 'greylisting'] }, { senders: ['*@trusted.example'], skip: ['greylisting'] }] },
  );
  // The listed partner gets in and is not greylisted.
  const c = await RawClient.connect(relay.ports.mx, LISTED);
  assert.match((await c.reply()) ?? '', /^220 /);
  await c.cmd('EHLO partner.example');
  assert.match((await c.cmd('MAIL FROM:<a@partner.example>')) ?? '', /^250 /);
  assert.match((await c.cmd('RCPT TO:<user@example.com>')) ?? '', /^250 /);
  c.end();
  // Anyone else is greylisted, unless the sender is excepted.
  const d = await RawClient.connect(relay.ports.mx, CLEAN);
  await d.reply();
  await d.cmd('EHLO sender.example');
  await d.cmd('MAIL FROM:<a@sender.example>');
  assert.match((await d.cmd('RCPT TO:<user@example.com>')) ?? '', /^451 4\.7\.1 /);
  await d.cmd('RSET');
  await d.cmd('MAIL FROM:<boss@trusted.example>');
  assert.match((await d.cmd('RCPT TO:<user@example.com>')) ?? '', /^250 /);
  d.end();
});

test('mail from an upstream host is greylisted on its origin at the end of DATA', { skip }, async (t) => {
  const relay = await relayWith(t, { relaying: { allowed_hosts: ['localhost'], upstream_hosts: ['isp'] } }, { greylisting: { enabled: true, delay: '1h', expiry: '2h' } });
  const first = await sendMessage(relay.ports.mx, { client: ISP, message: forwarded('192.0.2.80') });
  assert.match(first.reply, /^451 4\.7\.1 Greylisted/);
  assert.deepEqual(queued(relay), []);
  const log = await relay.waitLog((l) => l.event === 'antispam.refused' && l.rule === 'antispam.greylisting');
  assert.equal((log.checks as { origin: string }).origin, '192.0.2.80');
});
