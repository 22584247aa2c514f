// DKIM, DMARC and ARC verification end to end (issue #19): the real daemon,
// a real DNS zone (dnsmasq, test/delivery/dns-server.ts) publishing DKIM
// keys, SPF and DMARC records, and messages signed and ARC-sealed by an
// independent signer (dkimpy, test/antispam/dkimpy-signer.ts).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { relayDoc, startRelay, type Relay } from '../smtp/harness.ts';
import { dnsmasqMissing, startDns, type DnsServer } from '../delivery/dns-server.ts';
import { headerOf, message, quarantined, queued, sendMessage, stored } from '../scan/scan-helpers.ts';
import { dkimpyArcSeal, dkimpyMissing, dkimpySign, makeKey, type DkimKey } from './dkimpy-signer.ts';

const skip = dnsmasqMissing() || dkimpyMissing();
const CLEAN = '127.0.0.5';
const ISP = '127.0.0.10';
let dns: DnsServer;
let dir: string;
const keys: Record<string, DkimKey & { file: string }> = {};

/** A key for DOMAIN at selector "sel", its private half in a file for dkimpy. */
function key(domain: string, algorithm: DkimKey['algorithm']): DkimKey & { file: string } {
  const k = makeKey(algorithm);
  const file = join(dir, `${domain}.key`);
  writeFileSync(file, k.private, { mode: 0o600 });
  return (keys[domain] = { ...k, file });
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'mailwarden-dmarc-'));
  const signed = key('signed.test.example', 'rsa-sha256');
  const ed = key('ed.test.example', 'ed25519-sha256');
  const fwd = key('fwd.test.example', 'rsa-sha256');
  dns = await startDns(null, {
    txt: [
      { name: 'sel._domainkey.signed.test.example', text: signed.record },
      { name: '_dmarc.signed.test.example', text: 'v=DMARC1; p=reject' },
      { name: 'sel._domainkey.ed.test.example', text: ed.record },
      { name: '_dmarc.ed.test.example', text: 'v=DMARC1; p=reject' },
      { name: 'sel._domainkey.fwd.test.example', text: fwd.record },
      { name: 'spfonly.test.example', text: `v=spf1 ip4:${CLEAN} -all` },
      { name: '_dmarc.spfonly.test.example', text: 'v=DMARC1; p=reject' },
      { name: '_dmarc.reject.test.example', text: 'v=DMARC1; p=reject' },
      { name: '_dmarc.quar.test.example', text: 'v=DMARC1; p=quarantine' },
      { name: '_dmarc.sample.test.example', text: 'v=DMARC1; p=reject; pct=0' },
      { name: 'client.test.example', text: 'v=spf1 -all' },
      { name: 'attacker.test.example', text: `v=spf1 ip4:${CLEAN} -all` },
    ],
  });
});
after(async () => {
  await dns?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const DOMAIN = { domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }] };
const NETS = [
  { name: 'localhost', type: 'host', address: '127.0.0.1' },
  { name: 'isp', type: 'host', address: ISP },
];

