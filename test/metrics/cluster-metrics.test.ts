// Metrics in a cluster: two real nodes on one private PostgreSQL, each with
// its metrics listener on port 0. Counters are each node's own (mail sent to
// node A moves A's counters only); the queue's gauges are read from the
// shared store, so both nodes report the cluster's queue; the store is
// reported as postgresql and reachable.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { clusterMissing, sendOne, startCluster, type ClusterNode } from '../cluster/harness.ts';
import { parseExposition, value, type Family } from './exposition.ts';

const skip = clusterMissing() ?? false;

function scrape(url: string): Promise<Map<string, Family>> {
  return new Promise((done, fail) => {
    const req = request(url, { agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? done(parseExposition(body)) : fail(new Error(`${res.statusCode}: ${body}`))));
    });
    req.on('error', fail);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end();
  });
}

const urlOf = (n: ClusterNode) => String(n.logs.find((l) => l.event === 'started')?.metrics);

test('each node counts its own traffic; both report the cluster\'s queue from the shared store', { skip, timeout: 180_000 }, async (t) => {
  // The next hop defers everything: the mail stays in the shared queue.
  const cluster = await startCluster(t, { settings: { metrics: { address: '127.0.0.1', port: 0 } }, sink: { rcpt: () => ({ code: 451, text: '4.3.0 Try again later' }) } });
  const a = await cluster.startNode('a', { config: true });
  const b = await cluster.startNode('b');
  assert.match(urlOf(a), /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  assert.notEqual(urlOf(a), urlOf(b));
  const ids = [await sendOne(a.ports.mx, 'a1'), await sendOne(a.ports.mx, 'a2'), await sendOne(b.ports.mx, 'b1')];
  // Each message's first attempt (by whichever node holds its claim) ends deferred.
  const deferredOn = async (id: string) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const line = [...a.logs, ...b.logs].find((l) => l.event === 'delivery' && l.id === id);
      if (line) return assert.equal(line.status, 'deferred');
      if (Date.now() > deadline) throw new Error(`no delivery line for ${id} on either node`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  for (const id of ids) await deferredOn(id);

  // The delivery line may come a moment before the store has the deferral (and a census is reused for a
  // second): scrape until both nodes see the three deferred, or the deadline (the assertions then report).
  let [fa, fb] = await Promise.all([scrape(urlOf(a)), scrape(urlOf(b))]);
  for (const until = Date.now() + 15_000; Date.now() < until; ) {
    if ([fa, fb].every((f) => value(f, 'mailwarden_queue_messages', { state: 'deferred' }) === 3)) break;
    await new Promise((r) => setTimeout(r, 250));
    [fa, fb] = await Promise.all([scrape(urlOf(a)), scrape(urlOf(b))]);
  }
  // Node counters: A took two messages, B one.
  assert.equal(value(fa, 'mailwarden_messages_accepted_total', { kind: 'relay', outcome: 'queued' }), 2);
  assert.equal(value(fb, 'mailwarden_messages_accepted_total', { kind: 'relay', outcome: 'queued' }), 1);
  assert.equal(value(fa, 'mailwarden_smtp_connections_total', { listener: 'mx', outcome: 'accepted' }), 2);
  assert.equal(value(fb, 'mailwarden_smtp_connections_total', { listener: 'mx', outcome: 'accepted' }), 1);
  assert.equal(value(fa, 'mailwarden_delivery_attempts_total', { outcome: 'deferred' }) + value(fb, 'mailwarden_delivery_attempts_total', { outcome: 'deferred' }), 3, 'one first attempt per message, on one node or the other');
  // Cluster gauges: the same shared queue on both.
  for (const f of [fa, fb]) {
    assert.equal(value(f, 'mailwarden_queue_messages', { state: 'deferred' }), 3);
    assert.equal(value(f, 'mailwarden_queue_messages', { state: 'queued' }), 0);
    assert.ok(value(f, 'mailwarden_queue_oldest_message_age_seconds', { state: 'deferred' }) > 0);
    assert.equal(value(f, 'mailwarden_quarantine_messages'), 0);
    assert.equal(value(f, 'mailwarden_store_reachable', { store: 'postgresql' }), 1);
    assert.equal(value(f, 'mailwarden_store_errors_total'), 0);
  }
  assert.equal(value(fa, 'mailwarden_config_revision'), value(fb, 'mailwarden_config_revision'));
});
