// DKIM signing end to end: keys made by `mailwarden dkim keygen`, the records
// it printed served by the test DNS server (dnsmasq), the real daemon signing
// what it queues, and an independent verifier (python3-dkim) judging the
// stored message over that DNS server. Covers RSA and Ed25519 side by side,
// our own header edits (spamd's scan headers and subject tag) after which
// the signature must still hold, relayed vs all, a From domain without a key,
// a parent domain's key, and tampering (the verifier must notice).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { relayDoc, startRelay, type Relay } from '../smtp/harness.ts';
import { dnsmasqMissing, startDns, type DnsServer } from '../delivery/dns-server.ts';
import { engineAvailable, GTUBE, startSpamd } from '../scan/engines.ts';
import { headerOf, message, messageLog, sendMessage, stored } from '../scan/scan-helpers.ts';
import { dkimpyMissing, dkimpyVerify, keygen, type Generated } from './helpers.ts';

const skip = dnsmasqMissing() || dkimpyMissing();
const spamdAvail = engineAvailable('spamd');
const OUTSIDE = '127.0.0.2';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-dkim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Two keys for example.org (RSA and Ed25519) and their records on a DNS server of the test. */
async function keysAndDns(t: Parameters<typeof startRelay>[0] & { after(fn: () => void): void }): Promise<{ rsa: Generated; ed: Generated; dns: DnsServer }> {
  const dir = tempDir(t);
  const [rsa, ed] = await Promise.all([keygen('example.org', 'r2026', 'rsa-sha256', join(dir, 'rsa.pem')), keygen('example.org', 'e2026', 'ed25519-sha256', join(dir, 'ed.pem'))]);
  const dns = await startDns(t, { txt: [rsa.record, ed.record].map((r) => ({ name: r.name, text: r.value })) });
  return { rsa, ed, dns };
}

async function relayWith(t: Parameters<typeof startRelay>[0], dkim: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Relay> {
  const { doc, ports } = await relayDoc({ domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }], dkim, ...extra });
  return startRelay(t, doc, ports);
}

const keyDef = (g: Generated) => ({ domain: g.key.domain, selector: g.key.selector, algorithm: g.key.algorithm, key_file: g.file });

