// Malware scanning end to end with a real clamd (Debian's clamav-daemon, on
// loopback, with a signature database of the test's own that detects EICAR):
// EICAR as a plain body, in a base64 attachment and in a zip is refused,
// quarantined or blackholed per antivirus.action; a quarantined message is
// released and delivered to a next hop; a clean message passes; a 30 MB
// message is scanned in flat memory; clamd on a Unix socket; clamd stopped →
// 451 and nothing queued. Assertions are on what clamd logged it received,
// not only on our log.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { relayDoc, runCli, startRelay, type Relay } from '../smtp/harness.ts';
import { startSink, type Sink } from '../delivery/sink.ts';
import { CLAMD_EICAR_NAME, EICAR, engineAvailable, startClamd, zipDeflated, zipStored, type RunningClamd } from './engines.ts';
import { headerOf, message, messageLog, quarantined, queued, sendMessage, stored, withAttachment } from './scan-helpers.ts';

const avail = engineAvailable('clamd');
const skip = avail.ok ? false : avail.reason;
const OUTSIDE = '127.0.0.2';
let clamd: RunningClamd;

before(async () => {
  if (!skip) clamd = await startClamd();
});
after(async () => {
  await clamd?.stop();
});

async function relayWith(t: Parameters<typeof startRelay>[0], antivirus: Record<string, unknown>, routeTo = '10.9.9.9:25', delivery = false): Promise<Relay> {
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'example.com', route: { hosts: [routeTo] } }],
    antivirus: { enabled: true, clamd: clamd.address, timeout: '20s', ...antivirus },
    delivery: { enabled: delivery },
    // This suite is about clamd: the default content rule (executables, docs/content.md) would quarantine eicar.com before it.
    content: { enabled: false },
  });
  return startRelay(t, doc, ports);
}

const SAMPLES: [string, () => string][] = [
  ['a plain body', () => message(`Here it is:\r\n${EICAR}\r\n`)],
  ['a base64 attachment', () => withAttachment('eicar.com', Buffer.from(EICAR, 'latin1'))],
  ['a zip (stored)', () => withAttachment('eicar.zip', zipStored('eicar.com', Buffer.from(EICAR, 'latin1')), 'application/zip')],
  ['a zip (deflated)', () => withAttachment('eicar.zip', zipDeflated('eicar.com', Buffer.from(EICAR, 'latin1')), 'application/zip')],
];

test('EICAR in a plain body, a base64 attachment and a zip: 554 5.7.0, nothing queued, clamd found it', { skip }, async (t) => {
  const relay = await relayWith(t, { action: 'reject' });
  for (const [label, sample] of SAMPLES) {
    const before = clamd.scans().length;
    const from = `eicar-${label.replace(/\W+/g, '-')}@outside.example`;
    const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, from, message: sample() });
    assert.match(r.reply, new RegExp(`^554 5\\.7\\.0 Message refused: malware found \\(${CLAMD_EICAR_NAME.replace(/\./g, '\\.')}\\)`), label);
    const scans = clamd.scans().slice(before);
    assert.deepEqual(scans.map((s) => [s.verdict, s.detail]), [['FOUND', CLAMD_EICAR_NAME]], `${label}: clamd saw it once and found it`);
    const log = await messageLog(relay, (l) => l.sender === from);
    assert.equal(log.event, 'scan.refused');
    assert.equal(log.rule, 'antivirus.action');
    assert.deepEqual((log.scan as { virus: Record<string, unknown> }).virus.verdict, 'infected');
  }
  assert.deepEqual(queued(relay), []);
  assert.deepEqual(quarantined(relay), []);
});

test('a clean message passes; clamd scanned it and said OK; the log says so', { skip }, async (t) => {
  const relay = await relayWith(t, { action: 'reject' });
  const before = clamd.scans().length;
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'clean@outside.example', message: withAttachment('report.txt', Buffer.from('quarterly numbers\n')) });
  assert.match(r.reply, /^250 2\.0\.0 Ok: queued as /);
  assert.deepEqual(clamd.scans().slice(before).map((s) => s.verdict), ['OK']);
  const log = await messageLog(relay, (l) => l.sender === 'clean@outside.example');
  assert.equal(log.event, 'queued');
  assert.deepEqual({ ...(log.scan as { virus: Record<string, unknown> }).virus, ms: 0 }, { scanned: true, engine: 'clamd', verdict: 'clean', ms: 0 });
  assert.deepEqual((log.scan as { spam: unknown }).spam, { scanned: false, why: 'disabled' });
  assert.deepEqual(queued(relay), [r.id]);
});

