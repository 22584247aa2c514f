// src/content/strip.ts: the strip action's streaming rewrite. Messages are
// built by nodemailer's MIME composer, by Python's email package and by hand
// (for the exact bytes); the stripped message is read back by Python's email
// package (policy default): every other part decodes to the same octets, the
// notice is there, nothing else moved. Also: every chunking of the input
// gives the same output, the parts that cannot be removed are refused, and a
// 50 MB message streams through in flat memory.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { stripParts, StripRefused } from '../../src/content/strip.ts';
import type { StripPart } from '../../src/content/content-types.ts';
import type { MessageSource } from '../../src/scan/spam-verdict.ts';

const PY = join(import.meta.dirname, 'mime_parts.py');
const crlf = (s: string): string => s.replace(/\r?\n/g, '\r\n');

interface Leaf {
  type: string;
  filename: string | null;
  sha: string;
  size: number;
  text?: string;
}
interface Parsed {
  root: string;
  leaves: Leaf[];
  defects: number;
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-strip-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Python's reading of each message. */
function python(dir: string, ...messages: Buffer[]): Parsed[] {
  const files = messages.map((m, i) => {
    const f = join(dir, `m${i}-${Math.random().toString(36).slice(2)}.eml`);
    writeFileSync(f, m);
    return f;
  });
  return JSON.parse(execFileSync('python3', [PY, 'parts', ...files], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as Parsed[];
}

const pythonBuilt = (kind: string): Buffer => execFileSync('python3', [PY, 'build', kind]);

function composed(opts: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
  return new Promise((resolve, reject) => new MailComposer(opts).compile().build((err, m) => (err ? reject(err) : resolve(m))));
}

/** The source in pieces of the sizes `cut` gives (the spool hands over 64 KiB reads; SMTP, anything). */
function source(raw: Buffer, cut: () => number = () => raw.length): MessageSource {
  return {
    size: raw.length,
    async *chunks() {
      for (let i = 0; i < raw.length; ) {
        const n = Math.max(1, cut());
        yield raw.subarray(i, i + n);
        i += n;
      }
    },
  };
}

async function strip(raw: Buffer, parts: StripPart[], notice = 'Removed by the content policy.', cut?: () => number): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of stripParts(source(raw, cut), parts, notice)) out.push(b);
  return Buffer.concat(out);
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** The leaves Python reads, but for the ones named (by file name) and the notice expected last. */
function assertStripped(before: Parsed, after: Parsed, removed: string[], notice: string): void {
  const kept = before.leaves.filter((l) => !removed.includes(l.filename ?? ''));
  assert.equal(kept.length, before.leaves.length - removed.length, 'every removed name was in the message');
  const last = after.leaves.at(-1);
  assert.deepEqual(after.leaves.slice(0, -1), kept, 'every other part decodes to the same octets, in the same order');
  assert.equal(last?.type, 'text/plain');
  assert.equal(last?.filename, null);
  assert.equal(last?.text?.trim(), notice.trim());
  assert.equal(after.defects, 0, 'Python finds no defect in the result');
}

test('nodemailer message: the attachment goes, the notice comes last, every chunking gives the same octets', async (t) => {
  const dir = tempDir(t);
  const raw = await composed({
    from: 'a@x.example',
    to: 'b@y.example',
    subject: 'report',
    text: 'Hello,\nthe report is attached.\n',
    html: '<p>Hello, the report is attached.</p>',
    attachments: [
      { filename: 'invoice.pdf.exe', content: Buffer.concat([Buffer.from('MZ'), Buffer.alloc(5000, 0x90)]) },
      { filename: 'report.csv', content: 'a,b\n1,2\n' },
    ],
  });
  // Parts: 1 mixed, 2 alternative, 3 text, 4 html, 5 the exe, 6 the csv.
  const notice = 'The attachment invoice.pdf.exe was removed: rule executables (extension exe).';
  const out = await strip(raw, [{ index: 5, reason: 'exe' }], notice);
  const [before, after] = python(dir, raw, out) as [Parsed, Parsed];
  assertStripped(before, after, ['invoice.pdf.exe'], notice);
  assert.equal(after.root, 'multipart/mixed');
  // Only the exe's part went: everything before it and after it is the original's.
  const text = raw.toString('latin1');
  const exeAt = text.indexOf('Content-Type: application/octet-stream; name=invoice.pdf.exe');
  const opens = text.lastIndexOf('\r\n--', exeAt) + 2;
  assert.ok(out.subarray(0, opens).equals(raw.subarray(0, opens)), 'the octets before the removed part are unchanged');
  const csvAt = text.indexOf('\r\n--', exeAt) + 2;
  const closeAt = text.lastIndexOf('\r\n--') + 2;
  assert.ok(out.includes(raw.subarray(csvAt, closeAt)), 'the part after it is unchanged, delimiter included');
  assert.ok(out.subarray(out.length - (raw.length - closeAt)).equals(raw.subarray(closeAt)), 'the closing delimiter and epilogue are unchanged');
  for (let seed = 1; seed <= 30; seed++) {
    const r = prng(seed);
    const again = await strip(raw, [{ index: 5, reason: 'exe' }], notice, () => 1 + Math.floor(r() * (seed % 3 === 0 ? 3 : 300)));
    assert.ok(again.equals(out), `chunking ${seed} gives the same octets`);
  }
});

test('exact octets: preamble, epilogue, nested multipart and its epilogue, first, middle and last parts', async () => {
  const raw = Buffer.from(
    crlf(
      'Subject: exact\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="outer"\n\n' +
        'preamble line\n--outer\nContent-Type: text/plain\n\nfirst\n' +
        '--outer\nContent-Type: multipart/alternative; boundary="inner"\n\ninner preamble\n--inner\nContent-Type: text/plain\n\nplain\n--inner\nContent-Type: text/html\n\n<b>html</b>\n--inner--\ninner epilogue\n' +
        '--outer\nContent-Type: application/x-msdownload; name="a.exe"\n\nMZ...\n' +
        '--outer--\nouter epilogue\n',
    ),
  );
  const head = 'Subject: exact\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="outer"\n\npreamble line\n';
  const first = '--outer\nContent-Type: text/plain\n\nfirst\n';
  const nested = '--outer\nContent-Type: multipart/alternative; boundary="inner"\n\ninner preamble\n--inner\nContent-Type: text/plain\n\nplain\n--inner\nContent-Type: text/html\n\n<b>html</b>\n--inner--\ninner epilogue\n';
  const exe = '--outer\nContent-Type: application/x-msdownload; name="a.exe"\n\nMZ...\n';
  const notice = '--outer\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\nContent-Disposition: inline\n\nN\n';
  const tail = '--outer--\nouter epilogue\n';
  // Parts: 1 mixed, 2 first, 3 alternative, 4 plain, 5 html, 6 exe.
  assert.equal((await strip(raw, [{ index: 6, reason: '' }], 'N')).toString(), crlf(head + first + nested + notice + tail), 'the last part');
  assert.equal((await strip(raw, [{ index: 2, reason: '' }], 'N')).toString(), crlf(head + nested + exe + notice + tail), 'the first part');
  assert.equal((await strip(raw, [{ index: 3, reason: '' }], 'N')).toString(), crlf(head + first + exe + notice + tail), 'a nested multipart, whole');
  assert.equal((await strip(raw, [{ index: 3, reason: '' }, { index: 6, reason: '' }], 'N')).toString(), crlf(head + first + notice + tail), 'the two last, whose closing delimiter came with the inner epilogue');
  const withoutHtml = nested.replace('--inner\nContent-Type: text/html\n\n<b>html</b>\n', '');
  assert.equal((await strip(raw, [{ index: 5, reason: '' }], 'N')).toString(), crlf(head + first + withoutHtml + exe + notice + tail), 'the last part of the nested multipart');
  const withoutPlain = nested.replace('--inner\nContent-Type: text/plain\n\nplain\n', '');
  assert.equal((await strip(raw, [{ index: 4, reason: '' }, { index: 2, reason: '' }], 'N')).toString(), crlf(head + withoutPlain + exe + notice + tail), 'parts at two levels');
  assert.equal((await strip(raw, [{ index: 2, reason: '' }, { index: 3, reason: '' }, { index: 6, reason: '' }], 'N')).toString(), crlf(head + notice + tail), 'every part: only the notice is left');
});

test('Python-built message: 8-bit text stays, two binary attachments go, several chunkings', async (t) => {
  const dir = tempDir(t);
  const raw = pythonBuilt('mixed');
  // Parts: 1 mixed, 2 8-bit text, 3 setup.exe, 4 notes.txt, 5 pic.png.
  const notice = 'Entfernt: setup.exe und pic.png (Regel executables) — ü';
  const out = await strip(raw, [{ index: 5, reason: 'png' }, { index: 3, reason: 'exe' }], notice);
  const [before, after] = python(dir, raw, out) as [Parsed, Parsed];
  assertStripped(before, after, ['setup.exe', 'pic.png'], notice);
  assert.match(after.leaves[0]?.text ?? '', /Grüße aus Köln/);
  assert.ok(out.includes(Buffer.from('Grüße aus Köln\r\nzweite Zeile')), 'the 8-bit octets are as they were');
  const r = prng(7);
  assert.ok((await strip(raw, [{ index: 5, reason: '' }, { index: 3, reason: '' }], notice, () => 1 + Math.floor(r() * 100))).equals(out));
});

test('Python-built nested message: an image inside multipart/related inside multipart/alternative, and an attachment', async (t) => {
  const dir = tempDir(t);
  const raw = pythonBuilt('related');
  // Parts: 1 mixed, 2 alternative, 3 plain, 4 related, 5 html, 6 logo.png, 7 run.bat.
  const out = await strip(raw, [{ index: 6, reason: '' }, { index: 7, reason: '' }], 'two parts went');
  const [before, after] = python(dir, raw, out) as [Parsed, Parsed];
  assertStripped(before, after, ['logo.png', 'run.bat'], 'two parts went');
});

test('a multipart/alternative root gets a multipart/mixed around it, so that the notice does not replace the message on screen', async (t) => {
  const dir = tempDir(t);
  const raw = pythonBuilt('alternative');
  // Parts: 1 alternative, 2 plain, 3 html.
  const out = await strip(raw, [{ index: 3, reason: '' }], 'the HTML version was removed');
  const [before, after] = python(dir, raw, out) as [Parsed, Parsed];
  assert.equal(after.root, 'multipart/mixed');
  assert.equal(after.defects, 0);
  assert.deepEqual(after.leaves.map((l) => l.type), ['text/plain', 'text/plain']);
  assert.deepEqual(after.leaves[0], before.leaves[0]);
  assert.equal(after.leaves[1]?.text?.trim(), 'the HTML version was removed');
  // The root's other header fields are as they were, in their order.
  const fields = (m: Buffer) => m.toString('latin1').split('\r\n\r\n')[0]?.split(/\r\n(?![ \t])/).filter((f) => !/^content-type:/i.test(f));
  assert.deepEqual(fields(out), fields(raw));
  // The first part: the old root's Content-Type field, then its body up to the removed part, octet for octet.
  const text = raw.toString('latin1');
  const field = /^Content-Type: multipart\/alternative;\r\n [^\r]+\r\n/m.exec(text)?.[0] ?? 'no field';
  const bodyAt = text.indexOf('\r\n\r\n') + 4;
  const htmlAt = text.indexOf('\r\n--', bodyAt) + 2;
  assert.ok(out.includes(Buffer.from(field + '\r\n' + text.slice(bodyAt, htmlAt), 'latin1')), 'the alternative is inside, unchanged up to the removed part');
});

test('binary and 8-bit content, an attached message opened inline, and the message/rfc822 part as a whole', async (t) => {
  const dir = tempDir(t);
  const bin = Buffer.alloc(3000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 7919) % 256;
  // Binary content may hold any octet except a delimiter line; keep CR and LF only as CRLF so Python agrees on lines.
  const binary = Buffer.from(bin.toString('latin1').replace(/[\r\n]/g, 'x').replace(/(.{200})/g, '$1\r\n'), 'latin1');
  const raw = Buffer.concat([
    Buffer.from(crlf('Subject: bin\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: application/octet-stream; name=keep.bin\nContent-Transfer-Encoding: binary\n\n')),
    binary,
    Buffer.from(crlf('\n--zz\nContent-Type: message/rfc822\nContent-Disposition: inline\n\nSubject: inner\nContent-Type: multipart/mixed; boundary=yy\n\n--yy\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n')),
    Buffer.from('caf\xe9\r\n', 'latin1'),
    Buffer.from(crlf('--yy\nContent-Type: application/zip; name=bad.zip\nContent-Transfer-Encoding: base64\n\nUEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\n--yy--\n\n--zz--\n')),
  ]);
  // Parts: 1 mixed, 2 keep.bin, 3 message/rfc822, 4 inner mixed, 5 inner text, 6 bad.zip.
  const inner = await strip(raw, [{ index: 6, reason: '' }], 'bad.zip removed');
  const [before, after] = python(dir, raw, inner) as [Parsed, Parsed];
  assertStripped(before, after, ['bad.zip'], 'bad.zip removed');
  assert.ok(inner.includes(binary), 'the binary part is as it was');
  const whole = await strip(raw, [{ index: 3, reason: '' }], 'the attached message was removed');
  const [afterWhole] = python(dir, whole) as [Parsed];
  assert.deepEqual(afterWhole.leaves.map((l) => l.filename ?? l.type), ['keep.bin', 'text/plain']);
  assert.equal(afterWhole.leaves[0]?.sha, before.leaves[0]?.sha);
  await assert.rejects(strip(raw, [{ index: 4, reason: '' }]), StripRefused, 'the body of an attached message alone');
});

test('refused: the root, a part that is not there, a single-part message, a signed part, clashing boundaries', async () => {
  const mixed = Buffer.from(crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n--b--\n'));
  await assert.rejects(strip(mixed, [{ index: 1, reason: '' }]), StripRefused);
  await assert.rejects(strip(mixed, [{ index: 4, reason: '' }]), /no part 4/);
  await assert.rejects(strip(mixed, []), StripRefused);
  await assert.rejects(strip(Buffer.from(crlf('Subject: x\n\nonly text\n')), [{ index: 2, reason: '' }]), StripRefused);
  const signed = Buffer.from(
    crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/signed; boundary=s; protocol="application/pkcs7-signature"\n\n--s\n\nsigned text\n--s\nContent-Type: application/pkcs7-signature\n\nsig\n--s--\n--b--\n'),
  );
  await assert.rejects(strip(signed, [{ index: 4, reason: '' }]), /multipart\/signed/);
  assert.ok((await strip(signed, [{ index: 2, reason: '' }])).includes('Content-Disposition: inline'), 'the signed part as a whole may go');
  const clash = Buffer.from(crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=b--x\n\n--b--x\n\nin\n--b--x--\n--b\n\nlast\n--b--\n'));
  await assert.rejects(strip(clash, [{ index: 5, reason: '' }]), /clashes/);
  // More parts than mailsplit reads (1000): refused, not a read error to retry.
  const many = Buffer.from(crlf(`Content-Type: multipart/mixed; boundary=b\n\n${'--b\n\nx\n'.repeat(1100)}--b--\n`));
  await assert.rejects(strip(many, [{ index: 2, reason: '' }]), (e: Error) => e instanceof StripRefused && /cannot be read/.test(e.message));
});

test('an unclosed root multipart is closed after the notice', async (t) => {
  const dir = tempDir(t);
  const raw = Buffer.from(crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\n\nkeep\n--b\nContent-Type: application/octet-stream; name=x.exe\n\nMZ\n'));
  const out = await strip(raw, [{ index: 3, reason: '' }], 'x.exe removed');
  assert.equal(out.toString(), crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\n\nkeep\n\n--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\nContent-Disposition: inline\n\nx.exe removed\n--b--\n'));
  const [after] = python(dir, out) as [Parsed];
  assert.equal(after.leaves.length, 2);
});

test('a 50 MB message streams through in flat memory; the part kept is intact', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'big.eml');
  const w = createWriteStream(path);
  const keep = createHash('sha256');
  w.write(crlf('Subject: big\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=big\n\n--big\nContent-Type: application/octet-stream; name=big.exe\nContent-Transfer-Encoding: base64\n\n'));
  const block = Buffer.alloc(57 * 1000);
  const writeBase64 = async (seed: number, hash: ReturnType<typeof createHash> | null) => {
    const r = prng(seed);
    for (let n = 0; n < 440; n++) {
      for (let i = 0; i < block.length; i++) block[i] = Math.floor(r() * 256);
      hash?.update(block);
      const text = (block.toString('base64').match(/.{76}/g) as string[]).join('\r\n') + '\r\n';
      if (!w.write(text)) await new Promise<void>((done) => w.once('drain', () => done()));
    }
  };
  await writeBase64(1, null);
  w.write(crlf('--big\nContent-Type: application/octet-stream; name=keep.bin\nContent-Transfer-Encoding: base64\n\n'));
  await writeBase64(2, keep);
  w.write(crlf('--big--\n'));
  await new Promise<void>((done) => w.end(done));
  const size = statSync(path).size;
  assert.ok(size > 50 * 1000 * 1000, `the message is over 50 MB (${size})`);
  const src: MessageSource = { size, chunks: () => createReadStream(path, { highWaterMark: 64 * 1024 }) };
  const outPath = join(dir, 'out.eml');
  const out = createWriteStream(outPath);
  const before = process.memoryUsage().rss;
  let peak = before;
  let bytes = 0;
  for await (const b of stripParts(src, [{ index: 2, reason: '' }], 'big.exe removed')) {
    bytes += b.length;
    if (!out.write(b)) await new Promise<void>((done) => out.once('drain', () => done()));
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  await new Promise<void>((done) => out.end(done));
  assert.ok(bytes < size / 2 + 100_000 && bytes > size / 2 - 100_000, `about half of it is left (${bytes} of ${size})`);
  assert.ok(peak - before < 30 * 1024 * 1024, `memory grew by ${Math.round((peak - before) / 1048576)} MB`);
  const parsed = JSON.parse(execFileSync('python3', [PY, 'parts', outPath], { encoding: 'utf8' })) as Parsed[];
  assert.deepEqual(parsed[0]?.leaves.map((l) => l.filename ?? l.type), ['keep.bin', 'text/plain']);
  assert.equal(parsed[0]?.leaves[0]?.sha, keep.digest('hex'), 'the kept attachment decodes to the same octets');
});
