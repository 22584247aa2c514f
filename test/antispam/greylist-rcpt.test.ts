// Greylisting at RCPT through the asynchronous GreylistStore, with the
// front end's handlers driven directly (no socket): a first attempt is
// 451 4.7.1 and a retry after the delay is accepted; a store that fails
// answers 451 4.3.0 (fail closed, never an acceptance the check did not make).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { CHECKS } from '../../src/checks/registry.ts';
import { CheckRunner } from '../../src/checks/runner.ts';
import { CheckServices } from '../../src/checks/services.ts';
import type { GreylistStore } from '../../src/antispam/greylist-store.ts';
import { openGreylistStore } from '../../src/antispam/sqlite-greylist-store.ts';
import { compileSnapshot } from '../../src/config/snapshot.ts';
import { validate } from '../../src/config/validate.ts';
import type { Logger } from '../../src/log/logger.ts';
import { FileQueueStore } from '../../src/queue/file-queue-store.ts';
import { AuthThrottle } from '../../src/smtp/auth-throttle.ts';
import { ConnectionLimits } from '../../src/smtp/connection-limits.ts';
import { frontEndOptions, type FrontEndShared } from '../../src/smtp/front-end.ts';

type Cb = (err?: (Error & { responseCode?: number }) | null) => void;
const call = (fn: (cb: Cb) => void) => new Promise<(Error & { responseCode?: number }) | null>((done) => fn((err) => done(err ?? null)));
const path = (address: string) => ({ address, args: false }) as unknown as SMTPServerAddress;

async function setup(t: { after: (fn: () => void) => void }, greylist: GreylistStore, now: () => number) {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-grey-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const v = validate({
    hostname: 'mx.test.example',
    listeners: [{ name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx' }],
    networks: [{ name: 'localhost', type: 'host', address: '127.0.0.1' }],
    domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }],
    relaying: { allowed_hosts: ['localhost'] },
    antispam: { greylisting: { enabled: true, delay: '1m', expiry: '1h' } },
    delivery: { enabled: false },
    admin: { enabled: false },
    limits: { min_free_space: 0 },
  });
  assert.deepEqual(v.errors, []);
  const snap = compileSnapshot(v.settings, 1, v.networks);
  const logger: Logger = { log() {} };
  const store = new FileQueueStore(dir, logger);
  await store.open();
  t.after(() => void store.close());
  const runner = new CheckRunner(CHECKS, new CheckServices({ greylist, store, now }));
  const shared: FrontEndShared = { snapshot: () => snap, store, logger, throttle: new AuthThrottle(), connections: new ConnectionLimits(), inFlight: { count: 0, idle: () => {} }, runner };
  const listener = snap.settings.listeners[0];
  assert.ok(listener);
  return { handlers: frontEndOptions(listener, shared, {}), dir };
}

function session(id: string): SMTPServerSession {
  return {
    id,
    remoteAddress: '192.0.2.10',
    localAddress: '127.0.0.1',
    secure: false,
    hostNameAppearsAs: 'client.example',
    envelope: { mailFrom: false, rcptTo: [], smtpUtf8: false, bodyType: '7bit', dsn: { ret: null, envid: null } },
  } as unknown as SMTPServerSession;
}

async function rcpt(h: Awaited<ReturnType<typeof setup>>, id: string): Promise<(Error & { responseCode?: number }) | null> {
  const s = session(id);
  assert.equal(await call((cb) => h.handlers.onConnect?.(s, cb)), null);
  assert.equal(await call((cb) => h.handlers.onMailFrom?.(path('<a@example.net>'), s, cb)), null);
  return call((cb) => h.handlers.onRcptTo?.(path('<info@example.com>'), s, cb));
}

test('RCPT waits for the greylist store: 451 4.7.1 at first, accepted after the delay', async (t) => {
  let now = 50_000_000;
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-greydb-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = openGreylistStore(dir);
  t.after(() => store.close());
  const h = await setup(t, store, () => now);
  const first = await rcpt(h, 'aaaaaaaaaaaaaaaa');
  assert.equal(first?.responseCode, 451);
  assert.match(first?.message ?? '', /4\.7\.1 Greylisted, please try again in 60 seconds/);
  now += 61_000;
  assert.equal(await rcpt(h, 'bbbbbbbbbbbbbbbb'), null);
});

test('a greylist store that fails: 451 4.3.0, never an acceptance', async (t) => {
  const broken: GreylistStore = {
    check: () => Promise.reject(new Error('database is locked')),
    prune: async () => 0,
    close: async () => {},
  };
  const h = await setup(t, broken, Date.now);
  const err = await rcpt(h, 'cccccccccccccccc');
  assert.equal(err?.responseCode, 451);
  assert.match(err?.message ?? '', /4\.3\.0/);
});

test('greylisting 451s count toward max_errors like every other refusal: past the limit, 421', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-greydb-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = openGreylistStore(dir);
  t.after(() => store.close());
  const h = await setup(t, store, () => 60_000_000);
  const s = session('dddddddddddddddd');
  assert.equal(await call((cb) => h.handlers.onConnect?.(s, cb)), null);
  assert.equal(await call((cb) => h.handlers.onMailFrom?.(path('<a@example.net>'), s, cb)), null);
  // limits.max_errors defaults to 10: nine greylisted recipients, then the tenth refusal closes.
  const codes: (number | undefined)[] = [];
  for (let i = 0; i < 10; i++) codes.push((await call((cb) => h.handlers.onRcptTo?.(path(`<r${i}@example.com>`), s, cb)))?.responseCode);
  assert.deepEqual(codes, [...Array<number>(9).fill(451), 421]);
});
