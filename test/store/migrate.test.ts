// `mailwarden store migrate` end to end: a single node's data directory made
// by the real daemon and CLI (revisions applied, a user in a group, two
// admins and a token, greylist records, queued mail received over SMTP with a
// large message among it, quarantined mail) is copied by the real command
// into a real PostgreSQL, and the cluster stores then hold the same things.
// A non-empty target is refused; a migration SIGKILLed mid-copy and run again
// completes with nothing lost or duplicated; a running daemon makes it refuse.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresMissing, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { conditions } from '../support/conditions.ts';
import { BIN, ROOT, RawClient, relayDoc, startRelay, type Relay } from '../smtp/harness.ts';
import { mailwarden } from '../cli/helpers.ts';
import { openEmbeddedStores } from '../../src/store/embedded-stores.ts';
import { openPgStores } from '../../src/store/pg/stores.ts';
import { connectPg } from '../../src/store/pg/connect.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import type { Envelope } from '../../src/queue/envelope.ts';
import type { QueueArea, QueueStore } from '../../src/queue/queue-store.ts';
import type { Stores } from '../../src/store/stores.ts';
import type { GreylistTimes } from '../../src/antispam/greylist.ts';
import { isMigrationMarker } from '../../src/store/migration.ts';
import { embeddedDefaults } from '../../src/config/document.ts';

const missing = postgresMissing();
const suite = missing ? (name: string, fn: () => void) => describe(name, { skip: missing }, fn) : describe;

const PASSWORD = 'url-secret-7f3a';
const ALICE_PW = 'correct horse battery';
const BOB_PW = 'staple battery horse';
const GREY: GreylistTimes = { delayMs: 300_000, expiryMs: 4 * 3_600_000, lifetimeMs: 36 * 86_400_000 };
const SMALL = 12;
const BIG_MB = 8;

let server: TestPostgres | null = null;
const cleanups: (() => void | Promise<void>)[] = [];
/** The source data directory, made once: store migrate leaves it as it was, so every test may copy it. */
let source = '';
let token = '';



/** A target URL with a password in it (the test server trusts local connections, so any password does). */
const withPassword = (url: string): string => url.replace('postgresql://postgres@', `postgresql://postgres:${PASSWORD}@`);

async function send(port: number, body: string): Promise<void> {
  const c = await RawClient.connect(port);
  try {
    assert.match((await c.reply()) ?? '', /^220/);
    assert.match((await c.cmd('EHLO client.test')) ?? '', /^250/);
    assert.match((await c.cmd('MAIL FROM:<sender@example.net>')) ?? '', /^250/);
    assert.match((await c.cmd('RCPT TO:<rcpt@example.org>')) ?? '', /^250/);
    assert.match((await c.cmd('DATA')) ?? '', /^354/);
    c.write(body + '.\r\n');
    assert.match((await c.reply(60_000)) ?? '', /^250/);
    await c.cmd('QUIT');
  } finally {
    c.end();
  }
}

function bigBody(): string {
  const line = 'y'.repeat(76) + '\r\n';
  return `Subject: big\r\nMessage-ID: <big@migrate.test>\r\n\r\n` + line.repeat(Math.ceil((BIG_MB * 1024 * 1024) / line.length));
}

