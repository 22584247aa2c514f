// LineLimit (src/delivery/line-limit.ts) on its own: long lines folded at
// exactly 998 octets (header section: CRLF + SP, the continuation stays part of
// the header; body: plain CRLF), lines of exactly 998 left alone, lone CR and
// lone LF turned into CRLF, the header/body boundary found at the first empty
// line, and the same output whatever the chunking (a CR at the end of a chunk
// included). The property checks run on inputs from a seeded PRNG: rerun one
// with LINE_LIMIT_SEED=<seed printed in the diagnostics>.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { LineLimit, MAX_LINE } from '../../src/delivery/line-limit.ts';
import { mulberry32 } from '../support/prng.ts';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;

const b = (s: string) => Buffer.from(s, 'latin1');
const show = (buf: Buffer, max = 200) => JSON.stringify(buf.toString('latin1').slice(0, max)) + (buf.length > max ? `… (${buf.length} octets)` : '');

/** Runs chunks through one LineLimit with convert() and then its flush, synchronously. */
function convertChunks(chunks: Buffer[]): Buffer {
  const lim = new LineLimit();
  const out: Buffer[] = chunks.map((c) => Buffer.from(lim.convert(c)));
  lim._flush(() => {});
  const tail = lim.read() as Buffer | null;
  if (tail) out.push(tail);
  return Buffer.concat(out);
}

/** The input cut at the given offsets (sorted, inside the input). */
function split(input: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(input.subarray(prev, c));
    prev = c;
  }
  out.push(input.subarray(prev));
  return out;
}

/** Runs the input through the Transform as a real stream, in the given chunks. */
async function viaStream(chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  const lim = new LineLimit();
  lim.on('data', (d: Buffer) => out.push(d));
  const done = new Promise<void>((resolve, reject) => {
    lim.once('end', resolve);
    lim.once('error', reject);
  });
  Readable.from(chunks.map((c) => Buffer.from(c)), { objectMode: false }).pipe(lim);
  await done;
  return Buffer.concat(out);
}

/**
 * What the output must be, written the slow and obvious way: split into lines
 * (CRLF, lone CR, lone LF all end a line), fold each, end each with CRLF.
 */
function model(input: Buffer): Buffer {
  const out: Buffer[] = [];
  let inHeaders = true;
  let i = 0;
  while (i < input.length) {
    let j = i;
    while (j < input.length && input[j] !== CR && input[j] !== LF) j++;
    const content = input.subarray(i, j);
    let terminated = false;
    if (j < input.length) {
      terminated = true;
      j += input[j] === CR && input[j + 1] === LF ? 2 : 1;
    }
    out.push(fold(content, inHeaders));
    if (terminated) out.push(b('\r\n'));
    if (terminated && content.length === 0) inHeaders = false;
    i = j;
  }
  return Buffer.concat(out);
}

function fold(content: Buffer, header: boolean): Buffer {
  if (content.length <= MAX_LINE) return content;
  const pieces: Buffer[] = [content.subarray(0, MAX_LINE)];
  const step = header ? MAX_LINE - 1 : MAX_LINE;
  for (let p = MAX_LINE; p < content.length; p += step) {
    pieces.push(b(header ? '\r\n ' : '\r\n'), content.subarray(p, p + step));
  }
  return Buffer.concat(pieces);
}

/** No line over 998 octets, and every CR and LF part of a CRLF. */
function checkShape(output: Buffer, what: string): void {
  let lineStart = 0;
  for (let i = 0; i < output.length; i++) {
    const c = output[i];
    if (c === CR) {
      assert.equal(output[i + 1], LF, `${what}: bare CR at ${i}: ${show(output.subarray(Math.max(0, i - 20), i + 20))}`);
      assert.ok(i - lineStart <= MAX_LINE, `${what}: line of ${i - lineStart} octets (> ${MAX_LINE}) at ${lineStart}`);
      i++;
      lineStart = i + 1;
    } else if (c === LF) {
      assert.fail(`${what}: bare LF at ${i}: ${show(output.subarray(Math.max(0, i - 20), i + 20))}`);
    }
  }
  assert.ok(output.length - lineStart <= MAX_LINE, `${what}: last line of ${output.length - lineStart} octets (> ${MAX_LINE})`);
}

/**
 * For CRLF-clean input: the output is the input with folds inserted, and only
 * where a line would pass 998 octets: "CRLF SP" in the header section (the
 * input's first empty line ends it), "CRLF" in the body. Returns the number of
 * folds found. Independent of model(): walks input and output side by side.
 */
