// The recorder and its interpreter without a daemon: log lines as the daemon
// writes them become entries, updates and events; writes are batched (one
// store write per flush, not per event); the rows waiting are bounded, and a
// slow or failing store costs rows (counted, logged), never an exception to
// the caller. Also the RFC 2047 decoding of subjects.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryLogger } from '../../src/log/logger.ts';
import { MemoryTrackingStore } from '../../src/tracking/memory-tracking-store.ts';
import { TrackingRecorder } from '../../src/tracking/recorder.ts';
import { TrackInterpreter } from '../../src/tracking/track-events.ts';
import { decodeWords } from '../../src/tracking/encoded-words.ts';
import type { TrackBatch, TrackingWriter } from '../../src/tracking/tracking-store.ts';

const T0 = Date.parse('2026-05-01T08:00:00.000Z');
const empty = (): TrackBatch => ({ entries: [], updates: [], events: [] });

/** The lines of one connection: connect, MAIL/RCPT of two transactions (the first abandoned with RSET), DATA. */
function session(cid: string, id: string): [string, Record<string, unknown>][] {
  return [
    ['connect', { cid, client: '192.0.2.8', listener: 'mx', action: 'accept', rule: 'rules 1-2' }],
    ['rcpt', { cid, client: '192.0.2.8', user: null, helo: 'h.example', tx: 1, sender: 'a@x.example', recipient: 'gone@ours.example', action: 'accept', code: 250, kind: 'inbound', rule: 'rule 3' }],
    // RSET; a second transaction.
    ['rcpt', { cid, client: '192.0.2.8', user: null, helo: 'h.example', tx: 2, sender: 'b@x.example', recipient: 'far@elsewhere.example', action: 'reject', code: 554, text: 'Relaying denied', kind: null, rule: 'rule 4' }],
    ['rcpt', { cid, client: '192.0.2.8', user: null, helo: 'h.example', tx: 2, sender: 'b@x.example', recipient: 'one@ours.example', action: 'accept', code: 250, kind: 'inbound', rule: 'rule 3' }],
    ['rcpt', { cid, client: '192.0.2.8', user: null, helo: 'h.example', tx: 2, sender: 'b@x.example', recipient: 'one@ours.example', action: 'accept', duplicate: true, code: 250, kind: 'inbound', rule: 'rule 3' }],
    ['rcpt', { cid, client: '192.0.2.8', user: null, helo: 'h.example', tx: 2, sender: 'b@x.example', recipient: 'two@ours.example', action: 'accept', code: 250, kind: 'inbound', rule: 'rule 3' }],
    ['queued', { id, cid, client: '192.0.2.8', user: null, sender: 'b@x.example', recipients: [{ address: 'one@ours.example', kind: 'inbound', rule: 'rule 3' }, { address: 'two@ours.example', kind: 'inbound', rule: 'rule 3' }], relayed: false, size: 321, message_id: '<m@x.example>' }],
    ['disconnect', { cid, client: '192.0.2.8' }],
  ];
}

test('interpreter: a connection with an abandoned transaction, a refused RCPT, a duplicate and a stored message', () => {
  const it = new TrackInterpreter('n1');
  const out = empty();
  session('c1', 'q000000000000001').forEach(([ev, f], i) => it.take(ev, f, T0 + i, out));
  assert.deepEqual(
    out.entries.map((e) => [e.key, e.status, e.sender, e.recipient, e.rcpt_action, e.rcpt_rule, e.first, e.tx, e.helo, e.listener]),
    [
      ['c1:2:0', 'refused', 'b@x.example', 'far@elsewhere.example', 'reject', 'rule 4', true, 2, 'h.example', 'mx'],
      ['q000000000000001:0', 'queued', 'b@x.example', 'one@ours.example', 'accept', 'rule 3', true, 2, 'h.example', 'mx'],
      ['q000000000000001:1', 'queued', 'b@x.example', 'two@ours.example', 'accept', 'rule 3', false, 2, 'h.example', 'mx'],
    ],
    'the abandoned transaction leaves no entry; the duplicate RCPT none either',
  );
  assert.equal(out.entries[1]?.message_id, 'm@x.example');
  assert.deepEqual(out.events.map((e) => [e.event, e.tx]), [['connect', 0], ['rcpt', 1], ['rcpt', 2], ['rcpt', 2], ['rcpt', 2], ['rcpt', 2], ['queued', 2], ['disconnect', 0]]);
  assert.equal(it.connections, 0, 'forgotten at disconnect');
});

