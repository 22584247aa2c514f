// The content walk's header-only answer (inspect.ts headerOnly): a message
// that is one leaf part whose body no rule needs is judged from its header
// block without mailsplit's stream. It must say exactly what the full walk
// says for the same message and options, whatever the header holds and
// however the message arrives in chunks, and fall back to the walk when the
// body counts (multipart, attached message, text rules, archives).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultArchiveLimits } from '../../src/config/content-settings.ts';
import { inspectMessage, walk, type InspectOptions, type Inspection } from '../../src/content/inspect.ts';
import type { PartInfo } from '../../src/content/content-types.ts';

const HEAD = 'From: a@ext.test\r\nTo: b@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nMIME-Version: 1.0\r\n';
const BODY = 'Hello.\r\n'.repeat(40);

const MESSAGES: Record<string, string> = {
  'no content-type': `${HEAD}\r\n${BODY}`,
  'plain text': `${HEAD}Content-Type: text/plain; charset=utf-8\r\n\r\n${BODY}`,
  'bare LF': `${HEAD.replace(/\r\n/g, '\n')}Content-Type: text/plain\n\n${BODY.replace(/\r\n/g, '\n')}`,
  'folded fields': `${HEAD}Content-Type: text/plain;\r\n\tcharset="iso-8859-1";\r\n format=flowed\r\nX-Long: one\r\n two\r\n\r\n${BODY}`,
  'named octet-stream': `${HEAD}Content-Type: application/octet-stream; name="setup.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAA==\r\n`,
  'disposition attachment, no type': `${HEAD}Content-Disposition: attachment; filename="run.bat"\r\n\r\nx\r\n`,
  'rfc2231 name': `${HEAD}Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf.exe\r\n\r\nx\r\n`,
  'encoded-word name': `${HEAD}Content-Type: application/octet-stream; name="=?utf-8?B?ZXZpbC5leGU=?="\r\n\r\nx\r\n`,
  'two names': `${HEAD}Content-Type: application/octet-stream; name="a.txt"; name="b.exe"\r\nContent-Disposition: attachment; filename="c.txt"; filename="d.scr"\r\n\r\nx\r\n`,
  'text with a name': `${HEAD}Content-Type: text/plain; name="notes.txt"\r\n\r\n${BODY}`,
  'forged tag field': `${HEAD}X-Mailwarden-Content: clean\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n`,
  'multipart': `${HEAD}Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: application/octet-stream; name="x.exe"\r\n\r\nMZ\r\n--b--\r\n`,
  'attached message at the root': `${HEAD}Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: application/octet-stream; name="in.exe"\r\n\r\nMZ\r\n`,
  'header never ends': `${HEAD}Content-Type: text/plain\r\nX-Last: no empty line follows`,
  'empty header': `\r\n${BODY}`,
  'header of 300 KiB': `${HEAD}${'X-Pad: '.concat('y'.repeat(70), '\r\n').repeat(4300)}Content-Type: application/octet-stream; name="late.exe"\r\n\r\nx\r\n`,
  'a zip by its type': `${HEAD}Content-Type: application/zip; name="a.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\r\n`,
};

type Needs = { name: string; o: Omit<InspectOptions, 'earlyEnd'>; needBody: (p: PartInfo) => boolean };
const base = { limits: defaultArchiveLimits(), onText: null };
const NEEDS: Needs[] = [
  // the default rule: executables, also in archives
  { name: 'archives', o: { ...base, archives: true, headers: ['x-mailwarden-content'] }, needBody: (p) => p.filename !== null || !p.mimeType.startsWith('text/') },
  { name: 'names only', o: { ...base, archives: false, headers: ['subject', 'x-mailwarden-content'] }, needBody: () => false },
  { name: 'text bodies', o: { ...base, archives: false, headers: ['x-mailwarden-content'], onText: () => undefined }, needBody: (p) => p.mimeType.startsWith('text/') },
  { name: 'part sizes', o: { ...base, archives: false, headers: [] }, needBody: () => true },
];

async function* chunks(buf: Buffer, size: number, pulled?: { n: number }) {
  for (let i = 0; i < buf.length; i += size) {
    if (pulled) pulled.n++;
    yield buf.subarray(i, i + size);
  }
}

const plain = (x: Inspection) => ({ ...x, headers: [...x.headers], unstrippable: [...x.unstrippable] });

test('the header-only answer is the full walk\'s for every message, every rule set and every chunking', async () => {
  let fast = 0;
  for (const [label, text] of Object.entries(MESSAGES)) {
    const msg = Buffer.from(text, 'latin1');
    for (const needs of NEEDS) {
      const o: InspectOptions = { ...needs.o, earlyEnd: { needBody: needs.needBody, size: msg.length } };
      const want = plain(await walk(chunks(msg, 65536), o));
      // (one-octet chunks of the 300 KiB header would take the walk a setImmediate turn each)
      for (const size of msg.length > 8192 ? [100, 4096, 65536] : [1, 7, 100, 65536]) {
        const pulled = { n: 0 };
        const got = plain(await inspectMessage(chunks(msg, size, pulled), o));
        assert.deepEqual(got, want, `${label}, ${needs.name}, chunks of ${size}`);
        if (pulled.n < Math.ceil(msg.length / size)) fast++;
      }
    }
  }
  // The shortcut was taken (the source was not read to its end) for the messages it is for.
  assert.ok(fast >= 30, `header-only answers: ${fast}`);
});

test('a plain message is read no further than its header; a multipart, an attached message and a text rule read it all', async () => {
  const read = async (text: string, needs: Needs) => {
    const msg = Buffer.from(text);
    const pulled = { n: 0 };
    await inspectMessage(chunks(msg, 64, pulled), { ...needs.o, earlyEnd: { needBody: needs.needBody, size: msg.length } });
    return { pulled: pulled.n, all: Math.ceil(msg.length / 64) };
  };
  const p = await read(MESSAGES['plain text']!, NEEDS[0]!);
  assert.ok(p.pulled <= Math.ceil((HEAD.length + 60) / 64), `plain text: ${p.pulled} of ${p.all} chunks`);
  for (const [label, needs] of [['multipart', NEEDS[0]!], ['attached message at the root', NEEDS[0]!], ['plain text', NEEDS[2]!]] as const) {
    const r = await read(MESSAGES[label]!, needs);
    assert.equal(r.pulled, r.all, `${label}, ${needs.name}`);
  }
});

test('an error of the source during the header is thrown, not judged', async () => {
  async function* broken() {
    yield Buffer.from('Subject: x\r\n');
    throw new Error('spool read failed');
  }
  await assert.rejects(inspectMessage(broken(), { ...NEEDS[0]!.o, earlyEnd: { needBody: () => false, size: 100 } }), /spool read failed/);
});
