// The JSON-lines logger: to a file, lines are written off the event loop in
// batches and none is lost or reordered, also when the process exits with
// lines pending; to a pipe, a line is written before log() returns.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { formatLine } from '../../src/log/logger.ts';

const LOGGER = resolve(import.meta.dirname, '../../src/log/logger.ts');

/** Runs `body` in a child whose stdout is `out` ('pipe' or a file path); returns what it wrote. */
function child(body: string, out: 'pipe' | string): { stdout: string; status: number | null } {
  const script = `import { jsonLogger } from ${JSON.stringify(LOGGER)};\nconst log = jsonLogger();\n${body}`;
  if (out === 'pipe') {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.stderr, '');
    return { stdout: r.stdout, status: r.status };
  }
  const fd = openSync(out, 'w');
  try {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
    assert.equal(r.stderr, '');
    return { stdout: readFileSync(out, 'utf8'), status: r.status };
  } finally {
    closeSync(fd);
  }
}

function numbers(text: string): number[] {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => (JSON.parse(l) as { n: number }).n);
}

test('to a file: every line arrives, in order, across batches and timers', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // 3 bursts in different turns of the event loop, so that later lines are logged while a write is in flight.
  const r = child(
    `let n = 0;
     const burst = (k) => { for (let i = 0; i < k; i++) log.log('e', { n: n++, pad: 'x'.repeat(200) }); };
     burst(5000); setImmediate(() => burst(3000)); setTimeout(() => burst(2000), 5);`,
    join(dir, 'out.log'),
  );
  assert.equal(r.status, 0);
  assert.deepEqual(numbers(r.stdout), Array.from({ length: 10_000 }, (_, i) => i));
});

test('to a file: lines still pending when the process exits are written', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = child(`for (let n = 0; n < 1000; n++) log.log('e', { n }); process.exit(3);`, join(dir, 'out.log'));
  assert.equal(r.status, 3);
  assert.deepEqual(numbers(r.stdout), Array.from({ length: 1000 }, (_, i) => i));
});

test('to a file: a crash while a batch is being written loses no line (it may repeat some)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'out.log');
  // One pool thread, kept busy by a long pbkdf2: the batch handed to the pool
  // waits behind it, so the crash surely comes before it is written.
  const script = `import { jsonLogger } from ${JSON.stringify(LOGGER)};
    import { pbkdf2 } from 'node:crypto';
    pbkdf2('x', 'y', 5_000_000, 32, 'sha256', () => {});
    const log = jsonLogger();
    let n = 0;
    for (; n < 3000; n++) log.log('e', { n, pad: 'x'.repeat(300) });
    // the first batch is handed to the pool at the end of this turn; crash just after
    setImmediate(() => { for (; n < 4000; n++) log.log('e', { n }); throw new Error('boom'); });`;
  const fd = openSync(out, 'w');
  try {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', env: { ...process.env, UV_THREADPOOL_SIZE: '1' } });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /boom/);
  } finally {
    closeSync(fd);
  }
  const seen: number[] = [];
  for (const n of numbers(readFileSync(out, 'utf8'))) if (!seen.includes(n)) seen.push(n);
  assert.deepEqual(seen, Array.from({ length: 4000 }, (_, i) => i));
});

test('to a pipe: the line is written before log() returns', () => {
  // A synchronous exit right after log(): no turn of the event loop, no exit handler is needed.
  const r = child(`log.log('e', { n: 7 }); process.reallyExit(0);`, 'pipe');
  assert.deepEqual(numbers(r.stdout), [7]);
});

test('a line is one JSON object with ts and event first; a bigint is written as a string', () => {
  const line = formatLine('queued', { id: 'x', big: 12345678901234567890n }, '2026-01-01T00:00:00.000Z');
  assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'));
  assert.deepEqual(JSON.parse(line), { ts: '2026-01-01T00:00:00.000Z', event: 'queued', id: 'x', big: '12345678901234567890' });
  assert.deepEqual(Object.keys(JSON.parse(formatLine('a', { b: 1 }))), ['ts', 'event', 'b']);
});