test('interpreter: refusals after DATA (one entry per accepted recipient, the first counts), deliveries, DSNs, admin actions', () => {
  const it = new TrackInterpreter('n1');
  const out = empty();
  const cid = 'c2';
  const lines: [string, Record<string, unknown>][] = [
    ['connect', { cid, client: '192.0.2.9', listener: 'mx', action: 'accept' }],
    ['rcpt', { cid, client: '192.0.2.9', tx: 1, sender: 'v@x.example', recipient: 'a@ours.example', action: 'accept', code: 250, kind: 'inbound', rule: 'rule 3' }],
    ['rcpt', { cid, client: '192.0.2.9', tx: 1, sender: 'v@x.example', recipient: 'b@ours.example', action: 'accept', code: 250, kind: 'inbound', rule: 'rule 3' }],
    ['scan.refused', { id: 'q000000000000002', cid, client: '192.0.2.9', sender: 'v@x.example', recipients: ['a@ours.example', 'b@ours.example'], action: 'reject', code: 554, rule: 'antivirus.action', reason: 'malware found' }],
    ['mail', { cid, client: '192.0.2.9', tx: 2, sender: 'spam@x.example', action: 'tempfail', code: 451, text: 'try later', rule: 'antispam.greylisting' }],
    ['delivery', { id: 'q000000000000003', recipient: 'r@far.example', status: 'failed', relay: 'mx.far.example', code: 550, response: 'no such user', attempt: 1 }],
    ['dsn.queued', { id: 'q000000000000004', of: 'q000000000000003', type: 'failure', to: 's@x.example', level: 1, recipients: ['r@far.example'] }],
    ['queue.admin', { op: 'hold', id: 'q000000000000005', ok: true }],
    ['queue.admin', { op: 'release', id: 'q000000000000006', ok: false }],
    ['listening', { listener: 'mx', port: 25 }],
  ];
  lines.forEach(([ev, f], i) => it.take(ev, f, T0 + i, out));
  assert.deepEqual(
    out.entries.map((e) => [e.key, e.status, e.recipient, e.rule, e.code, e.rcpt_action, e.first]),
    [
      ['c2:1:0', 'refused', 'a@ours.example', 'antivirus.action', 554, 'accept', true],
      ['c2:1:1', 'refused', 'b@ours.example', 'antivirus.action', 554, 'accept', false],
      ['c2:2:0', 'tempfailed', null, 'antispam.greylisting', 451, null, true],
      ['q000000000000004:0', 'queued', 's@x.example', 'dsn', null, null, true],
    ],
  );
  assert.deepEqual(out.updates, [
    { queue_id: 'q000000000000003', recipient: 'r@far.example', updated: T0 + 5, status: 'bounced', rule: 'delivery', code: 550, reply: 'no such user', relay: 'mx.far.example', attempts: 1 },
    { queue_id: 'q000000000000005', recipient: null, onlyIf: ['queued', 'deferred'], updated: T0 + 7, status: 'held', rule: 'admin', reply: 'held by the administrator' },
  ]);
  assert.equal(out.events.find((e) => e.event === 'dsn.queued')?.queue_id, 'q000000000000003', 'a DSN\'s line is on the timeline of the message it reports on');
  assert.ok(!out.events.some((e) => e.event === 'listening'), 'lines about no message are not kept');
});

test('interpreter: the connections remembered are bounded; a line of a forgotten connection is still recorded with what it says', () => {
  const it = new TrackInterpreter('n1', 100);
  const out = empty();
  for (let i = 0; i < 1000; i++) it.take('connect', { cid: `k${i}`, client: '192.0.2.1', listener: 'mx', action: 'accept' }, T0, out);
  assert.equal(it.connections, 100);
  it.take('queued', { id: 'q000000000000007', cid: 'k0', client: '192.0.2.1', sender: 's@x.example', recipients: [{ address: 'r@ours.example', kind: 'inbound', rule: 'rule 3' }] }, T0, out);
  assert.deepEqual(out.entries.map((e) => [e.key, e.client, e.sender, e.listener, e.rcpt_action]), [['q000000000000007:0', '192.0.2.1', 's@x.example', null, null]]);
  // A line too big for an event row is cut down, not refused.
  it.take('rcpt', { cid: 'k1', tx: 1, recipient: 'x@ours.example', action: 'reject', code: 550, rule: 'rule 4', trail: ['x'.repeat(10_000)] }, T0, out);
  const ev = out.events.at(-1)!;
  assert.equal(ev.fields.truncated, true);
  assert.ok(JSON.stringify(ev.fields).length <= 4096);
});