function checkOnlyFoldsAdded(input: Buffer, output: Buffer, what: string): number {
  let p = 0;
  let q = 0;
  let outLine = 0; // octets on the current output line
  let inLine = 0; // octets on the current input line
  let inHeaders = true;
  let folds = 0;
  while (p < input.length || q < output.length) {
    if (p < input.length && q < output.length && input[p] === output[q]) {
      if (input[p] === CR && input[p + 1] === LF) {
        assert.equal(output[q + 1], LF, `${what}: CR without LF in the output at ${q}`);
        if (inLine === 0) inHeaders = false;
        inLine = 0;
        outLine = 0;
        p += 2;
        q += 2;
        continue;
      }
      p++;
      q++;
      inLine++;
      outLine++;
      continue;
    }
    // Not the input's next octet: must be a fold, at exactly 998 octets, inside a line that goes on.
    const foldText: string = inHeaders ? '\r\n ' : '\r\n';
    assert.equal(output.subarray(q, q + foldText.length).toString('latin1'), foldText, `${what}: output differs from the input at output ${q} / input ${p} and is no ${inHeaders ? 'header' : 'body'} fold: output ${show(output.subarray(q, q + 40))}, input ${show(input.subarray(p, p + 40))}`);
    assert.equal(outLine, MAX_LINE, `${what}: a fold after ${outLine} octets, not ${MAX_LINE} (output ${q})`);
    assert.ok(p < input.length && input[p] !== CR && input[p] !== LF, `${what}: a fold where the input line ends (input ${p})`);
    folds++;
    q += foldText.length;
    outLine = inHeaders ? 1 : 0;
  }
  return folds;
}

// ---------------------------------------------------------------- fixed cases

test('lines of exactly 998 octets are left alone, in the header section and in the body', () => {
  const h = 'X-Long: ' + 'h'.repeat(MAX_LINE - 8);
  const body = 'b'.repeat(MAX_LINE);
  const input = b(`${h}\r\nSubject: s\r\n\r\n${body}\r\n${body}`);
  assert.equal(h.length, MAX_LINE);
  assert.ok(convertChunks([input]).equals(input));
});

test('the common case copies nothing: a chunk without long lines comes back as a view of the same memory', () => {
  const input = b('Subject: hello\r\n\r\nshort body\r\n');
  const lim = new LineLimit();
  const out = lim.convert(input);
  assert.ok(out.equals(input));
  assert.equal(out.buffer, input.buffer, 'same ArrayBuffer');
  assert.equal(out.byteOffset, input.byteOffset);
});

test('a header line of 999 octets is folded after 998 with CRLF SP; the continuation keeps the rest', () => {
  const h = 'X-Long: ' + 'a'.repeat(MAX_LINE - 8) + 'Z';
  const out = convertChunks([b(`${h}\r\n\r\nbody\r\n`)]).toString('latin1');
  assert.equal(out, `${h.slice(0, MAX_LINE)}\r\n Z\r\n\r\nbody\r\n`);
});

test('a body line of 999 octets is folded after 998 with a plain CRLF', () => {
  const line = 'a'.repeat(MAX_LINE) + 'Z';
  const out = convertChunks([b(`Subject: s\r\n\r\n${line}\r\n`)]).toString('latin1');
  assert.equal(out, `Subject: s\r\n\r\n${'a'.repeat(MAX_LINE)}\r\nZ\r\n`);
});

