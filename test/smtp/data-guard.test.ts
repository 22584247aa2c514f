// DataGuard alone: every smuggling variant, in the body and in the headers,
// split at every chunk boundary and fed byte by byte; Received counting;
// the size limit; the first problem wins.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataGuard, type DataProblem } from '../../src/smtp/data-guard.ts';

const B = (s: string) => Buffer.from(s, 'latin1');

/** Whether feed() let the chunk through. */
const passes = (g: DataGuard, chunk: Buffer): boolean => g.feed(chunk) !== null;

/** Feeds `parts` and returns the verdict of finish() and each feed()'s result. */
function run(parts: Buffer[], maxBytes = 1_000_000, maxReceived = 50): { problem: DataProblem | null; fed: boolean[]; guard: DataGuard } {
  const guard = new DataGuard(maxBytes, maxReceived);
  const fed = parts.map((p) => guard.feed(p) !== null);
  return { problem: guard.finish(), fed, guard };
}

/** Every way of cutting `msg` into two chunks, plus one byte per chunk, plus three-way cuts around `focus`. */
function splits(msg: string, focus?: number): Buffer[][] {
  const buf = B(msg);
  const out: Buffer[][] = [[buf]];
  for (let i = 0; i <= buf.length; i++) out.push([buf.subarray(0, i), buf.subarray(i)]);
  out.push([...buf].map((b) => Buffer.from([b])));
  if (focus !== undefined) {
    for (let i = Math.max(0, focus - 4); i <= Math.min(buf.length, focus + 8); i++) {
      for (let j = i; j <= Math.min(buf.length, focus + 8); j++) out.push([buf.subarray(0, i), buf.subarray(i, j), buf.subarray(j)]);
    }
  }
  return out;
}

function expectEverySplit(msg: string, expected: DataProblem | null, opts: { maxBytes?: number; maxReceived?: number; focus?: number } = {}): void {
  for (const parts of splits(msg, opts.focus)) {
    const { problem } = run(parts, opts.maxBytes, opts.maxReceived);
    assert.equal(problem, expected, `cut as ${JSON.stringify(parts.map((p) => p.toString('latin1')))}`);
  }
}

const SMUGGLED = 'MAIL FROM:<evil@x>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nSubject: evil\r\n\r\nsmuggled\r\n';

const VARIANTS: [string, DataProblem][] = [
  ['\n.\n', 'bare_lf'],
  ['\r.\r', 'bare_cr'],
  ['\n.\r\n', 'bare_lf'],
  ['\r\n.\n', 'bare_lf'],
  ['\r.\r\n', 'bare_cr'],
  ['\r\n.\r', 'bare_cr'],
  ['\r\n\x00.\r\n', 'nul'],
];

test('a clean message passes at every split, and is counted exactly', () => {
  const msg = 'Received: from a\r\nSubject: x\r\n\tfolded\r\n\r\nbody line\r\n\r\n..dot stuffed once\r\n\r\n';
  expectEverySplit(msg, null);
  const { guard, fed } = run([B(msg)]);
  assert.deepEqual(fed, [true]);
  assert.equal(guard.bytes, msg.length);
  assert.equal(guard.received, 1);
});

test('an empty message and a body-only message pass', () => {
  assert.equal(run([]).problem, null);
  assert.equal(run([B('')]).problem, null);
  expectEverySplit('\r\nonly a body\r\n', null);
});

for (const [fake, problem] of VARIANTS) {
  test(`smuggling variant ${JSON.stringify(fake)} in the body: ${problem} at every split`, () => {
    const msg = `Subject: hello\r\n\r\nhello${fake}${SMUGGLED}`;
    expectEverySplit(msg, problem, { focus: msg.indexOf(fake) });
  });

  test(`smuggling variant ${JSON.stringify(fake)} in the headers: ${problem} at every split`, () => {
    const msg = `Subject: hello${fake}X-After: yes\r\n\r\nbody\r\n`;
    expectEverySplit(msg, problem, { focus: msg.indexOf(fake) });
  });
}

