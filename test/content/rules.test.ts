// The content rules on real messages: built with nodemailer's MIME composer
// and with Python's email package (zips with Python's zipfile), walked as a
// stream (src/content/inspect.ts) and judged (match-rules.ts): a blocked
// extension in a plain attachment, in RFC 2231 (also continued) and RFC 2047
// encoded names, a double extension, names in a zip and a nested zip,
// damaged and encrypted archives, MIME type, header and body expressions,
// the direction, and the default rules of a new installation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Findings } from '../../src/config/issues.ts';
import { Reader } from '../../src/config/reader.ts';
import { readContent, type ContentSettings } from '../../src/config/content-settings.ts';
import { evaluateMessage, type Evaluation } from '../../src/content/evaluate.ts';
import { composed, pyMessage, pyZip, sourceOf } from './messages.ts';

function settings(doc: unknown): ContentSettings {
  const f = new Findings();
  const s = readContent(new Reader(f), doc);
  assert.deepEqual(f.errors, [], 'the test settings are valid');
  return s;
}

async function judge(doc: unknown, msg: Buffer, relayed = false): Promise<Evaluation> {
  const e = await evaluateMessage(settings(doc), sourceOf(msg, 4096).chunks(), { relayed, always: true });
  assert.ok(e);
  return e;
}

const EXE = { rules: [{ name: 'exe', match: { extension: ['exe'] }, action: 'reject' }] };
const EXE_ARCHIVES = { rules: [{ name: 'exe', match: { extension: ['exe'], archive: true }, action: 'quarantine' }], archive: { on_error: 'quarantine' } };

test('a plain attachment with a blocked extension, from both composers', async () => {
  for (const msg of [await composed({ attachments: [{ filename: 'setup.EXE', content: 'MZ' }] }), pyMessage({ attachments: [{ filename: 'setup.EXE' }] })]) {
    const e = await judge(EXE, msg);
    assert.equal(e.decision.action, 'reject');
    assert.equal(e.decision.hits.length, 1);
    const hit = e.decision.hits[0]!;
    assert.equal(hit.rule, 'exe');
    assert.equal(hit.part?.filename, 'setup.EXE');
    assert.match(hit.what, /extension exe of setup\.EXE/);
    // The same message with a harmless name passes.
  }
  const ok = await judge(EXE, await composed({ attachments: [{ filename: 'setup.txt', content: 'MZ' }] }));
  assert.equal(ok.decision.action, 'accept');
  assert.equal(ok.decision.hits.length, 0);
});

