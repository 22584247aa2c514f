// Runs every test file under test/ with node:test, in parallel processes
// (twice the cores: most end-to-end files spend their time waiting on sockets).
// Fails when no test file is found, when a file runs no test, or when any
// test fails: an empty or half-loaded run must never look green.

import { globSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

const patterns = process.argv.slice(2);
const files = globSync(patterns.length ? patterns : ['test/**/*.test.ts']).map((f) => resolve(f)).sort();
if (files.length === 0) {
  process.stderr.write(`no test files match ${patterns.join(' ') || 'test/**/*.test.ts'}\n`);
  process.exit(1);
}

const testsPerFile = new Map<string, number>(files.map((f) => [f, 0]));
let failed = 0;
let passed = 0;

const stream = run({ files, concurrency: Math.max(4, availableParallelism() * 2), isolation: 'process' });
stream.on('test:pass', (e) => {
  if (e.details.type === 'suite' || e.nesting === 0 && e.name === e.file) return;
  passed++;
  if (e.file) testsPerFile.set(e.file, (testsPerFile.get(e.file) ?? 0) + 1);
});
stream.on('test:fail', () => {
  failed++;
});
stream.compose(spec).pipe(process.stdout);
stream.on('end', () => {
  const empty = [...testsPerFile].filter(([, n]) => n === 0).map(([f]) => f);
  for (const f of empty) process.stderr.write(`no test ran in ${f}\n`);
  process.stderr.write(`\n${files.length} files, ${passed} tests passed, ${failed} failed\n`);
  if (failed > 0 || empty.length > 0 || passed === 0) process.exitCode = 1;
});