test('a very long header line: first line 998, continuations SP + 997', () => {
  const content = 'X-Huge: ' + Array.from({ length: 3000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
  const out = convertChunks([b(content + '\r\n\r\n')]).toString('latin1');
  const lines = out.split('\r\n');
  assert.equal(lines[0]?.length, MAX_LINE);
  for (const l of lines.slice(1, -3)) {
    assert.equal(l.length, MAX_LINE, 'middle continuation lines are full');
    assert.equal(l[0], ' ');
  }
  assert.equal(lines.at(-3)?.[0], ' ');
  assert.deepEqual(lines.slice(-2), ['', '']);
  // Unfolding (RFC 5322 2.2.3 removes CRLF only) minus the inserted SPs gives the header back.
  assert.equal(out.slice(0, -4).split('\r\n ').join(''), content);
});

test('a very long body line: pieces of 998 and the rest', () => {
  const line = 'y'.repeat(MAX_LINE * 2 + 5);
  const out = convertChunks([b(`\r\n${line}\r\n`)]).toString('latin1');
  assert.equal(out, `\r\n${'y'.repeat(MAX_LINE)}\r\n${'y'.repeat(MAX_LINE)}\r\n${'y'.repeat(5)}\r\n`);
});

test('a long last line without a line end is folded too, and gets no line end added', () => {
  const out = convertChunks([b(`S: s\r\n\r\n${'q'.repeat(MAX_LINE + 3)}`)]).toString('latin1');
  assert.equal(out, `S: s\r\n\r\n${'q'.repeat(MAX_LINE)}\r\nqqq`);
});

test('lone CR and lone LF become CRLF, anywhere, including at the very end', () => {
  const cases: [string, string][] = [
    ['a\nb', 'a\r\nb'],
    ['a\rb', 'a\r\nb'],
    ['a\r', 'a\r\n'],
    ['a\n', 'a\r\n'],
    ['\r', '\r\n'],
    ['\n', '\r\n'],
    ['a\r\r\nb', 'a\r\n\r\nb'],
    ['a\n\rb', 'a\r\n\r\nb'],
    ['a\n\r\nb', 'a\r\n\r\nb'],
    ['a\r\r\r', 'a\r\n\r\n\r\n'],
    ['\n\n\n', '\r\n\r\n\r\n'],
    ['a\r\nb\r\n', 'a\r\nb\r\n'],
    ['S: 1\nT: 2\n\nbody\rmore\n', 'S: 1\r\nT: 2\r\n\r\nbody\r\nmore\r\n'],
  ];
  for (const [input, want] of cases) {
    assert.equal(convertChunks([b(input)]).toString('latin1'), want, `input ${JSON.stringify(input)}`);
    // Byte by byte, every CR lands at the end of a chunk.
    assert.equal(convertChunks([...b(input)].map((x) => Buffer.from([x]))).toString('latin1'), want, `input ${JSON.stringify(input)} byte by byte`);
  }
});

test('a CR at the end of a chunk followed by LF, by another CR, by text, or by nothing', async () => {
  const cases: [string[], string][] = [
    [['a\r', '\nb'], 'a\r\nb'],
    [['a\r', '\rb'], 'a\r\n\r\nb'],
    [['a\r', 'b'], 'a\r\nb'],
    [['a\r'], 'a\r\n'],
    [['a\r', ''], 'a\r\n'],
    [['a\r', '', '\n'], 'a\r\n'],
    [['\r', '\n', '\r', '\n', 'x'], '\r\n\r\nx'],
  ];
  for (const [chunks, want] of cases) {
    assert.equal(convertChunks(chunks.map(b)).toString('latin1'), want, `chunks ${JSON.stringify(chunks)}`);
    assert.equal(await viaStream(chunks.map(b)).then((x) => x.toString('latin1')), want, `chunks ${JSON.stringify(chunks)} as a stream`);
  }
});

test('a CR at the end of a chunk does not count towards the line or hide a fold', () => {
  // 998 octets, then CR at a chunk end, then LF: no fold.
  const line = 'z'.repeat(MAX_LINE);
  assert.equal(convertChunks([b(`\r\n${line}\r`), b('\nnext')]).toString('latin1'), `\r\n${line}\r\nnext`);
  // 998 octets and a lone CR split from its successor: one CRLF, no fold.
  assert.equal(convertChunks([b(`\r\n${line}\r`), b('x')]).toString('latin1'), `\r\n${line}\r\nx`);
});

test('header/body boundary: the first empty line, however it is written', () => {
  const long = 'w'.repeat(MAX_LINE + 1);
  const folded = (header: boolean) => `${'w'.repeat(MAX_LINE)}\r\n${header ? ' ' : ''}w`;
  const cases: [string, string, string][] = [
    ['CRLF blank line', `A: 1\r\n\r\n${long}\r\n`, `A: 1\r\n\r\n${folded(false)}\r\n`],
    ['LF blank line', `A: 1\n\n${long}\n`, `A: 1\r\n\r\n${folded(false)}\r\n`],
    ['CR blank line', `A: 1\r\r${long}\r`, `A: 1\r\n\r\n${folded(false)}\r\n`],
    ['no header section', `\r\n${long}\r\n`, `\r\n${folded(false)}\r\n`],
    ['no blank line at all: everything is header', `A: 1\r\n${long}\r\n${long}`, `A: 1\r\n${folded(true)}\r\n${folded(true)}`],
    ['a line of spaces is not blank', `A: 1\r\n  \r\n${long}\r\n`, `A: 1\r\n  \r\n${folded(true)}\r\n`],
    ['a folded header is not blank', `${long}\r\n${long}\r\n\r\n${long}\r\n`, `${folded(true)}\r\n${folded(true)}\r\n\r\n${folded(false)}\r\n`],
    ['the body stays body after another empty line', `A: 1\r\n\r\n\r\n${long}\r\n\r\n${long}`, `A: 1\r\n\r\n\r\n${folded(false)}\r\n\r\n${folded(false)}`],
  ];
  for (const [what, input, want] of cases) {
    const got = convertChunks([b(input)]).toString('latin1');
    assert.equal(got, want, what);
  }
});

test('the Transform as a stream: the same output as convert(), flush included', async () => {
  const input = b(`X-Long: ${'a'.repeat(1500)}\r\nS: x\n\n${'b'.repeat(2500)}\rend\r`);
  const want = model(input);
  for (const size of [1, 2, 3, 7, 997, 998, 999, 1000, 4096, input.length]) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < input.length; i += size) chunks.push(input.subarray(i, i + size));
    const got = await viaStream(chunks);
    assert.ok(got.equals(want), `chunks of ${size}: ${show(got)}`);
  }
  assert.equal(await text(Readable.from([b('a\r')]).pipe(new LineLimit())), 'a\r\n', 'a CR at the very end is flushed as CRLF');
});

