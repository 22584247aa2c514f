// An SMTP worker process (`processes` > 1 or auto, src/process/pool.ts forks
// it): the front end only. It binds nothing: the primary accepts, counts and
// hands each connection over with its socket, and this process serves it with
// the same patched smtp-server and checks as the primary. It reads the
// settings from the data directory's store (and re-reads when the primary
// says a revision was applied), commits mail into the spool itself (durable,
// fsynced here, before its 250) and tells the primary, which delivers. Every
// log event goes to the primary, which writes it with the others; what must
// count across processes (auth throttle, rate limits, sender lists, greylist,
// a proxied client's slot) is asked of the primary. When the primary is gone
// this process exits at once: a restarted primary recovers the spool, and a
// stray worker must not write into it.

import { join } from 'node:path';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { CHECKS } from '../checks/registry.ts';
import { CheckRunner } from '../checks/runner.ts';
import { CheckServices } from '../checks/services.ts';
import { SnapshotSource } from '../config/snapshot-source.ts';
import { LazyDirectories } from '../directory/lazy-directories.ts';
import { LogThrottle } from '../log/log-throttle.ts';
import type { Logger } from '../log/logger.ts';
import { FileQueueStore } from '../queue/file-queue-store.ts';
import { ConnectionLimits } from '../smtp/connection-limits.ts';
import type { LimitHit } from '../smtp/connection-limits.ts';
import type { FrontEndShared } from '../smtp/front-end.ts';
import { listenerServer, stopListeners } from '../smtp/listeners.ts';
import type { PatchedSMTPServer } from '../smtp/smtp-server-patches.ts';
import { SqliteConfigStore } from '../store/sqlite-config-store.ts';
import { SAMPLE_MS } from './autoscale.ts';
import { Requester, type FromWorker, type ToWorker, type WorkerInit } from './ipc.ts';
import { RemoteGreylist, RemoteRate, RemoteSenderLists, RemoteThrottle } from './remote-services.ts';
import { WorkerGate } from './worker-gate.ts';

/** How long a stopping worker waits for its sessions' sockets to close after the 421. */
const CLOSE_WAIT_MS = 2_000;

/**
 * Messages to the primary wait for the end of this turn of the event loop and go as one batch, in order: a message's
 * log lines, its `queued` and its session's `closed` cost one IPC write (and one parse in the primary) instead of
 * several (bench: the IPC was most of what a second process added per message).
 */
let outbox: FromWorker[] = [];
let flushing = false;

function flushOutbox(): boolean {
  flushing = false;
  if (outbox.length === 0) return true;
  const items = outbox;
  outbox = [];
  if (!process.connected || !process.send) return false;
  try {
    return process.send(items.length === 1 ? items[0]! : { t: 'batch', items });
  } catch {
    return false;
  }
}

function send(m: FromWorker): boolean {
  if (!process.connected || !process.send) return false;
  outbox.push(m);
  if (!flushing) {
    flushing = true;
    setImmediate(flushOutbox);
  }
  return true;
}

/** Every event goes to the primary, marked with this process's pid; nothing is written to stdout here. */
const logger: Logger = {
  log(event, fields = {}) {
    send({ t: 'log', event, fields: { ...fields, pid: process.pid } });
  },
};

