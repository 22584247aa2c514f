// The daemon and the CLI on the cluster store, with the real daemon
// (bin/mailwarden start --store URL) and a private PostgreSQL: the store is
// chosen by --store or MAILWARDEN_STORE, a bad URL is refused and a password
// never shows, --listen moves a listener, a node name is taken once (and
// taken back at once by the same node restarted after a crash),
// `cluster status` lists the nodes, and `queue …` acts through the store.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { stringify } from 'yaml';
import { postgresMissing, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { BIN, freePort, queuedId, RawClient, relayDoc, ROOT, startNode, tempDataDir, type Relay } from '../smtp/harness.ts';
import { startSink, type Sink } from '../delivery/sink.ts';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';

const missing = postgresMissing();
let server: TestPostgres | null = null;

before(async () => {
  if (!missing) server = await startPostgres();
});
after(async () => {
  await server?.destroy();
});

type T = { after: (fn: () => void | Promise<void>) => void };

async function database(): Promise<string> {
  assert.ok(server, 'the test server runs');
  return server.createDatabase();
}

async function sink(t: T): Promise<Sink> {
  const s = await startSink({ address: '127.0.0.22' });
  t.after(() => s.close());
  return s;
}

/** A settings file in a fresh data directory: delivery to `to` (example.com) when given. */
async function settingsFile(t: T, to: Sink | null, extra: Record<string, unknown> = {}): Promise<{ dataDir: string; file: string }> {
  const { doc } = await relayDoc({
    ...(to ? { domains: [{ name: 'example.com', route: { hosts: [`127.0.0.22:${to.port}`] } }], delivery: { enabled: true } } : {}),
    ...extra,
  });
  const dataDir = tempDataDir(t);
  const file = join(dataDir, 'settings.yaml');
  writeFileSync(file, stringify(doc));
  return { dataDir, file };
}

/** One message to someone@example.com over a raw connection; returns the queue id. */
async function send(port: number, subject: string): Promise<string> {
  const c = await RawClient.connect(port);
  try {
    assert.match((await c.reply()) ?? '', /^220 /);
    await c.cmd('EHLO client.example');
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<someone@example.com>')) ?? '', /^250 /);
    assert.match((await c.cmd('DATA')) ?? '', /^354 /);
    return queuedId((await c.cmd(`Subject: ${subject}\r\n\r\nhello\r\n.`)) ?? '(closed)');
  } finally {
    c.end();
  }
}

/** Runs `mailwarden ARGS` with `env` added; never rejects. */
function cli(args: string[], env: Record<string, string> = {}, ms = 30_000): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      done({ status: code ?? -1, stdout, stderr });
    });
  });
}

test('--store chooses PostgreSQL: the data directory holds no SQLite file and no spool, the message is in the PostgreSQL queue, queue commands act through the store, and it is delivered', { skip: missing ?? false }, async (t) => {
  const url = await database();
  const to = await sink(t);
  let refuse = true;
  to.setBehaviour({ rcpt: () => (refuse ? { code: 451, text: '4.7.1 try later' } : undefined) });
  const { dataDir, file } = await settingsFile(t, to);
  const node = await startNode(t, { args: ['start', '--data', dataDir, '--store', url, '--node', 'alpha', '--config', file], dataDir });
  const started = await node.waitLog((l) => l.event === 'started');
  assert.equal(started.store, 'postgresql');
  assert.equal(started.node, 'alpha');

  const id = await send(node.ports.mx, 'through postgres');
  await node.waitLog((l) => l.event === 'delivery' && l.id === id && l.status === 'deferred', 20_000);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  t.after(() => sql.end());
  const rows = await sql<{ id: string }[]>`SELECT id FROM queue_message`;
  assert.deepEqual(rows.map((r) => r.id), [id], 'the message is in the PostgreSQL queue');
  assert.equal(existsSync(join(dataDir, 'mailwarden.db')), false, 'no SQLite settings file');
  assert.equal(existsSync(join(dataDir, 'admin.db')), false, 'no SQLite accounts file');
  assert.equal(existsSync(join(dataDir, 'spool')), false, 'no spool');

  // The CLI from "another machine" (a data directory of its own) reads the shared queue.
  const elsewhere = tempDataDir(t);
  const list = await cli(['queue', 'list', '--json', '--store', url, '--data', elsewhere]);
  assert.equal(list.status, 0, list.stderr);
  assert.deepEqual((JSON.parse(list.stdout) as { id: string }[]).map((e) => e.id), [id]);

  refuse = false;
  // Deferred for retry.first (5 min): only the retry through the store brings it now.
  // The node may still hold its claim for a moment (the attempt's settle): the CLI is then told which node delivers it.
  let retry = await cli(['queue', 'retry', id, '--store', url, '--data', elsewhere]);
  for (let i = 0; i < 20 && retry.status !== 0 && /alpha/.test(retry.stderr); i++) retry = await cli(['queue', 'retry', id, '--store', url, '--data', elsewhere]);
  assert.equal(retry.status, 0, retry.stderr);
  const [got] = await to.waitFor(1, 20_000);
  assert.match(got?.raw.toString() ?? '', /Subject: through postgres/);
  await node.waitLog((l) => l.event === 'delivery' && l.id === id && l.status === 'delivered', 10_000);
  await node.waitLog((l) => l.event === 'queue.removed' && l.id === id, 10_000);
  assert.deepEqual([...(await sql`SELECT id FROM queue_message`)], [], 'gone from the PostgreSQL queue once delivered');
});

