// The DATA handler answers exactly once and keeps the in-flight count that
// shutdown waits on right, whatever fails: the queue manager's notification
// after the commit, the spool's commit itself, a client that drops mid-DATA.
// A body rewrite of the end of DATA (the content rules' strip) is applied
// before the commit; one that cannot be done quarantines, one that fails 451s.
// The handlers are driven directly (no socket) over a real spool in a
// temporary directory.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { validate } from '../../src/config/validate.ts';
import { compileSnapshot } from '../../src/config/snapshot.ts';
import { FileQueueStore } from '../../src/queue/file-queue-store.ts';
import type { Committed } from '../../src/queue/queue-store.ts';
import { AuthThrottle } from '../../src/smtp/auth-throttle.ts';
import { ConnectionLimits } from '../../src/smtp/connection-limits.ts';
import { frontEndOptions, type FrontEndShared } from '../../src/smtp/front-end.ts';
import { CHECKS } from '../../src/checks/registry.ts';
import { CheckRunner } from '../../src/checks/runner.ts';
import { CheckServices } from '../../src/checks/services.ts';
import type { Logger } from '../../src/log/logger.ts';
import { EVERYONE, type BodyRewrite, type Check } from '../../src/checks/check.ts';
import { committedIds, spooledMessage } from '../support/spool-files.ts';
import { stripParts } from '../../src/content/strip.ts';

interface LogLine {
  event: string;
  [k: string]: unknown;
}

type Cb = (err?: Error | null, message?: string) => void;

