// Defects an attacker probe found in DKIM signing, each against the real
// daemon with python3-dkim judging over the test DNS server: sign: all must
// not sign inbound Internet mail (a forged From of ours), signatures must
// hold for long lines that the delivery folds, a key file that cannot sign
// is named by `config check` and logged at start and at each new revision,
// and a message with several From fields (one of them empty) is not signed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { RawClient, relayDoc, runCli, startRelay } from '../smtp/harness.ts';
import { startSink } from '../delivery/sink.ts';
import { dnsmasqMissing, startDns } from '../delivery/dns-server.ts';
import { headerOf, message, messageLog, sendMessage, stored } from '../scan/scan-helpers.ts';
import { dkimpyMissing, dkimpyVerify, keygen, type Generated } from './helpers.ts';

const skip = dnsmasqMissing() || dkimpyMissing();
const OUTSIDE = '127.0.0.2';
const PASSWORD = 'Kai-pw-dkim-31';

type T = { after(fn: () => unknown): void };

function tempDir(t: T): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-dkim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const keyDef = (g: Generated) => ({ domain: g.key.domain, selector: g.key.selector, algorithm: g.key.algorithm, key_file: g.file });
const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

test('sign: all never signs mail from a client without a relay right (a forged From of ours); a logged-in user writing to our domain is signed', { skip }, async (t) => {
  const g = await keygen('example.org', 'all1', 'rsa-sha256', join(tempDir(t), 'k.pem'));
  const dns = await startDns(t, { txt: [{ name: g.record.name, text: g.record.value }] });
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'example.org', route: { hosts: ['10.9.9.9:25'] } }],
    users: [{ name: 'kai', password: PASSWORD, groups: [], addresses: ['kai@example.org'] }],
    relaying: { allowed_hosts: ['localhost'], authenticated_relay: { enabled: true, users: ['kai'] } },
    dkim: { keys: [keyDef(g)], sign: 'all' },
  });
  const relay = await startRelay(t, doc, ports);

  // The probe: an Internet client forging our CEO to our own staff.
  const forged = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'spoof@internet.example', to: ['staff@example.org'], message: message('Wire the money.\r\n', { From: 'CEO <ceo@example.org>', To: 'staff@example.org' }) });
  assert.match(forged.reply, /^250 /);
  const lf = await messageLog(relay, (l) => l.sender === 'spoof@internet.example');
  assert.equal(lf.relayed, false);
  assert.equal(lf.dkim, undefined);
  assert.doesNotMatch(headerOf(stored(relay, forged.id!)), /DKIM-Signature/i);

  // A login (from an address without a host relay right) writing to our own domain only: what sign: all adds.
  const c = await RawClient.connect(relay.ports.submission, OUTSIDE);
  let id: string;
  try {
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
    await c.starttls();
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
    assert.equal(await c.cmd(`AUTH PLAIN ${plain('kai', PASSWORD)}`), '235 2.7.0 Authentication successful');
    assert.match((await c.cmd('MAIL FROM:<kai@example.org>')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<staff@example.org>')) ?? '', /^250 /);
    assert.match((await c.cmd('DATA')) ?? '', /^354 /);
    c.write(message('Team lunch.\r\n', { From: 'Kai <kai@example.org>', To: 'staff@example.org' }) + '.\r\n');
    const reply = (await c.reply()) ?? '';
    assert.match(reply, /^250 /);
    id = /queued as ([0-9a-z]{16})/.exec(reply)?.[1] ?? '';
    await c.cmd('QUIT');
  } finally {
    c.end();
  }
  const lk = await messageLog(relay, (l) => l.sender === 'kai@example.org');
  assert.equal(lk.relayed, true);
  assert.deepEqual(lk.dkim, { signed: true, domain: 'example.org', selectors: ['all1'] });
  assert.deepEqual((await dkimpyVerify(Buffer.from(stored(relay, id), 'latin1'), dns.server)).map((v) => v.ok), [true]);
});

