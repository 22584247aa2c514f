// What a message gets that the walk cannot read to the end or that hides an
// executable past the archive limits: more than 1000 MIME parts or 1000
// nested multiparts with the .exe past mailsplit's limit (content.on_unreadable,
// quarantine by default, with the whole message's size reported); a damaged
// archive under the default archive.on_error (quarantine); a zip inside a zip
// under another name, known by its signature; a part that names its file
// twice (each name counts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Findings } from '../../src/config/issues.ts';
import { Reader } from '../../src/config/reader.ts';
import { defaultContent, readContent, type ContentSettings } from '../../src/config/content-settings.ts';
import { evaluateMessage, type Evaluation } from '../../src/content/evaluate.ts';
import { contentVerdict } from '../../src/checks/content-rules.ts';
import { composed, pyZip, sourceOf } from './messages.ts';

function settings(doc: unknown): ContentSettings {
  const f = new Findings();
  const s = readContent(new Reader(f), doc);
  assert.deepEqual(f.errors, [], 'the test settings are valid');
  return s;
}

/** size: as the check gives it (the spool's); known: as content test gives it (the file's); neither: unknown. */
async function judge(s: ContentSettings, msg: Buffer, size?: { size: number } | { knownSize: number }): Promise<Evaluation> {
  const e = await evaluateMessage(s, sourceOf(msg, 4096).chunks(), { relayed: false, ...(size ?? { always: true }) });
  assert.ok(e);
  return e;
}

const EXE = { rules: [{ name: 'exe', match: { extension: ['exe'], archive: true }, action: 'quarantine' }] };
const HEAD = 'From: x@ext.test\r\nTo: alice@example.com\r\nSubject: t\r\nMIME-Version: 1.0\r\n';
const exePart = (name: string) => `Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAA==\r\n`;

/** 10,000 tiny parts, then late.exe. */
function manyParts(): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < 10_000; i++) parts.push(`--b\r\nContent-Type: text/plain\r\n\r\n${i}\r\n`);
  return Buffer.from(`${HEAD}Content-Type: multipart/mixed; boundary="b"\r\n\r\n${parts.join('')}--b\r\n${exePart('late.exe')}--b--\r\n`);
}

