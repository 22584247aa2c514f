// Runs every test file under test/ with node:test, in parallel processes
// (twice the cores: most end-to-end files spend their time waiting on sockets).
// Fails when no test file is found, when a file runs no test, or when any
// test fails: an empty or half-loaded run must never look green.
// Skipped tests are never counted as passed: the summary lists each with its
// reason, and a skip for a missing component (test/support/requires.ts) is a
// failure when the suite runs as root, as CI does, because `make test`
// installs every component there. MAILWARDEN_SKIPS=strict|lenient overrides
// the choice by user id (the runner's own test uses it).

import { globSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { relative, resolve } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { isMissingComponent } from '../test/support/requires.ts';

// A directory stands for the test files under it.
const patterns = process.argv.slice(2).map((p) => (statSync(p, { throwIfNoEntry: false })?.isDirectory() ? `${p.replace(/\/$/, '')}/**/*.test.ts` : p));
const files = globSync(patterns.length ? patterns : ['test/**/*.test.ts']).map((f) => resolve(f)).sort();
if (files.length === 0) {
  process.stderr.write(`no test files match ${patterns.join(' ') || 'test/**/*.test.ts'}\n`);
  process.exit(1);
}

const policy = process.env.MAILWARDEN_SKIPS;
const strict = policy === 'strict' || (policy !== 'lenient' && process.getuid?.() === 0);

const testsPerFile = new Map<string, number>(files.map((f) => [f, 0]));
// A file may run tests defined in a shared module (the store contract suites)
// from a suite of its own: that suite is planned with a count of children,
// though no test is defined in the file. An empty suite plans none.
const planned = new Set<string>();
const skipped: { file: string; name: string; reason: string; missing: boolean }[] = [];
let failed = 0;
let passed = 0;

// A test that hangs (a daemon that never answers) fails after TEST_TIMEOUT_MS instead of holding the run until CI's limit.
const TEST_TIMEOUT_MS = Number(process.env.MAILWARDEN_TEST_TIMEOUT_MS ?? 600_000);
const stream = run({ files, concurrency: Math.max(4, availableParallelism() * 2), isolation: 'process', timeout: TEST_TIMEOUT_MS });
stream.on('test:pass', (e) => {
  if (e.details.type === 'suite' || e.nesting === 0 && e.name === e.file) return;
  if (e.file) testsPerFile.set(e.file, (testsPerFile.get(e.file) ?? 0) + 1);
  const skip = e.skip ?? e.todo;
  if (skip !== undefined && skip !== false) {
    const reason = typeof skip === 'string' ? skip : e.todo !== undefined ? 'todo' : 'no reason given';
    skipped.push({ file: e.file ? relative(process.cwd(), e.file) : '?', name: e.name, reason, missing: isMissingComponent(skip) });
    return;
  }
  passed++;
});
stream.on('test:plan', (e) => {
  if (e.file && e.count > 0 && testsPerFile.has(e.file)) planned.add(e.file);
});
stream.on('test:fail', () => {
  failed++;
});
stream.compose(spec).pipe(process.stdout);
stream.on('end', () => {
  const empty = [...testsPerFile].filter(([f, n]) => n === 0 && !planned.has(f)).map(([f]) => f);
  for (const f of empty) process.stderr.write(`no test ran in ${f}\n`);
  if (skipped.length > 0) {
    process.stderr.write(`\nskipped (${skipped.length}):\n`);
    for (const s of skipped) process.stderr.write(`  ${s.file}: ${s.name}\n    ${s.reason}\n`);
  }
  const missing = skipped.filter((s) => s.missing);
  if (strict && missing.length > 0) {
    process.stderr.write(`\n${missing.length} test(s) skipped for a missing component while running as root: make test installs every component here, so this is a failure\n`);
  }
  process.stderr.write(`\n${files.length} files, ${passed} tests passed, ${skipped.length} skipped, ${failed} failed\n`);
  if (failed > 0 || empty.length > 0 || passed === 0 || (strict && missing.length > 0)) process.exitCode = 1;
});