test('action quarantine: 250, kept with the reason, listed and shown; release delivers it; delete removes another', { skip }, async (t) => {
  const sink: Sink = await startSink();
  t.after(() => sink.close());
  const relay = await relayWith(t, { action: 'quarantine' }, `127.0.0.1:${sink.port}`, true);
  const a = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'q1@outside.example', message: SAMPLES[1]![1]() });
  const b = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'q2@outside.example', message: SAMPLES[2]![1]() });
  assert.match(a.reply, /^250 /);
  assert.match(b.reply, /^250 /);
  assert.deepEqual(quarantined(relay), [a.id, b.id].sort());
  assert.deepEqual(queued(relay), []);
  const log = await messageLog(relay, (l) => l.sender === 'q1@outside.example');
  assert.equal(log.event, 'quarantined');
  assert.equal(log.reason, `malware found: ${CLAMD_EICAR_NAME}`);

  const list = await runCli(['quarantine', 'list', '--json', '--data', relay.dataDir]);
  assert.equal(list.status, 0, list.stderr);
  const envs = JSON.parse(list.stdout) as { id: string; quarantine: { rule: string; reason: string } }[];
  assert.deepEqual(envs.map((e) => e.id).sort(), [a.id, b.id].sort());
  assert.ok(envs.every((e) => e.quarantine.rule === 'antivirus.action' && e.quarantine.reason.includes(CLAMD_EICAR_NAME)));
  const show = await runCli(['quarantine', 'show', a.id!, '--data', relay.dataDir]);
  assert.equal(show.status, 0);
  assert.match(show.stdout, new RegExp(`X-Mailwarden-Virus: infected \\(${CLAMD_EICAR_NAME.replace(/\./g, '\\.')}\\)`));
  assert.equal(sink.messages.length, 0, 'nothing quarantined is delivered');

  const rel = await runCli(['quarantine', 'release', a.id!, '--data', relay.dataDir]);
  assert.equal(rel.status, 0, rel.stderr);
  assert.equal(rel.stdout, `${a.id} released\n`);
  const [got] = await sink.waitFor(1, 20_000);
  assert.equal(got!.from, 'q1@outside.example');
  assert.deepEqual(got!.to, ['user@example.com']);
  assert.ok(got!.raw.toString('latin1').includes('eicar.com'), 'the message itself was delivered');
  await relay.waitLog((l) => l.event === 'delivery.delivered' || (l.event === 'queue.removed' && l.id === a.id), 20_000).catch(() => null);

  const del = await runCli(['quarantine', 'delete', b.id!, '--data', relay.dataDir]);
  assert.equal(del.status, 0, del.stderr);
  assert.deepEqual(quarantined(relay), []);
  const again = await runCli(['quarantine', 'release', b.id!, '--data', relay.dataDir]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /no message .* in quarantine/);
  assert.equal(sink.messages.length, 1, 'the deleted one never went anywhere');
});

test('action blackhole: 250, then gone: neither queued nor quarantined, logged', { skip }, async (t) => {
  const relay = await relayWith(t, { action: 'blackhole' });
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'bh@outside.example', message: SAMPLES[0]![1]() });
  assert.match(r.reply, /^250 2\.0\.0 Ok: queued as /);
  const log = await messageLog(relay, (l) => l.sender === 'bh@outside.example');
  assert.equal(log.event, 'scan.blackholed');
  assert.equal(log.id, r.id);
  assert.deepEqual(queued(relay), []);
  assert.deepEqual(quarantined(relay), []);
});