/** Builds the source with the real daemon (settings, queued mail over SMTP) and the real CLI (users, admins, tokens). */
async function makeSource(): Promise<void> {
  const t = { after: (fn: () => void | Promise<void>) => void cleanups.push(fn) };
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-migrate-src-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  source = dir;
  const { doc, ports } = await relayDoc();
  const relay: Relay = await startRelay(t, doc, ports, dir);
  // Two small messages, the large one, then the rest: the large one falls early in the copy (ids sort by arrival).
  for (let i = 0; i < SMALL + 1; i++) {
    if (i === 2) await send(relay.ports.mx, bigBody());
    else await send(relay.ports.mx, `Subject: m${i}\r\nMessage-ID: <m${i}@migrate.test>\r\n\r\nbody ${i} ${randomBytes(8).toString('hex')}\r\n`);
  }
  assert.equal(await relay.stop(), 0);

  const ok = async (args: string[], input?: string) => {
    const r = await mailwarden(['--data', dir, ...args], input === undefined ? {} : { input });
    assert.equal(r.status, 0, `mailwarden ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await ok(['user', 'add', 'carol', '--group', 'staff', '--password-stdin', '--comment', 'carol joins'], 'carol-password-123\n');
  await ok(['admin', 'add', 'alice', '--password-stdin'], `${ALICE_PW}\n`);
  await ok(['admin', 'add', 'bob', '--role', 'viewer', '--password-stdin'], `${BOB_PW}\n`);
  token = (JSON.parse(await ok(['admin', 'token', 'create', 'ci', '--owner', 'alice', '--json'])) as { token: string }).token;
  assert.ok(token);

  // Quarantined mail and greylisting records through the daemon's own adapters on the same files (the
  // daemon writes them only after a scanner or a greylisted sender, which this test has no use for).
  const stores = await openEmbeddedStores(dir, memoryLogger());
  try {
    for (let i = 0; i < 2; i++) {
      const w = stores.queue.begin(newQueueId());
      await w.write(Buffer.from(`Subject: suspicious ${i}\r\n\r\nX5O!P%@AP ${i}\r\n`));
      const env = (await stores.queue.list())[0]!;
      const { id: _i, size: _s, ...fields } = env;
      await w.commit({ ...fields, quarantine: { at: new Date().toISOString(), rule: 'malware', reason: `test ${i}` } }, { area: 'quarantine' });
    }
    const now = Date.now();
    await stores.greylist.check('v4:c00002/24 sender@example.net rcpt@example.org', now - 3_600_000, GREY);
    await stores.greylist.check('v4:c00002/24 sender@example.net rcpt@example.org', now - 3_600_000 + GREY.delayMs, GREY);
    await stores.greylist.check('v4:c00003/24 other@example.net rcpt@example.org', now - 60_000, GREY);
  } finally {
    await stores.close();
  }
}

interface Snapshot {
  active: number | null;
  settings: unknown;
  history: unknown;
  queue: Envelope[];
  quarantine: Envelope[];
  bodies: Map<string, string>;
  admins: unknown;
  tokens: unknown;
}

async function bodiesOf(q: QueueStore, envs: Envelope[], area: QueueArea, into: Map<string, string>): Promise<void> {
  for (const e of envs) {
    const b = await q.body(e.id, area);
    assert.ok(b, `body of ${e.id}`);
    const h = createHash('sha256');
    for await (const c of b.stream()) h.update(c as Buffer);
    into.set(e.id, h.digest('hex'));
  }
}

async function snapshot(s: Stores): Promise<Snapshot> {
  const queue = await s.queue.list('queue');
  const quarantine = await s.queue.list('quarantine');
  const bodies = new Map<string, string>();
  await bodiesOf(s.queue, queue, 'queue', bodies);
  await bodiesOf(s.queue, quarantine, 'quarantine', bodies);
  return {
    active: await s.config.activeNumber(),
    settings: (await s.config.active())?.settings,
    history: await s.config.history(),
    queue,
    quarantine,
    bodies,
    admins: await s.accounts.list(),
    tokens: await s.accounts.tokens(),
  };
}

async function sourceSnapshot(): Promise<Snapshot> {
  const s = await openEmbeddedStores(source, memoryLogger());
  try {
    return await snapshot(s);
  } finally {
    await s.close();
  }
}

async function withTarget<T>(url: string, fn: (s: Stores) => Promise<T>): Promise<T> {
  const s = await openPgStores(url, { node: 'check', logger: memoryLogger() });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

function migrate(url: string, data = source) {
  return mailwarden(['--data', data, 'store', 'migrate', '--to', url]);
}

suite('store migrate', () => {
  before(async () => {
    if (missing) return;
    server = await startPostgres();
    await makeSource();
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
    await server?.destroy();
  });

  test('copies revisions, users and groups, admins, tokens, greylisting, queued and quarantined mail; the password in the URL is never printed', async () => {
    const url = withPassword(await server!.createDatabase());
    const before = await sourceSnapshot();
    assert.equal(before.queue.length, SMALL + 1);
    assert.equal(before.quarantine.length, 2);
    assert.ok(before.queue.some((e) => e.size > BIG_MB * 1024 * 1024), 'the large message is queued');

    const r = await migrate(url);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), 'the password is never printed');
    assert.match(r.stdout, /revisions\s+2 copied/);
    // Two added with the CLI, and the one the daemon made at its first start.
    assert.equal((before.admins as unknown[]).length, 3);
    assert.match(r.stdout, /admin accounts\s+3 copied/);
    assert.match(r.stdout, /API tokens\s+1 copied/);
    assert.match(r.stdout, /greylist records\s+2 copied/);
    assert.match(r.stdout, new RegExp(`queued messages\\s+${SMALL + 1} copied`));
    assert.match(r.stdout, /quarantined messages\s+2 copied/);

    await withTarget(url, async (t) => {
      const got = await snapshot(t);
      assert.equal(got.active, before.active);
      assert.deepEqual(got.settings, before.settings);
      assert.deepEqual(got.history, before.history, 'numbers, authors, comments and times');
      const settings = got.settings as { users: { name: string; groups: string[] }[]; groups: { name: string }[] };
      assert.deepEqual(settings.users.find((u) => u.name === 'carol')?.groups, ['staff']);
      assert.ok(settings.groups.some((g) => g.name === 'staff'));
      assert.deepEqual(got.queue, before.queue, 'identical envelopes under the same queue ids');
      assert.deepEqual(got.quarantine, before.quarantine);
      assert.deepEqual(got.bodies, before.bodies, 'identical bodies (SHA-256)');
      assert.deepEqual(got.admins, before.admins);
      assert.deepEqual(got.tokens, before.tokens);

      assert.equal((await t.accounts.verify('alice', ALICE_PW))?.role, 'admin');
      assert.equal((await t.accounts.verify('bob', BOB_PW))?.role, 'viewer');
      assert.equal(await t.accounts.verify('alice', BOB_PW), null);
      assert.equal((await t.accounts.checkToken(token))?.owner, 'alice');
      assert.deepEqual(await t.greylist.check('v4:c00002/24 sender@example.net rcpt@example.org', Date.now(), GREY), { pass: true, known: true });
      assert.equal((await t.greylist.check('v4:c00003/24 other@example.net rcpt@example.org', Date.now(), GREY)).pass, false, 'a pending triplet is still pending');
      assert.ok(isMigrationMarker(t.config));
      assert.equal(await t.config.migrationSource(), null, 'the marker is cleared at the end');
      // Delivery work is there for the cluster: the queued mail is due and unclaimed.
      const claims = await t.queue.claimDue({ node: 'n1', leaseMs: 60_000, now: Date.now(), limit: 100 });
      assert.equal(claims.length, SMALL + 1);
    });
    assert.deepEqual(await sourceSnapshot(), before, 'the source is left as it was');

    // Done: the target is now a cluster store like any other, and a second run is refused.
    const again = await migrate(url);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /not empty/);
    assert.ok(!again.stderr.includes(PASSWORD));
  });

  test('a non-empty target is refused with exit 1 and nothing written', async () => {
    const url = await server!.createDatabase();
    await withTarget(url, async (t) => void (await t.config.apply(embeddedDefaults(), { author: 'cluster', comment: 'already in use' })));
    const r = await migrate(url);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /not empty \(revisions\)/);
    await withTarget(url, async (t) => {
      assert.equal((await t.config.history()).length, 1);
      assert.equal(await t.accounts.count(), 0);
      assert.deepEqual(await t.queue.list(), []);
      assert.deepEqual(await t.queue.list('quarantine'), []);
      assert.ok(isMigrationMarker(t.config));
      assert.equal(await t.config.migrationSource(), null);
    });
    // An admin account alone makes a target non-empty too.
    const url2 = await server!.createDatabase();
    await withTarget(url2, async (t) => void (await t.accounts.add('zed', 'long enough password', 'admin', 'scrypt$placeholder')));
    const r2 = await migrate(url2);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /1 admin account/);
  });

  test('killed mid-copy (SIGKILL) and run again: completes with nothing lost or duplicated; another source is refused meanwhile', async () => {
    const url = await server!.createDatabase();
    const before = await sourceSnapshot();
    const child = spawn(BIN, ['--data', source, 'store', 'migrate', '--to', url], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const c = conditions('migration under way');
    let copied = 0;
    let buf = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      copied = buf.split('\n').filter((l) => l.includes('"migrate.message"')).length;
      c.changed();
    });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    child.once('exit', () => c.changed());
    // Killed once the first messages are committed in the target, before the large one is.
    await c.waitFor(() => copied >= 1 || child.exitCode !== null, 'the first message copied', 30_000);
    child.kill('SIGKILL');
    assert.equal(await exited, null, 'killed, not finished');

    const sql = connectPg(url);
    try {
      const [n] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM queue_message`;
      assert.ok(n!.n >= 1 && n!.n < SMALL + 3, `partly copied: ${n!.n} messages`);
      const [m] = await sql<{ source: string }[]>`SELECT source FROM store_migration`;
      assert.ok(m?.source.endsWith(source), 'the target records the migration under way');
    } finally {
      await sql.end({ timeout: 1 });
    }

    // Another data directory may not fill this partly filled store.
    const other = mkdtempSync(join(tmpdir(), 'mailwarden-migrate-other-'));
    try {
      assert.equal((await mailwarden(['--data', other, 'init'])).status, 0);
      const o = await migrate(url, other);
      assert.equal(o.status, 1, o.stderr);
      assert.match(o.stderr, /under way/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }

    const r = await migrate(url);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /interrupted migration completed/);
    assert.match(r.stdout, /there already/);
    await withTarget(url, async (t) => {
      const got = await snapshot(t);
      assert.equal(got.active, before.active);
      assert.deepEqual(got.history, before.history);
      assert.deepEqual(got.queue, before.queue, 'every queued message once, as it was');
      assert.deepEqual(got.quarantine, before.quarantine);
      assert.deepEqual(got.bodies, before.bodies);
      assert.equal((await t.accounts.verify('alice', ALICE_PW))?.name, 'alice');
      assert.equal((await t.accounts.checkToken(token))?.owner, 'alice');
      assert.ok(isMigrationMarker(t.config));
      assert.equal(await t.config.migrationSource(), null);
    });
  });

  test('a daemon running on the source: refused with exit 1, nothing written', async (t) => {
    const url = await server!.createDatabase();
    const { doc, ports } = await relayDoc();
    const relay = await startRelay(t, doc, ports);
    const r = await migrate(url, relay.dataDir);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /in use by another mailwarden/);
    assert.equal(await relay.stop(), 0);
    const sql = connectPg(url);
    try {
      const [s] = await sql`SELECT to_regclass('mw_schema') IS NOT NULL AS present`;
      assert.equal(s?.present, false, 'the target was not even opened');
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  test('a data directory made by init alone: its revision moves and no file is created in it', async () => {
    const url = await server!.createDatabase();
    const dir = mkdtempSync(join(tmpdir(), 'mailwarden-migrate-init-'));
    try {
      assert.equal((await mailwarden(['--data', dir, 'init'])).status, 0);
      const files = readdirSync(dir).sort();
      const r = await migrate(url, dir);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /revisions\s+1 copied/);
      assert.match(r.stdout, /queued messages\s+0 copied/);
      assert.deepEqual(readdirSync(dir).filter((f) => !f.startsWith('daemon.')).sort(), files, 'nothing but the lock beside what was there');
      await withTarget(url, async (t) => assert.equal(await t.config.activeNumber(), 1));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad arguments: exit 2', async () => {
    assert.equal((await mailwarden(['--data', source, 'store', 'migrate'])).status, 2, 'no --to');
    const r = await mailwarden(['--data', source, 'store', 'migrate', '--to', `mysql://u:${PASSWORD}@h/db`]);
    assert.equal(r.status, 2);
    assert.ok(!r.stderr.includes(PASSWORD));
  });
});
