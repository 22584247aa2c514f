// The scheduler: claims due work from the queue store and hands it to the
// courier. It keeps only the messages it is delivering (the active window,
// bounded) in memory; what waits stays in the store, which orders it by due
// time. It claims when woken (the store announces new work: a commit, a
// settle, a release; a new revision), at a timer set for the store's next due
// time, and takes fresh mail claimed at commit directly (no round trip). While
// a delivery runs its lease is renewed. Each outcome goes through the retry
// policy into the envelope (src/queue/backoff.ts), and the attempt ends with
// notifications and a settle (src/queue/attempt.ts).

import type { Snapshot } from '../config/snapshot.ts';
import type { Settings } from '../config/document.ts';
import { durationMs } from '../core/duration.ts';
import { cleanError, type RecipientOutcome } from '../delivery/outcome.ts';
import { planRoute, recipientDomain, type RoutePlan } from '../delivery/routes.ts';
import type { Logger } from '../log/logger.ts';
import { closeAttempt, type AttemptDeps, type AttemptState } from './attempt.ts';
import { failPending, recordOutcome, retryPolicy } from './backoff.ts';
import type { Courier, CourierOutcome, DeliveryJob } from './courier.ts';
import type { EnvelopeRecipient } from './envelope.ts';
import type { Notifier } from './notifier.ts';
import type { Claim, ClaimRequest, Committed, QueueStore } from './queue-store.ts';

/** Messages claimed at once by default: plenty for the connection limits, and a bound on memory. */
export const ACTIVE_WINDOW = 1000;
/** Messages claimed per call to the store. */
const CLAIM_BATCH = 100;
/** A timer never waits longer than this (a clock change, another node's work). */
const MAX_WAIT_MS = 3_600_000;

export interface SchedulerDeps {
  store: QueueStore;
  courier: Courier;
  notifier: Notifier;
  snapshot: () => Snapshot;
  /** Asks for a newer revision (cheap, but not free): the heartbeat calls it. */
  refresh?: () => void;
  logger: Logger;
  /** This node's name: claims are taken in it. */
  node: string;
  now: () => number;
  random: () => number;
  /** Most messages claimed at once. */
  window?: number;
}

/** A message being delivered. */
export interface ActiveMessage extends AttemptState {
  /** Jobs of the attempt still with the courier. */
  jobs: number;
  /** Set by an admin's delete while jobs run: removed once they end. */
  deleted: boolean;
  /** Set by an admin's bounce while jobs run: fail what is left once they end. */
  bounceRequested: boolean;
}

const pending = (r: EnvelopeRecipient) => r.status === 'queued' || r.status === 'deferred';

export class Scheduler {
  private readonly deps: SchedulerDeps;
  private readonly attempt: AttemptDeps;
  private readonly active = new Map<string, ActiveMessage>();
  private readonly window: number;
  private timer: NodeJS.Timeout | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private started = false;
  private stopping = false;
  /** stop() has returned: no more renewals (deliveries past the grace run out with their lease). */
  private stopped = false;
  /** A claim round is scheduled or running; `again`: run another when it ends. */
  private round: Promise<void> | null = null;
  private again = false;
  /** A round stopped at a full window: an ending delivery must start the next (otherwise an ending wakes nobody: nothing new is due because of it). */
  private starved = false;
  /** Attempts being closed (notifications, settle): stop() waits for them. */
  private readonly endings = new Set<Promise<void>>();
  /** Claims found lost at settle: deliveries that may have happened twice. */
  claimsLost = 0;

  constructor(deps: SchedulerDeps) {
    this.deps = deps;
    this.window = deps.window ?? ACTIVE_WINDOW;
    this.attempt = { store: deps.store, notifier: deps.notifier, logger: deps.logger, now: deps.now, onClaimLost: () => this.claimsLost++ };
  }

  /** Starts delivering: what is due now, then as work comes. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribe = this.deps.store.onWork(() => this.wake());
    // A revision applied from another process is noticed when the settings
    // are next read; this makes sure they are read even when no mail moves.
    this.heartbeat = setInterval(() => (this.deps.refresh ?? this.deps.snapshot)(), 5000);
    this.heartbeat.unref();
    this.wake();
  }

  private settings(): Settings {
    return this.deps.snapshot().settings;
  }

  leaseMs(): number {
    return durationMs(this.settings().queue.lease);
  }

  /** What a commit asks for to hand its message straight to this scheduler; undefined when it should not (window full, delivery off). */
  claimRequest(): ClaimRequest | undefined {
    if (!this.started || this.stopping || this.active.size >= this.window || !this.settings().delivery.enabled) return undefined;
    return { node: this.deps.node, leaseMs: this.leaseMs() };
  }

  /** A message just committed: delivered now when its commit claimed it for us; otherwise the store's announcement wakes us. */
  committed(c: Committed): void {
    if (c.claim && c.claim.node === this.deps.node) this.begin(c.claim);
  }

  /** A new revision is active: delivery may have been switched on, or routes changed. */
  settingsChanged(): void {
    this.wake();
  }