/** 1,000 nested multiparts, deep.exe at the bottom. */
function nested(depth = 1000): Buffer {
  let body = exePart('deep.exe');
  for (let i = depth; i >= 1; i--) body = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${body}--b${i}--\r\n`;
  return Buffer.from(HEAD + body);
}

test('an .exe past 10,000 parts or 1,000 nested multiparts: judged by content.on_unreadable (default quarantine), not accepted', async () => {
  for (const msg of [manyParts(), nested()]) {
    const q = await judge(settings(EXE), msg, { knownSize: msg.length });
    assert.ok(q.inspection.incomplete, 'the walk stopped early');
    assert.equal(q.decision.action, 'quarantine', 'the default is quarantine');
    assert.equal(q.decision.hits.at(-1)!.rule, 'on_unreadable');
    assert.equal(q.inspection.size, msg.length, 'the size is the whole message, not what was read (content test)');
    const v = contentVerdict(q, 'mx.example.net', null);
    assert.equal(v.kind, 'quarantine');
    assert.equal((v as { rule: string }).rule, 'content:on_unreadable');

    const r = await judge(settings({ ...EXE, on_unreadable: 'reject' }), msg, { size: msg.length });
    assert.equal(r.decision.action, 'reject');
    assert.equal(r.inspection.size, msg.length, 'the check gives the spool size');
    const rv = contentVerdict(r, 'mx.example.net', null);
    assert.equal(rv.kind, 'refuse');
    const err = (rv as { error: { code: number; enhanced: string; text: string; rule: string } }).error;
    assert.equal(err.code, 550);
    assert.equal(err.enhanced, '5.7.1');
    assert.equal(err.text, 'Message refused: its MIME structure could not be read to the end');
    assert.equal(err.rule, 'content.on_unreadable', 'the log names content.on_unreadable');

    const a = await judge(settings({ ...EXE, on_unreadable: 'accept' }), msg);
    assert.equal(a.decision.action, 'accept', 'accept lets it through, as asked');
  }
  // Rules that look at no part (a header rule) do not need the rest: no on_unreadable hit.
  const h = await judge(settings({ rules: [{ name: 'h', match: { header: { name: 'Subject', regex: 'nomatch' } }, action: 'reject' }] }), manyParts());
  assert.equal(h.decision.action, 'accept');
  // A message under the limit is read whole and judged by its parts.
  const shallow = await judge(settings(EXE), nested(50));
  assert.equal(shallow.inspection.incomplete, null);
  assert.equal(shallow.decision.hits[0]!.rule, 'exe');
  assert.equal(defaultContent().on_unreadable, 'quarantine');
});

test('archive.on_error defaults to quarantine: a damaged zip, and an exe nested past max_depth', async () => {
  assert.equal(defaultContent().archive.on_error, 'quarantine');
  const zip = pyZip({ entries: [{ name: 'notes.txt', text: 'x'.repeat(2000) }] });
  const damaged = await composed({ attachments: [{ filename: 'a.zip', content: zip.subarray(0, zip.length - 30) }] });
  const e = await judge(settings(EXE), damaged);
  assert.equal(e.decision.action, 'quarantine');
  assert.equal(e.decision.hits[0]!.rule, 'archive.on_error');
  const deep = await composed({ attachments: [{ filename: 'a.zip', content: pyZip({ entries: [{ name: 'b.zip', zip: { entries: [{ name: 'x.exe', text: 'MZ' }] } }] }) }] });
  const d = await judge(settings({ ...EXE, archive: { max_depth: 1 } }), deep);
  assert.equal(d.decision.action, 'quarantine');
  assert.match(d.decision.hits[0]!.what, /nested deeper than 1/);
});

test('a zip inside a zip under another name (photo.jpg) is known by its signature and opened', async () => {
  const outer = pyZip({ entries: [{ name: 'readme.txt', text: 'hello' }, { name: 'photo.jpg', zip: { entries: [{ name: 'evil.exe', text: 'MZ' }] } }] });
  const msg = await composed({ attachments: [{ filename: 'outer.zip', content: outer }] });
  const e = await judge(settings(EXE), msg);
  assert.equal(e.decision.action, 'quarantine');
  const hit = e.decision.hits.find((h) => h.rule === 'exe');
  assert.ok(hit, `evil.exe is found: ${JSON.stringify(e.decision.hits.map((h) => h.what))}`);
  assert.deepEqual(hit.part!.inArchive, ['outer.zip', 'photo.jpg']);
  // Past max_depth, a disguised nested zip is an archive problem too.
  const shallow = await judge(settings({ ...EXE, archive: { max_depth: 1 } }), msg);
  assert.equal(shallow.decision.hits[0]!.rule, 'archive.on_error');
  assert.match(shallow.decision.hits[0]!.what, /photo\.jpg.*nested deeper than 1/);
  // A real JPEG inside is not opened.
  const plain = await composed({ attachments: [{ filename: 'outer.zip', content: pyZip({ entries: [{ name: 'photo.jpg', text: 'JFIF not a zip' }] }) }] });
  const p = await judge(settings(EXE), plain);
  assert.equal(p.decision.action, 'accept');
  assert.equal(p.inspection.archiveProblems.length, 0);
});

test('a part that names its file twice: every filename= value counts', async () => {
  const msg = Buffer.from(`${HEAD}Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a.txt"; filename="b.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAA==\r\n--b--\r\n`);
  const e = await judge(settings(EXE), msg);
  assert.equal(e.decision.action, 'quarantine');
  assert.match(e.decision.hits[0]!.what, /extension exe/);
  const swapped = Buffer.from(msg.toString('latin1').replace('filename="a.txt"; filename="b.exe"', 'filename="b.exe"; filename="a.txt"'), 'latin1');
  assert.equal((await judge(settings(EXE), swapped)).decision.action, 'quarantine');
  const name = Buffer.from(msg.toString('latin1').replace('Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a.txt"; filename="b.exe"', 'Content-Type: application/octet-stream; name="a.txt"; name="b.exe"'), 'latin1');
  assert.equal((await judge(settings(EXE), name)).decision.action, 'quarantine');
});
