// `mailwarden content test FILE.eml [--json] [--direction]`, the real launcher:
// the parts, which rule matched which part (names in archives too), the
// action, from the installation's active settings (after `config import`) or
// --config; stdin with "-"; exit 0 nothing matched, 1 a rule matched, 2 error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { mailwarden, tempDir } from './helpers.ts';
import { composed, pyZip } from '../content/messages.ts';

const CONTENT = {
  rules: [
    { name: 'executables', match: { extension: ['exe', 'js'], archive: true }, action: 'quarantine' },
    { name: 'outbound-docm', match: { extension: ['docm'] }, direction: 'relayed', action: 'reject' },
    { name: 'subject', match: { header: { name: 'Subject', regex: 'urgent payment' } }, action: 'tag' },
  ],
};

test('content test: parts, names in archives, the matching rule, exit statuses; --json; stdin; --direction', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  assert.equal((await mailwarden(['init', '--data', data])).status, 0);
  const exported = await mailwarden(['config', 'export', '--data', data, '--json']);
  assert.equal(exported.status, 0, exported.stderr);
  const doc = { ...JSON.parse(exported.stdout), content: CONTENT };
  writeFileSync(join(dir, 'settings.yaml'), stringify(doc));
  const imported = await mailwarden(['config', 'import', join(dir, 'settings.yaml'), '--data', data]);
  assert.equal(imported.status, 0, imported.stderr);

  const bad = join(dir, 'bad.eml');
  writeFileSync(bad, await composed({ attachments: [{ filename: 'readme.txt', content: 'hi' }, { filename: 'docs.zip', content: pyZip({ entries: [{ name: 'a/invoice.pdf.js', text: 'x' }] }) }] }));
  const r = await mailwarden(['content', 'test', bad, '--data', data]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /^quarantine: rule executables: extension js of a\/invoice\.pdf\.js \(inside docs\.zip\)/);
  assert.match(r.stdout, /  4  application\/zip  "docs\.zip"  \d+ octets\n\s+in docs\.zip: "a\/invoice\.pdf\.js"  1 octets\n\s+matched executables \(quarantine\)/);
  assert.match(r.stdout, /  3  text\/plain  "readme\.txt"  2 octets/);

  const json = await mailwarden(['content', 'test', bad, '--json', '--data', data]);
  assert.equal(json.status, 1);
  const j = JSON.parse(json.stdout);
  assert.equal(j.action, 'quarantine');
  assert.equal(j.rule, 'executables');
  assert.equal(j.direction, 'inbound');
  assert.deepEqual(j.rules, ['executables', 'subject']);
  assert.equal(j.revision, 2);
  assert.deepEqual(j.parts.map((p: { index: number; type: string }) => [p.index, p.type]), [[1, 'multipart/mixed'], [2, 'text/plain'], [3, 'text/plain'], [4, 'application/zip']]);
  assert.deepEqual(j.parts[3].archive[0].hits.map((h: { rule: string }) => h.rule), ['executables']);

  const clean = join(dir, 'clean.eml');
  writeFileSync(clean, await composed({ attachments: [{ filename: 'report.docm', content: 'x' }] }));
  const ok = await mailwarden(['content', 'test', clean, '--data', data]);
  assert.equal(ok.status, 0, ok.stdout);
  assert.match(ok.stdout, /^accept: no rule matched/);
  const relayed = await mailwarden(['content', 'test', clean, '--direction', 'relayed', '--json', '--data', data]);
  assert.equal(relayed.status, 1);
  assert.equal(JSON.parse(relayed.stdout).action, 'reject');

  const stdin = await mailwarden(['content', 'test', '-', '--json', '--data', data], { input: 'Subject: URGENT payment\r\nFrom: a@b.example\r\n\r\nbody\r\n' });
  assert.equal(stdin.status, 1, stdin.stderr);
  const s = JSON.parse(stdin.stdout);
  assert.equal(s.action, 'tag');
  assert.deepEqual(s.tag_fields, ['X-Mailwarden-Content: subject (header Subject "URGENT payment" matches /urgent payment/)']);
  assert.equal(s.message_hits[0].rule, 'subject');

  // Errors: 2.
  const missing = await mailwarden(['content', 'test', join(dir, 'nope.eml'), '--data', data]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /cannot read .*nope\.eml: ENOENT/);
  assert.equal((await mailwarden(['content', 'test', clean, '--direction', 'sideways', '--data', data])).status, 2);
  const nodata = await mailwarden(['content', 'test', clean, '--data', join(dir, 'no-such-data')]);
  assert.equal(nodata.status, 2);
  assert.match(nodata.stderr, /holds no configuration: check --data/);
});

test('content test --config: the defaults of a new installation quarantine an executable', async (t) => {
  const dir = tempDir(t);
  const settings = join(dir, 's.yaml');
  writeFileSync(settings, stringify({ hostname: 'mx.example.com' }));
  const msg = join(dir, 'm.eml');
  writeFileSync(msg, await composed({ attachments: [{ filename: 'Rechnung.pdf.exe', content: 'MZ' }] }));
  const r = await mailwarden(['content', 'test', msg, '--config', settings, '--json']);
  assert.equal(r.status, 1, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.action, 'quarantine');
  assert.equal(j.rule, 'executables');
  assert.equal(j.revision, null);
});

test('content test on multi-MB files: read to the end, no EBADF; a message past the MIME walk\'s limits is judged by on_unreadable with its whole size', async (t) => {
  const dir = tempDir(t);
  const settings = join(dir, 's.yaml');
  writeFileSync(settings, stringify({ hostname: 'mx.example.com' }));
  // 6 MB of base64 in one attachment, then an .exe: the walk must read the file to its end.
  const big = join(dir, 'big.eml');
  const blob = Buffer.alloc(4_500_000, 7).toString('base64').replace(/.{76}/g, '$&\r\n');
  writeFileSync(big, `From: a@ext.test\r\nTo: b@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${blob}\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="late.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAA==\r\n--b--\r\n`);
  for (let i = 0; i < 2; i++) {
    const r = await mailwarden(['content', 'test', big, '--config', settings, '--json']);
    assert.equal(r.status, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /EBADF/);
    const j = JSON.parse(r.stdout);
    assert.equal(j.action, 'quarantine');
    assert.equal(j.rule, 'executables');
    assert.equal(j.size, statSync(big).size);
    assert.ok(j.size > 6_000_000);
  }
  // 2,000 tiny parts, then late.exe: the walk stops at 1000 parts; the message is quarantined (content.on_unreadable).
  const many = join(dir, 'many.eml');
  const parts = Array.from({ length: 2000 }, (_, i) => `--b\r\nContent-Type: text/plain\r\n\r\n${i}\r\n`).join('');
  writeFileSync(many, `From: a@ext.test\r\nTo: b@example.com\r\nSubject: many\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n${parts}--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="late.exe"\r\n\r\nMZ\r\n--b--\r\n`);
  const r = await mailwarden(['content', 'test', many, '--config', settings, '--json']);
  assert.equal(r.status, 1, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.action, 'quarantine');
  assert.equal(j.rule, 'on_unreadable');
  assert.equal(j.size, statSync(many).size, 'the whole file, not the octets read before the walk stopped');
});