test('a bare LF right after the header/body boundary and as the first byte', () => {
  expectEverySplit('Subject: x\r\n\r\n\nbody\r\n', 'bare_lf');
  expectEverySplit('\nSubject: x\r\n\r\nbody\r\n', 'bare_lf');
  expectEverySplit('\rSubject: x\r\n\r\nbody\r\n', 'bare_cr');
});

test('a lone CR at the very end of the data is a bare CR (finish)', () => {
  expectEverySplit('Subject: x\r\n\r\nbody\r', 'bare_cr');
  expectEverySplit('Subject: x\r', 'bare_cr');
  const g = new DataGuard(1000, 50);
  assert.equal(passes(g, B('Subject: x\r\n\r\nbody\r')), true, 'a CR at the end of a chunk may still be followed by LF');
  assert.equal(passes(g, B('\n')), true);
  assert.equal(g.finish(), null);
});

test('CR CR LF and LF LF are refused', () => {
  expectEverySplit('Subject: x\r\n\r\nbody\r\r\n', 'bare_cr');
  expectEverySplit('Subject: x\r\n\r\nbody\n\n', 'bare_lf');
  expectEverySplit('Subject: x\r\n\r\nbody\r\n\n', 'bare_lf');
});

test('NUL in a header and in the body', () => {
  expectEverySplit('Subject: a\x00b\r\n\r\nbody\r\n', 'nul');
  expectEverySplit('Subject: ab\r\n\r\nbo\x00dy\r\n', 'nul');
});

test('once refused, feed() keeps returning false and bytes keep being counted', () => {
  const g = new DataGuard(1000, 50);
  assert.equal(passes(g, B('Subject: x\r\n\r\nbad\nline\r\n')), false);
  assert.equal(g.problem, 'bare_lf');
  assert.equal(passes(g, B('clean\r\n')), false);
  assert.equal(g.bytes, 'Subject: x\r\n\r\nbad\nline\r\n'.length + 7);
  assert.equal(g.finish(), 'bare_lf');
});

// ---------------------------------------------------------------- Received headers

const received = (n: number, name = 'Received') => Array.from({ length: n }, (_, i) => `${name}: from h${i} by h${i + 1}; Mon, 5 Jan 2026 10:00:00 +0000\r\n`).join('');

test('exactly max_received Received headers pass; one more is a loop, at every split', () => {
  const ok = `${received(5)}Subject: x\r\n\r\nbody\r\n`;
  expectEverySplit(ok, null, { maxReceived: 5 });
  assert.equal(run([B(ok)], 1e6, 5).guard.received, 5);
  const loop = `${received(6)}Subject: x\r\n\r\nbody\r\n`;
  expectEverySplit(loop, 'loop', { maxReceived: 5 });
});

test('Received is matched case-insensitively, only at the start of a header line', () => {
  const mixed = 'RECEIVED: a\r\nreceived: b\r\nrEcEiVeD: c\r\n\r\n';
  assert.equal(run([B(mixed)]).guard.received, 3);
  assert.equal(run([B(mixed)], 1e6, 2).problem, 'loop');
  const lookalikes =
    received(2) +
    'X-Received: a\r\nReceived-SPF: pass\r\nReceivedX: b\r\nSubject: Received: c\r\n Received: folded\r\n\tReceived: folded\r\nReceived\r\n\r\n' +
    received(10);
  for (const parts of splits(lookalikes)) {
    const { problem, guard } = run(parts, 1e6, 2);
    assert.equal(problem, null);
    assert.equal(guard.received, 2, `cut as ${JSON.stringify(parts.map((p) => p.toString('latin1')))}`);
  }
});

test('Received headers after the header section are body text', () => {
  const msg = `Subject: x\r\n\r\n${received(20)}`;
  const { problem, guard } = run([B(msg)], 1e6, 1);
  assert.equal(problem, null);
  assert.equal(guard.received, 0);
});

// ---------------------------------------------------------------- size

test('exactly maxBytes passes; one octet more is too_big, at every split', () => {
  const msg = 'Subject: x\r\n\r\n' + 'y'.repeat(80) + '\r\n';
  expectEverySplit(msg, null, { maxBytes: msg.length });
  expectEverySplit(msg, 'too_big', { maxBytes: msg.length - 1 });
});