test('MAILWARDEN_STORE chooses PostgreSQL the same way; --store wins over it', { skip: missing ?? false }, async (t) => {
  const url = await database();
  const { dataDir, file } = await settingsFile(t, null);
  const node = await startNode(t, { args: ['start', '--data', dataDir, '--node', 'env-node', '--config', file], dataDir, env: { MAILWARDEN_STORE: url } });
  assert.equal((await node.waitLog((l) => l.event === 'started')).store, 'postgresql');
  assert.equal(existsSync(join(dataDir, 'mailwarden.db')), false);
  const id = await send(node.ports.mx, 'env store');
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  t.after(() => sql.end());
  assert.deepEqual((await sql<{ id: string }[]>`SELECT id FROM queue_message`).map((r) => r.id), [id]);
  // The flag wins: a bad URL in the environment is not even read.
  const history = await cli(['config', 'history', '--store', url, '--data', tempDataDir(t)], { MAILWARDEN_STORE: 'mysql://nobody@localhost/x' });
  assert.equal(history.status, 0, history.stderr);
  assert.match(history.stdout, /^\* +1 /m);
});

test('a store URL that is not PostgreSQL\'s is refused, naming the accepted forms, and no password shows anywhere', { skip: missing ?? false }, async (t) => {
  const dataDir = tempDataDir(t);
  const bad = await cli(['start', '--data', dataDir, '--store', 'mysql://admin:s3cretPW@db.example/mail']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /postgresql:\/\//);
  assert.match(bad.stderr, /mysql:\/\/admin:\*\*\*@db\.example\/mail/);
  assert.doesNotMatch(bad.stdout + bad.stderr, /s3cretPW/);
  const viaEnv = await cli(['config', 'history', '--data', dataDir], { MAILWARDEN_STORE: 'sqlite:///tmp/x.db' });
  assert.equal(viaEnv.status, 1);
  assert.match(viaEnv.stderr, /is not one mailwarden can use/);

  // Unreachable: a clear error after the connect timeout, the password redacted.
  const port = await freePort();
  const away = await cli(['start', '--data', dataDir, '--store', `postgresql://mw:Hidden%40PW@127.0.0.1:${port}/mail`]);
  assert.equal(away.status, 1);
  assert.match(away.stderr, /cannot reach the cluster store postgresql:\/\/mw:\*\*\*@127\.0\.0\.1/);
  assert.doesNotMatch(away.stdout + away.stderr, /Hidden/);

  // The password of a good URL is not in the daemon's log either.
  assert.ok(server);
  const url = (await database()).replace('postgresql://postgres@', 'postgresql://postgres:TopSecret99@');
  const { file } = await settingsFile(t, null);
  const node = await startNode(t, { args: ['start', '--data', dataDir, '--store', url, '--node', 'redact', '--config', file], dataDir });
  const opened = await node.waitLog((l) => l.event === 'store.opened');
  assert.match(String(opened.url), /postgres:\*\*\*@/);
  await node.stop();
  assert.doesNotMatch(JSON.stringify(node.logs) + node.stderr(), /TopSecret99/);
});

test('--listen moves a listener on this node only; a bad --listen is a usage error', { skip: missing ?? false }, async (t) => {
  const url = await database();
  const { dataDir, file } = await settingsFile(t, null);
  const node = await startNode(t, { args: ['start', '--data', dataDir, '--store', url, '--node', 'moved', '--config', file, '--listen', 'mx=127.0.0.5:0', '--listen', 'submission=127.0.0.6:0'], dataDir });
  const started = await node.waitLog((l) => l.event === 'started');
  const ls = started.listeners as { name: string; address: string; port: number }[];
  assert.equal(ls.find((l) => l.name === 'mx')?.address, '127.0.0.5');
  assert.equal(ls.find((l) => l.name === 'submission')?.address, '127.0.0.6');
  assert.equal(ls.find((l) => l.name === 'smtps')?.address, '127.0.0.1');
  const mxPort = ls.find((l) => l.name === 'mx')?.port ?? 0;
  const greeting = await new Promise<string>((done, fail) => {
    const s = connect({ host: '127.0.0.5', port: mxPort });
    s.setEncoding('utf8').once('data', (d: string) => (s.destroy(), done(d)));
    s.once('error', fail);
  });
  assert.match(greeting, /^220 /);
  // Not on the revision's address any more.
  await assert.rejects(RawClient.connect(mxPort), /ECONNREFUSED/);
  const bad = await cli(['start', '--data', tempDataDir(t), '--store', url, '--listen', 'nosuch=127.0.0.1:0', '--config', file]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /no listener "nosuch"/);
  const usage = await cli(['start', '--data', tempDataDir(t), '--listen', 'mx=localhost']);
  assert.equal(usage.status, 2);
});

test('two nodes under one --node name: the second refuses to start (exit 1), naming the name; cluster status lists both nodes of a pair, text and JSON', { skip: missing ?? false }, async (t) => {
  const url = await database();
  const { dataDir, file } = await settingsFile(t, null);
  const a = await startNode(t, { args: ['start', '--data', dataDir, '--store', url, '--node', 'alpha', '--config', file], dataDir });
  const dup = await cli(['start', '--data', tempDataDir(t), '--store', url, '--node', 'alpha']);
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /a node named "alpha" is running/);
  assert.doesNotMatch(dup.stdout, /"event":"listening"/, 'nothing was bound');

  const bDir = tempDataDir(t);
  const b = await startNode(t, { args: ['start', '--data', bDir, '--store', url, '--node', 'beta'], dataDir: bDir });
  const text = await cli(['cluster', 'status', '--store', url, '--data', bDir]);
  assert.equal(text.status, 0, text.stdout + text.stderr);
  assert.match(text.stdout, /^store: postgresql; active revision: 1; 2 node\(s\)/);
  assert.match(text.stdout, new RegExp(`^healthy +alpha +revision 1 .*mx=127\\.0\\.0\\.1:${a.ports.mx}`, 'm'));
  assert.match(text.stdout, new RegExp(`^healthy +beta +revision 1 .*mx=127\\.0\\.0\\.1:${b.ports.mx}`, 'm'));
  const json = await cli(['cluster', 'status', '--json', '--store', url, '--data', bDir]);
  assert.equal(json.status, 0);
  const s = JSON.parse(json.stdout) as { store: string; nodes: { name: string; healthy: boolean; claims: number; listeners: { name: string; port: number }[] }[] };
  assert.equal(s.store, 'postgresql');
  assert.deepEqual(s.nodes.map((n) => [n.name, n.healthy, n.claims]), [['alpha', true, 0], ['beta', true, 0]]);

  // A clean stop deregisters; cluster status then shows one node.
  await b.stop();
  const one = JSON.parse((await cli(['cluster', 'status', '--json', '--store', url, '--data', bDir])).stdout) as { nodes: { name: string }[] };
  assert.deepEqual(one.nodes.map((n) => n.name), ['alpha']);
  // On the embedded store: said plainly.
  const embedded = await cli(['cluster', 'status', '--data', dataDir]);
  assert.equal(embedded.status, 1);
  assert.match(embedded.stderr, /cluster status needs a cluster store/);
});

