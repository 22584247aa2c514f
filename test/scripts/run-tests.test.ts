// The test runner itself must fail on an empty or broken run: no test files,
// a file that runs no test, a file that fails to load.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

function runner(args: string[]): Promise<{ status: number; output: string }> {
  return new Promise((done) => {
    // A runner started inside a test would otherwise report to this test
    // process instead of counting for itself.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    execFile(process.execPath, [join(ROOT, 'scripts/run-tests.ts'), ...args], { cwd: ROOT, env }, (err, stdout, stderr) => {
      done({ status: err ? Number(err.code) : 0, output: stdout + stderr });
    });
  });
}

test('the runner fails when no file matches, when a file has no test, and when a file crashes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-runner-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const none = await runner([join(dir, 'nothing/*.test.ts')]);
  assert.equal(none.status, 1);
  assert.match(none.output, /no test files match/);

  writeFileSync(join(dir, 'empty.test.ts'), 'export {};\n');
  const empty = await runner([join(dir, 'empty.test.ts')]);
  assert.equal(empty.status, 1);
  assert.match(empty.output, /no test ran in/);

  writeFileSync(join(dir, 'crash.test.ts'), "import { test } from 'node:test';\ntest('x', () => {});\nthrow new Error('boom');\n");
  assert.equal((await runner([join(dir, 'crash.test.ts')])).status, 1);

  writeFileSync(join(dir, 'good.test.ts'), "import { test } from 'node:test';\ntest('passes', () => {});\n");
  const good = await runner([join(dir, 'good.test.ts')]);
  assert.equal(good.status, 0, good.output);
});
