// The quarantine digest end to end (issue 21), with real parts: SpamAssassin's
// spamd quarantines a GTUBE message for two local recipients; the digest
// (POST /api/quarantine/digest, and `mailwarden quarantine digest` through
// the control socket) is queued and delivered by the normal route to a sink
// SMTP server started here; Python's `email` package parses it; Chromium
// opens alice's release link (a GET that changes nothing), presses Release,
// and the message reaches the next hop for alice only while bob's share stays
// quarantined. A forged link and an expired one (signed with the store's own
// secret) get 403 "not valid"; a delete link's page does nothing until its
// button is pressed; a used link says the message is gone.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { browserSkip, openBrowser, type BrowserRig } from '../web/browser-harness.ts';
import { startSink, type Sink } from '../delivery/sink.ts';
import { engineAvailable, GTUBE, startSpamd, type RunningSpamd } from '../scan/engines.ts';
import { message, sendMessage } from '../scan/scan-helpers.ts';
import { runCli } from '../smtp/harness.ts';
import { SqliteQuarantineStateStore } from '../../src/quarantine/sqlite-quarantine-state-store.ts';
import { LinkSigner } from '../../src/quarantine/link-token.ts';

const run = promisify(execFile);
const spamdAvail = engineAvailable('spamd');
const skip = browserSkip || (spamdAvail.ok ? false : spamdAvail.reason);

let spamd: RunningSpamd | null = null;
let sink: Sink;
let rig: BrowserRig;
const scratch = mkdtempSync(join(tmpdir(), 'mailwarden-digest-'));