test('too_big is seen on the chunk that crosses the limit, and counting goes on', () => {
  const g = new DataGuard(100, 50);
  assert.equal(passes(g, B('Subject: x\r\n\r\n' + 'y'.repeat(84))), true); // 98
  assert.equal(passes(g, B('\r\n')), true); // 100
  assert.equal(passes(g, B('z')), false); // 101
  assert.equal(g.problem, 'too_big');
  for (let i = 0; i < 100; i++) passes(g, B('z'.repeat(1000)));
  assert.equal(g.bytes, 100_101);
  assert.equal(g.finish(), 'too_big');
});

// ---------------------------------------------------------------- the first problem wins

test('the first problem is kept: a bare LF before the size limit stays bare_lf', () => {
  const g = new DataGuard(50, 50);
  assert.equal(passes(g, B('Subject: x\n')), false);
  passes(g, B('y'.repeat(100)));
  assert.equal(g.finish(), 'bare_lf');
});

test('the first problem is kept: a mail loop followed by a bare LF in the same chunk stays a loop', () => {
  const { problem } = run([B(`${received(6)}Subject: x\r\n\r\nbody\nmore\r\n`)], 1e6, 5);
  assert.equal(problem, 'loop');
});

test('the first problem is kept: a mail loop followed by a NUL in the same chunk stays a loop', () => {
  const { problem } = run([B(`${received(6)}Subject: x\x00\r\n\r\nbody\r\n`)], 1e6, 5);
  assert.equal(problem, 'loop');
});

test('feed() returns false for the chunk that makes the message a loop', () => {
  const g = new DataGuard(1e6, 5);
  assert.equal(passes(g, B(received(5))), true);
  assert.equal(passes(g, B(received(1) + 'Subject: x\r\n\r\nbody\r\n')), false);
  assert.equal(g.problem, 'loop');
});

// ---------------------------------------------------------------- bare LF normalised (limits.bare_newline: normalize)

/** Feeds `parts` in normalize mode; the verdict and everything the guard passed on, joined. */
function runNormalize(parts: Buffer[], maxReceived = 50): { problem: DataProblem | null; out: string; guard: DataGuard } {
  const guard = new DataGuard(1_000_000, maxReceived, 'normalize');
  const out: Buffer[] = [];
  for (const p of parts) {
    const o = guard.feed(p);
    if (o) out.push(o);
  }
  return { problem: guard.finish(), out: Buffer.concat(out).toString('latin1'), guard };
}

/** What normalising must give, written independently of the guard: a CR before every LF that lacks one. */
const reference = (s: string) => s.replace(/(?<!\r)\n/g, '\r\n');

function expectNormalizedEverySplit(msg: string, expected: string, focus?: number): void {
  const lfs = (msg.match(/(?<!\r)\n/g) ?? []).length;
  for (const parts of splits(msg, focus)) {
    const { problem, out, guard } = runNormalize(parts);
    const cut = JSON.stringify(parts.map((p) => p.toString('latin1')));
    assert.equal(problem, null, `cut as ${cut}`);
    assert.equal(out, expected, `cut as ${cut}`);
    assert.equal(guard.normalized, lfs, `cut as ${cut}`);
    assert.equal(guard.bytes, msg.length, 'the size limit counts what the client sent');
  }
}

test('normalize: the smuggling forms with a bare LF become plain lines of text, at every split', () => {
  for (const fake of ['\n.\n', '\r\n.\n', '\n.\r\n']) {
    const msg = `Subject: hello\r\n\r\nhello${fake}${SMUGGLED}`;
    // The fake end is one line holding a dot, inside the message, and the smuggled commands are body text after it.
    expectNormalizedEverySplit(msg, `Subject: hello\r\n\r\nhello\r\n.\r\n${SMUGGLED}`, msg.indexOf(fake));
  }
});

