// The cluster section of the report (issue #15): the single node on SQLite
// next to 1, 2 and 3 nodes on one PostgreSQL behind HAProxy, in the cells both
// ran; the CPU split by part, fsyncs and the database's work per message; the
// '.'→250 latency through HAProxy; Apply propagation and SIGKILL takeover.

import type { Cell, CellResult } from './matrix.ts';
import type { LatencyResult } from './extras.ts';
import type { ApplyResult, TakeoverResult } from './cluster-scenarios.ts';
import { summarize, type Summary } from './stats.ts';

export interface ClusterReportInput {
  relays: { id: string; label: string }[];
  cells: Cell[];
  matrix: CellResult[];
  latency: LatencyResult[];
  apply?: ApplyResult;
  takeover?: TakeoverResult;
  repeats: number;
  sendProxy: string;
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

function med(s: Summary | undefined): string {
  if (!s) return '–';
  return s.n === 1 ? fmt(s.median) : `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`;
}

const size = (n: number) => (n >= 1024 ? `${n / 1024} KiB` : `${n} B`);

export function renderCluster(inp: ClusterReportInput): string[] {
  const clusterIds = inp.relays.filter((r) => r.id.startsWith('cluster')).map((r) => r.id);
  const ids = [...inp.relays.filter((r) => r.id === 'mailwarden').map((r) => r.id), ...clusterIds];
  const label = (id: string) => (id === 'mailwarden' ? 'single node, SQLite (direct)' : `${id.replace('cluster', '')} node${id === 'cluster1' ? '' : 's'}, PostgreSQL, HAProxy`);
  const cells = inp.cells.filter((c) => inp.matrix.some((m) => m.cell === c && m.relay.startsWith('cluster')));
  const out: string[] = [];
  if (cells.length === 0 && !inp.apply && !inp.takeover) return out;
  out.push('## Cluster: nodes on one PostgreSQL behind HAProxy (issue #15)', '');
  out.push(
    '**On one machine this is a simulation**: every node, HAProxy, PostgreSQL, the load generator and the sink share the same two cores, so more nodes cannot mean more throughput here; what the table shows is what each part costs per message and how the cost moves as nodes are added. ' +
      `HAProxy hands each connection to a node with \`${inp.sendProxy}\`. Cluster cells: ${inp.repeats} repeat(s) each (fewer than the single-node cells, to keep \`make bench\` near 30 minutes).`,
    '',
  );
  if (cells.length) {
    out.push('| size | sessions | relay | accepted msgs/s | end-to-end msgs/s | CPU ms/msg, all | nodes | HAProxy | PostgreSQL | fsyncs/msg | WAL bytes/msg | statements/msg | commits/msg |');
    out.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const c of cells) {
      for (const id of ids) {
        const r = inp.matrix.find((m) => m.cell === c && m.relay === id);
        if (!r) continue;
        const reps = r.repeats;
        const s = (f: (x: (typeof reps)[number]) => number | undefined) => summarize(reps.map(f).filter((x): x is number => x !== undefined));
        const err = r.error ? ` **failed: ${r.error.split('\n')[0]!.replace(/\|/g, '/')}**` : '';
        out.push(`| ${size(c.size)} | ${c.sessions} | ${label(id)} | ${med(s((x) => x.acceptedPerSec))}${err} | ${med(s((x) => x.e2ePerSec))} | ${med(s((x) => x.cpuMsPerMsg))} | ${id === 'mailwarden' ? '(all)' : med(s((x) => x.split?.nodes))} | ${id === 'mailwarden' ? '' : med(s((x) => x.split?.haproxy))} | ${id === 'mailwarden' ? '' : med(s((x) => x.split?.postgres))} | ${fmt(r.fsyncsPerMsg)} | ${id === 'mailwarden' ? '' : med(s((x) => x.db?.walBytes))} | ${id === 'mailwarden' ? '' : med(s((x) => x.db?.statements))} | ${id === 'mailwarden' ? '' : med(s((x) => x.db?.commits))} |`);
      }
    }
    out.push('');
    out.push('Connections are reused (`smtp-source -d`) in the cluster cells. CPU is split by process tree: the nodes (every node process), HAProxy, PostgreSQL (the postmaster and every backend); "all" is their sum. fsyncs/msg: disk flush calls (fsync, fdatasync, sync_file_range, msync, syncfs) of the same trees during the warm-up (counted with `perf stat` on the syscall tracepoints, which slow the traced processes: never during a measured repeat). WAL bytes: `pg_current_wal_lsn()` before and after a repeat; statements: `pg_stat_statements` calls; commits: Transaction/COMMIT records in that WAL (`pg_waldump --stats`; read-only transactions write none). In the load matrix above, the cluster\'s peak RSS counts PostgreSQL\'s shared memory once per backend that touched it; its peak PSS is the fair figure.', '');
  }
  const lat = ids.map((id) => inp.latency.find((l) => l.relay === id)).filter((l): l is LatencyResult => !!l);
  if (lat.length) {
    out.push('| p99 (p50) "." → 250, 20 sessions reusing connections, 1 KiB | value |', '|---|---|');
    for (const l of lat) out.push(`| ${label(l.relay)} | ${l.error ? 'failed: ' + l.error.split('\n')[0]!.replace(/\|/g, '/') : `${fmt(l.p99)} ms (${fmt(l.p50)} ms), ${l.count} msgs`} |`);
    out.push('');
  }
  if (inp.apply) {
    const a = inp.apply;
    out.push(`**Apply propagation** (${a.nodes} nodes, ${a.applies} Applies with \`mailwarden config import --store\`; from the revision's commit stamp until every node logged \`revision.applied\`): ` +
      (a.error && a.p50 === undefined ? `failed: ${a.error.split('\n')[0]}` : `p50 ${fmt(a.p50)} ms, p99 ${fmt(a.p99)} ms, max ${fmt(a.max)} ms (per node and Apply: p50 ${fmt(a.perNodeP50)} ms, p99 ${fmt(a.perNodeP99)} ms; the CLI itself took a median ${fmt(a.cliMs)} ms per Apply)${a.error ? '; then failed: ' + a.error.split('\n')[0] : ''}`), '');
  }
  if (inp.apply?.idle) {
    const i = inp.apply.idle;
    out.push(`**At rest** (${inp.apply.nodes} nodes, no mail, ${fmt(i.seconds)} s): the nodes used ${fmt(i.nodesCpuMsPerSec)} ms of CPU per second together, PostgreSQL ${fmt(i.pgCpuMsPerSec)} ms per second, for ${fmt(i.statementsPerSec)} statements and ${fmt(i.commitsPerSec)} commits per second (${fmt(i.walBytesPerSec)} WAL bytes per second): heartbeats, the schedulers' look for due work, statistics.`, '');
  }
  if (inp.takeover) {
    const t = inp.takeover;
    const parts: string[] = [];
    if (t.lastMs !== undefined) parts.push(`node A SIGKILLed with ${t.inFlight} messages in flight (claimed by A; ${t.atNextHop} of them handed to the next hop, which held their end of DATA unanswered), \`queue.lease: ${t.leaseMs / 1000}s\`: node B delivered the first ${fmt(t.firstMs)} ms and the last ${fmt(t.lastMs)} ms after the kill (a lease is renewed every third of it, so between ⅔ of a lease and a lease, plus B's next claim)`);
    if (t.unclaimedAfterKillMs !== undefined) parts.push(`node C SIGKILLed while ${t.unclaimed} of its messages waited unclaimed for their retry (\`queue.retry.first: ${t.retryFirstMs / 1000}s\`, first attempts refused with 451): B delivered all of them ${fmt(t.unclaimedAfterKillMs)} ms after the kill, the last ${fmt(t.unclaimedAfterDueMs)} ms after it was due; ${t.duplicates} delivered twice`);
    if (t.error) parts.push(`failed: ${t.error.split('\n')[0]}`);
    out.push(`**SIGKILL takeover**: ${parts.join('. ')}.`, '');
  }
  return out;
}