test('keygen writes the key readable by its owner only', { skip }, async (t) => {
  const dir = tempDir(t);
  const g = await keygen('example.org', 'mode', 'ed25519-sha256', join(dir, 'k.pem'));
  assert.equal(statSync(g.file).mode & 0o777, 0o600);
  assert.equal(g.record.name, 'mode._domainkey.example.org');
  assert.match(g.record.value, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
});

test('relayed mail is signed with the RSA and the Ed25519 key of its From domain; dkimpy verifies both over DNS', { skip }, async (t) => {
  const { rsa, ed, dns } = await keysAndDns(t);
  const relay = await relayWith(t, { keys: [keyDef(rsa), keyDef(ed)] });
  const r = await sendMessage(relay.ports.mx, { from: 'alice@example.org', to: ['bob@far.example'], message: message('Hello,\r\nthe figures.\r\n', { From: 'Alice <alice@example.org>', To: 'bob@far.example' }) });
  assert.match(r.reply, /^250 /);
  const log = await messageLog(relay, (l) => l.sender === 'alice@example.org');
  assert.deepEqual(log.dkim, { signed: true, domain: 'example.org', selectors: ['r2026', 'e2026'] });
  const text = stored(relay, r.id!);
  // Our Received field is signed over too when listed; the signatures sit on top of it.
  assert.match(text, /^DKIM-Signature: /);
  const verdicts = await dkimpyVerify(Buffer.from(text, 'latin1'), dns.server);
  assert.deepEqual(verdicts.map((v) => [v.d, v.s, v.a, v.ok]).sort(), [['example.org', 'e2026', 'ed25519-sha256', true], ['example.org', 'r2026', 'rsa-sha256', true]]);
  // The verifier is not a rubber stamp: one changed body octet breaks both.
  const tampered = Buffer.from(text.replace('the figures.', 'the figures!'), 'latin1');
  assert.deepEqual((await dkimpyVerify(tampered, dns.server)).map((v) => v.ok), [false, false]);
});

test('a signature survives our own header edits: spamd scan headers, removed forged headers and the subject tag', { skip: skip || (spamdAvail.ok ? false : spamdAvail.reason) }, async (t) => {
  const { rsa, dns } = await keysAndDns(t);
  const spamd = await startSpamd();
  t.after(() => spamd.stop());
  const relay = await relayWith(t, { keys: [keyDef(rsa)] }, { antispam: { enabled: true, timeout: '20s', engine: 'spamassassin', spamd: spamd.address, reject_score: null, spam_action: 'tag', subject_tag: '[SPAM]' } });
  const body = `Buy now.\r\n${GTUBE}\r\n`;
  const r = await sendMessage(relay.ports.mx, { from: 'bulk@example.org', to: ['bob@far.example'], message: message(body, { From: 'bulk@example.org', To: 'bob@far.example', Subject: 'Cheap offer', 'X-Spam-Flag': 'NO (forged)' }) });
  assert.match(r.reply, /^250 /);
  const text = stored(relay, r.id!);
  const head = headerOf(text);
  // The edit happened (else this test proves nothing) ...
  assert.match(head, /\r\nSubject: \[SPAM\] Cheap offer\r\n/);
  assert.match(head, /\r\nX-Spam-Flag: YES\r\n/);
  assert.doesNotMatch(head, /forged/);
  // ... and the signature covers the tagged subject.
  assert.match(head, /^DKIM-Signature: [^]*h=[^;]*[Ss]ubject/);
  const verdicts = await dkimpyVerify(Buffer.from(text, 'latin1'), dns.server);
  assert.deepEqual(verdicts.map((v) => v.ok), [true]);
  // Untagging the subject (what a signature made before the edit would have covered) fails.
  const untagged = Buffer.from(text.replace('Subject: [SPAM] Cheap offer', 'Subject: Cheap offer'), 'latin1');
  assert.deepEqual((await dkimpyVerify(untagged, dns.server)).map((v) => v.ok), [false]);
});

test('sign: relayed leaves a relay host\'s mail for our own domains unsigned; sign: all signs it; neither signs inbound Internet mail', { skip }, async (t) => {
  const { rsa, dns } = await keysAndDns(t);
  const inbound = () => message('Internal note.\r\n', { From: 'carol@example.org', To: 'user@example.com' });
  const relayed = await relayWith(t, { keys: [keyDef(rsa)], sign: 'relayed' });
  // 127.0.0.1 is an allowed host (a relay right); example.com is our own domain.
  const a = await sendMessage(relayed.ports.mx, { from: 'carol@example.org', to: ['user@example.com'], message: inbound() });
  assert.match(a.reply, /^250 /);
  const la = await messageLog(relayed, (l) => l.sender === 'carol@example.org');
  assert.equal(la.relayed, true);
  assert.equal(la.dkim, undefined);
  assert.doesNotMatch(headerOf(stored(relayed, a.id!)), /DKIM-Signature/i);

  const all = await relayWith(t, { keys: [keyDef(rsa)], sign: 'all' });
  const b = await sendMessage(all.ports.mx, { from: 'carol@example.org', to: ['user@example.com'], message: inbound() });
  assert.match(b.reply, /^250 /);
  const lb = await messageLog(all, (l) => l.sender === 'carol@example.org');
  assert.deepEqual(lb.dkim, { signed: true, domain: 'example.org', selectors: ['r2026'] });
  assert.deepEqual((await dkimpyVerify(Buffer.from(stored(all, b.id!), 'latin1'), dns.server)).map((v) => v.ok), [true]);

  // The same message from a client without a relay right: inbound mail, never signed.
  const c = await sendMessage(all.ports.mx, { client: OUTSIDE, from: 'dan@example.org', to: ['user@example.com'], message: inbound() });
  assert.match(c.reply, /^250 /);
  const lc = await messageLog(all, (l) => l.sender === 'dan@example.org');
  assert.equal(lc.relayed, false);
  assert.equal(lc.dkim, undefined);
  assert.doesNotMatch(headerOf(stored(all, c.id!)), /DKIM-Signature/i);
});

test('no key for the From domain: queued unsigned, and the queued line says why', { skip }, async (t) => {
  const { rsa } = await keysAndDns(t);
  const relay = await relayWith(t, { keys: [keyDef(rsa)], subdomains: false });
  const r = await sendMessage(relay.ports.mx, { from: 'dave@other.example', to: ['bob@far.example'], message: message('Hi.\r\n', { From: 'dave@other.example', To: 'bob@far.example' }) });
  assert.match(r.reply, /^250 /);
  const log = await messageLog(relay, (l) => l.sender === 'dave@other.example');
  assert.deepEqual(log.dkim, { signed: false, reason: 'no_key', domain: 'other.example' });
  assert.doesNotMatch(headerOf(stored(relay, r.id!)), /DKIM-Signature/i);
  // A subdomain with subdomains: false is no better.
  const s = await sendMessage(relay.ports.mx, { from: 'erin@news.example.org', to: ['bob@far.example'], message: message('Hi.\r\n', { From: 'erin@news.example.org', To: 'bob@far.example' }) });
  assert.match(s.reply, /^250 /);
  assert.deepEqual((await messageLog(relay, (l) => l.sender === 'erin@news.example.org')).dkim, { signed: false, reason: 'no_key', domain: 'news.example.org' });
});

test('subdomains: a key of example.org signs mail From news.example.org with d=example.org', { skip }, async (t) => {
  const { rsa, dns } = await keysAndDns(t);
  const relay = await relayWith(t, { keys: [keyDef(rsa)] });
  const r = await sendMessage(relay.ports.mx, { from: 'erin@news.example.org', to: ['bob@far.example'], message: message('News.\r\n', { From: 'erin@news.example.org', To: 'bob@far.example' }) });
  assert.match(r.reply, /^250 /);
  assert.deepEqual((await messageLog(relay, (l) => l.sender === 'erin@news.example.org')).dkim, { signed: true, domain: 'example.org', selectors: ['r2026'] });
  const v = await dkimpyVerify(Buffer.from(stored(relay, r.id!), 'latin1'), dns.server);
  assert.deepEqual(v.map((x) => [x.d, x.ok]), [['example.org', true]]);
});
