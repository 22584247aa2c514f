// Rate limits counted together by a cluster: two real daemons on one private
// PostgreSQL (test/support/postgres.ts), a limit of three messages an hour
// per client. Node A takes two; once A has handed its counts to the store
// (every second; `limits show --store` says when), node B takes the third
// and defers the fourth with 450 4.7.1; A, learning B's count at its next
// flush, defers too. `limits show --store` lists the shared counter.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { postgresMissing, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { RawClient, relayDoc, runCli, startNode, tempDataDir, type Relay } from '../smtp/harness.ts';
import type { RateCounterView } from '../../src/limits/rate-view.ts';

const missing = postgresMissing();
let server: TestPostgres | null = null;

before(async () => {
  if (!missing) server = await startPostgres();
});
after(async () => {
  await server?.destroy();
});

const HOUR = 3_600_000;

/** A message from 127.0.0.1, committed when MAIL is accepted (messages count at the commit); the MAIL reply. */
async function mail(relay: Relay): Promise<string> {
  const c = await RawClient.connect(relay.ports.mx, '127.0.0.1');
  await c.reply();
  await c.cmd('EHLO app.example');
  const r = (await c.cmd('MAIL FROM:<app@example.com>')) ?? '';
  if (r.startsWith('250')) {
    assert.match((await c.cmd('RCPT TO:<ops@remote.example>')) ?? '', /^250 /);
    assert.match((await c.cmd('DATA')) ?? '', /^354/);
    assert.match((await c.cmd('Subject: rate\r\n\r\nbody\r\n.')) ?? '', /^250 2\.0\.0 /);
  }
  c.end();
  return r;
}

async function counter(url: string, dataDir: string): Promise<number> {
  const r = await runCli(['limits', 'show', '--json', '--store', url, '--data', dataDir]);
  assert.equal(r.status, 0, r.stderr);
  const v = JSON.parse(r.stdout) as RateCounterView[];
  return v.find((x) => x.value === '127.0.0.1')?.count ?? 0;
}

/** Polls the store until the shared counter reaches `n` (the nodes flush every second). */
async function counterReaches(url: string, dataDir: string, n: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  let seen = -1;
  while (Date.now() < deadline) {
    seen = await counter(url, dataDir);
    if (seen >= n) return;
  }
  assert.fail(`the shared counter stayed at ${seen}, not ${n}`);
}

test('two nodes on one PostgreSQL count one client together', { skip: missing ?? false }, async (t) => {
  assert.ok(server);
  const url = await server.createDatabase();
  const { doc } = await relayDoc({ limits: { rate: [{ who: 'client', messages: 3, per: '1h', action: 'defer' }] } });
  // Both clocks a second into a fresh hour: the fixed window cannot end during the test.
  const now = Date.now();
  const offset = String(Math.ceil(now / HOUR) * HOUR + 1000 - now);
  const start = (name: string): Promise<Relay> => {
    const dataDir = tempDataDir(t);
    const file = join(dataDir, 'settings.yaml');
    writeFileSync(file, stringify(doc));
    return startNode(t, { args: ['start', '--data', dataDir, '--store', url, '--node', name, '--config', file], dataDir, env: { MAILWARDEN_TEST_CLOCK_OFFSET_MS: offset } });
  };
  const a = await start('alpha');
  const b = await start('beta');

  assert.match(await mail(a), /^250 /);
  assert.match(await mail(a), /^250 /);
  await counterReaches(url, a.dataDir, 2);
  assert.match(await mail(b), /^250 /, 'the third, on the other node');
  assert.equal(await mail(b), '450 4.7.1 Rate limit exceeded (messages per 1h), try again later');
  const trip = await b.waitLog((l) => l.event === 'rate.limited');
  assert.equal(trip.count, 3, "b counted a's two and its own");
  await counterReaches(url, a.dataDir, 3);
  // A reads the shared total back at its next flush (every second): wait for its refusal rather than guess when.
  const deadline = Date.now() + 15_000;
  let answer = '';
  while (Date.now() < deadline) {
    answer = await mail(a);
    if (!answer.startsWith('250')) break;
  }
  assert.equal(answer, '450 4.7.1 Rate limit exceeded (messages per 1h), try again later');
});
