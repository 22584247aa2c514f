// Tracking is never in the way of mail, and keeps subjects out unless asked:
// with the real daemon and a real next hop, a tracking store that cannot be
// opened, or that fails under the running daemon (its tables dropped from
// outside), still lets every message get its 250 and be delivered, with
// tracking.error / tracking.dropped lines; by default (tracking.subject off)
// no Subject reaches the log or the store; tracking.enabled: false records
// nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { relayDoc, startRelay, swaks, swaksMissing, tempDataDir, type Relay } from '../smtp/harness.ts';
import { startSink, type Sink } from '../delivery/sink.ts';
import { SqliteTrackingStore } from '../../src/tracking/sqlite-tracking-store.ts';
import type { TrackEntry } from '../../src/tracking/tracking-store.ts';

const skip = swaksMissing();
type T = Parameters<typeof startRelay>[0];

async function rig(t: T, tracking: Record<string, unknown>, dataDir?: string): Promise<{ relay: Relay; sink: Sink }> {
  const sink = await startSink({ address: '127.0.0.22' });
  t.after(() => sink.close());
  const { doc, ports } = await relayDoc({ domains: [{ name: 'example.com', route: { hosts: [`127.0.0.22:${sink.port}`] } }], delivery: { enabled: true }, tracking });
  return { relay: await startRelay(t, doc, ports, dataDir), sink };
}

/** One message with swaks; resolves with its queue id once the daemon has delivered it. */
async function sendAndDeliver(relay: Relay, subject: string): Promise<string> {
  const r = await swaks(['--server', '127.0.0.1', '--port', String(relay.ports.mx), '--from', 'a@sender.example', '--to', 'bob@example.com', '--header', `Subject: ${subject}`, '--timeout', '10']);
  assert.equal(r.status, 0, r.out);
  const id = /queued as ([0-9a-z]{16})/.exec(r.out)?.[1];
  assert.ok(id, r.out);
  await relay.waitLog((l) => l.event === 'delivery' && l.id === id && l.status === 'delivered');
  return id;
}

/** The store's entries for a queue id, once the recorder has written them (it writes every 200 ms; bounded wait). */
async function recorded(store: SqliteTrackingStore, id: string): Promise<TrackEntry[]> {
  for (let i = 0; i < 100; i++) {
    const found = (await store.search({ id })).entries;
    if (found.length > 0) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no tracking entry for ${id} within 5 s`);
}

test('a tracking store that cannot be opened: the daemon runs without tracking, mail is accepted and delivered', { skip }, async (t) => {
  const dir = tempDataDir(t);
  mkdirSync(join(dir, 'tracking.db')); // a directory where the database file should be
  const { relay, sink } = await rig(t, {}, dir);
  const err = await relay.waitLog((l) => l.event === 'tracking.error');
  assert.match(String(err.error), /cannot open the tracking store/);
  await sendAndDeliver(relay, 'still flows');
  assert.equal(sink.messages.length, 1);
});

test('a tracking store failing under the running daemon: 250 and delivery go on, the lost rows are counted; no Subject kept by default', { skip }, async (t) => {
  const { relay, sink } = await rig(t, {});
  const store = new SqliteTrackingStore(join(relay.dataDir, 'tracking.db'));
  t.after(() => store.close());
  const first = await sendAndDeliver(relay, 'secret plans');
  const queued = await relay.waitLog((l) => l.event === 'queued' && l.id === first);
  assert.equal(queued.subject, undefined, 'tracking.subject is off: no Subject in the log');
  assert.equal(typeof queued.message_id, 'string', 'the Message-ID is');
  assert.ok(!relay.logs.some((l) => JSON.stringify(l).includes('secret plans')));
  const [e] = await recorded(store, first);
  assert.equal(e?.subject, null, 'nor in the store');
  assert.equal(e?.message_id, String(queued.message_id).replace(/^<|>$/g, ''));

  // The tables go from under the daemon: every later write fails.
  const db = new DatabaseSync(join(relay.dataDir, 'tracking.db'));
  db.exec('DROP TABLE track_event; DROP TABLE track_entry');
  db.close();
  const second = await sendAndDeliver(relay, 'after the failure');
  const third = await sendAndDeliver(relay, 'and another');
  assert.notEqual(second, third);
  assert.equal(sink.messages.length, 3, 'every message delivered');
  const err = await relay.waitLog((l) => l.event === 'tracking.error');
  assert.match(String(err.error), /no such table/);
  const dropped = await relay.waitLog((l) => l.event === 'tracking.dropped');
  assert.ok(Number(dropped.rows) > 0);
  assert.equal(await relay.stop(), 0, 'and it stops cleanly');
});

test('tracking.enabled: false records nothing and adds no Message-ID to the log', { skip }, async (t) => {
  const { relay } = await rig(t, { enabled: false });
  const id = await sendAndDeliver(relay, 'untracked');
  const queued = await relay.waitLog((l) => l.event === 'queued' && l.id === id);
  assert.equal(queued.message_id, undefined);
  assert.equal(await relay.stop(), 0);
  const store = new SqliteTrackingStore(join(relay.dataDir, 'tracking.db'));
  t.after(() => store.close());
  assert.deepEqual((await store.search({})).entries, []);
});