  /** The message this node is delivering under that id, if any (admin operations act on it). */
  inFlight(id: string): ActiveMessage | undefined {
    return this.active.get(id);
  }

  get activeCount(): number {
    return this.active.size;
  }

  // ------------------------------------------------------------ claiming

  /** Claims what is due, soon (coalesced: a burst of announcements makes one round). */
  wake(): void {
    if (!this.started || this.stopping) return;
    if (this.round) {
      this.again = true;
      return;
    }
    this.round = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.claimRound())
      .finally(() => {
        this.round = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async claimRound(): Promise<void> {
    try {
      while (!this.stopping && this.settings().delivery.enabled) {
        // In batches: a large backlog falling due at once (a start) must not hold up the event loop.
        const ask = Math.min(this.window - this.active.size, CLAIM_BATCH);
        if (ask <= 0) {
          this.starved = true;
          break;
        }
        const claims = await this.deps.store.claimDue({ node: this.deps.node, leaseMs: this.leaseMs(), now: this.deps.now(), limit: ask });
        for (const c of claims) this.begin(c);
        if (claims.length < ask) break;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await this.arm();
    } catch (err) {
      this.deps.logger.log('queue.error', { error: `cannot claim due messages: ${cleanError(err)}` });
      this.setTimer(5000);
    }
  }

  /** One timer, for the store's next due message; none while the window is full (an ending delivery wakes us). */
  private async arm(): Promise<void> {
    if (this.stopping || !this.settings().delivery.enabled || this.active.size >= this.window) return this.setTimer(null);
    const next = await this.deps.store.nextDue();
    // Work claimed by another node is announced to nobody (a commit claimed for its own node, a renewal):
    // were that node to die, only a look at the store finds its claims. So look at least once a lease.
    const poll = this.leaseMs();
    if (next === null) return this.setTimer(poll);
    this.setTimer(Math.min(MAX_WAIT_MS, poll, Math.max(100, next - this.deps.now())));
  }

  private setTimer(ms: number | null): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (ms === null || this.stopping) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.wake();
    }, ms);
    this.timer.unref();
  }

  /** Keeps the leases of the messages being delivered alive, every third of a lease. */
  private renewSoon(): void {
    if (this.renewTimer || this.active.size === 0 || this.stopped) return;
    this.renewTimer = setTimeout(() => void this.renew(), Math.max(100, Math.floor(this.leaseMs() / 3)));
    this.renewTimer.unref();
  }

  private async renew(): Promise<void> {
    this.renewTimer = null;
    const live = [...this.active.values()].filter((a) => !a.lost);
    try {
      if (live.length > 0) {
        const lost = new Set(await this.deps.store.renew(live.map((a) => a.claim), this.leaseMs(), this.deps.now()));
        for (const a of live) if (lost.has(a.claim.id)) a.lost = true;
      }
    } catch (err) {
      this.deps.logger.log('queue.error', { error: `cannot renew the delivery leases: ${cleanError(err)}` });
    }
    this.renewSoon();
  }

  // ------------------------------------------------------------ delivering

  private begin(claim: Claim): void {
    const a: ActiveMessage = { claim, env: claim.envelope, changed: new Set(), passedOn: new Set(), lost: false, jobs: 0, deleted: false, bounceRequested: false };
    this.active.set(claim.id, a);
    this.renewSoon();
    this.dispatch(a);
  }

  /** The address a recipient is sent as: a bare "postmaster" goes to the postmaster setting. */
  private sendAddress(s: Settings, r: EnvelopeRecipient): string | null {
    if (r.address.includes('@')) return r.address;
    if (s.postmaster) return s.postmaster;
    const first = s.domains[0];
    return first ? `postmaster@${first.name}` : null;
  }

  /** Splits the message's due recipients into one job per destination and gives them to the courier. */
  private dispatch(a: ActiveMessage): void {
    const now = this.deps.now();
    const s = this.settings();
    const jobs = new Map<string, DeliveryJob>();
    const due = a.env.held ? [] : a.env.recipients.filter((r) => pending(r) && !(r.status === 'deferred' && r.next_attempt && Date.parse(r.next_attempt) > now));
    for (const r of due) {
      const to = this.sendAddress(s, r);
      if (to === null) {
        this.record(a, r, { address: r.address, fate: 'failed', code: null, status: '5.1.1', diagnostic: 'no postmaster address is configured for a bare <postmaster>', remote: null });
        continue;
      }
      const plan: RoutePlan = planRoute(s, recipientDomain(to));
      let job = jobs.get(plan.key);
      if (!job) {
        job = { envelope: a.env, plan, recipients: [], sendAs: [] };
        jobs.set(plan.key, job);
      }
      job.recipients.push(r);
      job.sendAs.push(to);
    }
    if (jobs.size === 0) {
      void this.end(a);
      return;
    }
    a.jobs = jobs.size;
    for (const job of jobs.values()) {
      void this.deps.courier.deliver(job).then(
        (outcomes) => this.jobDone(a, job, outcomes),
        // A courier is not to reject; if one does, the job is deferred like any internal error.
        (err: unknown) => {
          const diagnostic = `internal error while delivering: ${cleanError(err)}`;
          this.jobDone(a, job, job.recipients.map((r) => ({ address: r.address, fate: 'deferred', code: null, status: '4.3.0', diagnostic, remote: null })));
        },
      );
    }
  }