test('RFC 2231 names (plain and continued) and RFC 2047 names are decoded before matching', async () => {
  const name = 'Rechnung März €.pdf.exe';
  const cases = [
    pyMessage({ attachments: [{ filename: name, style: 'rfc2231' }] }),
    pyMessage({ attachments: [{ filename: name, style: 'rfc2231-continued' }] }),
    pyMessage({ attachments: [{ filename: name, style: 'rfc2047-name' }] }),
    await composed({ attachments: [{ filename: name, content: 'x' }] }),
  ];
  assert.match(cases[0]!.toString('latin1'), /filename\*=utf-8''/i, 'Python wrote RFC 2231');
  assert.match(cases[1]!.toString('latin1'), /filename\*1\*=/, 'the continued form has sections');
  assert.match(cases[2]!.toString('latin1'), /name="=\?utf-8\?/i, 'an RFC 2047 word in name=');
  for (const msg of cases) {
    const e = await judge({ rules: [{ name: 'exe', match: { extension: ['exe'], filename: '^rechnung märz' }, action: 'quarantine' }] }, msg);
    assert.equal(e.decision.action, 'quarantine', 'decoded name matched');
    const part = e.decision.hits[0]!.part!;
    assert.equal(part.filename, name);
    assert.deepEqual(part.extensions, ['exe', 'pdf']);
  }
});

test('a double extension counts both; trailing dots and spaces are ignored as Windows does', async () => {
  const pdf = { rules: [{ name: 'pdf', match: { extension: ['pdf'] }, action: 'tag' }] };
  const e1 = await judge(EXE, await composed({ attachments: [{ filename: 'invoice.pdf.exe', content: 'x' }] }));
  assert.equal(e1.decision.action, 'reject');
  const e2 = await judge(pdf, await composed({ attachments: [{ filename: 'invoice.pdf.exe', content: 'x' }] }));
  assert.equal(e2.decision.action, 'tag', 'the inner extension counts too');
  const e3 = await judge(EXE, pyMessage({ attachments: [{ filename: 'invoice.exe. . .' }] }));
  assert.equal(e3.decision.action, 'reject', 'trailing dots and spaces stripped');
});

test('a harmless Content-Disposition filename does not hide a Content-Type name', async () => {
  const msg = pyMessage({ attachments: [{ filename: 'report.pdf', type_name: 'report.exe', style: 'differ' }] });
  const e = await judge(EXE, msg);
  assert.equal(e.decision.action, 'reject');
  assert.deepEqual(e.decision.hits[0]!.part!.names, ['report.pdf', 'report.exe']);
});

test('names inside a zip and a nested zip (archive: true), not without it', async () => {
  const nested = pyZip({ entries: [{ name: 'readme.txt', text: 'hi' }, { name: 'more.zip', zip: { entries: [{ name: 'deep/payload.scr', text: 'MZ' }] } }] });
  for (const msg of [await composed({ attachments: [{ filename: 'docs.zip', content: nested }] }), pyMessage({ attachments: [{ filename: 'docs.zip', type: 'application/zip', zip: { entries: [{ name: 'readme.txt', text: 'hi' }, { name: 'more.zip', zip: { entries: [{ name: 'deep/payload.scr', text: 'MZ' }] } }] } }] })]) {
    const doc = { rules: [{ name: 'exec', match: { extension: ['scr'], archive: true }, action: 'quarantine' }] };
    const e = await judge(doc, msg);
    assert.equal(e.decision.action, 'quarantine');
    const hit = e.decision.hits[0]!;
    assert.deepEqual(hit.part!.inArchive, ['docs.zip', 'more.zip']);
    assert.equal(hit.part!.filename, 'deep/payload.scr');
    assert.match(hit.what, /inside docs\.zip › more\.zip/);
    assert.deepEqual(e.inspection.entries.map((x) => x.filename), ['readme.txt', 'more.zip', 'deep/payload.scr']);
    const off = await judge({ rules: [{ name: 'exec', match: { extension: ['scr'] }, action: 'quarantine' }] }, msg);
    assert.equal(off.decision.action, 'accept', 'without archive: true the names inside are not looked at');
    assert.equal(off.inspection.entries.length, 0, 'and the archive is not opened');
  }
});

test('a zip sent under another name is known by its signature; max_depth stops nesting', async () => {
  const inner = { entries: [{ name: 'a.zip', zip: { entries: [{ name: 'b.zip', zip: { entries: [{ name: 'x.exe', text: 'MZ' }] } }] } }] };
  const msg = await composed({ attachments: [{ filename: 'photo.jpg', content: pyZip(inner), contentType: 'image/jpeg' }] });
  const deep = await judge(EXE_ARCHIVES, msg);
  assert.equal(deep.decision.action, 'quarantine');
  assert.equal(deep.decision.hits[0]!.rule, 'exe');
  assert.deepEqual(deep.decision.hits[0]!.part!.inArchive, ['photo.jpg', 'a.zip', 'b.zip']);
  const shallow = await judge({ ...EXE_ARCHIVES, archive: { on_error: 'quarantine', max_depth: 2 } }, msg);
  assert.equal(shallow.decision.action, 'quarantine');
  assert.equal(shallow.decision.hits[0]!.rule, 'archive.on_error', 'b.zip is past the depth: judged by on_error');
  assert.match(shallow.decision.hits[0]!.what, /nested deeper than 2/);
  const accept = await judge({ ...EXE_ARCHIVES, archive: { on_error: 'accept', max_depth: 2 } }, msg);
  assert.equal(accept.decision.action, 'accept');
  assert.equal(accept.inspection.archiveProblems.length, 1, 'the problem is still reported');
});

test('damaged and encrypted archives are judged by archive.on_error; names of an encrypted one still count', async () => {
  const zip = pyZip({ entries: [{ name: 'notes.txt', text: 'x'.repeat(2000) }] });
  const damaged = await composed({ attachments: [{ filename: 'a.zip', content: zip.subarray(0, zip.length - 30) }] });
  const e1 = await judge({ ...EXE_ARCHIVES, archive: { on_error: 'reject' } }, damaged);
  assert.equal(e1.decision.action, 'reject');
  assert.match(e1.decision.hits[0]!.what, /damaged archive/);
  const enc = pyMessage({ attachments: [{ filename: 'locked.zip', type: 'application/zip', zip: { entries: [{ name: 'notes.txt', text: 'x' }], encrypted: true } }] });
  const e2 = await judge(EXE_ARCHIVES, enc);
  assert.equal(e2.decision.action, 'quarantine');
  assert.match(e2.decision.hits[0]!.what, /encrypted: notes\.txt/);
  const enc2 = pyMessage({ attachments: [{ filename: 'locked.zip', type: 'application/zip', zip: { entries: [{ name: 'run.exe', text: 'x' }], encrypted: true } }] });
  const e3 = await judge({ ...EXE_ARCHIVES, archive: { on_error: 'accept' } }, enc2);
  assert.equal(e3.decision.hits[0]!.rule, 'exe', 'the name is read without the password');
});

test('MIME type rules: exact and type/*, from both composers', async () => {
  for (const msg of [await composed({ attachments: [{ filename: 'a.bin', content: 'x', contentType: 'application/x-msdownload' }] }), pyMessage({ attachments: [{ filename: 'a.bin', type: 'application/x-msdownload' }] })]) {
    const e = await judge({ rules: [{ name: 'msdl', match: { mime_type: ['application/x-msdownload'] }, action: 'reject' }] }, msg);
    assert.equal(e.decision.action, 'reject');
    assert.equal(e.decision.hits[0]!.part!.index, 3);
    const all = await judge({ rules: [{ name: 'apps', match: { mime_type: ['application/*'] }, action: 'tag' }] }, msg);
    assert.equal(all.decision.action, 'tag');
    const none = await judge({ rules: [{ name: 'img', match: { mime_type: ['image/*'] }, action: 'reject' }] }, msg);
    assert.equal(none.decision.action, 'accept');
  }
});

test('header and body expressions on decoded values, case-insensitive', async () => {
  const msg = pyMessage({ subject: 'Ihre Rechnung für März', text: 'Bitte zahlen Sie SOFORT per Überweisung.\n' });
  assert.match(msg.toString('latin1'), /Subject: .*=\?utf-8\?q\?f=C3=BCr/i, 'the subject holds an encoded word');
  const h = await judge({ rules: [{ name: 'invoice', match: { header: { name: 'subject', regex: 'rechnung für' } }, action: 'tag' }] }, msg);
  assert.equal(h.decision.action, 'tag');
  assert.equal(h.decision.hits[0]!.part, null);
  const b = await judge({ rules: [{ name: 'pay', match: { body: 'zahlen sie sofort per überweisung' }, action: 'quarantine' }] }, msg);
  assert.equal(b.decision.action, 'quarantine');
  assert.equal(b.decision.hits[0]!.part!.index, 1, 'the text part that matched');
  const both = await judge({ rules: [{ name: 'both', match: { body: 'sofort', header: { name: 'Subject', regex: 'nothing like it' } }, action: 'reject' }] }, msg);
  assert.equal(both.decision.action, 'accept', 'every key must hold');
  // base64 text (nodemailer encodes long UTF-8 text so) is decoded before matching.
  const b64 = await composed({ text: 'Ünïcödé '.repeat(200) + 'secret phrase', textEncoding: 'base64' });
  assert.match(b64.toString('latin1'), /Content-Transfer-Encoding: base64/);
  const e = await judge({ rules: [{ name: 'phrase', match: { body: 'SECRET PHRASE' }, action: 'reject' }] }, b64);
  assert.equal(e.decision.action, 'reject');
});

test('size_over: on a part with a file key, on the message without one', async () => {
  const msg = await composed({ attachments: [{ filename: 'big.pdf', content: Buffer.alloc(5000, 65) }, { filename: 'small.pdf', content: 'x' }] });
  const part = await judge({ rules: [{ name: 'bigpdf', match: { extension: ['pdf'], size_over: 4000 }, action: 'strip' }] }, msg);
  assert.equal(part.decision.action, 'strip');
  assert.deepEqual(part.decision.hits.map((h) => h.part!.filename), ['big.pdf']);
  assert.equal(part.decision.action === 'strip' && part.decision.parts.length, 1);
  const whole = await judge({ rules: [{ name: 'huge', match: { size_over: 1000 }, action: 'quarantine' }] }, msg);
  assert.equal(whole.decision.action, 'quarantine');
  assert.match(whole.decision.hits[0]!.what, /message of \d+ octets over 1000/);
});

test('direction: inbound rules for clients without a relay right, relayed for those with one (both composers)', async () => {
  const doc = { rules: [{ name: 'in', match: { extension: ['exe'] }, direction: 'inbound', action: 'reject' }, { name: 'out', match: { extension: ['exe'] }, direction: 'relayed', action: 'tag' }] };
  for (const msg of [await composed({ attachments: [{ filename: 'x.exe', content: 'MZ' }] }), pyMessage({ attachments: [{ filename: 'x.exe' }] })]) {
    const inbound = await judge(doc, msg, false);
    assert.deepEqual(inbound.decision.hits.map((h) => h.rule), ['in']);
    assert.equal(inbound.decision.action, 'reject');
    const relayed = await judge(doc, msg, true);
    assert.deepEqual(relayed.decision.hits.map((h) => h.rule), ['out']);
    assert.equal(relayed.decision.action, 'tag');
    // No rule for the direction: nothing is read at all.
    const none = await evaluateMessage(settings({ rules: [doc.rules[0]] }), sourceOf(msg).chunks(), { relayed: true });
    assert.equal(none, null);
  }
});

test('the defaults of a new installation quarantine executables, also inside zips', async () => {
  const d = settings(undefined);
  assert.equal(d.rules[0]!.name, 'executables');
  for (const ext of ['exe', 'scr', 'com', 'pif', 'bat', 'cmd', 'js', 'vbs', 'jar', 'msi', 'lnk', 'iso', 'img', 'hta', 'ps1']) assert.ok(d.rules[0]!.match.extension!.includes(ext), ext);
  const msg = await composed({ attachments: [{ filename: 'docs.zip', content: pyZip({ entries: [{ name: 'Invoice.pdf.js', text: 'x' }] }) }] });
  const e = await evaluateMessage(d, sourceOf(msg).chunks(), { relayed: false });
  assert.equal(e?.decision.action, 'quarantine');
  const plain = await evaluateMessage(d, sourceOf(await composed({ attachments: [{ filename: 'report.pdf', content: 'x' }] })).chunks(), { relayed: true });
  assert.equal(plain?.decision.action, 'accept');
});

test('a malformed message is judged as far as it could be read, never a crash', async () => {
  // A header block far over mailsplit's 1 MiB limit in the second part; the exe before it is still found.
  const head = 'From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/octet-stream; name=a.exe\r\n\r\nMZ\r\n--b\r\n';
  const huge = `X-Junk: ${'y'.repeat(70)}\r\n`.repeat(20000);
  const msg = Buffer.from(`${head}${huge}\r\nbody\r\n--b--\r\n`);
  const e = await judge(EXE, msg);
  assert.ok(e.inspection.incomplete, 'the walk says it stopped');
  assert.equal(e.decision.action, 'reject', 'and judged what it read');
  // Garbage: no headers, stray boundaries, NULs.
  const junk = await judge(EXE, Buffer.from('\r\n--x\r\n\0\0\0--x--\r\nContent-Type: multipart/mixed; boundary=\r\n'));
  assert.equal(junk.decision.action, 'accept');
});

test('an attached message: walked in place when mailsplit opens it, opened as an archive is (archive: true) when it is left closed', async () => {
  const inner = await composed({ subject: 'forwarded', attachments: [{ filename: 'payload.scr', content: 'MZ' }, { filename: 'in.zip', content: pyZip({ entries: [{ name: 'deep.vbs', text: 'x' }] }) }] });
  const doc = { rules: [{ name: 'exec', match: { extension: ['scr', 'vbs'], archive: true }, action: 'quarantine' }] };
  // 7bit, not marked as an attachment: mailsplit parses it as part of the message.
  const open = await composed({ text: 'see the forwarded mail', attachments: [{ content: inner, contentType: 'message/rfc822', contentDisposition: 'inline' }] });
  const e1 = await judge(doc, open);
  assert.deepEqual(e1.decision.hits.map((h) => [h.part!.filename, h.part!.inArchive ?? null]), [['payload.scr', null], ['deep.vbs', ['in.zip']]]);
  // base64 and an attachment: mailsplit leaves it closed; the walk opens it.
  const closed = await composed({ text: 'see the forwarded mail', attachments: [{ filename: 'fwd.eml', content: inner, contentType: 'message/rfc822', contentTransferEncoding: 'base64' }] });
  assert.match(closed.toString('latin1'), /Content-Type: message\/rfc822[^]*?Content-Transfer-Encoding: base64/);
  const e2 = await judge(doc, closed);
  assert.equal(e2.decision.action, 'quarantine');
  assert.deepEqual(e2.decision.hits.map((h) => [h.part!.filename, h.part!.inArchive, h.part!.index]), [
    ['payload.scr', ['fwd.eml'], 3],
    ['deep.vbs', ['fwd.eml', 'in.zip'], 3],
  ]);
  const without = await judge({ rules: [{ name: 'exec', match: { extension: ['scr'] }, action: 'quarantine' }] }, closed);
  assert.equal(without.decision.action, 'accept', 'without archive: true the attached message is not opened');
});

test('an error of the walk itself (the temp file for a large archive cannot be made) is thrown, not judged as the message\'s (the check answers 451)', async () => {
  const big = pyZip({ entries: [{ name: 'noise.bin', zeros: 3 * 1024 * 1024, stored: true }] });
  const msg = await composed({ attachments: [{ filename: 'big.zip', content: big }] });
  await assert.rejects(evaluateMessage(settings(EXE_ARCHIVES), sourceOf(msg).chunks(), { relayed: false, tmp: '/nonexistent/mailwarden-tmp' }), /ENOENT/);
});