test('a 30 MB message is streamed to clamd and scanned in flat memory', { skip }, async (t) => {
  const relay = await relayWith(t, { action: 'reject' });
  const pid = relay.child.pid!;
  const hwm = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
  // Warm up the paths once, so that the peak below is the message's own cost.
  await sendMessage(relay.ports.mx, { client: OUTSIDE, message: message('warm-up') });
  const peakBefore = hwm();
  const line = 'The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrstuvwxyz\r\n';
  const body = line.repeat(Math.ceil((30 * 1024 * 1024) / line.length));
  const before = clamd.scans().length;
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'big@outside.example', message: message(body) });
  assert.match(r.reply, /^250 /);
  const scans = clamd.scans().slice(before);
  assert.deepEqual(scans.map((s) => s.verdict), ['OK'], 'clamd scanned the whole stream');
  assert.equal(clamd.sizeLimitHits(), 0);
  const growth = hwm() - peakBefore;
  t.diagnostic(`peak RSS growth for a 30 MB scanned message: ${(growth / 1048576).toFixed(1)} MB`);
  assert.ok(growth < 24 * 1024 * 1024, `peak RSS grew by ${(growth / 1048576).toFixed(1)} MB: the message was held in memory`);
  const log = await messageLog(relay, (l) => l.sender === 'big@outside.example');
  assert.equal((log.scan as { virus: { verdict: string } }).virus.verdict, 'clean');
  assert.ok((log.size as number) > 30 * 1024 * 1024);
});

test('clamd on a Unix socket', { skip }, async (t) => {
  const local = await startClamd({ unixSocket: true });
  t.after(() => local.stop());
  const { doc, ports } = await relayDoc({ domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }], antivirus: { enabled: true, clamd: local.socketPath } });
  const relay = await startRelay(t, doc, ports);
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, message: SAMPLES[0]![1]() });
  assert.match(r.reply, /^554 5\.7\.0 /);
  const ok = await sendMessage(relay.ports.mx, { client: OUTSIDE, message: message('fine') });
  assert.match(ok.reply, /^250 /);
  assert.deepEqual(local.scans().map((s) => s.verdict), ['FOUND', 'OK']);
});

test('clamd stopped: 451 4.7.0 and nothing queued (fail closed)', { skip }, async (t) => {
  const own = await startClamd();
  const { doc, ports } = await relayDoc({ domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }], antivirus: { enabled: true, clamd: own.address, timeout: '5s' } });
  const relay = await startRelay(t, doc, ports);
  assert.match((await sendMessage(relay.ports.mx, { client: OUTSIDE, message: message('while it runs') })).reply, /^250 /);
  await own.stop();
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'after-stop@outside.example', message: message('after it stopped') });
  assert.match(r.reply, /^451 4\.7\.0 /);
  assert.equal(queued(relay).length, 1, 'only the message from before the stop');
  const log = await messageLog(relay, (l) => l.sender === 'after-stop@outside.example');
  assert.equal(log.rule, 'antivirus.on_error');
  assert.doesNotMatch(headerOf(stored(relay, queued(relay)[0]!)), /X-Mailwarden-Virus/, 'a clean message gets no virus header');
});

test('with the daemon stopped, quarantine release works on the files (under the lock) and the message is queued', { skip }, async (t) => {
  const relay = await relayWith(t, { action: 'quarantine' });
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, message: SAMPLES[0]![1]() });
  assert.deepEqual(quarantined(relay), [r.id]);
  assert.equal(await relay.stop(), 0);
  const rel = await runCli(['quarantine', 'release', r.id!, '--data', relay.dataDir]);
  assert.equal(rel.status, 0, rel.stderr);
  assert.deepEqual(quarantined(relay), []);
  const list = await runCli(['queue', 'list', '--json', '--data', relay.dataDir]);
  const envs = JSON.parse(list.stdout) as { id: string; quarantine?: unknown; history?: { event: string; detail?: string }[] }[];
  assert.deepEqual(envs.map((e) => e.id), [r.id]);
  assert.equal(envs[0]!.quarantine, undefined);
  assert.equal(envs[0]!.history?.at(-1)?.event, 'released from quarantine');
  assert.match(envs[0]!.history?.at(-1)?.detail ?? '', new RegExp(`was: malware found: ${CLAMD_EICAR_NAME.replace(/\./g, '\\.')}`));
});
