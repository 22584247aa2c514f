// The cluster's figures that are not throughput: how fast an Apply reaches
// every node, and how fast a SIGKILLed node's mail is delivered by another.
// Each runs on its own private PostgreSQL and nodes (relays/cluster.ts
// startNodes), the nodes' SMTP listeners reached directly (no HAProxy: these
// are about the nodes and the database).
//
//  - apply: `mailwarden config import FILE --json --store URL` (the CLI, on
//    this machine, no node involved), N times with 3 nodes running; an
//    Apply's time is the one the CLI stamps on the revision just before its
//    commit; it has reached a node when that node logs `revision.applied` with
//    its number (the line's own time stamp; one clock). Per Apply the time
//    until the last node has it; p50/p99 over the Applies.
//  - takeover: `queue.lease` short; the next hop (a sink of our own) holds
//    every end of DATA unanswered, so node A's deliveries stay in flight with
//    their claims; node B starts, A is SIGKILLed, the sink answers again, and
//    B delivers A's messages once their leases have run out: the time from
//    the kill to the first and the last arrival. Then A's unclaimed mail: a
//    node C takes messages whose first attempt the sink refuses with 451, so
//    they wait in the queue unclaimed until their retry (`queue.retry.first`);
//    C is SIGKILLed, and B delivers them: the time from the kill, and from
//    the moment they were due, to the arrival.

import { settings as mailwardenSettings } from '../relays/mailwarden.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from './procs.ts';
import { cpuMs } from './procfs.ts';
import { percentile } from './stats.ts';
import { startClusterNode } from './nodes.ts';
import { Sink } from './sink.ts';
import { REPO } from '../relays/mailwarden.ts';
import { startNodes } from '../relays/cluster.ts';
import postgres from 'postgres';
import { startSink, type Answer } from '../../test/delivery/sink.ts';

const BIN = join(REPO, 'bin', 'mailwarden');

/** Settings for the scenarios: the clients reach the nodes directly (no PROXY header). */
function settings(sinkPort: number, extra: string[] = []): string {
  return mailwardenSettings(0, sinkPort, [...extra, ''].join('\n'));
}

export interface ApplyResult {
  nodes: number;
  applies: number;
  /** ms from the commit's stamp until every node logged revision.applied */
  p50?: number;
  p99?: number;
  max?: number;
  /** ms per node and Apply */
  perNodeP50?: number;
  perNodeP99?: number;
  /** ms the CLI took per Apply (median), for context */
  cliMs?: number;
  /** the same cluster at rest before the Applies, per second: what idle nodes cost the database */
  idle?: { seconds: number; nodesCpuMsPerSec: number; pgCpuMsPerSec: number; statementsPerSec: number; commitsPerSec: number; walBytesPerSec: number };
  error?: string;
}

export async function applyPropagation(dir: string, nodes: number, applies: number, idleMs: number, log: (s: string) => void): Promise<ApplyResult> {
  const res: ApplyResult = { nodes, applies: 0 };
  const sink = await Sink.start();
  let c: Awaited<ReturnType<typeof startNodes>> | undefined;
  try {
    c = await startNodes(dir, nodes, settings(sink.port));
    {
      // at rest: heartbeats, the schedulers' look for due work, statistics
      const roots = c.nodes.map((n) => n.pid);
      const n0 = cpuMs(roots);
      const p0 = cpuMs([c.pg.pid]);
      const d0 = await c.pg.reading();
      const t0 = performance.now();
      await sleep(idleMs); // the measurement window itself
      const d1 = await c.pg.reading();
      const sec = (performance.now() - t0) / 1000;
      const d = await c.pg.delta(d0, d1);
      res.idle = { seconds: sec, nodesCpuMsPerSec: (cpuMs(roots) - n0) / sec, pgCpuMsPerSec: (cpuMs([c.pg.pid]) - p0) / sec, statementsPerSec: d.statements / sec, commitsPerSec: d.commits / sec, walBytesPerSec: d.walBytes / sec };
      log(`    at rest, ${nodes} nodes: nodes ${res.idle.nodesCpuMsPerSec.toFixed(1)} ms CPU/s, PostgreSQL ${res.idle.pgCpuMsPerSec.toFixed(1)} ms CPU/s, ${res.idle.statementsPerSec.toFixed(1)} statements/s, ${res.idle.commitsPerSec.toFixed(2)} commits/s`);
    }
    const all: number[] = [];
    const perNode: number[] = [];
    const cli: number[] = [];
    for (let i = 1; i <= applies; i++) {
      const file = join(dir, `apply-${i}.yaml`);
      // a new revision that changes something every node uses: the greeting's host name for new listeners
      writeFileSync(file, settings(sink.port).replace('hostname: mailwarden.bench.invalid', `hostname: mw${i}.bench.invalid`));
      const marks = c.nodes.map((n) => { n.log.poll(); return n.log.lines.length; });
      const r = await run('mailwarden config import', BIN, ['config', 'import', file, '--json', '--store', c.url], { timeoutMs: 60_000, cwd: REPO });
      if (r.code !== 0) throw new Error(`config import failed (${r.code}): ${r.stderr}${r.stdout}`);
      cli.push(r.ms);
      const out = JSON.parse(r.stdout) as { revision?: { number: number; created: string } };
      if (!out.revision) throw new Error(`config import applied nothing: ${r.stdout}`);
      const created = Date.parse(out.revision.created);
      const number = out.revision.number;
      let worst = 0;
      for (const [k, n] of c.nodes.entries()) {
        const line = await n.log.waitFor((l) => l.event === 'revision.applied' && l.revision === number, 10_000, () => true, marks[k]);
        const ms = Date.parse(line.ts) - created;
        perNode.push(ms);
        worst = Math.max(worst, ms);
      }
      all.push(worst);
      res.applies = i;
    }
    res.p50 = percentile(all, 50);
    res.p99 = percentile(all, 99);
    res.max = Math.max(...all);
    res.perNodeP50 = percentile(perNode, 50);
    res.perNodeP99 = percentile(perNode, 99);
    res.cliMs = percentile(cli, 50);
    log(`    ${res.applies} Applies to ${nodes} nodes: until every node, p50 ${res.p50} ms, p99 ${res.p99} ms, max ${res.max} ms`);
  } catch (e) {
    res.error = (e as Error).message;
    log(`    FAILED: ${res.error.split('\n')[0]}`);
  } finally {
    await c?.stop();
    await sink.stop();
  }
  return res;
}