test('a node SIGKILLed and restarted on its data directory takes its name back at once; another data directory under the name waits for it to go stale', { skip: missing ?? false }, async (t) => {
  const url = await database();
  const { dataDir, file } = await settingsFile(t, null);
  // The default heartbeat (5 s): the dead node's name would be free only 15 s after its last heartbeat.
  const a = await startNode(t, { args: ['start', '--data', dataDir, '--store', url, '--node', 'phoenix', '--config', file], dataDir });
  await a.kill();
  const other = await cli(['start', '--data', tempDataDir(t), '--store', url, '--node', 'phoenix']);
  assert.equal(other.status, 1, 'a node on another data directory cannot tell that phoenix died');
  assert.match(other.stderr, /a node named "phoenix" is running/);
  const t0 = Date.now();
  const again = await startNode(t, { args: ['start', '--data', dataDir, '--store', url, '--node', 'phoenix'], dataDir });
  assert.ok(Date.now() - t0 < 15_000, 'restarted before the name went stale');
  const s = JSON.parse((await cli(['cluster', 'status', '--json', '--store', url, '--data', dataDir])).stdout) as { nodes: { name: string; healthy: boolean; listeners: { port: number }[] }[] };
  assert.deepEqual(s.nodes.map((n) => [n.name, n.healthy, n.listeners[0]?.port]), [['phoenix', true, again.ports.mx]]);
  // A clean stop leaves no holder behind: the next start on the directory has no dead incarnation to replace.
  assert.equal(await again.stop(), 0);
});

