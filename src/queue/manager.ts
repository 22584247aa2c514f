// The queue manager: puts the queue's parts together for one process. The
// scheduler claims due work from the store and gives it to the courier (the
// SMTP delivery agent), the retry policy and the notifier record each
// attempt, and the admin operations act through claims. The daemon runs it
// with delivery; the CLI with no daemon running, without (admin operations
// only).

import { hostname } from 'node:os';
import type { Snapshot } from '../config/snapshot.ts';
import { durationMs } from '../core/duration.ts';
import type { Dns } from '../delivery/resolver.ts';
import type { resolveTargets } from '../delivery/routes.ts';
import type { Logger } from '../log/logger.ts';
import { QueueAdmin } from './admin.ts';
import type { Courier } from './courier.ts';
import { Notifier } from './notifier.ts';
import type { ClaimRequest, Committed, QueueStore } from './queue-store.ts';
import { Scheduler } from './scheduler.ts';
import { SmtpCourier } from './smtp-courier.ts';

export { QueueError } from './queue-error.ts';

export interface ManagerDeps {
  store: QueueStore;
  snapshot: () => Snapshot;
  /** Asks the store for a newer revision (cheap, but not free): the heartbeat calls it. */
  refresh?: () => void;
  logger: Logger;
  /** Deliver (the daemon) or only manage the queue (the CLI with no daemon running). */
  deliver: boolean;
  /** This node's name, in its claims (default: the host name). */
  node?: string;
  now?: () => number;
  random?: () => number;
  /** Most messages being delivered at once (the scheduler's active window). */
  window?: number;
  /** For tests: a courier other than SMTP. */
  courier?: Courier;
  /** For tests: a DNS other than the one of dns.servers. */
  dns?: Dns;
  /** For tests: a route resolver other than resolveTargets (e.g. one that throws). */
  resolve?: typeof resolveTargets;
}

export class QueueManager {
  readonly scheduler: Scheduler | null;
  readonly admin: QueueAdmin;
  readonly node: string;

  constructor(deps: ManagerDeps) {
    const now = deps.now ?? Date.now;
    const random = deps.random ?? Math.random;
    this.node = deps.node ?? hostname();
    const notifier = new Notifier({ store: deps.store, snapshot: deps.snapshot, logger: deps.logger, now });
    const courier = deps.courier ?? new SmtpCourier({ store: deps.store, snapshot: deps.snapshot, logger: deps.logger, random, dns: deps.dns, resolve: deps.resolve });
    this.scheduler = deps.deliver
      ? new Scheduler({ store: deps.store, courier, notifier, snapshot: deps.snapshot, refresh: deps.refresh, logger: deps.logger, node: this.node, now, random, window: deps.window })
      : null;
    const leaseMs = () => durationMs(deps.snapshot().settings.queue.lease);
    this.admin = new QueueAdmin({ store: deps.store, notifier, logger: deps.logger, node: this.node, now, leaseMs, scheduler: this.scheduler });
  }

  /** With delivery: starts on everything that is due, and on what comes. */
  load(): void {
    this.scheduler?.start();
  }

  /** For a commit on the hot path: claim the new message for this node's scheduler (undefined: don't). */
  claimRequest(): ClaimRequest | undefined {
    return this.scheduler?.claimRequest();
  }

  /** A message the front end has just committed. */
  enqueue(c: Committed): void {
    this.scheduler?.committed(c);
  }

  settingsChanged(): void {
    this.scheduler?.settingsChanged();
  }

  retry(id: string | null): Promise<number> {
    return this.admin.retry(id);
  }

  hold(id: string): Promise<void> {
    return this.admin.hold(id);
  }

  release(id: string): Promise<void> {
    return this.admin.release(id);
  }

  delete(id: string): Promise<void> {
    return this.admin.delete(id);
  }

  bounce(id: string): Promise<void> {
    return this.admin.bounce(id);
  }

  /** Stops starting attempts; resolves when those in flight have ended (or after `graceMs`). */
  async stop(graceMs: number): Promise<void> {
    await this.scheduler?.stop(graceMs);
  }
}