export interface TakeoverResult {
  leaseMs: number;
  retryFirstMs: number;
  /** in-flight messages of the killed node (claimed by it) */
  inFlight?: number;
  /** of those, how many the next hop was holding at the end of DATA when the node was killed */
  atNextHop?: number;
  firstMs?: number;
  lastMs?: number;
  duplicates?: number;
  /** unclaimed (deferred) messages of the second killed node */
  unclaimed?: number;
  unclaimedAfterKillMs?: number;
  /** from the moment the last was due (its logged next_attempt) to the last arrival */
  unclaimedAfterDueMs?: number;
  error?: string;
}

const subjectOf = (raw: Buffer): string => /\r\nSubject: ([^\r\n]*)\r\n/.exec(`\r\n${raw.toString('latin1')}`)?.[1] ?? '';

async function sendDirect(port: number, tags: string[]): Promise<void> {
  // one transaction per tag over one connection, our own client (no PROXY header: the scenario's listener trusts none)
  const { connect } = await import('node:net');
  const sock = connect({ host: '127.0.0.1', port });
  sock.setEncoding('latin1');
  let buf = '';
  const waiters: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  sock.on('error', (e) => { for (const w of waiters.splice(0)) w.reject(e); });
  sock.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      if (/^\d{3} /.test(line)) waiters.shift()?.resolve(line);
    }
  });
  const reply = () => new Promise<string>((resolve, reject) => waiters.push({ resolve, reject }));
  const cmd = async (s: string, want: RegExp) => {
    const p = reply();
    sock.write(s + '\r\n');
    const r = await p;
    if (!want.test(r)) throw new Error(`${s.split(' ')[0]} -> ${r}`);
  };
  try {
    if (!/^220 /.test(await reply())) throw new Error('no greeting');
    await cmd('EHLO bench.test', /^250 /);
    for (const tag of tags) {
      await cmd('MAIL FROM:<a@bench.test>', /^250 /);
      await cmd('RCPT TO:<b@bench.test>', /^250 /);
      await cmd('DATA', /^354 /);
      await cmd(`From: <a@bench.test>\r\nTo: <b@bench.test>\r\nSubject: ${tag}\r\n\r\ntakeover ${tag}\r\n.`, /^250 /);
    }
    await cmd('QUIT', /^221 /);
  } finally {
    sock.destroy();
  }
}