// ---------------------------------------------------------------- every split

test('every split of the input into two and three chunks gives the same output', () => {
  const inputs = [
    b(`X-A: ${'a'.repeat(MAX_LINE)}\r\nX-B: 1\r\n\r\n${'b'.repeat(MAX_LINE * 2 + 1)}\r\ntail`),
    b(`X: ${'c'.repeat(MAX_LINE - 3)}\r\n\r\n${'d'.repeat(MAX_LINE)}\r\n${'e'.repeat(MAX_LINE + 1)}\r`),
    b(`A: 1\rB: 2\n\r\n${'f'.repeat(MAX_LINE - 1)}\r\r\n${'g'.repeat(MAX_LINE + 2)}\n`),
  ];
  for (const [k, input] of inputs.entries()) {
    const want = model(input);
    assert.ok(convertChunks([input]).equals(want), `input ${k} in one chunk: ${show(convertChunks([input]))}`);
    checkShape(want, `model of input ${k}`);
    for (let c = 0; c <= input.length; c++) {
      const got = convertChunks(split(input, [c]));
      if (!got.equals(want)) assert.fail(`input ${k} split at ${c} (octet there: ${input[c]}): ${show(got)} instead of ${show(want)}`);
    }
    // Three chunks: every pair of cuts within 6 octets of a line end or fold point, and a grid elsewhere.
    const hot = new Set<number>();
    for (let i = 0; i <= input.length; i++) {
      if (input[i] === CR || input[i] === LF) for (let d = -3; d <= 3; d++) hot.add(i + d);
    }
    for (let p = MAX_LINE - 6; p < input.length; p += MAX_LINE - 1) for (let d = 0; d <= 12; d++) hot.add(p + d);
    const points = [...hot].filter((x) => x >= 0 && x <= input.length).sort((x, y) => x - y);
    for (const c1 of points) {
      for (const c2 of points) {
        if (c2 < c1) continue;
        const got = convertChunks(split(input, [c1, c2]));
        if (!got.equals(want)) assert.fail(`input ${k} split at ${c1} and ${c2}: ${show(got)} instead of ${show(want)}`);
      }
    }
  }
});

test('every split of short inputs into any number of chunks gives the same output', () => {
  const inputs = ['a\r\nb\rc\nd\r', '\r\r\n\n\r', 'A: 1\n\nx\r'];
  for (const s of inputs) {
    const input = b(s);
    const want = model(input);
    const n = input.length;
    for (let mask = 0; mask < 1 << (n - 1); mask++) {
      const cuts: number[] = [];
      for (let i = 0; i < n - 1; i++) if (mask & (1 << i)) cuts.push(i + 1);
      const got = convertChunks(split(input, cuts));
      assert.ok(got.equals(want), `${JSON.stringify(s)} cut at ${cuts.join(',')}: ${show(got)} instead of ${show(want)}`);
    }
  }
});

