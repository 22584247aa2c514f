// `mailwarden start`: locks the data directory, opens the stores (embedded, or
// the cluster store with --store), applies --config when given, recovers the
// queue, registers the node, starts the listeners of the active revision
// (moved by --listen), and stops gracefully on request. Logs one JSON line
// per event.

import { resolve } from 'node:path';
import { ConfigService } from './admin/config-service.ts';
import { inlineChecker } from './admin/checker.ts';
import type { Finding } from './config/issues.ts';
import { SnapshotSource } from './config/snapshot-source.ts';
import { durationMs } from './core/duration.ts';
import type { Logger } from './log/logger.ts';
import { QueueManager } from './queue/manager.ts';
import { controlPathProblem, startControl } from './queue/control.ts';
import { Quarantine } from './queue/quarantine.ts';
import { quarantineSelfService } from './quarantine/self-service.ts';
import { CHECKS } from './checks/registry.ts';
import { CheckRunner } from './checks/runner.ts';
import { SenderListCache } from './portal/sender-list-cache.ts';
import { CheckServices } from './checks/services.ts';
import { RateLimiter, type RateContext } from './limits/rate-limiter.ts';
import type { RateUnit } from './limits/rate-rules.ts';
import { fromWire, type WireRateSubject } from './process/rate-subject.ts';
import { LazyDirectories } from './directory/lazy-directories.ts';
import { randomPassword } from './admin/admin-store.ts';
import { hashPasswordAsync } from './objects/password.ts';
import type { buildApi } from './api/server.ts';
import { Stats } from './api/stats.ts';
import { tapLogger } from './log/logger.ts';
import { schedulePruning } from './antispam/sqlite-greylist-store.ts';
import { startTracking } from './tracking/start.ts';
import { trackingAccess } from './tracking/tracking-access.ts';
import { hostname } from 'node:os';
import { VERSION } from './core/version.ts';
import { openStores } from './store/open-stores.ts';
import { heartbeatMs, MISSED_HEARTBEATS, nodeClock } from './daemon-timing.ts';
import { readClusterStatus } from './cluster/read-status.ts';
import type { Stores } from './store/stores.ts';
import { applyListenOverrides, type ListenOverride } from './cluster/listen-overrides.ts';
import { AdminError } from './admin/admin-store.ts';
import type { ConfigStore } from './store/config-store.ts';
import { AuthThrottle } from './smtp/auth-throttle.ts';
import { ConnectionLimits } from './smtp/connection-limits.ts';
import type { FrontEndShared } from './smtp/front-end.ts';
import { ListenError, startListeners, stopListeners, type RunningListener } from './smtp/listeners.ts';
import { loadTls } from './smtp/tls.ts';
import { lockDataDir } from './store/data-dir-lock.ts';
import { ConcurrentApplyError, type Revision, type RevisionMeta } from './store/config-store.ts';
import { openRelayReasons } from './config/open-relay.ts';
import { unusableKeys } from './dkim/keys.ts';
import type { DkimSettings, RateLimit } from './config/document.ts';
import { DaemonMetricsWiring } from './metrics/daemon-metrics.ts';
import { availableParallelism } from 'node:os';
import { FileQueueStore } from './queue/file-queue-store.ts';
import { ProcessPool } from './process/pool.ts';


/** How often statistics minutes older than the dashboard's hour are dropped from a store that keeps them. */
const STATS_PRUNE_MS = 600_000;

export class StartError extends Error {
  readonly details: readonly Finding[];
  constructor(message: string, details: readonly Finding[] = []) {
    super(message);
    this.details = details;
  }
}

export interface DaemonOptions {
  dataDir: string;
  /** Raw settings to apply as a new revision before starting. */
  config?: { raw: unknown; meta: RevisionMeta } | undefined;
  logger: Logger;
  /** The node's name in the node registry (default: the host name). */
  node?: string | undefined;
  /** The cluster store's URL (--store, MAILWARDEN_STORE); none: the embedded store in the data directory. */
  store?: string | undefined;
  /** Listener addresses of this node only (--listen NAME=ADDR:PORT). */
  listen?: readonly ListenOverride[] | undefined;
}

