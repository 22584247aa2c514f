// Issue #15: nodes SIGKILLed and restarted under load. Three nodes on one
// PostgreSQL behind a real HAProxy (examples/haproxy/haproxy.cfg through
// test/support/haproxy.ts: send-proxy-v2, health checks) take a bounded load:
// MESSAGES messages from CLIENTS clients, each from its own 127.0.7.x address
// (the nodes see it through the PROXY v2 header: it is in every Received
// line), at RATE messages/s; a 4xx or a lost conversation is sent again a
// second later, as a real client does. The next hop is slow (it answers the
// end of DATA after HOP_MS), so every node holds claims on mail it is
// delivering; during the load the nodes are killed in turn, KILLS times, each
// kill once the node holds claims, every other one while the next hop is
// slower still (SLOW_HOP_MS, longer than a renewal period: the leases must be
// renewed, and claims pile up). After each kill the test reads which messages
// the dead node held claims on (its in-flight mail) and times how long the
// others take to deliver them (the target: queue.lease + 10 s); then the node
// is restarted with the same name, data directory and address (in the
// background: the next kill is of another node). At the end every message
// that got a 250 must have reached the sink: duplicates are counted and
// reported (delivery is at least once), a loss fails the test, and the queue
// must be empty.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { conditions } from '../support/conditions.ts';
import type { Answer } from '../delivery/sink.ts';
import { haproxyMissing, startHaproxy } from '../support/haproxy.ts';
import { arrivals, clusterMissing, linesOf, startCluster, waitArrivals, type ClusterNode } from './harness.ts';
import { runLoad } from './load-client.ts';

const LEASE_MS = 5_000;
const MESSAGES = 3_000;
const CLIENTS = 6;
const RATE = 35;
const KILLS = 6;
const HOP_MS = 150;
const SLOW_HOP_MS = 2_500;
/** Claims a node must hold before a kill while the hop is slow. */
const SLOW_CLAIMS = 10;
/** The load stops starting transactions after this long (bounded in time as well as in count). */
const LOAD_MS = 150_000;
/** HAProxy's source address towards the nodes: their trusted proxy. */
const LB = '127.0.0.2';

interface KillReport {
  node: string;
  ackedBefore: number;
  inFlight: number;
  slowHop: boolean;
  firstMs: number;
  lastMs: number;
  restartMs: number;
}

