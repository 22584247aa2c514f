// A revision applied outside the running daemon is in force for its next
// connection, and no connection asks the store for it:
// - by the CLI (`config import`, another process): the CLI asks the daemon
//   over its control socket to take the revision and waits for its answer.
//   The daemon's poll is set to ten minutes here, so only that path can explain it;
// - by a process that writes the SQLite file directly (no control socket):
//   the daemon's poll of PRAGMA data_version finds it, well within 2 s.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { RawClient, relayDoc, ROOT, runCli, startRelay, type Relay } from './harness.ts';

const CLIENT = '127.0.0.3';

/** Opens a connection from CLIENT and tries to relay; returns the RCPT reply and the revision the connection pinned. */
async function tryRelay(relay: Relay): Promise<{ rcpt: string; revision: unknown }> {
  const before = relay.logs.filter((l) => l.event === 'connect' && l.client === CLIENT).length;
  const c = await RawClient.connect(relay.ports.mx, CLIENT);
  try {
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.cmd('MAIL FROM:<a@example.net>');
    const rcpt = (await c.cmd('RCPT TO:<someone@example.org>')) ?? '';
    await c.cmd('QUIT');
    await relay.waitLogs((l) => l.event === 'connect' && l.client === CLIENT, before + 1);
    const connect = relay.logs.filter((l) => l.event === 'connect' && l.client === CLIENT)[before];
    return { rcpt, revision: connect?.revision };
  } finally {
    c.end();
  }
}

async function relayAndSecondRevision(): Promise<{ rev1: Record<string, unknown>; rev2: Record<string, unknown>; ports: Relay['ports'] }> {
  const { doc: rev1, ports } = await relayDoc();
  const rev2 = { ...rev1, networks: [...(rev1.networks as unknown[]), { name: 'newhost', type: 'host', address: CLIENT }], relaying: { allowed_hosts: ['localhost', 'newhost'] } };
  return { rev1, rev2, ports };
}

test('config import by the CLI is in force for the next connection through the control socket (the poll alone would take ten minutes)', async (t) => {
  process.env.MAILWARDEN_CONFIG_POLL_MS = '600000';
  const { rev1, rev2, ports } = await relayAndSecondRevision();
  let relay: Relay;
  try {
    relay = await startRelay(t, rev1, ports);
  } finally {
    delete process.env.MAILWARDEN_CONFIG_POLL_MS;
  }
  const first = await tryRelay(relay);
  assert.equal(first.rcpt, '554 5.7.1 Relaying denied');
  assert.equal(first.revision, 1);

  const file = join(relay.dataDir, 'rev2.yaml');
  writeFileSync(file, stringify(rev2));
  const r = await runCli(['config', 'import', file, '--data', relay.dataDir]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  // The very next connection, opened as soon as the CLI returned.
  const next = await tryRelay(relay);
  assert.equal(next.revision, 2);
  assert.match(next.rcpt, /^250 2\.1\.5/);
  assert.ok(relay.logs.some((l) => l.event === 'revision.applied' && l.revision === 2));
  assert.ok(!relay.logs.some((l) => l.event === 'queue.admin'), 'the refresh is not logged as a queue operation');
});

test('a revision written to the SQLite file by another process (no control socket) is taken by the poll within 2 s', async (t) => {
  const { rev1, rev2, ports } = await relayAndSecondRevision();
  const relay = await startRelay(t, rev1, ports);
  assert.equal((await tryRelay(relay)).revision, 1);

  // A second process applies straight to DATA/mailwarden.db: no CLI, no control socket.
  const validated = await runCli(['config', 'check', '--json', writeDoc(relay, rev2)]);
  assert.equal(validated.status, 0, validated.stderr);
  const script = `
    import { SqliteConfigStore } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/store/sqlite-config-store.ts')).href)};
    import { validate } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/config/validate.ts')).href)};
    const v = validate(JSON.parse(process.argv[1]));
    if (v.errors.length) throw new Error(JSON.stringify(v.errors));
    const store = new SqliteConfigStore(process.argv[2]);
    const rev = await store.apply(v.settings, { author: 'test', comment: 'direct write' });
    await store.close();
    process.stdout.write(String(rev.number));`;
  const started = Date.now();
  const number = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(rev2), join(relay.dataDir, 'mailwarden.db')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`writer exited ${code}: ${err}`))));
  });
  assert.equal(number, '2');
  await relay.waitLog((l) => l.event === 'revision.applied' && l.revision === 2, 2000);
  t.diagnostic(`taken ${Date.now() - started} ms after the writer started`);
  const next = await tryRelay(relay);
  assert.equal(next.revision, 2);
  assert.match(next.rcpt, /^250 2\.1\.5/);
});

function writeDoc(relay: Relay, doc: Record<string, unknown>): string {
  const file = join(relay.dataDir, 'direct.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}