export interface Daemon {
  listeners: { name: string; address: string; port: number; mode: string }[];
  revision: number;
  /** The web admin's address, when its listener is on. */
  admin: { url: string } | null;
  /** Set when this start created the first admin account: shown once, never stored in clear. */
  firstAdmin: { name: string; password: string } | null;
  /** The metrics listener's URL now (`metrics` setting; an Apply may move it), or null. */
  metricsUrl(): string | null;
  stop(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const dataDir = resolve(opts.dataDir);
  // Statistics and the API's live log listen to every event.
  const logger = tapLogger(opts.logger);
  const stats = new Stats();
  logger.subscribe((event, fields) => stats.observe(event, fields));
  // Before anything touches the directory: a second daemon must not recover
  // (and so delete) the first one's spool files in flight.
  const lock = lockDataDir(dataDir);
  // Checked before anything starts: the control socket is bound last.
  const pathProblem = controlPathProblem(dataDir);
  if (pathProblem) {
    lock.release({ restorePrevious: true });
    throw new StartError(pathProblem);
  }
  const node = opts.node ?? hostname();
  const clock = nodeClock();
  if (clock.offsetMs !== 0) logger.log('clock.test_offset', { offset_ms: clock.offsetMs, note: 'MAILWARDEN_TEST_CLOCK_OFFSET_MS: a test knob, never for production' });
  let stores: Stores;
  let store: ConfigStore;
  try {
    stores = await openStores({ dataDir, url: opts.store, node, logger, now: clock.now });
    store = stores.config;
  } catch (err) {
    // The database away at a restart after a crash: the next try must still know the dead process.
    lock.release({ restorePrevious: true });
    throw err;
  }
  const beatMs = heartbeatMs();
  // What this start has set going, undone in reverse when a later step fails:
  // a failed start leaves no listener, timer or open file behind.
  const undo: (() => unknown)[] = [];
  // Until this node holds its name, a failed start leaves the dead process it replaces in the pid file.
  let registered = false;
  try {
    // An apply made here (API, web admin) is in force before it is answered.
    let onApplied: (rev: Revision) => void = () => {};
    const svc = new ConfigService(store, inlineChecker, { onApplied: (rev) => onApplied(rev) });
    if (opts.config) {
      // Nodes of a cluster started at once with one settings file race for the same revision: the loser applies again
      // on top of the winner's (the same settings: nothing changes).
      let r = await svc.apply(opts.config.raw, opts.config.meta).catch((err: unknown) => (err instanceof ConcurrentApplyError ? null : Promise.reject(err)));
      for (let i = 0; r === null && i < 5; i++) r = await svc.apply(opts.config.raw, opts.config.meta).catch((err: unknown) => (err instanceof ConcurrentApplyError ? null : Promise.reject(err)));
      if (r === null) throw new StartError('the settings changed under this start several times in a row; start again');
      if (!r.ok) throw new StartError('the settings file was refused; nothing was started', r.errors);
      for (const w of r.warnings) logger.log('config.warning', { path: w.path, message: w.message });
      if (r.revision) logger.log('config.applied', { revision: r.revision.number, author: r.revision.author, changes: r.changes.length });
    } else if (await svc.initialise({ author: 'mailwarden', comment: 'embedded defaults' })) {
      logger.log('config.initialised', { revision: await svc.activeRevision(), data: dataDir });
    }
    let onNewRevision = () => {};
    // What this start serves with (`processes`, src/process): a new value needs a restart, said at each revision.
    let runningProcesses: 'auto' | number | null = null;
    // A key that cannot sign leaves mail unsigned; said once per revision, not only in each queued line.
    const logKeyErrors = (dkim: DkimSettings, revision: number) => {
      for (const e of unusableKeys(dkim)) logger.log('dkim.key_error', { revision, ...e });
    };
    const source = await SnapshotSource.open(store, (snap) => {
      logger.log('revision.applied', { revision: snap.revision });
      logger.log('config.active', { revision: snap.revision, note: 'new connections use it; listener and processes changes need a restart' });
      if (runningProcesses !== null && snap.settings.processes !== runningProcesses) logger.log('config.restart_needed', { revision: snap.revision, key: 'processes', running: runningProcesses, configured: snap.settings.processes });
      logKeyErrors(snap.settings.dkim, snap.revision);
      onNewRevision();
    });
    onApplied = (rev) => source.take(rev);
    undo.push(() => source.close());
    // Message tracking listens to every event from here on (src/tracking); it can lose rows, never mail.
    const tracking = startTracking({ stores, node, logger, now: clock.now, settings: () => source.peek().settings.tracking });
    undo.push(() => tracking.stop());
    const shared0 = source.get();
    // Listeners are shared settings; this node may bind them elsewhere (--listen). Listener changes need a restart anyway.
    const moved = applyListenOverrides(shared0.settings, opts.listen ?? []);
    if (!moved.ok) throw new StartError(moved.reason);
    const snap = moved.settings === shared0.settings ? shared0 : { ...shared0, settings: moved.settings, listeners: new Map(moved.settings.listeners.map((l) => [l.name, l])) };
    if (snap.settings.listeners.length === 0) throw new StartError('the active settings have no listener: nothing to start (add one under listeners:)');
    // A revision applied by an older version, before rule 8 judged trusted
    // proxies, can be an open relay that today's validation refuses: never run it.
    const openReasons = openRelayReasons(snap.settings, snap.networks);
    if (openReasons.length > 0 && !snap.settings.relaying.open_relay_acknowledged) {
      throw new StartError(`the active revision ${snap.revision} makes an open relay (rule 8: ${openReasons.join('; ')}); nothing was started. Correct it with \`mailwarden config import\` (or \`config rollback\`), or set relaying.open_relay_acknowledged if that is really meant`);
    }
    if (snap.settings.relaying.open_relay_acknowledged) {
      logger.log('config.open_relay', { warning: 'OPEN RELAY: the relay rights (relaying.allowed_hosts, or trusted proxies that can claim a relay host\'s address) let strangers relay through this host (acknowledged)', reasons: openRelayReasons(snap.settings, snap.networks) });
      process.stderr.write('WARNING: this relay is configured as an OPEN RELAY (relaying.open_relay_acknowledged: true)\n');
    }

    const queue = stores.queue;
    await queue.open();
    const tls = await loadTls(dataDir, snap.settings.tls, snap.settings.hostname);
    // Always there (the LDAP client loads on first use): a directory added by a later revision works without a restart.
    const directories = new LazyDirectories({ logger });
    undo.push(() => directories.close());
    // Counts only when limits.rate has entries: the store (DATA/rate.db embedded) is opened on first use.
    const rate = new RateLimiter(() => stores.rate, { logger, now: clock.now, shared: stores.kind === 'postgresql' });
    undo.push(() => rate.close());
    // The personal sender lists (src/portal) as RCPT reads them: from memory, fresh on every change.
    const senderLists = new SenderListCache(stores.portal);
    await senderLists.start();
    undo.push(() => senderLists.stop());
    const shared: FrontEndShared = {
      snapshot: () => source.get(),
      store: queue,
      logger,
      throttle: new AuthThrottle(),
      connections: new ConnectionLimits(),
      inFlight: { count: 0, idle: () => {} },
      runner: new CheckRunner(CHECKS, new CheckServices({ greylist: stores.greylist, store: queue, directories, rate, senderLists })),
    };
    const greylist = stores.greylist;
    const stopPruning = schedulePruning(greylist, () => {
      const g = source.peek().settings.antispam.greylisting;
      return { delayMs: durationMs(g.delay), expiryMs: durationMs(g.expiry), lifetimeMs: durationMs(g.lifetime) };
    });
    undo.push(stopPruning);
    // The manager reads settings many times per message: it takes the snapshot
    // in force from memory; a new revision reaches it through settingsChanged().
    const manager = new QueueManager({ store: queue, node, snapshot: () => source.peek(), refresh: () => source.get(), logger, deliver: true, now: clock.now });
    undo.push(() => manager.stop(0));
    // Fresh mail is claimed by its commit for this node's scheduler: no round trip before delivery.
    shared.claim = () => manager.claimRequest();
    shared.onQueued = (committed) => manager.enqueue(committed);
    // Metrics (src/metrics): collected when something can read them, the admin listener or the metrics listener.
    const runningNow: { list: RunningListener[] } = { list: [] };
    const metrics = new DaemonMetricsWiring({
      logger,
      snapshot: () => source.get(),
      queue,
      sessions: () => runningNow.list.map((r) => ({ listener: r.def.name, open: r.server.connections.size })),
      store: () => ({ kind: stores.kind, reachable: stores.kind === 'embedded' || queue.admits(0).ok }),
    });
    undo.push(() => metrics.close());
    if (snap.settings.admin.enabled) await metrics.collectQuietly();
    // The metrics listener follows the setting from revision to revision (no restart needed).
    onNewRevision = () => {
      onPoolRevision();
      manager.settingsChanged();
      void metrics.follow(source.peek().settings);
    };
    let onPoolRevision = () => {};
    const quarantine = new Quarantine(queue, logger);
    // Quarantine self-service (issue 21): recipients' shares, the digest's links and its schedule.
    const selfService = quarantineSelfService({ queue, state: () => stores.quarantine, snapshot: () => source.peek(), node, logger, now: clock.now });
    undo.push(() => selfService.stop());
    // The name is taken before any listener binds: a second node under a running node's name stops here.
    const planned = snap.settings.listeners.map((l) => ({ name: l.name, address: l.address, port: l.port, mode: l.mode }));
    // Started when the data directory was locked: the pid file says so, and the next start on this directory (after a
    // crash) finds this row by that pid and time and takes the name back at once.
    const died = lock.previous ? { pid: lock.previous.pid, started: lock.previous.since } : null;
    // Read first: if the row is our dead incarnation's, its claims are a dead process's once we hold the name.
    const row = died ? (await stores.nodes.list()).find((n) => n.name === node) : undefined;
    const ownDead = !!died && row?.pid === died.pid && row.started === died.started;
    await stores.nodes.register({ name: node, heartbeat: Date.now(), started: lock.since, revision: snap.revision, listeners: planned, version: VERSION, pid: process.pid }, beatMs * MISSED_HEARTBEATS, died);
    registered = true;
    if (ownDead) {
      // The mail it was delivering moves now rather than when its leases run out (up to queue.lease after the crash).
      const released = await queue.releaseClaimsOf(node);
      logger.log('queue.claims_released', { node, claims: released, reason: `this node restarted after its process ${died.pid} died: the claims were that process's` });
    }
    undo.push(() => stores.nodes.deregister(node));
    // The admin listener first: when its port is taken, nothing else has started yet.
    const admins = stores.accounts;
    let api: ReturnType<typeof buildApi> | null = null;
    let adminUrl: Daemon['admin'] = null;
    const ad = snap.settings.admin;
    if (ad.enabled) {
      // fastify and its schemas are loaded only when the admin listener is on.
      const { buildApi } = await import('./api/server.ts');
      const kind = stores.kind;
      api = buildApi({
        service: svc,
        admins,
        manager,
        quarantine,
        queue,
        logger,
        stats,
        snapshot: () => source.get(),
        tls,
        // admits() answers from what the store last saw (PostgreSQL: refused while the database is away); the spool always answers.
        storeState: () => ({ kind, reachable: kind === 'embedded' || queue.admits(0).ok }),
        cluster: () => readClusterStatus(stores),
        dataDir,
        directories,
        rate: { store: () => stores.rate, flush: () => rate.flush() },
        tracking: trackingAccess(() => source.peek().settings.tracking, tracking, () => stores.tracking),
        metrics: () => metrics.exposition(),
        quarantineLinks: selfService.links,
        digest: selfService.digestRoutes,
        portal: { store: stores.portal, quarantine: selfService.recipients },
      });
      const started = api;
      undo.push(() => started.close());
      try {
        await api.listen({ host: ad.address, port: ad.port });
      } catch (err) {
        throw new ListenError(`admin listener: ${ad.address} port ${ad.port} is not available: ${(err as Error).message}`);
      }
      const port = (api.server.address() as { port: number }).port;
      logger.log('listening', { listener: 'admin', address: ad.address, port });
      adminUrl = { url: `https://${ad.address.includes(':') ? `[${ad.address}]` : ad.address}:${port}/` };
    }
    // SMTP worker processes (src/process): the embedded store only; a cluster scales by nodes, one process each.
    const wanted = snap.settings.processes;
    runningProcesses = stores.kind === 'embedded' ? wanted : 1;
    if (runningProcesses !== wanted) logger.log('process.single', { processes: wanted, note: 'with the cluster store each node runs one process: a cluster scales by nodes' });
    let pool: ProcessPool | null = null;
    if (runningProcesses !== 1 && queue instanceof FileQueueStore && (runningProcesses !== 'auto' || availableParallelism() > 1)) {
      const spool = queue;
      const greylistStore = stores.greylist;
      const throttle = new AuthThrottle();
      shared.throttle = throttle;
      pool = new ProcessPool({
        logger,
        processes: runningProcesses,
        cores: availableParallelism(),
        dataDir,
        listeners: snap.settings.listeners,
        tls,
        ownSessions: () => runningNow.list.reduce((n, r) => n + r.server.connections.size, 0),
        // A worker's commit is durable already: the primary indexes it (or claims it for delivery now) as its own.
        onQueued: (envelope) => manager.enqueue({ envelope, claim: spool.committed(envelope, manager.claimRequest()) }),
        onLost: () => {
          const adopted = spool.adoptUnknown();
          if (adopted > 0) logger.log('queue.adopted', { messages: adopted, reason: 'committed by a worker process that died before it said so' });
        },
        handlers: {
          'auth.fail': (client: string, t: Parameters<AuthThrottle['fail']>[1]) => throttle.fail(client, t),
          'auth.blocked': (client: string, t: Parameters<AuthThrottle['blocked']>[1]) => throttle.blocked(client, t),
          'rate.check': (limits: RateLimit[], unit: RateUnit, s: WireRateSubject, n: number, ctx: RateContext) => rate.check(limits, unit, fromWire(s), n, ctx),
          'senders.lookup': (owner: string) => senderLists.lookup(owner),
          'greylist.check': (...a: Parameters<typeof greylistStore.check>) => greylistStore.check(...a),
        },
        notes: { 'rate.count': (limits: RateLimit[], unit: RateUnit, s: WireRateSubject, n: number) => rate.count(limits, unit, fromWire(s), n) },
      });
      const started = pool;
      onPoolRevision = () => started.revision();
    }
    const running: RunningListener[] = await startListeners(snap, shared, tls, pool ? (r, socket) => pool.handOff(r, socket) : undefined);
    undo.push(() => stopListeners(running, shared, 0));
    runningNow.list = running;
    if (pool) {
      const started = pool;
      undo.push(() => started.stop(0));
      await pool.start();
    }
    // A metrics listener that cannot bind is logged (metrics.listen_failed); mail goes on.
    await metrics.follow(source.peek().settings);
    manager.load();
    selfService.scheduler.start();
    let control: Awaited<ReturnType<typeof startControl>>;
    try {
      control = await startControl(dataDir, manager, quarantine, logger, { refreshConfig: async () => (await source.refresh()).revision, digest: (o) => selfService.digest.run(o) });
    } catch (err) {
      throw new StartError(`cannot open the control socket in ${dataDir}: ${(err as Error).message}`);
    }
    // Only once everything runs: a start that failed must not have used up the one showing of the password.
    // Several nodes may start at once on an empty cluster store: the store takes the name once, and only the node whose add succeeded shows a password.
    let firstAdmin: Daemon['firstAdmin'] = null;
    if ((await admins.count()) === 0) {
      const candidate = { name: 'admin', password: randomPassword() };
      try {
        await admins.add(candidate.name, candidate.password, 'admin', await hashPasswordAsync(candidate.password));
        firstAdmin = candidate;
        logger.log('admin.created', { name: firstAdmin.name, role: 'admin', note: 'first start: the password is shown once on stderr' });
      } catch (err) {
        if (!(err instanceof AdminError)) throw err;
        logger.log('admin.exists', { name: candidate.name, note: 'another node created the first admin account' });
      }
    }
    const listeners = running.map((r) => ({ name: r.def.name, address: r.def.address, port: r.port, mode: r.def.mode }));
    // Registered with the planned addresses; now with the bound ports (port 0 is the kernel's choice).
    await stores.nodes.setListeners(node, listeners);
    stats.attach(stores.stats, node);
    // The heartbeat also hands the statistics' minutes to the store (a cluster's dashboard sums every node).
    const heartbeat = setInterval(() => {
      void stores.nodes.heartbeat(node, Date.now(), source.get().revision).catch(() => {});
      void stats.flush().catch(() => {});
    }, beatMs);
    heartbeat.unref();
    undo.push(() => clearInterval(heartbeat));
    const statsStore = stores.stats;
    const statsPruning = statsStore.prune
      ? setInterval(() => void statsStore.prune?.(Date.now() - 2 * 3_600_000).catch(() => {}), STATS_PRUNE_MS)
      : null;
    statsPruning?.unref();
    undo.push(() => statsPruning && clearInterval(statsPruning));
    logger.log('started', { revision: snap.revision, data: dataDir, store: stores.kind, node, tls: tls.source, listeners, admin: adminUrl?.url ?? null, metrics: metrics.listener.url });
    logKeyErrors(snap.settings.dkim, snap.revision);

    let stopping: Promise<void> | null = null;
    return {
      listeners,
      revision: snap.revision,
      admin: adminUrl,
      firstAdmin,
      metricsUrl: () => metrics.listener.url,
      stop() {
        stopping ??= (async () => {
          logger.log('stopping', { in_flight: shared.inFlight.count });
          const grace = durationMs(source.get().settings.limits.shutdown_grace);
          // Live-log readers hold their connections open: close them with the listener.
          await api?.close();
          await metrics.close();
          // The workers stop alongside (their DATA commits finish, their last messages reach the queue) before delivery stops.
          await Promise.all([stopListeners(running, shared, grace), pool?.stop(grace)]);
          await control.close();
          await selfService.stop();
          await manager.stop(grace);
          stopPruning();
          senderLists.stop();
          await directories.close();
          clearInterval(heartbeat);
          if (statsPruning) clearInterval(statsPruning);
          // The counts since the last heartbeat: the next start carries on from them.
          await stats.flush().catch(() => {});
          await rate.close();
          // What the last moments recorded, written before the store closes.
          await tracking.stop();
          await stores.nodes.deregister(node).catch(() => {});
          source.close();
          await stores.close();
          lock.release();
          logger.log('stopped', {});
        })();
        return stopping;
      },
    };
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch {
        // undoing the rest matters more
      }
    }
    await stores.close();
    lock.release({ restorePrevious: !registered });
    throw err;
  }
}
