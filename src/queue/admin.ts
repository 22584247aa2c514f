// The admin operations on queued mail (retry, hold, release, delete, bounce),
// for the control socket, the API and the CLI with no daemon running. They
// act through claims, so that they never race a delivery: on a message this
// node is delivering, the change is noted and applies when the attempt ends
// (as a delivery's outcome would); on a message another node is delivering,
// the admin is told to try again in a moment; otherwise the message is
// claimed, changed and settled, and the store announces it to the scheduler.

import type { Logger } from '../log/logger.ts';
import { closeAttempt, type AttemptDeps } from './attempt.ts';
import { addHistory, type Envelope } from './envelope.ts';
import type { Notifier } from './notifier.ts';
import { QueueError } from './queue-error.ts';
import type { Claim, QueueStore } from './queue-store.ts';
import { bounceClaimed, type ActiveMessage, type Scheduler } from './scheduler.ts';

export interface QueueAdminDeps {
  store: QueueStore;
  notifier: Notifier;
  logger: Logger;
  node: string;
  now: () => number;
  leaseMs: () => number;
  /** The running scheduler, whose deliveries in flight an operation must not race; null when none runs. */
  scheduler: Scheduler | null;
}

export class QueueAdmin {
  private readonly deps: QueueAdminDeps;
  private readonly attempt: AttemptDeps;

  constructor(deps: QueueAdminDeps) {
    this.deps = deps;
    this.attempt = { store: deps.store, notifier: deps.notifier, logger: deps.logger, now: deps.now, onClaimLost: () => {} };
  }

  /** Due now: every deferred recipient of one message, or of all. Returns how many messages. */
  async retry(id: string | null): Promise<number> {
    if (id !== null) return (await this.retryOne(id, true)) ? 1 : 0;
    let n = 0;
    for (const env of await this.deps.store.list()) {
      if (env.held || !env.recipients.some((r) => r.status === 'deferred')) continue;
      try {
        if (await this.retryOne(env.id, false)) n++;
      } catch (err) {
        // Gone or busy meanwhile: the others still go.
        if (!(err instanceof QueueError)) throw err;
      }
    }
    return n;
  }

  private async retryOne(id: string, strict: boolean): Promise<boolean> {
    if (this.inFlight(id)) return false; // being tried right now
    const claim = await this.claim(id, strict);
    if (!claim) return false;
    const env = claim.envelope;
    let any = false;
    if (!env.held) {
      for (const r of env.recipients) {
        if (r.status !== 'deferred') continue;
        delete r.next_attempt;
        any = true;
      }
    }
    if (!any) {
      await this.deps.store.unclaim(claim);
      return false;
    }
    addHistory(env, this.deps.now(), 'retry', 'by the administrator');
    await this.deps.store.settle(claim, env);
    return true;
  }

  async hold(id: string): Promise<void> {
    await this.change(id, (env) => {
      env.held = true;
      addHistory(env, this.deps.now(), 'hold', 'by the administrator');
    });
  }

  async release(id: string): Promise<void> {
    await this.change(id, (env) => {
      delete env.held;
      for (const r of env.recipients) if (r.status === 'deferred') delete r.next_attempt;
      addHistory(env, this.deps.now(), 'release', 'by the administrator');
    });
  }

  async delete(id: string): Promise<void> {
    const a = this.inFlight(id);
    if (a) {
      a.deleted = true; // removed when the attempt in flight ends
      return;
    }
    const claim = await this.claim(id, true);
    if (claim) await closeAttempt(this.attempt, this.state(claim), true);
  }

  /** Fails every pending recipient now, with a notification to the sender. */
  async bounce(id: string): Promise<void> {
    const a = this.inFlight(id);
    if (a) {
      a.bounceRequested = true;
      return;
    }
    const claim = await this.claim(id, true);
    if (!claim) return;
    const state = this.state(claim);
    bounceClaimed(state, this.deps.now(), this.deps.logger);
    try {
      await closeAttempt(this.attempt, state);
    } catch (err) {
      await this.deps.store.unclaim(claim);
      throw err;
    }
  }

  /** A change to the envelope: made to the delivery in flight (kept when it settles), or under a claim of our own. */
  private async change(id: string, fn: (env: Envelope) => void): Promise<void> {
    const a = this.inFlight(id);
    if (a) {
      fn(a.env);
      return;
    }
    const claim = await this.claim(id, true);
    if (!claim) return;
    fn(claim.envelope);
    try {
      await this.deps.store.settle(claim, claim.envelope);
    } catch (err) {
      await this.deps.store.unclaim(claim);
      throw err;
    }
  }

  private inFlight(id: string): ActiveMessage | undefined {
    return this.deps.scheduler?.inFlight(id);
  }

  /** Claims a message for an admin operation; QueueError when it is absent or another node delivers it. */
  private async claim(id: string, strict: boolean): Promise<Claim | null> {
    const now = this.deps.now();
    const claim = await this.deps.store.claim(id, { node: this.deps.node, leaseMs: this.deps.leaseMs(), now });
    if (claim) return claim;
    const holder = await this.deps.store.holder(id, now);
    if (holder) {
      if (!strict) return null;
      throw new QueueError(`${id} is being delivered by node ${holder.node}; try again in a moment`);
    }
    throw new QueueError(`no message ${id} in the queue`);
  }

  private state(claim: Claim) {
    return { claim, env: claim.envelope, changed: new Set<Envelope['recipients'][number]>(), passedOn: new Set<Envelope['recipients'][number]>(), lost: false };
  }
}