before(async () => {
  if (skip) return;
  spamd = await startSpamd();
  sink = await startSink({ address: '127.0.0.31' });
  rig = await openBrowser({
    domains: [{ name: 'example.com', route: { hosts: [`127.0.0.31:${sink.port}`] } }],
    delivery: { enabled: true },
    antispam: { enabled: true, engine: 'spamassassin', spamd: spamd.address, timeout: '20s', spam_action: 'quarantine', reject_score: null },
  });
});
after(async () => {
  await rig?.close();
  await sink?.close();
  await spamd?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

interface Parsed {
  subject: string;
  from: string;
  to: string;
  auto_submitted: string;
  content_type: string;
  parts: Record<string, { text: string; links: string[] }>;
}

async function parse(raw: Buffer): Promise<Parsed> {
  const file = join(scratch, `m${Date.now()}${Math.random()}.eml`);
  writeFileSync(file, raw);
  const { stdout } = await run('/usr/bin/python3', [join(import.meta.dirname, 'parse-mail.py'), file]);
  return JSON.parse(stdout) as Parsed;
}

const fetchText = async (url: string, init?: RequestInit) => {
  // The admin listener's certificate is the daemon's own: the page is fetched by Chromium's request API.
  const r = await rig.context.request.fetch(url, { method: init?.method ?? 'GET', ...(init?.body ? { data: init.body as string, headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {}), maxRedirects: 0 });
  return { status: r.status(), text: await r.text(), headers: r.headers() };
};

test('the digest is delivered, parsed, and its release link releases alice\'s share only', { skip }, async () => {
  const base = rig.base.replace(/\/$/, '');
  // The settings: the digest on, its links on this admin listener (its port is known only now).
  await rig.call('PUT', '/api/settings/quarantine', { value: { digest: { enabled: true, schedule: 'daily 08:00', base_url: base, link_lifetime: '1h' }, self_release: { malware: false, spam: true, content: false }, portal: { enabled: true } } });

  const spam = await sendMessage(rig.relay.ports.mx, { client: '127.0.0.2', from: 'spammer@outside.example', to: ['alice@example.com', 'Bob@Example.com'], message: message(`Buy now.\r\n${GTUBE}\r\n`, { Subject: 'Cheap =?UTF-8?Q?offer_=E2=82=AC?=' }) });
  assert.match(spam.reply, /^250 /);
  const quarantined = await rig.relay.waitLog((l) => l.event === 'quarantined');
  const qid = quarantined.id as string;

  // The CLI's dry run, through the running daemon: both would get one, nothing is queued.
  const dry = await runCli(['quarantine', 'digest', '--data', rig.relay.dataDir, '--dry-run', '--json']);
  assert.equal(dry.status, 0, dry.stderr);
  assert.deepEqual(JSON.parse(dry.stdout).sent.map((d: { to: string; entries: number; id?: string }) => [d.to, d.entries, d.id]).sort(), [['Bob@Example.com', 1, undefined], ['alice@example.com', 1, undefined]]);
  const none = await runCli(['quarantine', 'digest', '--data', rig.relay.dataDir, '--to', 'carol@example.com']);
  assert.equal(none.status, 1, 'no digest for a recipient without quarantined mail');

  // The administrator sends it now (POST /api/quarantine/digest).
  const sent = await rig.call('POST', '/api/quarantine/digest', {});
  assert.equal(sent.sent.length, 2);
  const msgs = await sink.waitFor(2, 20_000);
  const toAlice = msgs.find((m) => m.to.includes('alice@example.com'));
  assert.ok(toAlice, 'alice got a digest');
  assert.equal(toAlice.from, '', 'sent from the null sender');
  const logged = await rig.relay.waitLog((l) => l.event === 'quarantine.digest.sent' && l.to === 'alice@example.com');
  assert.equal(logged.entries, 1);

  const p = await parse(toAlice.raw);
  assert.equal(p.content_type, 'multipart/alternative');
  assert.equal(p.to, 'alice@example.com');
  assert.equal(p.auto_submitted, 'auto-generated');
  assert.match(p.subject, /^Quarantine: 1 message held for you$/);
  const text = p.parts['text/plain'];
  const html = p.parts['text/html'];
  assert.ok(text && html);
  assert.match(text.text, /From: {4}spammer@outside\.example/);
  assert.match(text.text, /Subject: Cheap offer €/);
  assert.match(text.text, /Reason: {2}spam score/);
  assert.match(html.text, /Cheap offer €/);
  const release = text.links.find((l) => text.text.includes(`Release: ${l}`));
  const del = text.links.find((l) => text.text.includes(`Delete:  ${l}`));
  assert.ok(release && del, text.text);
  assert.ok(release.startsWith(`${base}/quarantine/link?t=`));
  assert.ok(html.links.includes(release) && html.links.includes(del), 'the same links in the HTML part');
  assert.ok(text.links.includes(`${base}/#/portal`), 'the portal link');

  // A GET of the delete link shows a page and changes nothing.
  await rig.page.goto(del);
  await rig.page.getByRole('button', { name: 'Delete' }).waitFor();
  assert.deepEqual((await rig.call('GET', `/api/quarantine/${qid}`)).recipients.map((r: { address: string }) => r.address), ['alice@example.com', 'Bob@Example.com']);

  // The release link in Chromium: the page, then the button.
  await rig.page.goto(release);
  assert.match(await rig.page.locator('body').innerText(), /spammer@outside\.example[\s\S]*Cheap offer €[\s\S]*spam score/);
  await rig.shot('quarantine-link-release');
  await rig.page.getByRole('button', { name: 'Release' }).click();
  await rig.page.getByRole('heading', { name: 'Message released' }).waitFor();
  const delivered = await sink.waitFor(3, 20_000);
  const released = delivered[2];
  assert.ok(released);
  assert.deepEqual(released.to, ['alice@example.com']);
  assert.match(released.raw.toString('latin1'), /GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL/);
  const line = await rig.relay.waitLog((l) => l.event === 'quarantine.released');
  assert.deepEqual([line.id, line.recipients, line.by, line.category], [qid, ['alice@example.com'], { kind: 'link', address: 'alice@example.com' }, 'spam']);
  // Bob's share is still quarantined.
  assert.deepEqual((await rig.call('GET', `/api/quarantine/${qid}`)).recipients.map((r: { address: string }) => r.address), ['Bob@Example.com']);

  // The same link again: gone for alice. Its delete link too.
  const again = await fetchText(release);
  assert.equal(again.status, 410);
  assert.match(again.text, /no longer in quarantine/);
  assert.equal(again.headers['referrer-policy'], 'no-referrer');
  const t = new URL(del).searchParams.get('t') ?? '';
  assert.equal((await fetchText(`${base}/quarantine/link`, { method: 'POST', body: `t=${t}` })).status, 410);

  // Forged: one character of the token changed.
  const forged = release.slice(0, -3) + (release.at(-3) === 'A' ? 'B' : 'A') + release.slice(-2);
  const f = await fetchText(forged);
  assert.equal(f.status, 403);
  assert.match(f.text, /This link is not valid/);
  await rig.page.goto(forged);
  assert.match(await rig.page.locator('h1').innerText(), /This link is not valid/);
  const fp = await fetchText(`${base}/quarantine/link`, { method: 'POST', body: `t=${new URL(forged).searchParams.get('t')}` });
  assert.equal(fp.status, 403);

  // Expired: signed with the store's secret, a minute ago; for bob's share, which is still there.
  const state = new SqliteQuarantineStateStore(join(rig.relay.dataDir, 'quarantine.db'));
  const signer = new LinkSigner(await state.signingSecret());
  await state.close();
  const expired = signer.sign({ action: 'release', id: qid, address: 'bob@example.com', exp: Date.now() - 60_000 });
  const e = await fetchText(`${base}/quarantine/link?t=${expired}`);
  assert.equal(e.status, 403);
  assert.match(e.text, /not valid/);
  assert.equal((await fetchText(`${base}/quarantine/link`, { method: 'POST', body: `t=${expired}` })).status, 403);
  // A 'view' token cannot act; a valid token reaches nothing else (the API still wants a login).
  const view = signer.sign({ action: 'view', id: qid, address: 'bob@example.com', exp: Date.now() + 60_000 });
  assert.equal((await fetchText(`${base}/quarantine/link`, { method: 'POST', body: `t=${view}` })).status, 403);
  assert.equal((await fetchText(`${base}/api/quarantine?t=${view}`)).status, 401);
  assert.deepEqual((await rig.call('GET', `/api/quarantine/${qid}`)).recipients.map((r: { address: string }) => r.address), ['Bob@Example.com']);
});