async function relayWith(t: Parameters<typeof startRelay>[0], antispam: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Relay> {
  const { doc, ports } = await relayDoc({ ...DOMAIN, networks: NETS, relaying: { allowed_hosts: ['localhost'], upstream_hosts: ['isp'] }, dns: { servers: [dns.server] }, antispam: { dns_timeout: '2s', ...antispam }, ...extra });
  return startRelay(t, doc, ports);
}

function signed(domain: string, body = 'Signed by dkimpy.', headers: Record<string, string> = {}): string {
  const k = keys[domain]!;
  return dkimpySign(message(body, { From: `a@${domain}`, ...headers }), { selector: 'sel', domain, keyFile: k.file, algorithm: k.algorithm });
}

function authResults(relay: Relay, id: string, area: 'queue' | 'quarantine' = 'queue'): string {
  const head = headerOf(stored(relay, id, area));
  const fields = head.match(/^Authentication-Results:.*(\r\n[ \t].*)*/gm) ?? [];
  assert.equal(fields.length, 1, `one Authentication-Results field:\n${head}`);
  return fields[0]!.replace(/\r\n[ \t]/g, ' ');
}

async function dmarcLog(relay: Relay, id: string): Promise<Record<string, unknown>> {
  const l = await relay.waitLog((x) => (x.event === 'queued' || x.event === 'quarantined') && x.id === id);
  return (l.scan as { checks: { dmarc: Record<string, unknown> } }).checks.dmarc;
}

test('DMARC pass through a DKIM signature (rsa and ed25519, by dkimpy) and through SPF alignment, in one Authentication-Results field with SPF looked up once', { skip }, async (t) => {
  const relay = await relayWith(t, { spf: { enabled: true, action: 'tag' }, dmarc: { enabled: true, action: 'reject' } });
  for (const domain of ['signed.test.example', 'ed.test.example']) {
    const r = await sendMessage(relay.ports.mx, { client: CLEAN, from: 'bounces@other.test.example', message: signed(domain) });
    assert.match(r.reply, /^250 /, domain);
    const ar = authResults(relay, r.id!);
    assert.match(ar, /^Authentication-Results: mx\.test\.example; spf=none /);
    assert.match(ar, new RegExp(`; dkim=pass header\\.i=@${domain.replace(/\./g, '\\.')} header\\.s=sel header\\.a=${keys[domain]!.algorithm}`));
    assert.match(ar, new RegExp(`; dmarc=pass \\(p=REJECT arc=none\\) policy\\.dmarc=reject header\\.from=${domain.replace(/\./g, '\\.')}`));
    const log = await dmarcLog(relay, r.id!);
    assert.deepEqual([log.result, log.from, log.policy, log.action, log.spf], ['pass', domain, 'reject', 'none', 'none']);
    assert.deepEqual(log.dkim, [{ domain, result: 'pass' }]);
  }
  const before = dns.queries().filter((q) => q.type === 'TXT' && q.name === 'spfonly.test.example').length;
  const viaSpf = await sendMessage(relay.ports.mx, { client: CLEAN, from: 'a@spfonly.test.example', message: message('SPF only.', { From: 'a@spfonly.test.example' }) });
  assert.match(viaSpf.reply, /^250 /);
  const ar = authResults(relay, viaSpf.id!);
  assert.match(ar, /; spf=pass .* smtp\.mailfrom=a@spfonly\.test\.example smtp\.helo=client\.test\.example; dkim=none .*; dmarc=pass \(p=REJECT arc=none\) policy\.dmarc=reject header\.from=spfonly\.test\.example/);
  assert.equal(dns.queries().filter((q) => q.type === 'TXT' && q.name === 'spfonly.test.example').length - before, 1, 'the DMARC check took the spf check result: one SPF look-up');
});

test('action reject: p=reject refused with 550 5.7.1 (unsigned, or a signature the body no longer matches), p=quarantine quarantined, pct=0 weakens reject to quarantine', { skip }, async (t) => {
  const relay = await relayWith(t, { dmarc: { enabled: true, action: 'reject' } });
  const forged = await sendMessage(relay.ports.mx, { client: CLEAN, from: 'a@elsewhere.test.example', message: message('Forged.', { From: 'ceo@reject.test.example' }) });
  assert.match(forged.reply, /^550 5\.7\.1 Message refused: DMARC policy of reject\.test\.example says reject/);
  const log = await relay.waitLog((l) => l.event === 'antispam.refused' && l.sender === 'a@elsewhere.test.example');
  assert.equal(log.rule, 'antispam.dmarc.action');
  assert.equal((log.checks as { dmarc: { result: string } }).dmarc.result, 'fail');

  const tampered = signed('signed.test.example', 'The original body.').replace('The original body.', 'A changed body!!!');
  const broken = await sendMessage(relay.ports.mx, { client: CLEAN, from: 'x@elsewhere.test.example', message: tampered });
  assert.match(broken.reply, /^550 5\.7\.1 /, 'a signature that does not verify does not pass DMARC');
  const blog = await relay.waitLog((l) => l.event === 'antispam.refused' && l.sender === 'x@elsewhere.test.example');
  // mailauth reports a body hash that does not match as neutral ("body hash did not verify"): not a pass, so no alignment.
  assert.deepEqual((blog.checks as { dmarc: { dkim: unknown } }).dmarc.dkim, [{ domain: 'signed.test.example', result: 'neutral' }]);

  const q = await sendMessage(relay.ports.mx, { client: CLEAN, message: message('Quarantine me.', { From: 'a@quar.test.example' }) });
  assert.match(q.reply, /^250 /);
  assert.ok(quarantined(relay).includes(q.id!), 'p=quarantine: in the quarantine');
  assert.match(authResults(relay, q.id!, 'quarantine'), /; dmarc=fail \(p=QUARANTINE arc=none\) policy\.dmarc=quarantine header\.from=quar\.test\.example/);
  const qlog = await relay.waitLog((l) => l.event === 'quarantined' && l.id === q.id);
  assert.equal(qlog.rule, 'antispam.dmarc.action');

  const sample = await sendMessage(relay.ports.mx, { client: CLEAN, message: message('pct=0.', { From: 'a@sample.test.example' }) });
  assert.match(sample.reply, /^250 /, 'pct=0: outside the sample, the next weaker policy');
  assert.ok(quarantined(relay).includes(sample.id!));
  const slog = await dmarcLog(relay, sample.id!);
  assert.deepEqual([slog.policy, slog.pct, slog.sampled, slog.action], ['reject', 0, false, 'quarantine']);
});

test('quarantined by DMARC before the content scan: the virus scanner fed while spooling is let go', { skip }, async (t) => {
  // A clamd that takes the stream and never answers: only the relay can end the connection.
  const closed: Promise<void>[] = [];
  const sockets = new Set<Socket>();
  const clamd = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.resume();
    // Half-open allowed: the relay's end of the connection shows as 'end' (or 'close' on a reset).
    closed.push(Promise.race([once(s, 'end'), once(s, 'close')]).then(() => undefined));
  });
  clamd.listen(0, '127.0.0.1');
  await once(clamd, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    clamd.close();
  });
  const relay = await relayWith(t, { dmarc: { enabled: true, action: 'quarantine' } }, { antivirus: { enabled: true, clamd: `127.0.0.1:${(clamd.address() as { port: number }).port}`, timeout: '10m' } });
  const r = await sendMessage(relay.ports.mx, { client: CLEAN, message: message('x', { From: 'a@reject.test.example' }) });
  assert.match(r.reply, /^250 /);
  assert.ok(quarantined(relay).includes(r.id!));
  assert.equal(closed.length, 1, 'the message was fed to clamd');
  let timer: NodeJS.Timeout | undefined;
  const gone = await Promise.race([closed[0]!.then(() => true), new Promise<boolean>((done) => (timer = setTimeout(() => done(false), 5000)))]);
  clearTimeout(timer);
  assert.ok(gone, 'the clamd connection was closed, not left open until antivirus.timeout');
});

