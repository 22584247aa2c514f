// The strip action end to end, through the real daemon: a content rule with
// action strip on an attachment extension; the next hop (a sink) gets the
// message without that part, with the notice, the rest intact (read back by
// Python's email package); signed with a DKIM key of the From domain, the
// signature the next hop receives verifies (python3-dkim over the test DNS
// server), because the body is rewritten before the signature is made. A
// part the strip cannot remove alone (inside multipart/signed) sends the
// message to the quarantine instead, unchanged (the strip's own refusal,
// rule content:strip, is tested in test/smtp/receive-message.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { relayDoc, startRelay, type Relay } from '../smtp/harness.ts';
import { startSink, type Sink } from '../delivery/sink.ts';
import { dnsmasqMissing, startDns } from '../delivery/dns-server.ts';
import { dkimpyMissing, dkimpyVerify, keygen } from '../dkim/helpers.ts';
import { sendMessage, stored } from '../scan/scan-helpers.ts';

const PY = join(import.meta.dirname, 'mime_parts.py');
const skipDkim = dnsmasqMissing() || dkimpyMissing();

interface Leaf {
  type: string;
  filename: string | null;
  sha: string;
  text?: string;
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-strip-e2e-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Python's reading of each message: its leaf parts. */
function leaves(dir: string, ...messages: Buffer[]): Leaf[][] {
  const files = messages.map((m, i) => {
    const f = join(dir, `m${i}.eml`);
    writeFileSync(f, m);
    return f;
  });
  return (JSON.parse(execFileSync('python3', [PY, 'parts', ...files], { encoding: 'utf8' })) as { leaves: Leaf[] }[]).map((p) => p.leaves);
}

function composed(): Promise<Buffer> {
  const mail = new MailComposer({
    from: 'Alice <alice@example.org>',
    to: 'bob@example.com',
    subject: 'the figures',
    messageId: '<strip-e2e@example.org>',
    text: 'Hello Bob,\nthe figures and the tool.\n',
    html: '<p>Hello Bob, the figures and the tool.</p>',
    attachments: [
      { filename: 'figures.csv', content: 'q,amount\n1,100\n2,250\n' },
      { filename: 'tool.exe', content: Buffer.concat([Buffer.from('MZ'), Buffer.alloc(20_000, 0x90)]) },
      { filename: 'photo.jpg', content: Buffer.from(Array.from({ length: 30_000 }, (_, i) => (i * 31) % 256)) },
    ],
  });
  // The composer keeps the text's bare LFs; on the wire (and in the spool) every line ends in CRLF.
  return new Promise((resolve, reject) => mail.compile().build((err, m) => (err ? reject(err) : resolve(Buffer.from(m.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1')))));
}

const STRIP_EXE = { rules: [{ name: 'no-exe', match: { extension: ['exe'] }, direction: 'both', action: 'strip' }] };

async function rig(t: Parameters<typeof startRelay>[0] & { after(fn: () => unknown): void }, extra: Record<string, unknown> = {}): Promise<{ relay: Relay; hop: Sink }> {
  const hop = await startSink({ address: '127.0.0.53' });
  t.after(() => hop.close());
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'example.com', route: { hosts: [`${hop.address}:${hop.port}`] } }],
    delivery: { enabled: true },
    content: STRIP_EXE,
    ...extra,
  });
  return { relay: await startRelay(t, doc, ports), hop };
}

test('a strip rule on an extension: the next hop gets the message without the part, with the notice, the rest intact', async (t) => {
  const dir = tempDir(t);
  const { relay, hop } = await rig(t);
  const original = await composed();
  const r = await sendMessage(relay.ports.mx, { from: 'alice@example.org', to: ['bob@example.com'], message: original });
  assert.match(r.reply, /^250 /);
  const queued = await relay.waitLog((l) => l.event === 'queued' && l.id === r.id, 30_000);
  assert.match(String(queued.rewrite), /^stripped 1 part/, 'the queued line says what was stripped');
  const [m] = await hop.waitFor(1, 30_000);
  const raw = m?.raw ?? Buffer.alloc(0);
  const [before, after] = leaves(dir, original, raw) as [Leaf[], Leaf[]];
  assert.deepEqual(before.map((l) => l.filename ?? l.type), ['text/plain', 'text/html', 'figures.csv', 'tool.exe', 'photo.jpg']);
  assert.deepEqual(after.slice(0, -1), before.filter((l) => l.filename !== 'tool.exe'), 'every other part decodes to the same octets');
  const notice = after.at(-1);
  assert.equal(notice?.type, 'text/plain');
  assert.equal(notice?.filename, null);
  assert.match(notice?.text ?? '', /removed/);
  assert.match(notice?.text ?? '', /^\* .*tool\.exe/m, 'the notice names the part removed and the rule');
  assert.ok(!/name="?tool\.exe/.test(raw.toString('latin1')), 'nothing of the part is left (the notice names it, no part does)');
});

test('relayed and signed with the From domain\'s key: the signature the next hop receives verifies over the stripped message', { skip: skipDkim }, async (t) => {
  const dir = tempDir(t);
  const g = await keygen('example.org', 'strip', 'rsa-sha256', join(dir, 'k.pem'));
  const dns = await startDns(t, { txt: [{ name: g.record.name, text: g.record.value }] });
  const { relay, hop } = await rig(t, { dkim: { keys: [{ domain: 'example.org', selector: 'strip', key_file: g.file }], sign: 'all' } });
  const r = await sendMessage(relay.ports.mx, { from: 'alice@example.org', to: ['bob@example.com'], message: await composed() });
  assert.match(r.reply, /^250 /);
  const queued = await relay.waitLog((l) => l.event === 'queued' && l.id === r.id, 30_000);
  assert.equal((queued.dkim as { signed?: boolean } | undefined)?.signed, true);
  assert.match(String(queued.rewrite), /^stripped 1 part/);
  const [m] = await hop.waitFor(1, 30_000);
  const raw = m?.raw ?? Buffer.alloc(0);
  assert.ok(!/name="?tool\.exe/.test(raw.toString('latin1')), 'the part was stripped (else the signature proves nothing here)');
  assert.deepEqual((await dkimpyVerify(raw, dns.server)).map((v) => [v.d, v.ok]), [['example.org', true]]);
  // The verifier is not a rubber stamp: the removed part put back (any body change) breaks it.
  const tampered = Buffer.from(raw.toString('latin1').replace('q,amount', 'q,amounT').replace('cSxhbW91bnQ', 'cSxhbW91blQ'), 'latin1');
  assert.deepEqual((await dkimpyVerify(tampered, dns.server)).map((v) => v.ok), [false]);
});

test('a part the strip cannot remove (inside multipart/signed): the message is quarantined as it came, nothing reaches the hop', async (t) => {
  const { relay, hop } = await rig(t);
  const signed = [
    'From: alice@example.org',
    'To: bob@example.com',
    'Subject: signed with an exe',
    'MIME-Version: 1.0',
    'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="s1"',
    '',
    '--s1',
    'Content-Type: multipart/mixed; boundary="m1"',
    '',
    '--m1',
    'Content-Type: text/plain',
    '',
    'see the tool',
    '--m1',
    'Content-Type: application/octet-stream; name="tool.exe"',
    'Content-Disposition: attachment; filename="tool.exe"',
    'Content-Transfer-Encoding: base64',
    '',
    'TVqQAAMAAAAEAAAA',
    '--m1--',
    '',
    '--s1',
    'Content-Type: application/pkcs7-signature; name="smime.p7s"',
    'Content-Transfer-Encoding: base64',
    '',
    'MIAGCSqGSIb3DQEHAqCAMIACAQEx',
    '--s1--',
    '',
  ].join('\r\n');
  const r = await sendMessage(relay.ports.mx, { from: 'alice@example.org', to: ['bob@example.com'], message: signed });
  assert.match(r.reply, /^250 /);
  const line = await relay.waitLog((l) => l.event === 'quarantined' && l.id === r.id, 30_000);
  // Quarantined by the content rule itself (it knows the part cannot go alone) or, failing that, by the
  // strip's refusal (content:strip): either way a content quarantine, never the part delivered.
  assert.match(String(line.rule), /^content:(no-exe|strip)$/);
  assert.ok(stored(relay, r.id ?? '', 'quarantine').endsWith(signed), 'the message as it came');
  assert.equal(hop.messages.length, 0);
});
