// `mailwarden start`: locks and opens the data directory, applies --config when given,
// recovers the spool, starts the listeners of the active revision, and stops
// gracefully on request. Logs one JSON line per event.

import { resolve } from 'node:path';
import { ConfigService } from './admin/config-service.ts';
import type { Finding } from './config/issues.ts';
import { SnapshotSource } from './config/snapshot-source.ts';
import { durationMs } from './core/duration.ts';
import type { Logger } from './log/logger.ts';
import { Spool } from './queue/spool.ts';
import { QueueManager } from './queue/manager.ts';
import { startControl } from './queue/control.ts';
import { Quarantine } from './queue/quarantine.ts';
import { AntispamChecks } from './antispam/checks.ts';
import { openGreylist } from './antispam/greylist.ts';
import { AuthThrottle } from './smtp/auth-throttle.ts';
import { ConnectionLimits } from './smtp/connection-limits.ts';
import type { FrontEndShared } from './smtp/front-end.ts';
import { startListeners, stopListeners, type RunningListener } from './smtp/listeners.ts';
import { loadTls } from './smtp/tls.ts';
import { openConfigStore } from './store/data-dir.ts';
import { lockDataDir } from './store/data-dir-lock.ts';
import type { RevisionMeta } from './store/config-store.ts';

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
}

export interface Daemon {
  listeners: { name: string; address: string; port: number; mode: string }[];
  revision: number;
  stop(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const dataDir = resolve(opts.dataDir);
  const { logger } = opts;
  // Before anything touches the directory: a second daemon must not recover
  // (and so delete) the first one's spool files in flight.
  const lock = lockDataDir(dataDir);
  let store: ReturnType<typeof openConfigStore>;
  try {
    store = openConfigStore(dataDir);
  } catch (err) {
    lock.release();
    throw err;
  }
  try {
    const svc = new ConfigService(store);
    if (opts.config) {
      const r = svc.apply(opts.config.raw, opts.config.meta);
      if (!r.ok) throw new StartError('the settings file was refused; nothing was started', r.errors);
      for (const w of r.warnings) logger.log('config.warning', { path: w.path, message: w.message });
      if (r.revision) logger.log('config.applied', { revision: r.revision.number, author: r.revision.author, changes: r.changes.length });
    } else if (svc.initialise({ author: 'mailwarden', comment: 'embedded defaults' })) {
      logger.log('config.initialised', { revision: svc.activeRevision(), data: dataDir });
    }
    let onNewRevision = () => {};
    const source = new SnapshotSource(store, (snap) => {
      logger.log('config.active', { revision: snap.revision, note: 'new connections use it; listener changes need a restart' });
      onNewRevision();
    });
    const snap = source.get();
    if (snap.settings.listeners.length === 0) throw new StartError('the active settings have no listener: nothing to start (add one under listeners:)');
    if (snap.settings.relaying.open_relay_acknowledged) {
      logger.log('config.open_relay', { warning: 'OPEN RELAY: relaying.allowed_hosts lets most of the Internet relay through this host (acknowledged)' });
      process.stderr.write('WARNING: this relay is configured as an OPEN RELAY (relaying.open_relay_acknowledged: true)\n');
    }

    const spool = new Spool(dataDir, logger);
    spool.open();
    const tls = await loadTls(dataDir, snap.settings.tls, snap.settings.hostname);
    const shared: FrontEndShared = {
      snapshot: () => source.get(),
      spool,
      logger,
      throttle: new AuthThrottle(),
      connections: new ConnectionLimits(),
      inFlight: { count: 0, idle: () => {} },
    };
    const greylist = openGreylist(dataDir, () => {
      const g = source.peek().settings.antispam.greylisting;
      return { delayMs: durationMs(g.delay), expiryMs: durationMs(g.expiry), lifetimeMs: durationMs(g.lifetime) };
    });
    shared.checks = new AntispamChecks({ greylist: greylist.store });
    // The manager reads settings many times per message: it takes the snapshot
    // last seen, and its heartbeat (source.get()) notices new revisions.
    const manager = new QueueManager({ spool, snapshot: () => source.peek(), refresh: () => source.get(), logger, deliver: true });
    shared.onQueued = (env) => manager.enqueue(env);
    onNewRevision = () => manager.settingsChanged();
    const running: RunningListener[] = await startListeners(snap, shared, tls);
    manager.load();
    const control = await startControl(dataDir, manager, new Quarantine(spool), logger);
    const listeners = running.map((r) => ({ name: r.def.name, address: r.def.address, port: r.port, mode: r.def.mode }));
    logger.log('started', { revision: snap.revision, data: dataDir, tls: tls.source, listeners });

    let stopping: Promise<void> | null = null;
    return {
      listeners,
      revision: snap.revision,
      stop() {
        stopping ??= (async () => {
          logger.log('stopping', { in_flight: shared.inFlight.count });
          const grace = durationMs(source.get().settings.limits.shutdown_grace);
          await stopListeners(running, shared, grace);
          await control.close();
          await manager.stop(grace);
          greylist.close();
          store.close();
          lock.release();
          logger.log('stopped', {});
        })();
        return stopping;
      },
    };
  } catch (err) {
    store.close();
    lock.release();
    throw err;
  }
}
