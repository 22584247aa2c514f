// The test runner itself must fail on an empty or broken run: no test files,
// a file that runs no test, a file that fails to load.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

function runner(args: string[], skips?: 'strict' | 'lenient'): Promise<{ status: number; output: string }> {
  return new Promise((done) => {
    // A runner started inside a test would otherwise report to this test
    // process instead of counting for itself.
    const { NODE_TEST_CONTEXT: _, MAILWARDEN_SKIPS: __, ...rest } = process.env;
    const env = skips ? { ...rest, MAILWARDEN_SKIPS: skips } : rest;
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

  // Tests defined in a shared module (as the store contract suites are) count for the file whose suite runs them.
  writeFileSync(join(dir, 'suite.ts'), "import { describe, test } from 'node:test';\nexport function suite() { describe('shared', () => { test('a', () => {}); test('b', () => {}); }); }\n");
  writeFileSync(join(dir, 'uses-suite.test.ts'), "import { describe } from 'node:test';\nimport { suite } from './suite.ts';\ndescribe('contracts', () => suite());\n");
  const shared = await runner([join(dir, 'uses-suite.test.ts')]);
  assert.equal(shared.status, 0, shared.output);
  assert.match(shared.output, /2 tests passed/);
  writeFileSync(join(dir, 'empty-suite.test.ts'), "import { describe } from 'node:test';\ndescribe('nothing', () => {});\n");
  const emptySuite = await runner([join(dir, 'empty-suite.test.ts')]);
  assert.equal(emptySuite.status, 1, emptySuite.output);
  assert.match(emptySuite.output, /no test ran in/);
});

test('skipped tests are listed with their reason and never counted as passed; a missing component fails as root', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-runner-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'skips.test.ts'),
    [
      "import { test } from 'node:test';",
      `import { missingComponent } from ${JSON.stringify(join(ROOT, 'test/support/requires.ts'))};`,
      "test('needs swaks', { skip: missingComponent('swaks', 'swaks is not installed') }, () => {});",
      "test('port taken', (t) => { t.skip('a default port is in use'); });",
      "test('runs', () => {});",
      '',
    ].join('\n'),
  );
  const lenient = await runner([join(dir, 'skips.test.ts')], 'lenient');
  assert.equal(lenient.status, 0, lenient.output);
  assert.match(lenient.output, /1 tests passed, 2 skipped, 0 failed/);
  assert.match(lenient.output, /needs swaks\n\s+missing component swaks: swaks is not installed/);
  assert.match(lenient.output, /port taken\n\s+a default port is in use/);

  const strict = await runner([join(dir, 'skips.test.ts')], 'strict');
  assert.equal(strict.status, 1, strict.output);
  assert.match(strict.output, /1 test\(s\) skipped for a missing component while running as root/);

  // Only skipped tests: nothing passed, so the run is not green even when lenient.
  writeFileSync(join(dir, 'only-skips.test.ts'), "import { test } from 'node:test';\ntest('a', { skip: 'x' }, () => {});\ntest('b', { skip: 'y' }, () => {});\n");
  const hollow = await runner([join(dir, 'only-skips.test.ts')], 'lenient');
  assert.equal(hollow.status, 1, hollow.output);
  assert.match(hollow.output, /0 tests passed, 2 skipped/);

  // A skip other than a missing component is listed but does not fail a strict run.
  writeFileSync(join(dir, 'other.test.ts'), "import { test } from 'node:test';\ntest('x', (t) => { t.skip('not today'); });\ntest('y', () => {});\n");
  assert.equal((await runner([join(dir, 'other.test.ts')], 'strict')).status, 0);
});
