// The sender-lists check through the real runner, without sockets: the
// lists come from a real SQLite store through the cache. Block refuses one
// recipient with 550 5.7.1 (rule sender_list.block) and not another; allow
// on every recipient sets Additions.senderAllowed at the end of DATA, on
// only some of them it does not; a new MAIL forgets the last transaction's
// answers; a relay client's mail is not looked at; the null sender matches
// nothing; a store that does not answer leaves the lists out (pass, logged).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePath } from '../../src/address/path.ts';
import type { DataInput, PathInput, RcptInput } from '../../src/checks/check.ts';
import { senderLists } from '../../src/checks/sender-lists.ts';
import { CheckRunner, type SessionBase } from '../../src/checks/runner.ts';
import { CheckServices } from '../../src/checks/services.ts';
import { SenderListCache } from '../../src/portal/sender-list-cache.ts';
import { SqlitePortalStore } from '../../src/portal/sqlite-portal-store.ts';
import type { PortalStore } from '../../src/portal/portal-store.ts';
import { client, snapshotOf } from '../policy/helpers.ts';

const SNAP = snapshotOf({
  hostname: 'mx.test.example',
  networks: [{ name: 'app', type: 'host', address: '192.0.2.1' }],
  domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }],
  relaying: { allowed_hosts: ['app'] },
});

function base(ip: string): SessionBase {
  return { snap: SNAP, listener: SNAP.settings.listeners[0] ?? null, client: client(ip), user: null, helo: 'client.example', localAddress: null, memos: new Map() };
}
const path = (raw: string) => parsePath(raw, { allowNull: true, requireBrackets: true });
const mail = (raw: string): PathInput => ({ raw, path: path(raw), smtputf8: false, wire: true });
const rcpt = (to: string, sender: string): RcptInput => ({ raw: `<${to}>`, path: path(`<${to}>`), smtputf8: false, wire: true, sender, accepted: 0, repeat: false });
function data(sender: string, recipients: string[]): DataInput {
  return { id: 'x', sender, recipients, received: [], origin: { text: '203.0.113.5', ip: 0n, header: null }, added: { points: 0, symbols: [], headers: [], auth: [] }, contents: () => Promise.reject(new Error('not needed')) };
}

async function rig(t: { after: (fn: () => void | Promise<void>) => void }, broken = false) {
  const dir = mkdtempSync(join(tmpdir(), 'mw-listcheck-'));
  const real = new SqlitePortalStore(join(dir, 'portal.db'));
  t.after(async () => {
    await real.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await real.setLists(['alice@example.com'], { allow: ['@partner.example'], block: ['bad@spam.example'] });
  await real.setLists(['bob@example.com'], { allow: ['friend@partner.example'], block: [] });
  const store: PortalStore = Object.create(real) as PortalStore;
  store.owners = async (n) => (broken ? Promise.reject(new Error('connection refused')) : real.owners(n));
  store.subscribe = (fn) => real.subscribe(fn);
  const cache = new SenderListCache(store);
  await cache.start();
  t.after(() => cache.stop());
  return new CheckRunner([senderLists], new CheckServices({ senderLists: cache }));
}

test('block refuses that recipient only; allow on every recipient reaches the content scan; on some of them not', async (t) => {
  const runner = await rig(t);
  const s = base('203.0.113.5');
  await runner.run('mail', s, mail('<bad@spam.example>'));
  const refused = await runner.run('rcpt', s, rcpt('alice@example.com', 'bad@spam.example'));
  assert.equal(refused.error?.code, 550);
  assert.equal(refused.error?.enhanced, '5.7.1');
  assert.equal(refused.error?.rule, 'sender_list.block');
  assert.match(refused.error?.reason ?? '', /bad@spam\.example is on the block list of alice@example\.com/);
  assert.equal((await runner.run('rcpt', s, rcpt('bob@example.com', 'bad@spam.example'))).error, null, 'bob has no such entry');

  await runner.run('mail', s, mail('<friend@partner.example>'));
  for (const to of ['alice@example.com', 'bob@example.com']) {
    const r = await runner.run('rcpt', s, rcpt(to, 'friend@partner.example'));
    assert.equal(r.error, null);
    assert.deepEqual(r.log, { sender_list: { rule: 'sender_list.allow', entry: to.startsWith('alice') ? '@partner.example' : 'friend@partner.example' } });
  }
  const all = await runner.run('data', s, data('friend@partner.example', ['alice@example.com', 'Bob@Example.com']));
  assert.deepEqual(all.added.senderAllowed, { rule: 'sender_list.allow', recipients: 2 });

  // A new transaction: the answers of the last one are forgotten; carol has no lists.
  await runner.run('mail', s, mail('<other@partner.example>'));
  await runner.run('rcpt', s, rcpt('alice@example.com', 'other@partner.example'));
  await runner.run('rcpt', s, rcpt('carol@example.com', 'other@partner.example'));
  const some = await runner.run('data', s, data('other@partner.example', ['alice@example.com', 'carol@example.com']));
  assert.equal(some.added.senderAllowed, undefined, 'carol does not allow the sender: the spam verdict applies');
});

test('a relay client is not looked at; the null sender matches nothing', async (t) => {
  const runner = await rig(t);
  const relay = base('192.0.2.1');
  await runner.run('mail', relay, mail('<bad@spam.example>'));
  assert.equal((await runner.run('rcpt', relay, rcpt('alice@example.com', 'bad@spam.example'))).error, null);
  const s = base('203.0.113.5');
  await runner.run('mail', s, mail('<>'));
  assert.equal((await runner.run('rcpt', s, rcpt('alice@example.com', ''))).error, null);
});

test('a store that does not answer: the lists are left out, the recipient passes, the log says so', async (t) => {
  const runner = await rig(t, true);
  const s = base('203.0.113.5');
  await runner.run('mail', s, mail('<bad@spam.example>'));
  const r = await runner.run('rcpt', s, rcpt('alice@example.com', 'bad@spam.example'));
  assert.equal(r.error, null);
  assert.deepEqual(r.log, { sender_list: { rule: 'sender_list', ignored: 'the store did not answer' } });
});
