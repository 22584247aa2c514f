// `make bench`: mailwarden against Postfix and Haraka on this machine (issue #5).
//
//   make bench                     the full matrix, 3 repeats, the cluster cells 2 (about 30 minutes here); writes bench/RESULTS.md
//   BENCH_QUICK=1 make bench       a tiny matrix to check the harness; writes bench/.scratch/RESULTS-quick.md
//   node bench/run.ts [--quick] [--relays postfix,mailwarden,haraka,haraka-fwd,cluster1,cluster2,cluster3]
//                     [--repeats N] [--warmup N] [--cluster-repeats N] [--no-matrix] [--no-extras] [--no-scenarios]
//                     [--only CELL-PREFIX|apply|takeover|slow,...] [--out FILE] [--dkim] [--notrack] [--nocontent] [--metrics]
//                     [--no-slow-disk] [--slow-disk-ms MS]
//   node bench/run.ts --profile [--profile-cell 1k-s20-reuse] [--profile-count N] [--profile-interval µS] [--out FILE]
//   --profile runs only mailwarden under one cell with node --cpu-prof and writes the .cpuprofile and a
//   summary per message (by group of code and top functions; lib/profile.ts), for before/after comparisons
//   every cell counts disk flushes (fsync, fdatasync, sync_file_range, msync, syncfs) with perf during its warm-up
//   the slow disk (issue 22): the 1 KiB cells of 1 and 20 reused sessions again for Postfix, mailwarden and
//   Haraka (queue) with each flush made --slow-disk-ms (2) slower (lib/slow-disk.ts), and their '.'→250;
//   --no-slow-disk skips it, --only slow runs it alone
//   --metrics adds the relay mailwarden-metrics: mailwarden with a metrics listener (collecting, not scraped)
//   --dkim adds the relay mailwarden-dkim: mailwarden signing every message with an RSA 2048 key
//   (the smtp-source messages are From a@bench.test), so that the table gives the signing cost per message
//   --notrack adds the relay mailwarden-notrack (tracking: { enabled: false }); the plain one records every message
//   --nocontent adds the relay mailwarden-nocontent (content: { enabled: false }); the plain one runs the default
//   content rules on every message, so that the ratio of the two in the 100k cells is what the content rules cost
//   (cells are named like 1k-s20-new, 100k-s1-reuse; --only 1k-s100 runs the cells starting so;
//   the cluster relays run in the cells with 20 or 100 reused sessions only, and the cluster
//   scenarios `apply` and `takeover` run when a cluster relay is selected and --only, if given, names them)
//   BENCH_DEV_NO_QUIET_WAIT=1: for development runs on a busy machine only: no waiting for a quiet
//   machine and no second measurement of a disturbed cell (the report says so)
//
// Installs what is missing (Debian's postfix, Haraka from npm into
// bench/.scratch/), then for every cell of the matrix and every relay: a fresh
// smtp-sink and a fresh relay on 127.0.0.1, a warm-up, the repeats; then the
// latency, idle-connection and large-message figures. Prints one markdown
// report on stdout (progress on stderr). Every process it starts is stopped
// when it ends, also on failure or Ctrl-C (see lib/procs.ts).

import { mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { initRegistry, stopAll } from './lib/procs.ts';
import { ensureHaraka, ensurePostfix } from './lib/install.ts';
import { describeMachine } from './lib/machine.ts';
import { runCell, cellId, sourceArgs, SMTP_SOURCE, OTHER_CPU_NOTE_PCT, type Cell, type CellResult, type Limits } from './lib/matrix.ts';
import { latency, idle, big, CLIENT, latencyArgs, idleArgs, bigArgs, type LatencyResult, type IdleResult, type BigResult } from './lib/extras.ts';
import { render } from './lib/report.ts';
import { summarize } from './lib/stats.ts';
import { Sink } from './lib/sink.ts';
import { QuietGate, settleDisk } from './lib/quiet.ts';
import { postfix } from './relays/postfix.ts';
import { haraka } from './relays/haraka.ts';
import { mailwarden, mailwardenWith, REPO } from './relays/mailwarden.ts';
import { generateKey } from '../src/dkim/keys.ts';
import { cluster } from './relays/cluster.ts';
import { applyPropagation, takeover, type ApplyResult, type TakeoverResult } from './lib/cluster-scenarios.ts';
import { renderCluster } from './lib/cluster-report.ts';
import { SEND_PROXY } from './lib/haproxy.ts';
import { perfProbe } from './lib/fsyncs.ts';
import { deviceMapperProbe, slowDisk, type SlowDisk } from './lib/slow-disk.ts';
import { renderSlowDisk, SLOW_RELAYS, type SlowDiskResult } from './lib/slow-disk-report.ts';
import { profileRun } from './lib/profile.ts';
import type { Relay } from './relays/types.ts';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const value = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = flag('quick') || ['1', 'true', 'yes'].includes(process.env.BENCH_QUICK ?? '');

const WORK = join(REPO, 'bench', '.scratch');
const RUN = join(WORK, 'run');
const OUT = value('out') ?? (quick ? join(WORK, 'RESULTS-quick.md') : join(REPO, 'bench', 'RESULTS.md'));

// --- the plan -------------------------------------------------------------
const SIZES = [1024, 102_400];
const SESSIONS = quick ? [1, 20] : [1, 20, 100];
function count(size: number, sessions: number): number {
  if (quick) return size <= 1024 ? (sessions === 1 ? 30 : 200) : (sessions === 1 ? 10 : 60);
  if (size <= 1024) return sessions === 1 ? 1000 : 3000;
  return sessions === 1 ? 300 : 1000;
}
/**
 * Messages sent before the measured repeats: enough for a steady state (a
 * relay started fresh for the cell has cold caches, and a JIT-compiled one
 * runs its first thousand messages or so slower: measured on mailwarden, 1 KiB
 * and one session, 1.80, 1.47 and 1.25 ms of CPU per message in three runs of
 * 1000 after 500 of warm-up, 1.25–1.51 after 3000), the same for every relay.
 */
function warmup(size: number, n: number): number {
  if (value('warmup') !== undefined) return Number(value('warmup'));
  if (quick) return 10;
  return size <= 1024 ? 2000 : 300;
}
const repeats = Number(value('repeats') ?? (quick ? 2 : 3));
const cells: Cell[] = [];
for (const size of SIZES) {
  for (const sessions of SESSIONS) {
    for (const reuse of [false, true]) {
      const n = count(size, sessions);
      cells.push({ size, sessions, reuse, count: n, warmup: warmup(size, n) });
    }
  }
}
const only = value('only')?.split(',');
// the slow disk (issue 22): the 1 KiB cells of 1 and 20 sessions over reused connections, once more with slow flushes
const slowCells = cells.filter((c) => c.size === 1024 && c.reuse && (c.sessions === 1 || c.sessions === 20));
const slowWanted = !flag('no-slow-disk') && (!only || only.includes('slow'));
const SLOW_DISK_US = Math.round(Number(value('slow-disk-ms') ?? 2) * 1000);
if (only) cells.splice(0, cells.length, ...cells.filter((c) => only.some((o) => cellId(c).startsWith(o))));
// the cluster (issue #15): in the cells of many sessions over reused connections, fewer repeats
const isCluster = (r: Relay) => r.id.startsWith('cluster');
const clusterCell = (c: Cell) => c.reuse && c.sessions >= 20;
const clusterRepeats = Number(value('cluster-repeats') ?? (quick ? 1 : 2));
const APPLIES = quick ? 10 : 50;
const TAKEOVER = { leaseMs: 3000, retryFirstMs: 2000, inFlight: 10, unclaimed: 10 };
const scenarioWanted = (name: string) => !flag('no-scenarios') && (!only || only.includes(name));
// development runs on a busy machine only (never for the run of record): measure at once
const devNoQuiet = ['1', 'true', 'yes'].includes(process.env.BENCH_DEV_NO_QUIET_WAIT ?? '');
const limits: Limits = quick
  ? { sourceTimeoutMs: 60_000, e2eTimeoutMs: 60_000, sampleMs: 100, settleMs: 300 }
  : { sourceTimeoutMs: 240_000, e2eTimeoutMs: 180_000, sampleMs: 100, settleMs: 300 };
const LAT = quick ? { count: 200, warmup: 50 } : { count: 2000, warmup: 2000 };
const IDLE_CONNS = 1000;
const BIG_BYTES = 50_000_000;
const BUDGET_MS = (quick ? 15 : 55) * 60_000;

function log(s: string): void {
  process.stderr.write(s + '\n');
}

async function main(): Promise<number> {
  const started = new Date();
  const t0 = performance.now();
  const deadline = Date.now() + BUDGET_MS;
  mkdirSync(WORK, { recursive: true });
  await initRegistry(join(WORK, 'procs.json'));

  // Only what the chosen relays need is installed (a run of mailwarden variants alone installs nothing).
  const chosen = value('relays')?.split(',');
  const needs = (prefix: string) => !chosen || chosen.some((id) => id.startsWith(prefix));
  if (needs('postfix')) await ensurePostfix(log);
  const harakaDir = needs('haraka') ? await ensureHaraka(WORK, log) : join(WORK, 'haraka-pkg');
  const all: Relay[] = [postfix, mailwarden, haraka('queue', harakaDir), haraka('smtp_forward', harakaDir), cluster(1), cluster(2), cluster(3)];
  // --dkim (issue #19): mailwarden signing every message (RSA 2048, From bench.test), right after the plain one: the difference is the signing cost.
  if (flag('dkim')) all.splice(all.indexOf(mailwarden) + 1, 0, dkimRelay());
  // --metrics (issue #20): mailwarden with a metrics listener (so that it collects metrics), right after the plain one.
  if (flag('metrics')) all.splice(all.indexOf(mailwarden) + 1, 0, mailwardenWith('mailwarden-metrics', 'mailwarden + metrics', 'metrics: { address: 127.0.0.1, port: 0 }'));
  const wanted = value('relays')?.split(',');
  // --notrack, or naming it in --relays (issue #20): mailwarden with message tracking off, right after the plain one
  // (tracking is on by default): the difference is what tracking costs per message.
  if (flag('notrack') || wanted?.includes('mailwarden-notrack')) all.splice(all.indexOf(mailwarden) + 1, 0, mailwardenWith('mailwarden-notrack', 'mailwarden, tracking off', 'tracking: { enabled: false }'));
  // --nocontent, or naming it in --relays (issue #21): mailwarden with the content rules off, right after the plain one
  // (the default rules are on): the difference is what inspecting each message costs.
  if (flag('nocontent') || wanted?.includes('mailwarden-nocontent')) all.splice(all.indexOf(mailwarden) + 1, 0, mailwardenWith('mailwarden-nocontent', 'mailwarden, content rules off', 'content: { enabled: false }'));
  // --processes N, or naming mailwarden-1p / mailwarden-2p in --relays (issue #22): mailwarden with a fixed number of
  // processes beside the default (auto, which starts a worker under load): what the auto-start costs or saves.
  for (const n of [1, 2]) if (wanted?.includes(`mailwarden-${n}p`) || value('processes') === String(n)) all.splice(all.indexOf(mailwarden) + 1, 0, mailwardenWith(`mailwarden-${n}p`, `mailwarden, processes: ${n}`, `processes: ${n}`));
  const relays = wanted ? all.filter((r) => wanted.includes(r.id)) : all;
  if (relays.length === 0) throw new Error(`no relay matches --relays ${wanted?.join(',')}; ids: ${all.map((r) => r.id).join(', ')}`);
  if (flag('profile')) return await profileOnly(relays.find((r) => r.isMailwarden) ?? mailwarden);

  rmSync(RUN, { recursive: true, force: true });
  mkdirSync(RUN, { recursive: true });
  log(`bench: ${quick ? 'QUICK' : 'full'} run, relays ${relays.map((r) => r.id).join(', ')}; scratch dir ${relative(REPO, RUN)}`);
  const machine = describeMachine(WORK);
  for (const l of machine) log('  ' + l);

  const notes: string[] = [];
  const gate = new QuietGate({ thresholdPct: OTHER_CPU_NOTE_PCT, maxPerCallMs: devNoQuiet ? 0 : quick ? 10_000 : 60_000, maxTotalMs: devNoQuiet ? 0 : quick ? 60_000 : 8 * 60_000, log });
  if (devNoQuiet) notes.push('**Development run**: BENCH_DEV_NO_QUIET_WAIT was set, so the harness neither waited for a quiet machine nor measured disturbed cells again; these figures are not for the record.');
  const latencies: LatencyResult[] = [];
  let idleRes: IdleResult | undefined;
  let bigRes: BigResult | undefined;
  const matrix: CellResult[] = [];

  if (!flag('no-extras')) {
    for (const r of relays) {
      log(`latency '.'→250, 20 sessions, ${LAT.count} msgs: ${r.label}`);
      await gate.wait();
      const l = await latency(r, join(RUN, `latency-${r.id}`), LAT.count, LAT.warmup);
      log(l.error ? `    FAILED: ${l.error.split('\n')[0]}` : `    p50 ${l.p50!.toFixed(2)} ms, p99 ${l.p99!.toFixed(2)} ms`);
      latencies.push(l);
    }
    const mw = relays.find((r) => r.isMailwarden);
    if (mw) {
      log(`${IDLE_CONNS} idle connections: ${mw.label}`);
      await gate.wait();
      idleRes = await idle(mw, join(RUN, 'idle-mailwarden'), IDLE_CONNS);
      log(idleRes.error && idleRes.withIdle === undefined ? `    FAILED: ${idleRes.error.split('\n')[0]}` : `    RSS ${(idleRes.baseline! / 1e6).toFixed(1)} MB → ${(idleRes.withIdle! / 1e6).toFixed(1)} MB with ${idleRes.greeted} connections`);
      log(`one ${BIG_BYTES.toLocaleString('en')}-octet message: ${mw.label}`);
      await gate.wait();
      bigRes = await big(mw, join(RUN, 'big-mailwarden'), BIG_BYTES);
      log(bigRes.error ? `    FAILED: ${bigRes.error.split('\n')[0]}` : `    RSS +${(bigRes.growth! / 1e6).toFixed(1)} MB (peak ${(bigRes.peak! / 1e6).toFixed(1)} MB), 250 after ${bigRes.acceptSeconds!.toFixed(1)} s`);
    }
  }

  if (!flag('no-matrix')) {
    let i = 0;
    let retriesLeft = devNoQuiet ? 0 : quick ? 2 : 8;
    const total = cells.reduce((n, c) => n + relays.filter((r) => !isCluster(r) || clusterCell(c)).length, 0);
    for (const c of cells) {
      for (const r of relays) {
        if (isCluster(r) && !clusterCell(c)) continue;
        i++;
        const reps = isCluster(r) ? clusterRepeats : repeats;
        // fsyncs (counted in the warm-up) for the cluster table: the single node and the cluster
        // disk flushes (counted in the warm-up) of every relay in every cell: the load table and the cluster table
        const cellOpts = { fsyncs: true };
        if (Date.now() > deadline) {
          matrix.push({ relay: r.id, cell: c, repeats: [], error: `skipped: the run's time budget of ${BUDGET_MS / 60_000} minutes was used up`, notes: [], seconds: 0 });
          continue;
        }
        log(`[${i}/${total}] ${r.label}: ${c.size} B, ${c.sessions} session(s), ${c.reuse ? 'reused' : 'new'} connections, ${reps} × ${c.count} msgs`);
        await settleDisk(RUN);
        await gate.wait();
        let res = await runCell(r, c, reps, join(RUN, `${cellId(c)}-${r.id}`), limits, log, cellOpts);
        const disturbed = summarize(res.repeats.map((x) => x.otherCpuPct))?.median ?? 0;
        if (!res.error && disturbed > OTHER_CPU_NOTE_PCT && retriesLeft > 0 && Date.now() < deadline) {
          // someone else used the machine meanwhile: once more, after waiting for quiet
          retriesLeft--;
          log(`    others used ${disturbed.toFixed(0)}% of a core meanwhile: measuring this cell once more`);
          await settleDisk(RUN);
          await gate.wait();
          const again = await runCell(r, c, reps, join(RUN, `${cellId(c)}-${r.id}-again`), limits, log, cellOpts);
          const disturbedAgain = summarize(again.repeats.map((x) => x.otherCpuPct))?.median ?? Infinity;
          if (!again.error && disturbedAgain < disturbed) {
            again.notes.push(`measured twice, this is the second time (others used a median ${disturbed.toFixed(0)}% of a core the first time)`);
            res = again;
          } else {
            res.notes.push(`measured twice, this is the first time (the second was no quieter: ${again.error ? again.error.split('\n')[0] : disturbedAgain.toFixed(0) + '%'})`);
          }
        }
        matrix.push(res);
      }
    }
  }

  // the slow disk (issue 22): the same cells with every flush made slower, for the relays that flush (or should)
  let slow: SlowDiskResult | undefined;
  const slowRelays = relays.filter((r) => SLOW_RELAYS.includes(r.id));
  if (slowWanted && slowRelays.length) {
    // a device-mapper delay target is the honest slow disk; where it cannot be had, the shim, and the report says why
    const dmReason = deviceMapperProbe() ?? 'device-mapper answers, but the bench has no spare block device to put a delay target under';
    slow = { delayUs: SLOW_DISK_US, how: '', cells: [], latency: [] };
    let sd: SlowDisk | undefined;
    try {
      sd = slowDisk(join(RUN, 'slow-disk-shim'), SLOW_DISK_US, dmReason);
    } catch (e) {
      slow.error = `device-mapper: ${dmReason}; the shim: ${(e as Error).message}`;
    }
    if (sd) {
      slow.how = sd.how;
      for (const c of slowCells) {
        for (const r of slowRelays) {
          if (Date.now() > deadline) { slow.cells.push({ relay: r.id, cell: c, repeats: [], error: 'skipped: time budget used up', notes: [], seconds: 0 }); continue; }
          log(`[slow disk +${SLOW_DISK_US / 1000} ms/flush] ${r.label}: ${c.size} B, ${c.sessions} session(s), reused connections, ${repeats} × ${c.count} msgs`);
          await settleDisk(RUN);
          await gate.wait();
          slow.cells.push(await runCell(r, c, repeats, join(RUN, `slow-${cellId(c)}-${r.id}`), limits, log, { fsyncs: true, env: sd.env, flushCounter: sd.count }));
        }
      }
      for (const r of slowRelays) {
        log(`[slow disk] latency '.'→250, 20 sessions, ${LAT.count} msgs: ${r.label}`);
        await gate.wait();
        const l = await latency(r, join(RUN, `slow-latency-${r.id}`), LAT.count, LAT.warmup, sd.env);
        log(l.error ? `    FAILED: ${l.error.split('\n')[0]}` : `    p50 ${l.p50!.toFixed(2)} ms, p99 ${l.p99!.toFixed(2)} ms`);
        slow.latency.push(l);
      }
    } else {
      log(`slow disk: not measured: ${slow.error}`);
    }
  }

  let applyRes: ApplyResult | undefined;
  let takeoverRes: TakeoverResult | undefined;
  if (relays.some(isCluster)) {
    if (scenarioWanted('apply')) {
      log(`cluster: Apply propagation, 3 nodes, ${APPLIES} Applies through the CLI`);
      await gate.wait();
      applyRes = await applyPropagation(join(RUN, 'cluster-apply'), 3, APPLIES, quick ? 5000 : 15_000, log);
    }
    if (scenarioWanted('takeover')) {
      log(`cluster: SIGKILL takeover, queue.lease ${TAKEOVER.leaseMs / 1000} s`);
      await gate.wait();
      takeoverRes = await takeover(join(RUN, 'cluster-takeover'), TAKEOVER.leaseMs, TAKEOVER.retryFirstMs, TAKEOVER.inFlight, TAKEOVER.unclaimed, log);
    }
  }

  const seconds = (performance.now() - t0) / 1000;
  machine.push(`- load average when the run ended: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  const disturbed = matrix.filter((m) => m.repeats.some((x) => x.otherCpuPct > OTHER_CPU_NOTE_PCT)).length;
  if (disturbed) notes.push(`Other processes on this machine used more than ${OTHER_CPU_NOTE_PCT}% of a core during ${disturbed} of ${matrix.length} cells (listed below): their figures are disturbed and the ratios less reliable.`);
  if (gate.waitedMs > 5000 && !devNoQuiet) notes.push(`The harness waited ${(gate.waitedMs / 60_000).toFixed(1)} minutes in all for the machine to be quiet (others' CPU below ${OTHER_CPU_NOTE_PCT}% of a core) before measurements.`);
  if (Date.now() > deadline) notes.push(`The run went past its time budget of ${BUDGET_MS / 60_000} minutes; the cells after that were skipped.`);

  const method = [
    '- **accepted msgs/s**: messages per run ÷ wall time of `smtp-source` (all its sessions done).',
    '- **end-to-end msgs/s**: messages per run ÷ time from starting `smtp-source` until the sink (`smtp-sink -c`, whose running counter we read) has them all.',
    '- **CPU ms/msg**: the increase of utime+stime+cutime+cstime (from /proc/PID/stat, the kernel\'s per-task times) summed over the relay\'s process tree (Postfix: the master and every child; Haraka: its master and cluster worker; mailwarden: its node process), from just before `smtp-source` starts until the sink has every message and 0.3 s more, ÷ messages. Reaped children count through their parent\'s cutime/cstime.',
    '- **peak RSS**: the highest sum of RSS over the relay\'s process tree, sampled every 100 ms during the run (for Postfix, made of many processes, each counts the pages it shares with the others again). **peak PSS**: the same with PSS (/proc/PID/smaps_rollup: a shared page divided among the processes that map it), sampled every second: the fairer comparison of a many-process relay with a one-process one.',
    `- **others' CPU**: during each repeat, the CPU time (per process, /proc/PID/stat) of every process outside the benchmark's own process tree, kernel threads left out; above ${OTHER_CPU_NOTE_PCT}% of one core the cell gets a note below, as something else on the machine competed with the relay.`,
    '- Before each cell the harness writes out the file system\'s dirty data (`sync -f` on the scratch directory), so that no relay pays for the write-back of the one before it, and waits (bounded) until processes that are not its own use less than ' + OTHER_CPU_NOTE_PCT + '% of a core; a cell that was disturbed all the same is measured once more (at most ' + (quick ? 2 : 8) + ' times a run) and the quieter of the two is kept.',
    `- Each cell starts a fresh sink and a fresh relay (new scratch directory), sends a warm-up (2000 messages of 1 KiB, 300 of 100 KiB; not counted: a relay started fresh, above all a JIT-compiled one, runs its first thousand messages or so slower than its steady state), then ${repeats} measured runs back to back; the relay and sink are stopped after the cell. Cells run in the order of the table, the relays one after the other in each cell.`,
    `- **flushes/msg**: disk flush calls (${perfProbe().ok ? perfProbe().calls.join(', ') : 'fsync, fdatasync, sync_file_range, msync, syncfs'}) of the relay's whole process tree (every process and thread, also those started later) during the cell's warm-up, ÷ the warm-up's messages; counted with \`perf stat\` on the syscalls:sys_enter_* tracepoints, which slow the traced processes, so never during a measured repeat.${perfProbe().ok ? '' : ' **perf is not usable on this machine: ' + perfProbe().error + '**; no flush figures.'} The warm-up ends when the sink has every message and 0.3 s more, so the deliveries' flushes (queue file removal) are in.`,
    `- **'.'→250**: \`bench/client.ts latency\`, 20 sessions over reused connections, ${LAT.warmup} warm-up then ${LAT.count} messages of 1 KiB; time from writing the final "\\r\\n.\\r\\n" to reading the 250 line; nearest-rank percentiles.`,
    `- **idle connections**: \`bench/client.ts idle\` opens ${IDLE_CONNS} connections to mailwarden from 127.0.0.2 onwards (50 per source address, below the default limit of 100 per client), waits for every 220 greeting, waits 2 s, then the median of 5 RSS readings over 1 s; "before" is the same reading before connecting.`,
    `- **50 MB message**: \`bench/client.ts big\` sends one message with a body of ${BIG_BYTES.toLocaleString('en')} octets (lines of 78 octets) with backpressure; the increase is the peak RSS (sampled every 50 ms from the first byte until the sink has the message) minus the median of 5 readings before.`,
    '- Set-up choices: smtp-source speaks HELO (not EHLO) and no PIPELINING; Postfix runs with compatibility_level 3.6 (as Debian ships it), no chroot, only the services a relay needs (no pickup, no local delivery), its queue fsyncs as by default; Haraka runs its default single cluster worker (smtp.ini nodes unset) with log level info to a file, and a bench plugin answers lookup_rdns with "localhost" so that it sends no PTR query off the machine (by default it asks DNS for every client); mailwarden logs its JSON lines to a file. Both Node relays run on the same Node.',
    '- Everything listens on 127.0.0.1; every run is bounded in count and time (smtp-source ' + limits.sourceTimeoutMs / 1000 + ' s, sink ' + limits.e2eTimeoutMs / 1000 + ' s after it; the whole run ' + BUDGET_MS / 60_000 + ' minutes).',
  ];

  if (relays.some(isCluster)) {
    method.push(
      `- **cluster** (issue #15): relays \`cluster1\`, \`cluster2\`, \`cluster3\` are 1, 2, 3 mailwarden nodes on one private PostgreSQL 15 (Unix socket) behind HAProxy on 127.0.0.1 (\`${SEND_PROXY}\`), measured like any relay (their CPU is that of every node, HAProxy and PostgreSQL together), in the cells with 20 or 100 sessions over reused connections only, ${clusterRepeats} repeat(s) each. Each node binds port 0 and its port is read from its \`started\` log line; HAProxy cannot bind port 0, so its port is picked as this benchmark picks every relay's (bind 0, read, close, hand over).`,
      `- **at rest**: before the Applies, the 3 nodes run ${quick ? 5 : 15} s without mail; CPU of the nodes and of PostgreSQL, statements, commits and WAL as in the cells, per second.`,
      `- **Apply propagation**: 3 nodes; ${APPLIES} times \`mailwarden config import FILE --json --store URL\` (each a new host name); per Apply, the time from the revision's \`created\` stamp (taken by the CLI just before its commit) to the time stamp of the last node's \`revision.applied\` line for that revision; nearest-rank percentiles.`,
      `- **SIGKILL takeover**: \`queue.lease: ${TAKEOVER.leaseMs / 1000}s\`, \`queue.retry.first: ${TAKEOVER.retryFirstMs / 1000}s\`; a next hop of our own (test/delivery/sink.ts) holds the end of DATA of the ${TAKEOVER.inFlight} messages sent to node A; once all are claimed by A (its leases running, read from the queue table) and the next hop holds at least one, node B starts; A is SIGKILLed and the next hop answers again; times from the kill to each message's arrival. Then ${TAKEOVER.unclaimed} messages sent to node C whose first attempts the next hop refuses (451), so they wait unclaimed; C is SIGKILLed once every first attempt is logged as deferred; times to the last arrival from the kill and from its logged \`next_attempt\`.`,
    );
  }

  const cellLines = cells.map((c) => `- ${cellId(c)}: \`${SMTP_SOURCE} ${sourceArgs(c, c.count, '<port>').join(' ')}\` (warm-up: \`-m ${c.warmup}\`)`);
  const node = process.execPath.startsWith(REPO) ? relative(REPO, process.execPath) : process.execPath;
  const commands = [
    `Run from \`${REPO}\` as \`${quick ? 'BENCH_QUICK=1 make bench' : 'make bench'}\`, i.e. \`${node} bench/run.ts${quick ? ' --quick' : ''}\` (Node ${process.versions.node}). Ports are picked free on 127.0.0.1 for each start.`,
    '',
    `Sink: \`${Sink.commandLine()}\``,
    '',
    'Load, per cell (one line per cell):',
    '',
    ...cellLines,
    '',
    `Clients (with the project's Node): \`node ${relative(REPO, CLIENT)} ${latencyArgs('<port>', LAT.count, LAT.warmup).join(' ')}\`, \`node ${relative(REPO, CLIENT)} ${idleArgs('<port>', IDLE_CONNS).join(' ')}\`, \`node ${relative(REPO, CLIENT)} ${bigArgs('<port>', BIG_BYTES).join(' ')}\``,
    '',
    ...relays.flatMap((r) => [...r.describe(), '']),
  ];

  const { markdown, verdicts } = render({
    quick, started, seconds, machine, versions: [...new Set(relays.map((r) => r.version()))],
    relays: relays.map((r) => ({ id: r.id, label: r.label, partial: isCluster(r) })),
    cells, repeats, matrix, latency: latencies, idle: idleRes, big: bigRes, notes, method, commands,
    slowDisk: slow ? renderSlowDisk(slow, relays, matrix, latencies) : [],
    cluster: renderCluster({ relays, cells, matrix, latency: latencies, repeats: clusterRepeats, sendProxy: SEND_PROXY, ...(applyRes ? { apply: applyRes } : {}), ...(takeoverRes ? { takeover: takeoverRes } : {}) }),
  });
  writeFileSync(OUT, markdown + '\n');
  // the raw figures of every repeat, for a closer look
  writeFileSync(join(WORK, quick ? 'results-quick.json' : 'results.json'), JSON.stringify({ started, seconds, matrix, latency: latencies, idle: idleRes, big: bigRes, apply: applyRes, takeover: takeoverRes, slowDisk: slow, notes }, null, 1) + '\n');
  const shown = OUT.startsWith(REPO + '/') ? relative(REPO, OUT) : OUT;
  // stdout: the tables, verdicts, notes, machine and versions; the file also has the method and the exact commands
  process.stdout.write(markdown.split('\n## How each figure is measured')[0]!.trimEnd() + `\n\nHow each figure is measured, and the exact commands: ${shown}\n`);
  log(`\nbench: done in ${(seconds / 60).toFixed(1)} minutes; targets ${verdicts.passed} pass, ${verdicts.failed} fail; written to ${shown}`);
  return 0;
}

main()
  .then(async (code) => { await stopAll(); process.exit(code); })
  .catch(async (e: Error) => {
    log(`bench: ${e.stack ?? e.message}`);
    await stopAll();
    process.exit(1);
  });

/** `--profile`: mailwarden alone under one cell with node --cpu-prof; prints and writes the summary. */
async function profileOnly(relay: Relay): Promise<number> {
  const id = value('profile-cell') ?? '1k-s20-reuse';
  const base = cells.find((c) => cellId(c) === id) ?? [...SIZES].flatMap((size) => [1, 20, 100].flatMap((sessions) => [false, true].map((reuse) => ({ size, sessions, reuse, count: count(size, sessions), warmup: 0 })))).find((c) => cellId(c) === id);
  if (!base) throw new Error(`--profile-cell ${id}: no such cell (e.g. 1k-s20-reuse, 100k-s1-new)`);
  const n = Number(value('profile-count') ?? base.count);
  const cell: Cell = { ...base, count: n, warmup: Math.max(20, Math.round(n / 10)) };
  const dir = join(WORK, 'profile');
  rmSync(dir, { recursive: true, force: true });
  const res = await profileRun(relay, cell, dir, Number(value('profile-interval') ?? 500), log);
  if (res.error) throw new Error(res.error);
  const outFile = value('out');
  if (outFile) writeFileSync(outFile, res.markdown);
  process.stdout.write(res.markdown);
  log(`bench: profile written to ${relative(REPO, res.profileDir)}/, summary ${outFile ?? relative(REPO, res.summaryFile)}`);
  return 0;
}

/** mailwarden with a DKIM key for bench.test (the From of smtp-source's messages): every message is signed. */
function dkimRelay(): Relay {
  const keyFile = join(WORK, 'dkim-bench.pem');
  writeFileSync(keyFile, generateKey('rsa-sha256', 2048), { mode: 0o600 });
  return mailwardenWith('mailwarden-dkim', 'mailwarden + DKIM', ['dkim:', `  keys: [{ domain: bench.test, selector: bench, algorithm: rsa-sha256, key_file: ${keyFile} }]`].join('\n'));
}
