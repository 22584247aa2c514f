// DKIM and the 8BITMIME→7bit conversion at delivery: a signed 8-bit message
// to a hop without 8BITMIME is converted (quoted-printable) and signed again,
// so that the signature the hop receives verifies (python3-dkim over the test
// DNS server); to a hop with 8BITMIME the message goes as stored with the
// signature made at the commit, which verifies as well.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawClient, queuedId, relayDoc, startRelay, type Relay } from '../smtp/harness.ts';
import { startSink, type Sink } from '../delivery/sink.ts';
import { dnsmasqMissing, startDns } from '../delivery/dns-server.ts';
import { dkimpyMissing, dkimpyVerify, keygen } from './helpers.ts';

const skip = dnsmasqMissing() || dkimpyMissing();

const EIGHT = Buffer.from(
  ['From: Alice <alice@example.org>', 'To: <a@example.com>', 'Subject: eight bit', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', 'Grüße aus Köln, schön.', ''].join('\r\n'),
  'utf8',
);

async function submit8(relay: Relay, data: Buffer): Promise<string> {
  const c = await RawClient.connect(relay.ports.mx);
  try {
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[ -]/);
    assert.match((await c.cmd('MAIL FROM:<alice@example.org> BODY=8BITMIME')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<a@example.com>')) ?? '', /^250 /);
    assert.match((await c.cmd('DATA')) ?? '', /^354 /);
    c.write(Buffer.concat([data, Buffer.from('.\r\n')]));
    const r = (await c.reply()) ?? '(closed)';
    await c.cmd('QUIT');
    return queuedId(r);
  } finally {
    c.end();
  }
}

async function rig(t: { after(fn: () => unknown): void }, eightBitMime: boolean): Promise<{ relay: Relay; hop: Sink; dnsServer: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-dkim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const g = await keygen('example.org', 'sel', 'rsa-sha256', join(dir, 'k.pem'));
  const dns = await startDns(t, { txt: [{ name: g.record.name, text: g.record.value }] });
  const hop = await startSink({ address: '127.0.0.51', eightBitMime, smtputf8: false });
  t.after(() => hop.close());
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'example.com', route: { hosts: [`${hop.address}:${hop.port}`] } }],
    delivery: { enabled: true },
    // Mail for our own domain (example.com) is signed with sign: all.
    dkim: { keys: [{ domain: 'example.org', selector: 'sel', key_file: g.file }], sign: 'all' },
  });
  return { relay: await startRelay(t, doc, ports), hop, dnsServer: dns.server };
}

test('8-bit signed mail to a hop without 8BITMIME: converted, signed again, and the signature verifies', { skip }, async (t) => {
  const { relay, hop, dnsServer } = await rig(t, false);
  const id = await submit8(relay, EIGHT);
  const resigned = await relay.waitLog((l) => l.event === 'dkim.resigned' && l.id === id, 30_000);
  assert.equal(resigned.signed, true);
  const [m] = await hop.waitFor(1, 30_000);
  const raw = m?.raw ?? Buffer.alloc(0);
  const text = raw.toString('latin1');
  assert.match(text, /Content-Transfer-Encoding: quoted-printable/, 'the conversion happened');
  assert.equal((text.match(/^DKIM-Signature:/gim) ?? []).length, 1, 'the old signature is replaced, not kept beside the new one');
  assert.deepEqual((await dkimpyVerify(raw, dnsServer)).map((v) => v.ok), [true]);
});

test('8-bit signed mail to a hop with 8BITMIME: sent as stored, the commit-time signature verifies', { skip }, async (t) => {
  const { relay, hop, dnsServer } = await rig(t, true);
  const id = await submit8(relay, EIGHT);
  await relay.waitLog((l) => l.event === 'delivery' && l.id === id && l.status === 'delivered', 30_000);
  const [m] = await hop.waitFor(1);
  const raw = m?.raw ?? Buffer.alloc(0);
  assert.match(raw.toString('utf8'), /Grüße aus Köln/);
  assert.equal(relay.logs.filter((l) => l.event === 'dkim.resigned').length, 0);
  assert.deepEqual((await dkimpyVerify(raw, dnsServer)).map((v) => v.ok), [true]);
});