export async function runWorker(): Promise<void> {
  if (!process.send) throw new Error('an SMTP worker process runs only under the primary (src/process/pool.ts)');
  // The primary is gone (killed, crashed): exit now, before anything else is written into its spool.
  process.on('disconnect', () => process.exit(70));
  process.on('uncaughtException', (err) => {
    logger.log('process.error', { role: 'worker', error: err.stack ?? String(err) });
    setImmediate(() => process.exit(70));
  });
  // Every log line goes through the primary: SIGINT/SIGTERM to a process group would stop this one before it has
  // told the primary about its last messages. The primary says when to stop.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  const init = await new Promise<WorkerInit>((resolve) => {
    const first = (m: ToWorker) => {
      if (m.t !== 'init') return;
      process.off('message', first);
      resolve(m);
    };
    process.on('message', first);
  });
  const rq = new Requester(send);
  const note = (op: string, args: unknown[]) => void send({ t: 'note', op, args });
  const pollMs = Number(process.env.MAILWARDEN_CONFIG_POLL_MS);
  const config = new SqliteConfigStore(join(init.dataDir, 'mailwarden.db'), Number.isFinite(pollMs) && pollMs > 0 ? { pollMs } : {});
  const source = await SnapshotSource.open(config);
  const queue = new FileQueueStore(init.dataDir, logger);
  await queue.attach();
  const directories = new LazyDirectories({ logger });
  const shared: FrontEndShared = {
    snapshot: () => source.get(),
    store: queue,
    logger,
    throttle: new RemoteThrottle(rq),
    // Counted by the primary, which accepts; unused here.
    connections: new ConnectionLimits(),
    inFlight: { count: 0, idle: () => {} },
    runner: new CheckRunner(CHECKS, new CheckServices({ greylist: new RemoteGreylist(rq), store: queue, directories, rate: new RemoteRate(rq, note), senderLists: new RemoteSenderLists(rq) })),
    // No claim: the primary's scheduler claims when it hears of the message (or finds it due).
    onQueued: (c) => {
      if (!send({ t: 'queued', envelope: c.envelope })) logger.log('queued.notify_error', { id: c.envelope.id, error: 'the primary process is gone; it finds the message in the spool at its next start' });
    },
  };
  const throttle = new LogThrottle(logger);
  const snap0 = source.get();
  const snap = { ...snap0, settings: { ...snap0.settings, listeners: init.listeners }, listeners: new Map(init.listeners.map((l) => [l.name, l])) };
  const served = new Map<string, { server: PatchedSMTPServer; gate: WorkerGate }>();
  for (const def of init.listeners) {
    const gate = new WorkerGate(def, {
      snapshot: () => source.get(),
      throttle,
      claim: (id, address) => rq.request<LimitHit | null>('gate.claim', id, address),
      closed: (id) => void send({ t: 'closed', id }),
    });
    served.set(def.name, { server: listenerServer(def, snap, shared, init.tls, gate), gate });
  }
  let stopping = false;
  const stop = async (graceMs: number) => {
    if (stopping) return;
    stopping = true;
    logger.log('process.stopping', { role: 'worker', n: init.n, in_flight: shared.inFlight.count, grace_ms: graceMs });
    clearInterval(load);
    // The DATA commits in flight finish (and their `queued` goes out), then 421 to every session.
    await stopListeners([...served.values()], shared, graceMs);
    const deadline = Date.now() + CLOSE_WAIT_MS;
    while ([...served.values()].some((s) => s.gate.open > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of served.values()) for (const c of s.server.connections) (c as unknown as { _socket: Socket })._socket.destroy();
    directories.close();
    source.close();
    await queue.close(); // the spool's files made ahead for this process go with it
    // Messages go out in order: when this one is written, every `queued` and `closed` before it is too.
    flushOutbox();
    if (!process.connected) process.exit(0);
    process.send!({ t: 'bye' } satisfies FromWorker, () => process.exit(0));
  };
  process.on('message', (m: ToWorker, handle?: unknown) => {
    switch (m.t) {
      case 'conn': {
        const socket = handle as Socket | undefined;
        const s = served.get(m.listener);
        if (!s || !socket || stopping) {
          socket?.destroy();
          send({ t: 'closed', id: m.id });
          return;
        }
        s.gate.expect(socket, m.id);
        s.server.server.emit('connection', socket);
        return;
      }
      case 'res':
        rq.answer(m);
        return;
      case 'revision':
        void source.refresh().catch(() => {});
        return;
      case 'stop':
        void stop(m.graceMs);
        return;
      default:
        return;
    }
  });
  process.on('disconnect', () => rq.failAll('the primary process is gone'));
  let last = performance.eventLoopUtilization();
  const load = setInterval(() => {
    const now = performance.eventLoopUtilization();
    send({ t: 'load', elu: performance.eventLoopUtilization(now, last).utilization });
    last = now;
  }, SAMPLE_MS);
  send({ t: 'ready' });
}