// ---------------------------------------------------------------- properties

interface Gen {
  input: Buffer;
  clean: boolean;
}

function randomMessage(rand: () => number, clean: boolean): Gen {
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const octet = (): number => {
    const r = rand();
    if (r < 0.1) return SP;
    if (r < 0.15) return 0x09;
    if (r < 0.25) return int(0x80, 0xff);
    return int(0x21, 0x7e);
  };
  const lineLength = (): number => {
    const r = rand();
    if (r < 0.45) return int(0, 80);
    if (r < 0.75) return int(MAX_LINE - 4, MAX_LINE + 4);
    if (r < 0.85) return int(2 * MAX_LINE - 3, 2 * MAX_LINE + 3);
    return int(81, 3500);
  };
  const ending = (): number[] => {
    if (clean) return [CR, LF];
    const r = rand();
    if (r < 0.6) return [CR, LF];
    if (r < 0.8) return [LF];
    return [CR];
  };
  const bytes: number[] = [];
  const headers = int(0, 5);
  for (let h = 0; h < headers; h++) {
    const n = Math.max(lineLength(), 1);
    for (let i = 0; i < n; i++) bytes.push(octet());
    bytes.push(...ending());
  }
  if (rand() < 0.85) {
    bytes.push(...ending());
    const lines = int(0, 8);
    for (let l = 0; l < lines; l++) {
      const n = lineLength();
      for (let i = 0; i < n; i++) bytes.push(octet());
      bytes.push(...ending());
    }
  }
  if (rand() < 0.3) for (let i = lineLength(); i > 0; i--) bytes.push(octet()); // no final line end
  return { input: Buffer.from(bytes), clean };
}

function randomCuts(rand: () => number, input: Buffer): number[] {
  const cuts = new Set<number>();
  const r = rand();
  if (r < 0.2) return [];
  // Often right after a CR, so that the CR ends a chunk.
  for (let i = 0; i < input.length; i++) if (input[i] === CR && rand() < 0.5) cuts.add(i + 1);
  const n = r < 0.6 ? Math.floor(rand() * 6) : Math.floor(rand() * 60);
  for (let k = 0; k < n; k++) cuts.add(Math.floor(rand() * (input.length + 1)));
  return [...cuts].sort((x, y) => x - y);
}

test('property: over random inputs and random chunking, the output is the model, has no line over 998 and no bare CR or LF, and is the input plus folds', (t) => {
  const seed = process.env.LINE_LIMIT_SEED ? Number(process.env.LINE_LIMIT_SEED) : Math.floor(Math.random() * 2 ** 32);
  t.diagnostic(`seed ${seed} (rerun with LINE_LIMIT_SEED=${seed})`);
  const rand = mulberry32(seed);
  let folds = 0;
  let cutsAfterCr = 0;
  const runs = 600;
  for (let k = 0; k < runs; k++) {
    const { input, clean } = randomMessage(rand, rand() < 0.5);
    const cuts = randomCuts(rand, input);
    cutsAfterCr += cuts.filter((c) => input[c - 1] === CR).length;
    const what = `seed ${seed}, case ${k} (${clean ? 'CRLF-clean' : 'with lone CR/LF'}, ${input.length} octets, ${cuts.length} cuts)`;
    const got = convertChunks(split(input, cuts));
    const whole = convertChunks([input]);
    assert.ok(got.equals(whole), `${what}: chunked output differs from the one-chunk output`);
    checkShape(got, what);
    const want = model(input);
    assert.ok(got.equals(want), `${what}: output ${show(got)} is not the expected ${show(want)}`);
    // Output minus the inserted folds is the input (with lone CR/LF as CRLF).
    folds += checkOnlyFoldsAdded(clean ? input : normalise(input), got, what);
  }
  t.diagnostic(`${runs} inputs, ${folds} folds checked, ${cutsAfterCr} chunks ending in CR`);
  assert.ok(folds > 100, 'the generator produced long lines');
  assert.ok(cutsAfterCr > 50, 'the generator put CRs at chunk ends');
});

/** Lone CR and lone LF as CRLF: what the output must be before folds. */
function normalise(input: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < input.length; i++) {
    const c = input[i] as number;
    if (c === CR && input[i + 1] === LF) {
      out.push(CR, LF);
      i++;
    } else if (c === CR || c === LF) {
      out.push(CR, LF);
    } else {
      out.push(c);
    }
  }
  return Buffer.from(out);
}