test('normalize: bare LFs in headers and body, LF LF, a leading LF; CRLF split across chunks is left alone', () => {
  expectNormalizedEverySplit('Subject: a\nX-B: c\n\nline 1\nline 2\r\nline 3\n', 'Subject: a\r\nX-B: c\r\n\r\nline 1\r\nline 2\r\nline 3\r\n');
  expectNormalizedEverySplit('\nbody\n\n\n', '\r\nbody\r\n\r\n\r\n');
  expectNormalizedEverySplit('Subject: a\r\n\r\nclean\r\n', 'Subject: a\r\n\r\nclean\r\n');
});

test('normalize: a clean chunk is passed on as the same buffer (no copy)', () => {
  const g = new DataGuard(1000, 50, 'normalize');
  const chunk = B('Subject: a\r\n\r\nbody\r\n');
  assert.equal(g.feed(chunk), chunk);
  const lf = B('x\ny');
  assert.notEqual(g.feed(lf), lf);
});

test('normalize: the header section ends at a bare empty line, so Received headers are counted there only', () => {
  const recv = (n: number) => Array.from({ length: n }, (_, i) => `Received: from h${i}\n`).join('');
  for (const parts of splits(`${recv(3)}Subject: x\n\n${recv(5)}`)) assert.equal(runNormalize(parts, 3).problem, null);
  for (const parts of splits(`${recv(4)}Subject: x\n\nbody\n`)) assert.equal(runNormalize(parts, 3).problem, 'loop');
});

test('normalize: a bare CR and a NUL are still refused', () => {
  for (const [msg, problem] of [
    ['Subject: x\r\n\r\nhello\r.\rworld\r\n', 'bare_cr'],
    ['Subject: x\n\nhello\r.\r\n', 'bare_cr'],
    ['Subject: x\n\nbody\r', 'bare_cr'],
    ['Subject: x\n\nbo\x00dy\n', 'nul'],
  ] as const) {
    for (const parts of splits(msg)) assert.equal(runNormalize(parts).problem, problem, JSON.stringify(parts.map((p) => p.toString('latin1'))));
  }
});

/** Every string of `alphabet` up to `max` characters long. */
function* strings(alphabet: string, max: number): Generator<string> {
  let level = [''];
  yield '';
  for (let n = 1; n <= max; n++) {
    const next: string[] = [];
    for (const s of level) for (const c of alphabet) next.push(s + c);
    yield* next;
    level = next;
  }
}

test('exhaustive: every body of CR, LF, "." and "a" up to 7 octets, at every two-way split and byte by byte, in both modes', () => {
  const head = 'S: x\r\n\r\n';
  let cases = 0;
  for (const body of strings('\r\n.a', 7)) {
    const msg = head + body;
    const buf = B(msg);
    const cuts: Buffer[][] = [[buf], [...buf].map((b) => Buffer.from([b]))];
    for (let i = head.length; i <= buf.length; i++) cuts.push([buf.subarray(0, i), buf.subarray(i)]);
    // Reject mode: refused when there is a bare CR or a bare LF, and for one of those present
    // (which one is named first within a chunk may differ; the reply is the same 550 5.5.2).
    const present = new Set<DataProblem>();
    if (/\r(?!\n)/.test(msg)) present.add('bare_cr');
    if (/(?<!\r)\n/.test(msg)) present.add('bare_lf');
    const normalizedProblem: DataProblem | null = present.has('bare_cr') ? 'bare_cr' : null;
    for (const parts of cuts) {
      const cut = JSON.stringify(parts.map((p) => p.toString('latin1')));
      const rejected = run(parts).problem;
      if (present.size === 0) assert.equal(rejected, null, `reject, cut as ${cut}`);
      else assert.ok(rejected !== null && present.has(rejected), `reject, cut as ${cut}: ${rejected}`);
      const n = runNormalize(parts);
      assert.equal(n.problem, normalizedProblem, `normalize, cut as ${cut}`);
      if (n.problem === null) assert.equal(n.out, reference(msg), `normalize, cut as ${cut}`);
      cases++;
    }
  }
  assert.ok(cases > 100_000, `only ${cases} cases`);
});