test('action quarantine quarantines p=reject; tag accepts with the DMARC_FAIL symbol; off only reports', { skip }, async (t) => {
  const quarantine = await relayWith(t, { dmarc: { enabled: true, action: 'quarantine' } });
  const q = await sendMessage(quarantine.ports.mx, { client: CLEAN, message: message('x', { From: 'a@reject.test.example' }) });
  assert.match(q.reply, /^250 /);
  assert.ok(quarantined(quarantine).includes(q.id!));

  const tag = await relayWith(t, { dmarc: { enabled: true, action: 'tag', score: 4 } });
  const tagged = await sendMessage(tag.ports.mx, { client: CLEAN, message: message('x', { From: 'a@reject.test.example' }) });
  assert.match(tagged.reply, /^250 /);
  assert.ok(queued(tag).includes(tagged.id!));
  const head = headerOf(stored(tag, tagged.id!));
  assert.match(head, /^X-Spam-Status: No, score=4\.0 required=5\.0 engine=checks\r\n\ttests=DMARC_FAIL\r\n/m);
  assert.match(authResults(tag, tagged.id!), /; dmarc=fail \(p=REJECT arc=none\) policy\.dmarc=reject header\.from=reject\.test\.example/);

  const off = await relayWith(t, { dmarc: { enabled: true, action: 'off' } });
  const reported = await sendMessage(off.ports.mx, { client: CLEAN, message: message('x', { From: 'a@reject.test.example' }) });
  assert.match(reported.reply, /^250 /);
  assert.doesNotMatch(headerOf(stored(off, reported.id!)), /X-Spam-Status/);
  assert.match(authResults(off, reported.id!), /; dmarc=fail /);
  assert.equal((await dmarcLog(off, reported.id!)).action, 'none');
});