/** A real store that counts its writes and can be made slow or failing. */
class Instrumented implements TrackingWriter {
  readonly inner = new MemoryTrackingStore();
  writes = 0;
  fail = false;
  gate: Promise<void> | null = null;
  async write(b: TrackBatch): Promise<void> {
    this.writes++;
    if (this.gate) await this.gate;
    if (this.fail) throw new Error('disk full');
    await this.inner.write(b);
  }
}

test('recorder: many events, one write per flush', async () => {
  const store = new Instrumented();
  const logger = memoryLogger();
  const rec = new TrackingRecorder({ store, node: 'n1', logger, now: () => T0, flushMs: 50 });
  for (let i = 0; i < 200; i++) for (const [ev, f] of session(`c${i}`, `q${String(i).padStart(15, '0')}`)) rec.observe(ev, f);
  assert.equal(store.writes, 0, 'nothing is written synchronously on the path of the event');
  await rec.flush();
  assert.equal(store.writes, 1);
  const page = await store.inner.search({ limit: 500 });
  assert.equal(page.entries.length + (await store.inner.search({ limit: 500, cursor: page.next! })).entries.length, 600);
  assert.equal(rec.counts.written, 200 * (3 + 8));
  await rec.close();
});

test('recorder: a slow store bounds the rows waiting (dropped, counted, logged); a failing one costs its batch, never an exception', async () => {
  const store = new Instrumented();
  const logger = memoryLogger();
  const rec = new TrackingRecorder({ store, node: 'n1', logger, now: () => T0, flushMs: 10, maxPending: 100 });
  let open!: () => void;
  store.gate = new Promise((r) => (open = r));
  for (const [ev, f] of session('s0', 'q000000000000010')) rec.observe(ev, f);
  const first = rec.flush(); // stuck in the store
  for (let i = 1; i <= 50; i++) for (const [ev, f] of session(`s${i}`, `q${String(i + 10).padStart(15, '0')}`)) rec.observe(ev, f);
  assert.ok(rec.counts.dropped > 0, 'past the bound rows are dropped');
  assert.ok(rec.counts.dropped <= 50 * 11 - 89, `no more than needed: ${rec.counts.dropped}`);
  store.gate = null;
  open();
  await first;
  await rec.flush();
  const dropped = logger.lines.filter((l) => l.event === 'tracking.dropped');
  assert.equal(dropped.length, 1);
  assert.equal(dropped[0]?.fields.rows, rec.counts.dropped);

  store.fail = true;
  for (const [ev, f] of session('f1', 'q000000000000099')) rec.observe(ev, f);
  await rec.flush();
  assert.equal(rec.counts.failedWrites, 1);
  assert.ok(logger.lines.some((l) => l.event === 'tracking.error' && l.fields.error === 'disk full'));
  store.fail = false;
  for (const [ev, f] of session('f2', 'q000000000000098')) rec.observe(ev, f);
  await rec.close();
  assert.equal((await store.inner.search({ id: 'q000000000000098' })).entries.length, 2, 'recording goes on once the store is back');
  assert.equal((await store.inner.search({ id: 'q000000000000099' })).entries.length, 0);
});

test('recorder: off (tracking.enabled false) records nothing; its own lines are never recorded', async () => {
  const store = new Instrumented();
  let enabled = false;
  const rec = new TrackingRecorder({ store, node: 'n1', logger: memoryLogger(), now: () => T0, enabled: () => enabled });
  for (const [ev, f] of session('o1', 'q000000000000020')) rec.observe(ev, f);
  rec.observe('tracking.dropped', { cid: 'o1', rows: 3 });
  await rec.flush();
  assert.equal(store.writes, 0);
  enabled = true;
  for (const [ev, f] of session('o2', 'q000000000000021')) rec.observe(ev, f);
  await rec.close();
  assert.equal((await store.inner.search({})).entries.length, 3);
});

test('subjects: RFC 2047 encoded words decoded (B and Q, charsets, adjacent words joined), raw UTF-8 read as UTF-8', () => {
  assert.equal(decodeWords('=?UTF-8?B?UsOpc3Vtw6k=?= de =?ISO-8859-1?Q?l=27=E9t=E9?='), 'Résumé de l\'été');
  assert.equal(decodeWords('=?UTF-8?Q?a_b?= =?UTF-8?Q?c?='), 'a bc');
  assert.equal(decodeWords(Buffer.from('Grüße', 'utf8').toString('latin1')), 'Grüße');
  assert.equal(decodeWords('=?x-unknown?B?AAAA?= plain'), '=?x-unknown?B?AAAA?= plain');
  assert.equal(decodeWords('no words here'), 'no words here');
});