export async function takeover(dir: string, leaseMs: number, retryFirstMs: number, inFlight: number, unclaimed: number, log: (s: string) => void): Promise<TakeoverResult> {
  const res: TakeoverResult = { leaseMs, retryFirstMs };
  let mode: 'hold' | 'accept' = 'hold';
  const held: ((a: Answer) => void)[] = [];
  const arrived = new Map<string, number[]>(); // tag -> arrival times (epoch ms)
  const refused = new Map<string, number>(); // tag -> time of the 451
  let changed: () => void = () => {};
  const sink = await startSink({
    behaviour: {
      data: (m) => {
        const tag = subjectOf(m.raw);
        if (tag.startsWith('U') && !refused.has(tag)) {
          refused.set(tag, Date.now());
          changed();
          return { code: 451, text: '4.3.0 try again later' };
        }
        if (mode === 'hold' && tag.startsWith('F')) {
          changed();
          return new Promise<Answer>((resolve) => held.push(resolve));
        }
        arrived.set(tag, [...(arrived.get(tag) ?? []), Date.now()]);
        changed();
        return undefined;
      },
    },
  });
  const until = async (what: string, pred: () => boolean, timeoutMs: number) => {
    const end = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => { changed = resolve; setTimeout(resolve, 100); });
    }
  };
  const extra = [`queue: { lease: ${leaseMs / 1000}s, retry: { first: ${retryFirstMs / 1000}s, max: 1m } }`];
  let c: Awaited<ReturnType<typeof startNodes>> | undefined;
  const more: Awaited<ReturnType<typeof startClusterNode>>[] = [];
  try {
    c = await startNodes(dir, 1, settings(sink.port, extra));
    const a = c.nodes[0]!;
    // in flight: A takes them and hands each to the sink, which holds the end of DATA
    const fTags = Array.from({ length: inFlight }, (_, i) => `F${i}`);
    await sendDirect(a.port, fTags);
    // in flight: every message claimed by A (its lease running), and the next hop holding what A has handed it so far
    const db = postgres(c.url, { max: 1, onnotice: () => {} });
    let claimed = 0;
    try {
      const end = Date.now() + 30_000;
      for (;;) {
        const [r] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM queue_message WHERE claim_node = 'n1' AND lease_until > ${Date.now()}`;
        claimed = r?.n ?? 0;
        if (claimed >= inFlight && held.length > 0) break;
        if (Date.now() > end) throw new Error(`${inFlight} messages in flight at node A: ${claimed} claimed, ${held.length} at the next hop after 30 s`);
        await sleep(50);
      }
    } finally {
      await db.end({ timeout: 2 });
    }
    res.atNextHop = held.length;
    const b = await startClusterNode(join(dir, 'b'), c.url, 'b');
    more.push(b);
    const killedAt = Date.now();
    a.kill();
    mode = 'accept';
    await until(`A's ${inFlight} messages delivered by B`, () => fTags.every((t) => arrived.has(t)), leaseMs * 3 + 30_000);
    const times = fTags.map((t) => arrived.get(t)![0]! - killedAt);
    res.inFlight = inFlight;
    res.firstMs = Math.min(...times);
    res.lastMs = Math.max(...times);
    log(`    SIGKILL with ${inFlight} deliveries in flight (${res.atNextHop} of them at the next hop), queue.lease ${leaseMs / 1000} s: first delivered by B after ${res.firstMs} ms, last after ${res.lastMs} ms`);

    // unclaimed: node C's messages wait for their retry when C dies
    const cNode = await startClusterNode(join(dir, 'c'), c.url, 'c');
    more.push(cNode);
    const uTags = Array.from({ length: unclaimed }, (_, i) => `U${i}`);
    const marks = [b, cNode].map((n) => { n.log.poll(); return n.log.lines.length; });
    await sendDirect(cNode.port, uTags);
    // settled: each first attempt logged as deferred (by C, or by B when B took it), with its next attempt's time
    const deferred = () => [b, cNode].flatMap((n, k) => { n.log.poll(); return n.log.lines.slice(marks[k]).filter((l) => l.event === 'delivery' && l.status === 'deferred'); });
    await until(`${unclaimed} first attempts deferred`, () => deferred().length >= unclaimed, 30_000);
    const dueAt = Math.max(...deferred().map((l) => Date.parse(String(l.next_attempt))));
    const killedC = Date.now();
    cNode.kill();
    await until(`C's ${unclaimed} deferred messages delivered`, () => uTags.every((t) => arrived.has(t)), retryFirstMs * 3 + leaseMs * 3 + 30_000);
    const uLast = Math.max(...uTags.map((t) => arrived.get(t)![0]!));
    res.unclaimed = unclaimed;
    res.unclaimedAfterKillMs = uLast - killedC;
    res.unclaimedAfterDueMs = uLast - dueAt;
    res.duplicates = [...arrived.values()].filter((v) => v.length > 1).length;
    log(`    SIGKILL with ${unclaimed} deferred (unclaimed) messages, retry after ${retryFirstMs / 1000} s: all delivered ${res.unclaimedAfterKillMs} ms after the kill, ${res.unclaimedAfterDueMs} ms after they were due; ${res.duplicates} duplicates`);
  } catch (e) {
    res.error = (e as Error).message;
    log(`    FAILED: ${res.error.split('\n')[0]}`);
  } finally {
    for (const h of held) h({ code: 451, text: '4.3.0 bench ends' });
    await Promise.all(more.map((n) => n.stop().catch(() => {})));
    await c?.stop();
    await sink.close();
  }
  return res;
}
