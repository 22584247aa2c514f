// Several real nodes on one private PostgreSQL, for the cluster scenarios of
// issue #14: each node is `bin/mailwarden start --store URL --node NAME
// --listen mx=127.0.0.1:0 --data <its own temp dir>` (its port read from the
// `started` line), delivering through a static route to one real sink on
// loopback, where messages are counted by their unique Subject. Settings are
// applied the way an operator does it: `mailwarden config import --store URL`.
// Every wait is on a log line, a reply or a sink arrival, and bounded.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { RawClient, startNode, runCli, type LogLine, type Relay } from '../smtp/harness.ts';
import { startSink, type ReceivedMessage, type Sink, type SinkBehaviour } from '../delivery/sink.ts';
import { postgresMissing, startPostgres, startReplicatedPostgres, tcpForward, type ReplicatedPostgres, type TestPostgres } from '../support/postgres.ts';

type T = { after: (fn: () => void | Promise<void>) => void; diagnostic?: (msg: string) => void };

/** Where the cluster's mail goes: recipients in this domain reach the sink through a static route. */
export const RCPT_DOMAIN = 'example.com';

export interface ClusterNode extends Relay {
  name: string;
}

export interface Cluster {
  /** The one server (absent with `replicated`). */
  pg: TestPostgres;
  /** With `replicated`: the primary and its synchronous standby, the URL naming both. */
  replica: ReplicatedPostgres | null;
  /** The store URL every node and CLI call is given. */
  url: string;
  sink: Sink;
  /** The settings document of the last apply (what the next one starts from). */
  doc: Record<string, unknown>;
  nodes: ClusterNode[];
  /**
   * Starts a node; with `config`, it applies the current document at start (`start --config`); with `data`, on that
   * data directory (a restart of a node that ran there before) instead of a new one; with `mx` (ADDR:PORT), its mx
   * listener there instead of a free port on 127.0.0.1 (a restart on the address its clients know).
   */
  startNode(name: string, opts?: { config?: boolean; env?: Record<string, string>; listen?: string[]; data?: string; mx?: string }): Promise<ClusterNode>;
  /**
   * `mailwarden config import --store URL` of `changes` merged over the
   * current document; resolves with the new revision's number and the time
   * (epoch ms) the CLI stamped on it just before its commit.
   */
  apply(changes: Record<string, unknown>): Promise<{ number: number; created: number }>;
  /** The mailwarden CLI with `--store URL` appended. */
  cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }>;
}

/** A reason to skip (through missingComponent), or null when PostgreSQL can run here. */
export const clusterMissing = (): string | null => postgresMissing();

/** The shared settings: one mx listener (moved per node by --listen), delivery to the sink, no admin listener. */
function baseDoc(sink: Sink, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    hostname: 'mx.cluster.example',
    listeners: [{ name: 'mx', address: '127.0.0.1', port: 0, mode: 'mx' }],
    networks: [{ name: 'localhost', type: 'host', address: '127.0.0.1' }],
    relaying: { allowed_hosts: ['localhost'] },
    domains: [{ name: RCPT_DOMAIN, route: { hosts: [`${sink.address}:${sink.port}`] } }],
    delivery: { enabled: true },
    // Every node of a test runs on one machine: the default admin port would clash.
    admin: { enabled: false },
    ...extra,
  };
}

/**
 * A private PostgreSQL (one server and one database per test), a sink, and
 * nothing running yet: the test starts its nodes with startNode().
 */
export async function startCluster(t: T, opts: { settings?: Record<string, unknown>; sink?: SinkBehaviour; replicated?: boolean } = {}): Promise<Cluster> {
  let pg: TestPostgres | null = null;
  let replica: ReplicatedPostgres | null = null;
  let url: string;
  if (opts.replicated) {
    // A primary with a synchronous standby, both behind loopback TCP ports: the multi-host URL names both.
    const r = await startReplicatedPostgres();
    replica = r;
    t.after(() => r.destroy());
    url = await r.createDatabase();
  } else {
    const one = await startPostgres();
    pg = one;
    t.after(() => one.destroy());
    // The nodes reach the server over TCP on loopback (a forwarder to its Unix socket), as they reach a
    // real PostgreSQL in a cluster (the multi-host URL names TCP hosts only).
    const database = /^postgresql:\/\/[^/]*\/([^/?]+)/.exec(await one.createDatabase())?.[1];
    const fwd = await tcpForward(one.socket);
    t.after(() => fwd.close());
    url = `postgresql://postgres@127.0.0.1:${fwd.port}/${database}`;
  }
  const sink = await startSink({ behaviour: opts.sink ?? {} });
  t.after(() => sink.close());
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-cluster-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const cluster: Cluster = {
    // Tests on a replicated pair use `replica`; `pg` is there for the single-server tests.
    pg: pg as TestPostgres,
    replica,
    url,
    sink,
    doc: baseDoc(sink, opts.settings ?? {}),
    nodes: [],
    async startNode(name, o = {}) {
      const data = o.data ?? mkdtempSync(join(dir, `${name}-`));
      const args = ['start', '--store', url, '--node', name, '--listen', `mx=${o.mx ?? '127.0.0.1:0'}`, ...(o.listen ?? []).flatMap((l) => ['--listen', l]), '--data', data];
      if (o.config) {
        const file = join(dir, `start-${++n}.yaml`);
        writeFileSync(file, stringify(cluster.doc));
        args.push('--config', file);
      }
      // Several nodes and a database per test file, several files at once on two cores: a start can take a while.
      const relay = await startNode(t, { args, dataDir: data, startTimeoutMs: 45_000, ...(o.env ? { env: o.env } : {}) });
      const node = Object.assign(relay, { name });
      cluster.nodes.push(node);
      return node;
    },
    async apply(changes) {
      cluster.doc = { ...cluster.doc, ...changes };
      const file = join(dir, `apply-${++n}.yaml`);
      writeFileSync(file, stringify(cluster.doc));
      const r = await cluster.cli(['config', 'import', file, '--json']);
      if (r.status !== 0) throw new Error(`config import --store failed (${r.status}): ${r.stderr}${r.stdout}`);
      const out = JSON.parse(r.stdout) as { revision?: { number: number; created: string } };
      if (!out.revision) throw new Error(`config import applied nothing: ${r.stdout}`);
      return { number: out.revision.number, created: Date.parse(out.revision.created) };
    },
    cli: (args) => runCli([...args, '--store', url]),
  };
  return cluster;
}