  private jobDone(a: ActiveMessage, job: DeliveryJob, outcomes: CourierOutcome[]): void {
    try {
      job.recipients.forEach((r, i) => {
        const o = outcomes[i];
        if (!o) return;
        if (o.storeAway) {
          // Nothing happened at any hop: no attempt is counted and no retry is scheduled. The settle gives the message
          // back as it was (due now), or, the store still away, its claim runs out and it is taken again.
          this.deps.logger.log('queue.error', { id: a.env.id, recipient: r.address, error: `not attempted: ${o.diagnostic}` });
          return;
        }
        this.record(a, r, o);
        if (o.passedOn) a.passedOn.add(r);
      });
    } catch (err) {
      this.deps.logger.log('queue.error', { id: a.env.id, error: `cannot record the outcome: ${cleanError(err)}` });
    }
    if (--a.jobs === 0) void this.end(a);
  }

  /** One recipient's outcome, through the retry policy, into the envelope (in memory; the settle persists it). */
  private record(a: ActiveMessage, r: EnvelopeRecipient, o: RecipientOutcome): void {
    const now = this.deps.now();
    if (recordOutcome(r, o, Date.parse(a.env.received_at), retryPolicy(this.settings().queue), now, this.deps.random)) a.changed.add(r);
    this.deps.logger.log('delivery', {
      id: a.env.id,
      recipient: r.address,
      // The destination class (metrics): inbound for our domains, relay elsewhere.
      kind: r.kind,
      status: r.status,
      relay: o.remote,
      code: o.code,
      dsn: r.last_status,
      response: o.diagnostic,
      attempt: r.attempts,
      delay_s: Math.round((now - Date.parse(a.env.received_at)) / 1000),
      next_attempt: r.next_attempt ?? null,
    });
  }

  /** After an attempt: notifications, then the outcome settled; the window has room again. */
  private end(a: ActiveMessage): Promise<void> {
    const p = this.ending(a).finally(() => this.endings.delete(p));
    this.endings.add(p);
    return p;
  }

  private async ending(a: ActiveMessage): Promise<void> {
    const env = a.env;
    try {
      if (a.bounceRequested) bounceClaimed(a, this.deps.now(), this.deps.logger);
      await closeAttempt(this.attempt, a, a.deleted);
    } catch (err) {
      // The store keeps the last good state; the claim is left to run out,
      // and the message is tried again then (a lease from now).
      this.deps.logger.log('queue.error', { id: env.id, error: cleanError(err) });
      const retry = setTimeout(() => this.wake(), Math.max(100, a.claim.until - this.deps.now() + 1));
      retry.unref();
    } finally {
      this.active.delete(env.id);
      // A settle that puts work back (a deferral) announces it through the
      // store; only a full window needs waking here.
      if (this.starved) {
        this.starved = false;
        this.wake();
      }
    }
  }

  /**
   * Stops claiming; resolves when the deliveries in flight have ended (or
   * after `graceMs`). A message none of whose jobs had started is given up at
   * once (another node may take it now); one still being delivered keeps its
   * claim until its lease runs out.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.setTimer(null);
    // Renewals go on during the grace: the deliveries still running keep their claims.
    const unstarted = await this.deps.courier.stop(graceMs);
    this.stopped = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.renewTimer = null;
    const waiting = new Map<ActiveMessage, number>();
    for (const job of unstarted) {
      const a = this.active.get(job.envelope.id);
      if (a) waiting.set(a, (waiting.get(a) ?? 0) + 1);
    }
    const given: Promise<void>[] = [];
    for (const [a, n] of waiting) {
      if (n !== a.jobs || a.lost) continue;
      this.active.delete(a.claim.id);
      given.push(this.deps.store.unclaim(a.claim).catch((err: unknown) => this.deps.logger.log('queue.error', { id: a.claim.id, error: `cannot give up the claim: ${cleanError(err)}` })));
    }
    await Promise.allSettled([...this.endings, ...given]);
  }
}

/** Fails every pending recipient of a claimed message (an admin's bounce), each with its log line. */
export function bounceClaimed(a: AttemptState, now: number, logger: Logger): void {
  for (const r of failPending(a.env, 'bounced by the administrator', now)) {
    a.changed.add(r);
    // by: no delivery was attempted (the metrics do not count it as one; src/metrics/event-map.ts).
    logger.log('delivery', { id: a.env.id, recipient: r.address, kind: r.kind, status: 'failed', dsn: '5.0.0', response: 'bounced by the administrator', by: 'administrator', attempt: r.attempts ?? 0 });
  }
}