test('exceptions skip dmarc; relayed mail is not checked; mail through an upstream host is checked', { skip }, async (t) => {
  const relay = await relayWith(t, { dmarc: { enabled: true, action: 'reject' }, exceptions: [{ senders: ['*@partner.test.example'], skip: ['dmarc'] }] });
  const excepted = await sendMessage(relay.ports.mx, { client: CLEAN, from: 'a@partner.test.example', message: message('x', { From: 'a@reject.test.example' }) });
  assert.match(excepted.reply, /^250 /);
  assert.deepEqual(await dmarcLog(relay, excepted.id!), { skipped_by: 'antispam.exceptions[0]' });
  assert.doesNotMatch(headerOf(stored(relay, excepted.id!)), /Authentication-Results/);

  const relayed = await sendMessage(relay.ports.mx, { client: '127.0.0.1', message: message('x', { From: 'a@reject.test.example' }) });
  assert.match(relayed.reply, /^250 /, 'a relay client is never checked');
  const rlog = await relay.waitLog((l) => l.event === 'queued' && l.id === relayed.id);
  assert.equal((rlog.scan as { checks?: { dmarc?: unknown } }).checks?.dmarc, undefined);

  const hop = `Received: from sender.example (sender.example [${CLEAN}])\r\n\tby relay.isp.example (Postfix) with ESMTP id 4AbC; Mon, 30 Nov 2026 10:00:00 +0000\r\n`;
  const upstream = await sendMessage(relay.ports.mx, { client: ISP, message: hop + message('x', { From: 'a@reject.test.example' }) });
  assert.match(upstream.reply, /^550 5\.7\.1 Message refused: DMARC/);
});