// ------------------------------------------------------------ sending

/** What a transaction ended with: the stage whose reply was not the expected one, or 'queued'. */
export interface SendResult {
  stage: 'connect' | 'greeting' | 'EHLO' | 'MAIL' | 'RCPT' | 'DATA' | 'end' | 'queued';
  reply: string;
}

/** A message whose Subject and Message-ID carry `tag`, so that the sink can count it. */
function message(tag: string): string {
  return `From: <sender@client.example>\r\nTo: <rcpt@${RCPT_DOMAIN}>\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@client.example>\r\n\r\nmessage ${tag}\r\n.`;
}

/**
 * Sends one transaction per tag over one connection (sequentially, as a
 * relaying client does); a transaction refused at any stage is reported and
 * the rest carry on after RSET. Never throws for a refusal.
 */
export async function sendMany(port: number, tags: string[]): Promise<Map<string, SendResult>> {
  const out = new Map<string, SendResult>();
  let c: RawClient;
  try {
    c = await RawClient.connect(port);
  } catch (err) {
    for (const tag of tags) out.set(tag, { stage: 'connect', reply: (err as Error).message });
    return out;
  }
  try {
    const greet = (await c.reply()) ?? '(closed)';
    const ehlo = greet.startsWith('220') ? ((await c.cmd('EHLO client.example')) ?? '(closed)') : greet;
    for (const tag of tags) {
      if (!greet.startsWith('220')) out.set(tag, { stage: 'greeting', reply: greet });
      else if (!ehlo.startsWith('250')) out.set(tag, { stage: 'EHLO', reply: ehlo });
      else out.set(tag, await transaction(c, tag));
      if (c.closed) break;
    }
  } finally {
    c.end();
  }
  for (const tag of tags) if (!out.has(tag)) out.set(tag, { stage: 'connect', reply: '(connection closed by the server)' });
  return out;
}

async function transaction(c: RawClient, tag: string): Promise<SendResult> {
  const step = async (stage: SendResult['stage'], line: string, want: RegExp): Promise<SendResult | null> => {
    const r = (await c.cmd(line)) ?? '(closed)';
    return want.test(r) ? null : { stage, reply: r };
  };
  const failed =
    (await step('MAIL', 'MAIL FROM:<sender@client.example>', /^250 /)) ??
    (await step('RCPT', `RCPT TO:<rcpt@${RCPT_DOMAIN}>`, /^250 /)) ??
    (await step('DATA', 'DATA', /^354 /));
  if (failed) {
    if (!c.closed) await c.cmd('RSET');
    return failed;
  }
  const r = (await c.cmd(message(tag))) ?? '(closed)';
  return r.startsWith('250 ') ? { stage: 'queued', reply: r } : { stage: 'end', reply: r };
}

/** One message; throws unless it was queued (250). */
export async function sendOne(port: number, tag: string): Promise<string> {
  const r = (await sendMany(port, [tag])).get(tag)!;
  if (r.stage !== 'queued') throw new Error(`${tag}: refused at ${r.stage}: ${r.reply}`);
  return /queued as ([0-9a-z]+)/.exec(r.reply)?.[1] ?? '';
}

// ------------------------------------------------------------ counting at the sink

/** The Subject of a message received at the sink (the tag it was sent with). */
export function tagOf(m: ReceivedMessage): string {
  return /\r\nSubject: ([^\r\n]*)\r\n/.exec(`\r\n${m.raw.toString('utf8')}`)?.[1] ?? '';
}

/** How often each tag arrived at the sink. */
export function arrivals(sink: Sink): Map<string, number> {
  const n = new Map<string, number>();
  for (const m of sink.messages) n.set(tagOf(m), (n.get(tagOf(m)) ?? 0) + 1);
  return n;
}

/** Resolves once every tag has arrived at the sink at least once; the error names what is missing. */
export async function waitArrivals(sink: Sink, tags: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const have = arrivals(sink);
    const missing = tags.filter((tag) => !have.has(tag));
    if (missing.length === 0) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`${missing.length} of ${tags.length} messages never reached the sink within ${timeoutMs} ms (e.g. ${missing.slice(0, 5).join(', ')})`);
    await sink.waitFor(sink.messages.length + 1, left).catch(() => {});
  }
}

/** Resolves with the sink's arrival of `tag` (already there or to come). */
export async function waitArrival(sink: Sink, tag: string, timeoutMs: number): Promise<ReceivedMessage> {
  await waitArrivals(sink, [tag], timeoutMs);
  return sink.messages.find((m) => tagOf(m) === tag)!;
}

// ------------------------------------------------------------ logs and numbers

export const linesOf = (node: Relay, event: string): LogLine[] => node.logs.filter((l) => l.event === event);

/** The value at quantile q (0..1) of `xs`, nearest rank. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
}