test('long lines folded by the delivery (a 2,500-octet body line, a 1,500-octet Subject): the signature the hop receives verifies', { skip }, async (t) => {
  const g = await keygen('example.org', 'long', 'rsa-sha256', join(tempDir(t), 'k.pem'));
  const dns = await startDns(t, { txt: [{ name: g.record.name, text: g.record.value }] });
  const hop = await startSink({ address: '127.0.0.52', eightBitMime: true, smtputf8: false });
  t.after(() => hop.close());
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'example.com', route: { hosts: [`${hop.address}:${hop.port}`] } }],
    delivery: { enabled: true },
    // example.com is our own domain (routed to the hop), written to by a relay host: signed with sign: all.
    dkim: { keys: [keyDef(g)], sign: 'all' },
  });
  const relay = await startRelay(t, doc, ports);
  const longBody = `Start.\r\n${'x'.repeat(2500)}\r\nEnd.\r\n`;
  const a = await sendMessage(relay.ports.mx, { from: 'alice@example.org', to: ['a@example.com'], message: message(longBody, { From: 'alice@example.org', To: 'a@example.com', Subject: 'long body' }) });
  assert.match(a.reply, /^250 /);
  const longSubject = `${'S'.repeat(1500)}`;
  const b = await sendMessage(relay.ports.mx, { from: 'bob@example.org', to: ['a@example.com'], message: message('Short.\r\n', { From: 'bob@example.org', To: 'a@example.com', Subject: longSubject }) });
  assert.match(b.reply, /^250 /);
  const got = await hop.waitFor(2, 30_000);
  const verdicts: [string, boolean, string | null][] = [];
  for (const m of got) {
    const text = m.raw.toString('latin1');
    // The delivery did fold (else this test proves nothing) ...
    assert.ok(text.split('\r\n').every((line) => line.length <= 998), 'no line over 998 octets leaves us');
    const which = text.includes('x'.repeat(998)) ? 'body' : text.includes('S'.repeat(900)) ? 'subject' : 'neither';
    // ... and the signature covers what was sent.
    for (const v of await dkimpyVerify(m.raw, dns.server)) verdicts.push([which, v.ok, v.error]);
  }
  assert.deepEqual(verdicts.sort(), [['body', true, null], ['subject', true, null]]);
});

test('several From fields, one of them empty, in either order: not signed (several_from)', { skip }, async (t) => {
  const g = await keygen('example.org', 'from2', 'ed25519-sha256', join(tempDir(t), 'k.pem'));
  const { doc, ports } = await relayDoc({ domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }], dkim: { keys: [keyDef(g)] } });
  const relay = await startRelay(t, doc, ports);
  const orders = [
    ['one@example.org', 'From: a@example.org\r\nFrom:\r\n'],
    ['two@example.org', 'From:\r\nFrom: a@example.org\r\n'],
  ] as const;
  for (const [sender, fields] of orders) {
    const r = await sendMessage(relay.ports.mx, { from: sender, to: ['bob@far.example'], message: `${fields}To: bob@far.example\r\nSubject: two From\r\n\r\nHi.\r\n` });
    assert.match(r.reply, /^250 /);
    const log = await messageLog(relay, (l) => l.sender === sender);
    assert.deepEqual(log.dkim, { signed: false, reason: 'several_from' });
    assert.doesNotMatch(headerOf(stored(relay, r.id!)), /DKIM-Signature/i);
  }
});

test('a key_file that cannot sign: config check names it, the daemon logs dkim.key_error at start and at each new revision', { skip }, async (t) => {
  const dir = tempDir(t);
  const rsa = await keygen('example.org', 'r1', 'rsa-sha256', join(dir, 'rsa.pem'));
  const junk = join(dir, 'junk.pem');
  writeFileSync(junk, 'this is not a key\n', { mode: 0o600 });
  const bad = { keys: [{ domain: 'example.org', selector: 'wrongalg', algorithm: 'ed25519-sha256', key_file: rsa.file }] };
  const { doc, ports } = await relayDoc({ domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }], dkim: bad });

  const file = join(dir, 'settings.yaml');
  writeFileSync(file, stringify(doc));
  const check = await runCli(['config', 'check', '--json', file]);
  const findings = JSON.parse(check.stdout) as { warnings: { path: string; message: string }[] };
  const w = findings.warnings.find((x) => x.path === 'dkim.keys[0].key_file');
  assert.ok(w, check.stdout);
  assert.ok(w.message.includes(rsa.file), w.message);
  assert.match(w.message, /rsa key, but algorithm ed25519-sha256 needs an ed25519 key/);

  const relay = await startRelay(t, doc, ports);
  const atStart = await relay.waitLog((l) => l.event === 'dkim.key_error');
  assert.equal(atStart.domain, 'example.org');
  assert.equal(atStart.selector, 'wrongalg');
  assert.equal(atStart.file, rsa.file);
  assert.match(String(atStart.reason), /needs an ed25519 key/);
  assert.equal(relay.logs.filter((l) => l.event === 'dkim.key_error').length, 1, 'once at start, not per message');

  const next = { ...doc, dkim: { keys: [{ domain: 'example.org', selector: 'junk', key_file: junk }] } };
  const file2 = join(dir, 'next.yaml');
  writeFileSync(file2, stringify(next));
  const applied = await runCli(['config', 'import', file2, '--data', relay.dataDir]);
  assert.equal(applied.status, 0, applied.stderr);
  assert.match(applied.stderr, /warning: .*junk\.pem: not a PEM private key/);
  const atApply = await relay.waitLog((l) => l.event === 'dkim.key_error' && l.selector === 'junk');
  assert.equal(atApply.file, junk);
  assert.match(String(atApply.reason), /not a PEM private key/);
});