test('a node whose heartbeat stopped is unhealthy: cluster status exits 1', { skip: missing ?? false }, async (t) => {
  const url = await database();
  const { dataDir, file } = await settingsFile(t, null);
  const env = { MAILWARDEN_HEARTBEAT_MS: '200' };
  const a = await startNode(t, { args: ['start', '--data', dataDir, '--store', url, '--node', 'gone', '--config', file], dataDir, env });
  await a.kill();
  // Three missed heartbeats of 200 ms: judged by the status command's own clock.
  const deadline = Date.now() + 10_000;
  let r = await cli(['cluster', 'status', '--store', url, '--data', dataDir], env);
  while (r.status === 0 && Date.now() < deadline) r = await cli(['cluster', 'status', '--store', url, '--data', dataDir], env);
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stdout, /^UNHEALTHY gone .*no heartbeat/m);
  // A node gone for good is forgotten (a running one never is), and status is healthy again with the others.
  const bDir = tempDataDir(t);
  const b = await startNode(t, { args: ['start', '--data', bDir, '--store', url, '--node', 'alive'], dataDir: bDir, env });
  const running = await cli(['cluster', 'forget', 'alive', '--store', url, '--data', dataDir], env);
  assert.equal(running.status, 1);
  assert.match(running.stderr, /node "alive" is running/);
  const unknown = await cli(['cluster', 'forget', 'nobody', '--store', url, '--data', dataDir], env);
  assert.equal(unknown.status, 1);
  const forgot = await cli(['cluster', 'forget', 'gone', '--store', url, '--data', dataDir], env);
  assert.equal(forgot.status, 0, forgot.stderr);
  const after = await cli(['cluster', 'status', '--store', url, '--data', dataDir], env);
  assert.equal(after.status, 0, after.stdout);
  assert.doesNotMatch(after.stdout, /gone/);
  assert.match(after.stdout, /^healthy {3}alive /m);
  await b.stop();
});

test('config import via the CLI with --store is taken by a running node (revision.applied), with no control socket', { skip: missing ?? false }, async (t) => {
  const url = await database();
  const { dataDir, file } = await settingsFile(t, null);
  const node = await startNode(t, { args: ['start', '--data', dataDir, '--store', url, '--node', 'n1', '--config', file], dataDir });
  const { doc } = await relayDoc({ hostname: 'changed.test.example' });
  const next = join(tempDataDir(t), 'next.yaml');
  writeFileSync(next, stringify(doc));
  const elsewhere = tempDataDir(t);
  const r = await cli(['config', 'import', next, '--store', url, '--data', elsewhere]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /applied: revision 2 is active/);
  assert.equal(existsSync(join(elsewhere, 'control.sock')), false);
  await node.waitLog((l) => l.event === 'revision.applied' && l.revision === 2, 5_000);
  // The admin commands work on the store too, from any machine: the node created the first admin there.
  const admins = await cli(['admin', 'list', '--store', url, '--data', elsewhere]);
  assert.equal(admins.status, 0, admins.stderr);
  assert.match(admins.stdout, /admin/);
});