function setup(t: { after: (fn: () => void) => void }, extra: Check[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-rx-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const v = validate({
    hostname: 'mx.test.example',
    listeners: [{ name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx' }],
    networks: [{ name: 'localhost', type: 'host', address: '127.0.0.1' }],
    relaying: { allowed_hosts: ['localhost'] },
    delivery: { enabled: false },
    admin: { enabled: false },
    limits: { min_free_space: 0 },
  });
  assert.deepEqual(v.errors, []);
  const snap = compileSnapshot(v.settings, 1, v.networks);
  const logs: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; done: () => void }[] = [];
  const logger: Logger = {
    log(event, fields = {}) {
      const line = { event, ...fields };
      logs.push(line);
      for (const w of [...waiters]) if (w.pred(line)) (waiters.splice(waiters.indexOf(w), 1), w.done());
    },
  };
  // Bounded: a line that never comes fails the test instead of hanging it.
  const waitLog = (pred: (l: LogLine) => boolean, ms = 15_000) =>
    new Promise<void>((done, fail) => {
      if (logs.some(pred)) return done();
      const timer = setTimeout(() => fail(new Error(`no matching log line within ${ms} ms: ${JSON.stringify(logs.map((l) => l.event))}`)), ms);
      waiters.push({ pred, done: () => (clearTimeout(timer), done()) });
    });
  const spool = new FileQueueStore(dir, logger);
  spool.spool.open();
  t.after(() => void spool.close());
  const shared: FrontEndShared = {
    snapshot: () => snap,
    store: spool,
    logger,
    throttle: new AuthThrottle(),
    connections: new ConnectionLimits(),
    inFlight: { count: 0, idle: () => {} },
    runner: new CheckRunner([...CHECKS, ...extra], new CheckServices({ store: spool })),
  };
  const listener = snap.settings.listeners[0];
  assert.ok(listener);
  const handlers = frontEndOptions(listener, shared, {});
  return { dir, shared, handlers, logs, waitLog, spool };
}

function session(): SMTPServerSession {
  return {
    id: 'abcdefghijklmnop',
    remoteAddress: '127.0.0.1',
    localAddress: '127.0.0.1',
    secure: false,
    hostNameAppearsAs: 'client.example',
    envelope: { mailFrom: false, rcptTo: [], smtpUtf8: false, bodyType: '7bit', dsn: { ret: null, envid: null } },
  } as unknown as SMTPServerSession;
}

/** Calls a handler and resolves with its first callback's arguments. */
function call(fn: (cb: Cb) => void): Promise<[Error | null | undefined, string | undefined]> {
  return new Promise((done) => fn((err, msg) => done([err, msg])));
}

const path = (address: string) => ({ address, args: false }) as unknown as SMTPServerAddress;

/** Connect, MAIL, RCPT, then DATA with `stream`; every callback of onData is recorded. */
async function transaction(h: ReturnType<typeof setup>, stream: Readable) {
  const s = session();
  const o = h.handlers;
  assert.deepEqual(await call((cb) => o.onConnect?.(s, cb)), [null, undefined]);
  assert.equal((await call((cb) => o.onMailFrom?.(path('<a@example.net>'), s, cb)))[0] ?? null, null);
  assert.equal((await call((cb) => o.onRcptTo?.(path('<b@example.org>'), s, cb)))[0] ?? null, null);
  const replies: [Error | null | undefined, string | undefined][] = [];
  const first = new Promise<void>((done) => {
    o.onData?.(stream as unknown as SMTPServerDataStream, s, (err, msg) => {
      replies.push([err, typeof msg === 'string' ? msg : undefined]);
      done();
    });
  });
  return { replies, first };
}

/** Lets every pending callback and promise job run. */
const settle = () => new Promise<void>((done) => setImmediate(() => setImmediate(done)));

test('a throw in the queue notification after the commit: one 250, the in-flight count back to 0, logged', async (t) => {
  const h = setup(t);
  h.shared.onQueued = () => {
    throw new Error('queue manager exploded');
  };
  let idle = 0;
  h.shared.inFlight.idle = () => idle++;
  const { replies, first } = await transaction(h, Readable.from([Buffer.from('Subject: x\r\n\r\nbody\r\n')]));
  await first;
  // Either the new log line for the failed notification, or the old code's second "finish".
  await h.waitLog((l) => l.event === 'queued.notify_error' || l.event === 'data.error');
  await settle();
  assert.equal(replies.length, 1, `onData answered ${replies.length} times: ${JSON.stringify(replies.map(([e, m]) => e?.message ?? m))}`);
  assert.equal(replies[0]?.[0] ?? null, null);
  assert.match(replies[0]?.[1] ?? '', /^2\.0\.0 Ok: queued as [0-9a-z]{16}$/);
  assert.equal(h.shared.inFlight.count, 0);
  assert.equal(idle, 1);
  // The message is in the queue, where the next queue scan finds it.
  assert.equal(committedIds(join(h.dir, 'spool', 'queue')).length, 1);
  const line = h.logs.find((l) => l.event === 'queued.notify_error');
  assert.equal(line?.error, 'queue manager exploded');
});

test('a failed commit: one 451, nothing queued, nothing left in tmp, the count back to 0', async (t) => {
  const h = setup(t);
  const begin = h.spool.begin.bind(h.spool);
  h.spool.begin = (id: string) => {
    const w = begin(id);
    w.commit = () => Promise.reject(new Error('disk on fire'));
    return w;
  };
  let queued = 0;
  h.shared.onQueued = () => queued++;
  const { replies, first } = await transaction(h, Readable.from([Buffer.from('Subject: x\r\n\r\nbody\r\n')]));
  await first;
  await h.waitLog((l) => l.event === 'data.error');
  await settle();
  assert.equal(replies.length, 1);
  assert.equal((replies[0]?.[0] as (Error & { responseCode?: number }) | undefined)?.responseCode, 451);
  assert.equal(h.shared.inFlight.count, 0);
  assert.equal(queued, 0);
  assert.deepEqual(readdirSync(join(h.dir, 'spool', 'queue')), []);
  assert.deepEqual(readdirSync(join(h.dir, 'spool', 'tmp')), []);
});

test('a client that drops mid-DATA: one 451, the count back to 0, nothing left behind', async (t) => {
  const h = setup(t);
  const stream = new Readable({ read() {} });
  const { replies, first } = await transaction(h, stream);
  stream.push(Buffer.from('Subject: x\r\n\r\nhalf a bo'));
  stream.destroy(new Error('socket closed'));
  await first;
  await settle();
  assert.equal(replies.length, 1);
  assert.equal((replies[0]?.[0] as (Error & { responseCode?: number }) | undefined)?.responseCode, 451);
  assert.equal(h.shared.inFlight.count, 0);
  assert.deepEqual(readdirSync(join(h.dir, 'spool', 'tmp')), []);
});

test('the end of DATA claims the message for delivery in the commit itself, and hands the claim to the queue', async (t) => {
  const h = setup(t);
  let asked = 0;
  h.shared.claim = () => {
    asked++;
    return { node: 'n1', leaseMs: 60_000 };
  };
  const got: Committed[] = [];
  h.shared.onQueued = (c) => got.push(c);
  const { replies, first } = await transaction(h, Readable.from([Buffer.from('Subject: x\r\n\r\nbody\r\n')]));
  await first;
  await settle();
  assert.equal(replies[0]?.[0] ?? null, null);
  assert.equal(asked, 1, 'asked once, at commit');
  assert.equal(got.length, 1);
  const c = got[0]!;
  assert.equal(c.claim?.id, c.envelope.id);
  assert.equal(c.claim?.node, 'n1');
  assert.equal((await h.spool.holder(c.envelope.id, Date.now()))?.node, 'n1', 'the store holds the claim: nobody else delivers it');
  assert.deepEqual(await h.spool.claimDue({ node: 'n2', leaseMs: 60_000, now: Date.now(), limit: 10 }), []);
});

/** A check of the end of DATA that asks for `rewrite` (as the content rules' strip does). */
const rewriting = (rewrite: BodyRewrite): Check => ({ name: 'test-rewrite', data: { who: EVERYONE, run: () => ({ kind: 'pass', rewrite }) } });

const MIXED = Buffer.from(
  'Subject: strip me\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nkeep\r\n--b\r\nContent-Type: application/octet-stream; name=x.dat\r\n\r\nMZ\r\n--b--\r\n',
);

test('a body rewrite at the end of DATA: the stored message is the rewritten one, the queued line says so', async (t) => {
  const h = setup(t, [rewriting({ describe: 'stripped 1 part (x.dat)', apply: (src) => stripParts(src, [{ index: 3, reason: 'x.dat' }], 'x.dat was removed') })]);
  const got: Committed[] = [];
  h.shared.onQueued = (c) => got.push(c);
  const { replies, first } = await transaction(h, Readable.from([MIXED]));
  await first;
  await h.waitLog((l) => l.event === 'queued');
  assert.equal(replies[0]?.[0] ?? null, null);
  const id = got[0]?.envelope.id ?? '';
  const stored = spooledMessage(h.dir, id).toString('latin1');
  assert.ok(!stored.includes('x.dat\r\n\r\nMZ'), 'the part is gone');
  assert.ok(stored.includes('\r\n\r\nx.dat was removed\r\n--b--\r\n'), 'the notice is there');
  assert.ok(stored.includes('--b\r\nContent-Type: text/plain\r\n\r\nkeep\r\n'), 'the rest is');
  assert.equal(got[0]?.envelope.size, Buffer.byteLength(stored, 'latin1'));
  assert.equal(h.logs.find((l) => l.event === 'queued')?.rewrite, 'stripped 1 part (x.dat)');
});

test('a strip that cannot be done: the message goes to the quarantine unchanged (rule content:strip), with a 250', async (t) => {
  const h = setup(t, [rewriting({ describe: 'stripped 1 part', apply: (src) => stripParts(src, [{ index: 1, reason: 'everything' }], 'n') })]);
  let queued = 0;
  h.shared.onQueued = () => queued++;
  const { replies, first } = await transaction(h, Readable.from([MIXED]));
  await first;
  await h.waitLog((l) => l.event === 'quarantined');
  assert.equal(replies[0]?.[0] ?? null, null);
  assert.equal(queued, 0, 'nothing for delivery');
  const line = h.logs.find((l) => l.event === 'quarantined');
  assert.equal(line?.rule, 'content:strip');
  assert.match(String(line?.reason), /could not remove the parts: part 1 is the whole message/);
  const [qid] = committedIds(join(h.dir, 'spool', 'quarantine'));
  assert.ok(spooledMessage(h.dir, qid ?? '', 'quarantine').subarray(-MIXED.length).equals(MIXED), 'the message as it came');
  assert.deepEqual(readdirSync(join(h.dir, 'spool', 'queue')), []);
});

test('a rewrite that fails otherwise: one 451, nothing committed, nothing left in tmp', async (t) => {
  const h = setup(t, [
    rewriting({
      describe: 'broken',
      apply: () =>
        (async function* () {
          yield Buffer.from('Subject: half\r\n');
          throw new Error('the source could not be read');
        })(),
    }),
  ]);
  const { replies, first } = await transaction(h, Readable.from([MIXED]));
  await first;
  await h.waitLog((l) => l.event === 'data.error');
  await settle();
  assert.equal(replies.length, 1);
  assert.equal((replies[0]?.[0] as (Error & { responseCode?: number }) | undefined)?.responseCode, 451);
  assert.deepEqual(readdirSync(join(h.dir, 'spool', 'queue')), []);
  assert.deepEqual(readdirSync(join(h.dir, 'spool', 'quarantine')), []);
  assert.deepEqual(readdirSync(join(h.dir, 'spool', 'tmp')), []);
});