test('ARC: a chain sealed by dkimpy is verified and reported', { skip }, async (t) => {
  const relay = await relayWith(t, { dmarc: { enabled: true, action: 'reject' } });
  // A forwarder (fwd.test.example) checked the original, recorded it and sealed the message.
  const original = signed('signed.test.example', 'Forwarded.');
  const withResults = `Authentication-Results: fwd.test.example; dkim=pass header.d=signed.test.example; spf=pass smtp.mailfrom=signed.test.example\r\n${original}`;
  const sealed = dkimpyArcSeal(withResults, { selector: 'sel', domain: 'fwd.test.example', keyFile: keys['fwd.test.example']!.file, authservId: 'fwd.test.example' });
  const r = await sendMessage(relay.ports.mx, { client: CLEAN, message: sealed });
  assert.match(r.reply, /^250 /);
  const ar = authResults(relay, r.id!);
  assert.match(ar, /; arc=pass \(i=1 /);
  assert.match(ar, /; dmarc=pass \(p=REJECT arc=pass\)/);
  assert.equal((await dmarcLog(relay, r.id!)).arc, 'pass');
  // The chain's own fields reach the recipient untouched.
  assert.match(headerOf(stored(relay, r.id!)), /\r\nARC-Seal: i=1; cv=none; a=rsa-sha256; d=fwd\.test\.example; s=sel;/);
});

test('a DNS server that never answers: temperror for SPF, DKIM and DMARC, and the mail is accepted', { skip }, async (t) => {
  const silent = createSocket('udp4');
  silent.bind(0, '127.0.0.1');
  await once(silent, 'listening');
  t.after(() => silent.close());
  const { doc, ports } = await relayDoc({ ...DOMAIN, dns: { servers: [`127.0.0.1:${silent.address().port}`] }, antispam: { dns_timeout: '300ms', dmarc: { enabled: true, action: 'reject' } } });
  const relay = await startRelay(t, doc, ports);
  const started = Date.now();
  const r = await sendMessage(relay.ports.mx, { client: CLEAN, from: 'a@reject.test.example', message: signed('signed.test.example') });
  assert.match(r.reply, /^250 /);
  assert.ok(Date.now() - started < 10_000, 'bounded by the per-message DNS deadline');
  const ar = authResults(relay, r.id!);
  assert.match(ar, /; spf=temperror/, 'SPF looked up by the DMARC check itself (the spf check is off)');
  assert.match(ar, /; dkim=temperror /);
  assert.match(ar, /; dmarc=temperror /);
  assert.equal((await dmarcLog(relay, r.id!)).result, 'temperror');
});

/** A message with exactly these From (or other) fields on top, in this order: message() cannot repeat a field. */
function withFields(fields: string[], body = 'x'): string {
  return `${fields.map((f) => `${f}\r\n`).join('')}To: user@example.com\r\nSubject: test\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@outside.example>\r\n\r\n${body}\r\n`;
}

test('a second From never fares better than a DMARC fail: several From fields, several domains in one, an empty or unreadable From beside a real one (action reject)', { skip }, async (t) => {
  const relay = await relayWith(t, { spf: { enabled: true, action: 'tag' }, dmarc: { enabled: true, action: 'reject' } });
  // The attacker's own domain passes SPF (CLEAN is allowed): that must not lend the forged field anything.
  const refused = async (name: string, msg: string, text: RegExp, problem: string): Promise<Record<string, unknown>> => {
    const from = `${name}@attacker.test.example`;
    const r = await sendMessage(relay.ports.mx, { client: CLEAN, from, message: msg });
    assert.match(r.reply, text, name);
    const log = await relay.waitLog((l) => l.event === 'antispam.refused' && l.sender === from);
    assert.equal(log.rule, 'antispam.dmarc.action', name);
    const d = (log.checks as { dmarc: Record<string, unknown> }).dmarc;
    assert.deepEqual([d.result, d.from, d.policy, d.action, d.from_problem], ['fail', 'reject.test.example', 'reject', 'reject', problem], name);
    return d;
  };
  const several = /^550 5\.7\.1 Message refused: several From fields; DMARC policy of reject\.test\.example says reject/;
  const d1 = await refused('first', withFields(['From: ceo@reject.test.example', 'From: me@attacker.test.example']), several, 'several From fields');
  assert.deepEqual(d1.authors, [
    { domain: 'reject.test.example', result: 'fail', policy: 'reject', pct: 100 },
    { domain: 'attacker.test.example', result: 'none', policy: null, pct: 100 },
  ]);
  await refused('second', withFields(['From: me@attacker.test.example', 'From: ceo@reject.test.example']), several, 'several From fields');
  await refused('empty', withFields(['From:', 'From: ceo@reject.test.example']), several, 'several From fields');
  await refused('oneline', withFields(['From: ceo@reject.test.example, me@attacker.test.example']), /^550 5\.7\.1 Message refused: several domains in From; DMARC policy of reject\.test\.example says reject/, 'several domains in From');
  await refused('unreadable', withFields(['From: ceo@reject.test.example, me@']), /^550 5\.7\.1 Message refused: an unreadable address in From; DMARC policy of reject\.test\.example says reject/, 'an unreadable address in From');

  // A signature that verifies and aligns does not help a message with two From fields: it may cover the field not shown.
  const replayed = `From: boss@signed.test.example\r\n${signed('signed.test.example', 'Signed, then a From added on top.')}`;
  const r = await sendMessage(relay.ports.mx, { client: CLEAN, from: 'replay@attacker.test.example', message: replayed });
  assert.match(r.reply, /^550 5\.7\.1 Message refused: several From fields; DMARC policy of signed\.test\.example says reject/);
  const rlog = await relay.waitLog((l) => l.event === 'antispam.refused' && l.sender === 'replay@attacker.test.example');
  assert.deepEqual((rlog.checks as { dmarc: { dkim: unknown } }).dmarc.dkim, [{ domain: 'signed.test.example', result: 'pass' }]);

  // One valid From field with several domains (RFC 7489 6.6.1): each domain judged with the signature; the signer's passes, and a domain without a record does not fail.
  const coauthored = signed('signed.test.example', 'Two authors.', { From: 'a@signed.test.example, b@attacker.test.example' });
  const ok = await sendMessage(relay.ports.mx, { client: CLEAN, from: 'bounce@elsewhere.test.example', message: coauthored });
  assert.match(ok.reply, /^250 /);
  assert.match(authResults(relay, ok.id!), /; dmarc=pass \(several domains in From; p=REJECT arc=none\) policy\.dmarc=reject header\.from=signed\.test\.example header\.d=signed\.test\.example; dmarc=none \(several domains in From\) header\.from=attacker\.test\.example$/);
  // The same signature does not pass a domain that did not sign.
  const borrowed = signed('signed.test.example', 'Two authors.', { From: 'a@signed.test.example, ceo@reject.test.example' });
  const no = await sendMessage(relay.ports.mx, { client: CLEAN, from: 'bounce2@elsewhere.test.example', message: borrowed });
  assert.match(no.reply, /^550 5\.7\.1 Message refused: several domains in From; DMARC policy of reject\.test\.example says reject/);

  // No From at all (RFC 5322 requires one): no domain is named, so nothing to judge: reported, accepted.
  const none = await sendMessage(relay.ports.mx, { client: CLEAN, message: withFields(['Sender: ceo@reject.test.example']) });
  assert.match(none.reply, /^250 /);
  assert.match(authResults(relay, none.id!), /; dmarc=permerror \(no From field\)$/);
  // The single From still works as before.
  const single = await sendMessage(relay.ports.mx, { client: CLEAN, message: withFields(['From: ceo@reject.test.example']) });
  assert.match(single.reply, /^550 5\.7\.1 Message refused: DMARC policy of reject\.test\.example says reject/);
});

test('several From fields under action quarantine and tag: quarantined; tagged with DMARC_FAIL and DMARC_BAD_FROM', { skip }, async (t) => {
  const two = () => withFields(['From: me@attacker.test.example', 'From: ceo@reject.test.example']);
  const quarantine = await relayWith(t, { dmarc: { enabled: true, action: 'quarantine' } });
  const q = await sendMessage(quarantine.ports.mx, { client: CLEAN, message: two() });
  assert.match(q.reply, /^250 /);
  assert.ok(quarantined(quarantine).includes(q.id!), 'in the quarantine');
  assert.match(authResults(quarantine, q.id!, 'quarantine'), /; dmarc=none \(several From fields\) header\.from=attacker\.test\.example; dmarc=fail \(several From fields; p=REJECT arc=none\) policy\.dmarc=reject header\.from=reject\.test\.example header\.d=reject\.test\.example$/);

  const tag = await relayWith(t, { dmarc: { enabled: true, action: 'tag', score: 4 } });
  const tagged = await sendMessage(tag.ports.mx, { client: CLEAN, message: two() });
  assert.match(tagged.reply, /^250 /);
  assert.ok(queued(tag).includes(tagged.id!));
  assert.match(headerOf(stored(tag, tagged.id!)), /^X-Spam-Status: No, score=4\.0 required=5\.0 engine=checks\r\n\ttests=DMARC_FAIL,DMARC_BAD_FROM\r\n/m);

  // A display name holding another domain's address: DMARC passes for the real address (SPF); tag mode names it, without points.
  const named = await sendMessage(tag.ports.mx, { client: CLEAN, from: 'me@attacker.test.example', message: withFields(['From: "ceo@reject.test.example" <me@attacker.test.example>']) });
  assert.match(named.reply, /^250 /);
  assert.match(headerOf(stored(tag, named.id!)), /^X-Spam-Status: No, score=0\.0 required=5\.0 engine=checks\r\n\ttests=DMARC_FROM_NAME_ADDR\r\n/m);
  const nlog = await dmarcLog(tag, named.id!);
  assert.deepEqual([nlog.result, nlog.name_addresses], ['none', ['reject.test.example']]);
});

test('a display name holding another domain\'s address under action reject: accepted (DMARC cannot judge a name), logged, no symbol', { skip }, async (t) => {
  const relay = await relayWith(t, { dmarc: { enabled: true, action: 'reject' } });
  const r = await sendMessage(relay.ports.mx, { client: CLEAN, message: withFields(['From: "ceo@reject.test.example" <me@attacker.test.example>']) });
  assert.match(r.reply, /^250 /);
  assert.doesNotMatch(headerOf(stored(relay, r.id!)), /X-Spam-Status/);
  assert.deepEqual((await dmarcLog(relay, r.id!)).name_addresses, ['reject.test.example']);
});