test('nodes SIGKILLed and restarted under load behind HAProxy: every acknowledged message is delivered', { skip: clusterMissing() ?? haproxyMissing() ?? false, timeout: 270_000 }, async (t) => {
  let hopMs = HOP_MS;
  const cond = conditions('kills');
  const c = await startCluster(t, {
    settings: {
      queue: { lease: `${LEASE_MS / 1000}s`, retry: { first: '1s', max: '2s' } },
      listeners: [{ name: 'mx', address: '127.0.0.1', port: 0, mode: 'mx', trusted_proxies: ['lb'] }],
      networks: [
        { name: 'lb', type: 'host', address: LB },
        { name: 'clients', type: 'network', address: '127.0.7.0/24' },
      ],
      relaying: { allowed_hosts: ['clients'] },
    },
    sink: {
      // A slow next hop: the sending node holds the claim until the reply.
      data: () => new Promise<Answer>((resolve) => setTimeout(() => (resolve(undefined), cond.changed()), hopMs)),
    },
  });
  const sql = postgres(c.url, { max: 2, onnotice: () => {} });
  t.after(() => sql.end({ timeout: 1 }));

  // Every delivery any process logs, by queue id: which incarnation of which node, and when the test saw it.
  const deliveries = new Map<string, { at: number; by: string }[]>();
  const all: { node: ClusterNode; incarnation: string }[] = [];
  const track = (node: ClusterNode): string => {
    const incarnation = `${node.name}#${all.filter((x) => x.node.name === node.name).length + 1}`;
    all.push({ node, incarnation });
    let buf = '';
    node.child.stdout?.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        if (!line.includes('"delivery"')) continue;
        const l = JSON.parse(line) as { event: string; status?: string; id?: string };
        if (l.event !== 'delivery' || l.status !== 'delivered' || !l.id) continue;
        deliveries.set(l.id, [...(deliveries.get(l.id) ?? []), { at: Date.now(), by: incarnation }]);
        cond.changed();
      }
    });
    return incarnation;
  };

  const names = ['a', 'b', 'c'];
  const live = new Map<string, { node: ClusterNode; incarnation: string }>();
  for (const name of names) {
    const node = await c.startNode(name, { config: name === 'a' });
    live.set(name, { node, incarnation: track(node) });
  }
  // The address each node keeps over its restarts: HAProxy's server lines name it.
  const ports = new Map(names.map((n) => [n, live.get(n)!.node.ports.mx]));
  const lb = await startHaproxy(t, { backends: names.map((name) => ({ host: '127.0.0.1', port: ports.get(name)!, name })), source: LB, checkInterMs: 500 });
  await lb.waitUp(3);

  let acked = 0;
  const tags = Array.from({ length: MESSAGES }, (_, i) => `kill-load-${i + 1}`);
  const sources = Array.from({ length: CLIENTS }, (_, k) => `127.0.7.${11 + k}`);
  const loadStart = Date.now();
  let loadDone = false;
  const load = runLoad({
    tags,
    sources,
    targets: () => [lb.port],
    rate: RATE,
    deadline: loadStart + LOAD_MS,
    onAck: () => (acked++, cond.changed()),
  }).finally(() => ((loadDone = true), cond.changed()));

  const claimsOf = async (name: string): Promise<string[]> =>
    (await sql<{ id: string }[]>`SELECT id FROM queue_message WHERE area = 'queue' AND claim_node = ${name}`).map((r) => r.id);

  const kills: KillReport[] = [];
  const restarts = new Map<string, Promise<void>>();
  for (let k = 0; k < KILLS; k++) {
    const name = names[k % names.length]!;
    // Spread over the load: kill k once a share of the messages was acknowledged.
    await cond.waitFor(() => acked >= ((k + 1) * MESSAGES) / (KILLS + 2) || loadDone, `kill ${k + 1}'s share of the load`, LOAD_MS);
    if (loadDone) throw new Error(`the load ended before kill ${k + 1} (${acked} acknowledged): the machine is too slow for this schedule`);
    await restarts.get(name);
    const victim = live.get(name)!;
    const slowHop = k % 2 === 1;
    if (slowHop) hopMs = SLOW_HOP_MS;
    // Only while the node holds claims: mail it is delivering at that moment (the next hop sits on it). With the slow
    // hop, once claims have piled up (their leases are being renewed: a delivery outlasts a third of a lease).
    const want = slowHop ? SLOW_CLAIMS : 1;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const pending = c.sink.messages.length;
      if ((await claimsOf(name)).length >= want) break;
      if (Date.now() > deadline) throw new Error(`node ${name} never held ${want} claim(s)`);
      await c.sink.waitFor(pending + 1, 5_000).catch(() => {});
    }
    const ackedBefore = acked;
    await victim.node.kill();
    const killed = Date.now();
    live.delete(name);
    hopMs = HOP_MS;
    // Its claims cannot change any more: what it held at its death.
    const inFlight = await claimsOf(name);
    const takenOver = (id: string) => (deliveries.get(id) ?? []).find((d) => d.at > killed && d.by !== victim.incarnation);
    await cond.waitFor(() => inFlight.every(takenOver), `node ${name}'s ${inFlight.length} in-flight message(s) to be delivered by another node`, LEASE_MS + 30_000);
    const times = inFlight.map((id) => takenOver(id)!.at - killed);
    const by = [...new Set(inFlight.map((id) => takenOver(id)!.by))].sort();
    const firstMs = inFlight.length ? Math.min(...times) : 0;
    const lastMs = inFlight.length ? Math.max(...times) : 0;
    const report: KillReport = { node: name, ackedBefore, inFlight: inFlight.length, slowHop, firstMs, lastMs, restartMs: -1 };
    kills.push(report);
    t.diagnostic(
      `kill ${k + 1}: node ${name} SIGKILLed after ${ackedBefore} acknowledgements${slowHop ? `, next hop slow (${SLOW_HOP_MS} ms)` : ''}, holding ${inFlight.length} claim(s); delivered by ${by.join(', ')} ${firstMs}–${lastMs} ms after the kill`,
    );
    // A restart as systemd's Restart=on-failure does it: the same name, data directory and address; at once (its dead
    // incarnation's name is taken back without waiting for it to go stale). In the background: the next kill is another node's.
    const t0 = Date.now();
    restarts.set(
      name,
      c.startNode(name, { data: victim.node.dataDir, mx: `127.0.0.1:${ports.get(name)}` }).then((node) => {
        report.restartMs = Date.now() - t0;
        live.set(name, { node, incarnation: track(node) });
      }),
    );
  }
  await Promise.all(restarts.values());

  const r = await load;
  const loadMs = Date.now() - loadStart;
  assert.deepEqual(r.permanent, [], 'no message was refused for good');
  assert.equal(r.unacked.length, 0, `every message got its 250 before the load's deadline (${r.unacked.length} did not, e.g. ${r.unacked.slice(0, 3).join(', ')})`);
  const ackedTags = [...r.acked.keys()];
  await waitArrivals(c.sink, ackedTags, 60_000);
  // Messages committed whose 250 never reached the client are delivered too: the queue drains.
  const drainDeadline = Date.now() + 60_000;
  for (;;) {
    const [q] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM queue_message WHERE area = 'queue'`;
    if (q!.n === 0) break;
    if (Date.now() > drainDeadline) throw new Error(`${q!.n} message(s) still queued 60 s after the load`);
    await c.sink.waitFor(c.sink.messages.length + 1, 1_000).catch(() => {});
  }

  const have = arrivals(c.sink);
  const lost = ackedTags.filter((tag) => !have.has(tag));
  const duplicates = [...have.values()].reduce((s, n) => s + n - 1, 0);
  const duplicated = [...have.entries()].filter(([, n]) => n > 1).map(([tag]) => tag);
  // Two causes: a client sent the message again after losing the reply to its end of DATA (the node had committed
  // it), or a node died after the next hop had taken the message but before it recorded the delivery.
  const resentAfterData = new Set(r.retried.filter((x) => x.stage === 'end').map((x) => x.tag));
  const byClient = duplicated.filter((tag) => resentAfterData.has(tag)).length;
  const unknown = [...have.keys()].filter((tag) => !tags.includes(tag));
  // The nodes saw each client's own address through the PROXY v2 header: it is in the Received line they added.
  const clientOf = (raw: Buffer) => /^Received: from client\.example \(\[([0-9.]+)\]\)/.exec(raw.toString('latin1'))?.[1];
  const seenFrom = new Set(c.sink.messages.map((m) => clientOf(m.raw)));
  const claimLost = all.reduce((s, n) => s + linesOf(n.node, 'queue.claim_lost').length, 0);
  const retriedBy = new Map<string, number>();
  for (const x of r.retried) retriedBy.set(x.stage, (retriedBy.get(x.stage) ?? 0) + 1);
  const takeovers = kills.map((k) => k.lastMs);
  t.diagnostic(
    `${KILLS} kills under load through HAProxy (queue.lease ${LEASE_MS} ms): ${MESSAGES} messages from ${CLIENTS} clients, ${r.acked.size} acknowledged (250) in ${loadMs} ms, ` +
      `${have.size} distinct delivered, ${c.sink.messages.length} arrivals at the sink, duplicates ${duplicates} (${duplicated.length} messages: ${byClient} sent again by a client that lost the reply to its end of DATA, ${duplicated.length - byClient} delivered again after their node died mid-delivery), lost ${lost.length}; ` +
      `client retries ${r.retried.length} (${[...retriedBy].map(([s, n]) => `${s} ${n}`).join(', ') || 'none'}); queue.claim_lost lines ${claimLost}; ` +
      `SIGKILL → in-flight mail delivered by the others (last message), per kill: ${takeovers.join(', ')} ms (max ${Math.max(...takeovers)} ms; target lease + 10 s = ${LEASE_MS + 10_000} ms); ` +
      `restart to started, per kill: ${kills.map((k) => k.restartMs).join(', ')} ms`,
  );
  assert.deepEqual(unknown, [], 'the sink got only the messages sent');
  assert.deepEqual(lost, [], 'no acknowledged message is lost');
  assert.deepEqual([...seenFrom].sort(), [...sources].sort(), 'every message came from one of the clients\' own addresses, through HAProxy');
  assert.equal(kills.length, KILLS);
  assert.ok(kills.every((k) => k.inFlight > 0), 'every kill landed while the node held claims');
  assert.ok(kills.every((k) => k.ackedBefore < MESSAGES), 'every kill landed while the load ran');
  for (const k of kills) assert.ok(k.lastMs <= LEASE_MS + 10_000, `node ${k.node}'s in-flight mail was delivered within the lease + 10 s (${k.lastMs} ms)`);
  // Never earlier than the lease allows: a node renews every third of a lease, so its claims live at least 2/3 of one after its death.
  for (const k of kills) assert.ok(k.firstMs >= (LEASE_MS * 2) / 3 - 200, `no claim of node ${k.node} was taken before its lease ran out (${k.firstMs} ms)`);
});
