// Memory of the content rules, measured: a zip bomb stops at the archive
// limits (nested archives inflated into a temp file past 1 MiB, never into
// memory), a recursive one at max_entries, and a 50 MB message goes through
// the check with the process's memory flat (sampled while it runs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Findings } from '../../src/config/issues.ts';
import { Reader } from '../../src/config/reader.ts';
import { readContent, type ContentSettings } from '../../src/config/content-settings.ts';
import { evaluateMessage } from '../../src/content/evaluate.ts';
import { contentRules } from '../../src/checks/content-rules.ts';
import type { SessionFacts, DataInput, Verdict } from '../../src/checks/check.ts';
import { client, snapshotOf } from '../policy/helpers.ts';
import { composed, pyZip, sourceOf } from './messages.ts';

function settings(doc: unknown): ContentSettings {
  const f = new Findings();
  const s = readContent(new Reader(f), doc);
  assert.deepEqual(f.errors, []);
  return s;
}

/** Runs fn while sampling the resident set every 5 ms; the peak above the level before it. */
async function peakGrowth<T>(fn: () => Promise<T>): Promise<{ value: T; growth: number }> {
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, growth: peak - before };
  } finally {
    clearInterval(timer);
  }
}

const MB = 1024 * 1024;
const rule = { name: 'exe', match: { extension: ['exe'], archive: true }, action: 'reject' };

test('a zip bomb: a 128 MiB nested archive is inflated to disk within the limits, memory bounded; tighter limits stop it', async () => {
  // inner.zip holds 128 MiB stored as is; the outer zip deflates it to a few hundred KiB.
  const bomb = pyZip({ entries: [{ name: 'inner.zip', zip: { entries: [{ name: 'zeros.bin', zeros: 128 * MB, stored: true }, { name: 'payload.exe', text: 'MZ' }], } }] });
  assert.ok(bomb.length < 2 * MB, `the bomb is small (${bomb.length} octets)`);
  const msg = await composed({ attachments: [{ filename: 'invoice.zip', content: bomb }] });
  const tmp = mkdtempSync(join(tmpdir(), 'content-bomb-'));
  try {
    // Limits that let it through: 128 MiB inflated into a temp file; the memory grows by a fraction of that (GC lag, zlib; measured about 12-40 MiB), not by it: under half.
    const wide = settings({ rules: [rule], archive: { max_size: 200 * MB, max_expanded: 200 * MB, on_error: 'quarantine' } });
    const { value: e1, growth: g1 } = await peakGrowth(() => evaluateMessage(wide, sourceOf(msg).chunks(), { relayed: false, tmp }));
    assert.equal(e1?.decision.action, 'reject', 'payload.exe inside inner.zip is found');
    assert.deepEqual(e1?.decision.hits[0]!.part!.inArchive, ['invoice.zip', 'inner.zip']);
    assert.ok(g1 < 64 * MB, `memory grew by ${(g1 / MB).toFixed(1)} MiB while 128 MiB were inflated`);
    assert.deepEqual(readdirSync(tmp), [], 'the temp file is gone');
    // max_expanded below the inner archive: it is not inflated at all, and on_error judges it.
    const tight = settings({ rules: [rule], archive: { max_size: 200 * MB, max_expanded: 16 * MB, on_error: 'quarantine' } });
    const { value: e2, growth: g2 } = await peakGrowth(() => evaluateMessage(tight, sourceOf(msg).chunks(), { relayed: false, tmp }));
    assert.equal(e2?.decision.action, 'quarantine');
    assert.equal(e2?.decision.hits[0]!.rule, 'archive.on_error');
    assert.match(e2!.decision.hits[0]!.what, /inner\.zip not read: inflating it passes 16777216 octets \(content\.archive\.max_expanded\)/);
    assert.ok(g2 < 16 * MB, `memory grew by ${(g2 / MB).toFixed(1)} MiB`);
    // max_size below it: the same, said so.
    const small = settings({ rules: [rule], archive: { max_size: 8 * MB, on_error: 'reject' } });
    const e3 = await evaluateMessage(small, sourceOf(msg).chunks(), { relayed: false, tmp });
    assert.equal(e3?.decision.action, 'reject');
    assert.match(e3!.decision.hits[0]!.what, /larger than 8388608 octets \(content\.archive\.max_size\)/);
    console.log(`zip bomb: ${bomb.length} octets attached, 128 MiB nested; memory growth ${(g1 / MB).toFixed(1)} MiB inflating it, ${(g2 / MB).toFixed(1)} MiB refusing it`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a recursive zip bomb stops at max_entries', async () => {
  let level: { entries: { name: string; text?: string; zip?: unknown }[] } = { entries: Array.from({ length: 10 }, (_, i) => ({ name: `f${i}.txt`, text: 'x' })) };
  for (let d = 0; d < 3; d++) level = { entries: Array.from({ length: 10 }, (_, i) => ({ name: `l${d}-${i}.zip`, zip: level })) };
  const msg = await composed({ attachments: [{ filename: 'r.zip', content: pyZip(level as Parameters<typeof pyZip>[0]) }] });
  const e = await evaluateMessage(settings({ rules: [rule], archive: { max_entries: 50, max_depth: 10, on_error: 'quarantine' } }), sourceOf(msg).chunks(), { relayed: false });
  assert.equal(e?.inspection.entries.length, 50, 'exactly the limit of names is listed');
  assert.equal(e?.decision.action, 'quarantine');
  assert.match(e!.decision.hits[0]!.what, /more than 50 names in archives \(content\.archive\.max_entries\)/);
});

test('a 50 MB message through the check: memory flat', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'content-50mb-'));
  const file = join(dir, 'big.eml');
  try {
    // Written in pieces: a text part, a 50 MB base64 attachment, a zip after it with an executable.
    const out = createWriteStream(file);
    out.write('From: a@example.org\r\nTo: u@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/octet-stream; name="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n');
    const line = 57 * 1000;
    for (let done = 0; done < 50 * MB; done += line) {
      const b64 = randomBytes(line).toString('base64').replace(/.{76}/g, '$&\r\n');
      if (!out.write(b64.endsWith('\r\n') ? b64 : `${b64}\r\n`)) await once(out, 'drain');
    }
    const zip = pyZip({ entries: [{ name: 'tool.exe', text: 'MZ' }] }).toString('base64').replace(/.{76}/g, '$&\r\n');
    out.end(`\r\n--b\r\nContent-Type: application/zip; name="tools.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n${zip}\r\n--b--\r\n`);
    await once(out, 'finish');
    const size = statSync(file).size;
    assert.ok(size > 50 * MB);
    const snap = snapshotOf({ hostname: 'mx.test.example', domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }], content: { rules: [rule] } });
    const facts = { snap, relayRight: { right: null, why: '' }, client: client('203.0.113.9') } as unknown as SessionFacts;
    const input = { contents: async () => ({ size, chunks: () => createReadStream(file, { highWaterMark: 64 * 1024 }) }) } as unknown as DataInput;
    const { value: v, growth } = await peakGrowth(async () => (await contentRules.data!.run(facts, input)) as Verdict);
    assert.equal(v.kind, 'refuse', 'the executable in the zip after 50 MB is found');
    assert.ok(v.kind === 'refuse' && v.error.code === 550);
    assert.ok(growth < 24 * MB, `memory grew by ${(growth / MB).toFixed(1)} MiB for a ${(size / MB).toFixed(1)} MiB message`);
    console.log(`50 MB message: ${size} octets through the check, memory growth ${(growth / MB).toFixed(1)} MiB, ${JSON.stringify((v.log as { content: { ms: number } }).content.ms)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
