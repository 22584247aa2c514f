// `processes: 2` with the admin API, tracking and delivery to a real sink:
// mail received by the worker is counted in GET /api/stats, found by
// GET /api/tracking/:id and `mailwarden track --id`, and the one log (the
// primary writes every line, the worker's too) keeps each message's life in
// order: the worker's connect, rcpt and queued before the primary's
// delivery.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliveryOf, runCli, swaks, swaksMissing, queuedId } from '../smtp/harness.ts';
import { startWithApi } from '../api/client.ts';
import { startTrackingSink, trackedSettings } from '../api/tracking-traffic.ts';
import { servedBy } from './procs.ts';

const skip = swaksMissing();

test('processes: 2 — a worker\'s mail is in the statistics and in tracking, and its log lines come before the primary\'s delivery', { skip }, async (t) => {
  const sink = await startTrackingSink(t);
  const { relay, api, password } = await startWithApi(t, { processes: 2, ...trackedSettings(sink) });
  t.after(async () => void (await relay.stop()));
  const worker = (await relay.waitLog((l) => l.event === 'process.started' && l.role === 'worker')).pid as number;
  const me = await api.login('admin', password);
  const before = (await api.call('GET', '/api/stats', { as: me })).json;
  const sum = (s: { per_minute: Record<string, number>[] }, k: string) => s.per_minute.reduce((n, m) => n + (m[k] ?? 0), 0);
  assert.equal(sum(before, 'accepted'), 0);

  // Sequential sessions go to the idle worker (src/process/dispatch.ts); the log proves it below.
  const ids: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const r = await swaks(['--server', '127.0.0.1', '--port', String(relay.ports.mx), '--ehlo', 'client.example', '--from', 'alice@example.net', '--to', 'bob@example.com', '--header', `Subject: worker ${i}`]);
    assert.equal(r.status, 0, r.out);
    ids.push(queuedId(r.out));
  }
  for (const id of ids) await deliveryOf(relay, id, 'bob@example.com');
  assert.equal(sink.messages.length, 3);
  const queued = ids.map((id) => relay.logs.find((l) => l.event === 'queued' && l.id === id)!);
  assert.deepEqual(queued.map(servedBy), [worker, worker, worker], 'every message was received by the worker');

  // Statistics: the worker's `queued` lines are counted like the primary's.
  const s = (await api.call('GET', '/api/stats', { as: me })).json;
  assert.equal(sum(s, 'accepted'), 3);
  assert.equal(sum(s, 'relayed'), queued.filter((l) => l.relayed === true).length);

  // Tracking: the message received by the worker, delivered by the primary. Its store is written in batches:
  // asked until found, within a bound.
  const id = ids[0]!;
  let timeline: { entries: { recipient: string; status: string }[]; events: { event: string; fields: Record<string, unknown> }[] } | null = null;
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
    const a = await api.call('GET', `/api/tracking/${id}`, { as: me });
    if (a.status === 200 && a.json.entries.some((e: { status: string }) => e.status === 'delivered')) {
      timeline = a.json;
      break;
    }
    await relay.waitLog(() => true, 200).catch(() => null);
  }
  assert.ok(timeline, `GET /api/tracking/${id} found the worker's message delivered`);
  assert.deepEqual(timeline.entries.map((e) => `${e.recipient} ${e.status}`), ['bob@example.com delivered']);
  const names = timeline.events.map((e) => e.event);
  assert.ok(names.indexOf('queued') >= 0 && names.indexOf('queued') < names.indexOf('delivery'), names.join(', '));
  assert.equal(timeline.events.find((e) => e.event === 'queued')!.fields.pid, worker);
  const cli = await runCli(['track', '--data', relay.dataDir, '--id', id, '--json']);
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual((JSON.parse(cli.stdout) as { entries: { queue_id: string; status: string }[] }).entries.map((e) => [e.queue_id, e.status]), [[id, 'delivered']]);

  // Log order: one writer (stdout of the primary); for each message, the worker's lines of its session, then
  // the primary's delivery. Ordered by position in the log and by timestamp alike.
  for (const [k, qid] of ids.entries()) {
    const at = (pred: (l: (typeof relay.logs)[number]) => boolean) => relay.logs.findIndex(pred);
    const q = at((l) => l.event === 'queued' && l.id === qid);
    const d = at((l) => l.event === 'delivery' && l.id === qid);
    assert.ok(q >= 0 && d > q, `${qid}: queued (line ${q}) before delivery (line ${d})`);
    assert.equal(relay.logs[d]!.pid, undefined, 'delivery is the primary\'s');
    assert.ok(Date.parse(String(relay.logs[q]!.ts)) <= Date.parse(String(relay.logs[d]!.ts)));
    const cid = relay.logs[q]!.cid;
    const session = ['connect', 'rcpt', 'queued', 'disconnect'].map((e) => at((l) => l.event === e && l.cid === cid));
    assert.ok(session.every((i, j) => i >= 0 && (j === 0 || i > session[j - 1]!)), `message ${k + 1}: its session's lines in order: ${session.join(', ')}`);
    for (const i of session) assert.equal(relay.logs[i]!.pid, worker);
  }
  // Every line is whole JSON with a timestamp, the log's lines never go back in time.
  const ts = relay.logs.map((l) => Date.parse(String(l.ts)));
  assert.ok(ts.every((v, i) => Number.isFinite(v) && (i === 0 || v >= ts[i - 1]!)), 'timestamps never go back');
});