test('the database stopped under a running node: 451 4.3.0 at the end of DATA, 451 4.3.0 at MAIL; the node keeps running and recovers by itself', { skip: missing ?? false }, async (t) => {
  assert.ok(server);
  const url = await database();
  const { dataDir, file } = await settingsFile(t, null);
  const node: Relay = await startNode(t, { args: ['start', '--data', dataDir, '--store', url, '--node', 'away', '--config', file], dataDir });
  // A transaction open before the database goes: its DATA cannot be committed.
  const c = await RawClient.connect(node.ports.mx);
  t.after(() => c.end());
  await c.reply();
  await c.cmd('EHLO client.example');
  assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
  assert.match((await c.cmd('RCPT TO:<someone@example.com>')) ?? '', /^250 /);
  assert.match((await c.cmd('DATA')) ?? '', /^354 /);
  await server.stop('fast');
  let restarted = false;
  t.after(async () => {
    if (!restarted) await server?.start();
  });
  const end = (await c.cmd('Subject: while away\r\n\r\nhello\r\n.')) ?? '(closed)';
  assert.match(end, /^451 4\.3\.0 /);
  await node.waitLog((l) => l.event === 'store.unreachable', 15_000);
  // A new transaction is refused at MAIL while the store is away.
  const d = await RawClient.connect(node.ports.mx);
  t.after(() => d.end());
  await d.reply();
  await d.cmd('EHLO client.example');
  assert.match((await d.cmd('MAIL FROM:<a@example.net>')) ?? '', /^451 4\.3\.0 .*unavailable/);
  d.end();
  assert.equal(node.child.exitCode, null, 'the node runs on');

  await server.start();
  restarted = true;
  // Recovery without a restart: a message is accepted again once the pool has reconnected.
  let id: string | null = null;
  const deadline = Date.now() + 20_000;
  while (id === null && Date.now() < deadline) {
    const e = await RawClient.connect(node.ports.mx);
    try {
      await e.reply();
      await e.cmd('EHLO client.example');
      const mail = (await e.cmd('MAIL FROM:<a@example.net>')) ?? '';
      if (!mail.startsWith('250')) {
        await node.waitLog((l) => l.event === 'store.reachable', 10_000).catch(() => null);
        continue;
      }
      await e.cmd('RCPT TO:<someone@example.com>');
      await e.cmd('DATA');
      const r = (await e.cmd('Subject: back\r\n\r\nhello\r\n.')) ?? '';
      if (r.startsWith('250')) id = queuedId(r);
    } finally {
      e.end();
    }
  }
  assert.ok(id, 'a 250 after the database came back');
  assert.equal(node.child.exitCode, null);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  t.after(() => sql.end());
  assert.deepEqual((await sql<{ id: string }[]>`SELECT id FROM queue_message`).map((r) => r.id), [id]);
});

test('queue hold through the store on a message a node is delivering is refused, naming the node; once the attempt ends it is held', { skip: missing ?? false }, async (t) => {
  const url = await database();
  const to = await sink(t);
  let release: () => void = () => {};
  const stalled = new Promise<void>((done) => (release = done));
  let reached: () => void = () => {};
  const atData = new Promise<void>((done) => (reached = done));
  // The next hop holds the end of DATA until told: the node's claim lives meanwhile.
  to.setBehaviour({ data: async () => (reached(), await stalled, { code: 451, text: '4.3.0 later' }) });
  t.after(() => release());
  const { dataDir, file } = await settingsFile(t, to);
  const node = await startNode(t, { args: ['start', '--data', dataDir, '--store', url, '--node', 'busy', '--config', file], dataDir });
  const id = await send(node.ports.mx, 'held while delivering');
  await atData;
  const elsewhere = tempDataDir(t);
  const held = await cli(['queue', 'hold', id, '--store', url, '--data', elsewhere]);
  assert.equal(held.status, 1);
  assert.match(held.stderr, new RegExp(`${id} is being delivered by node busy`));
  const status = JSON.parse((await cli(['cluster', 'status', '--json', '--store', url, '--data', elsewhere])).stdout) as { nodes: { name: string; claims: number }[] };
  assert.deepEqual(status.nodes.map((n) => [n.name, n.claims]), [['busy', 1]], 'cluster status counts the claim');
  release();
  await node.waitLog((l) => l.event === 'delivery' && l.id === id && l.status === 'deferred', 20_000);
  let again = await cli(['queue', 'hold', id, '--store', url, '--data', elsewhere]);
  for (let i = 0; i < 20 && again.status !== 0 && /being delivered/.test(again.stderr); i++) again = await cli(['queue', 'hold', id, '--store', url, '--data', elsewhere]);
  assert.equal(again.status, 0, again.stderr);
  const list = JSON.parse((await cli(['queue', 'list', '--json', '--store', url, '--data', elsewhere])).stdout) as { id: string; state: string }[];
  assert.deepEqual(list.map((e) => [e.id, e.state]), [[id, 'held']]);
});
