// The queue manager: takes every committed message to its next hops. Each
// recipient ends delivered, deferred (with its last error and next attempt)
// or failed; the state lives in the envelope file, so a restart (or a
// SIGKILL) resumes where the queue was, delivering at least once. Recipients
// are grouped per destination (a local domain's route, the smarthost, or a
// domain's MX hosts); a destination's jobs share connections, with a limit on
// connections per destination and in total. Failures, expiry, NOTIFY=SUCCESS
// and delay warnings produce delivery status notifications, which are queued
// like any other message. The admin operations (hold, release, retry, delete,
// bounce) act here too, so that they never race a delivery in flight.

import { createReadStream, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { readFile } from 'node:fs/promises';
import type { Snapshot } from '../config/snapshot.ts';
import type { Settings } from '../config/document.ts';
import { durationMs } from '../core/duration.ts';
import { downgrade, scan8Bit } from '../delivery/downgrade.ts';
import { LineLimit } from '../delivery/line-limit.ts';
import { OutboundSession, type OutboundOptions } from '../delivery/outbound.ts';
import { cleanError, type RecipientOutcome } from '../delivery/outcome.ts';
import { createDns, type Dns } from '../delivery/resolver.ts';
import { planRoute, recipientDomain, resolveTargets, routeOptions, type RoutePlan } from '../delivery/routes.ts';
import { bodyVerdict, planTransaction, type HopExtensions } from '../delivery/transaction.ts';
import type { Logger } from '../log/logger.ts';
import { nextAttempt } from './backoff.ts';
import { addHistory, type BounceType, type Envelope, type EnvelopeRecipient } from './envelope.ts';
import { queueNotification } from './notifications.ts';
import type { Spool } from './spool.ts';

/** Messages up to this size are read and sent in one piece; larger ones stream. */
const READ_WHOLE = 256 * 1024;

interface Entry {
  env: Envelope;
  /** When the next attempt is due; null when nothing is pending or the message is held. */
  due: number | null;
  /** Jobs of the current attempt still running. */
  active: number;
  deleted: boolean;
  /** Recipients that reached a final state during the current attempt. */
  changed: Set<EnvelopeRecipient>;
  /** Set by `bounce` while jobs run: fail what is left once they end. */
  bounceRequested: boolean;
  /** Delivered to a hop that announces DSN: NOTIFY went with them, so no success report of ours. */
  passedOn: Set<EnvelopeRecipient>;
}

interface Job {
  entry: Entry;
  recipients: EnvelopeRecipient[];
  /** The address each recipient is sent as (a bare "postmaster" gets a domain). */
  sendAs: Map<EnvelopeRecipient, string>;
}

interface Destination {
  key: string;
  plan: RoutePlan;
  jobs: Job[];
  workers: number;
  /** Workers whose connection is open and idle, waiting for a job: wake(true) hands one over, wake(false) closes. */
  idle: { wake: (job: boolean) => void }[];
}

/** What one worker holds: the jobs taken and not yet recorded, and whether it got a connection. */
interface Worker {
  held: Set<Job>;
  connected: boolean;
}

/** How long a connection to a next hop stays open, idle, for the next message. */
const IDLE_MS = 2000;

export interface ManagerDeps {
  spool: Spool;
  snapshot: () => Snapshot;
  /** Asks the store for a newer revision (cheap, but not free): the heartbeat calls it. */
  refresh?: () => void;
  logger: Logger;
  /** Deliver (the daemon) or only manage the files (the CLI with no daemon running). */
  deliver: boolean;
  now?: () => number;
  random?: () => number;
  /** For tests: a DNS other than the one of dns.servers. */
  dns?: Dns;
  /** For tests: a route resolver other than resolveTargets (e.g. one that throws). */
  resolve?: typeof resolveTargets;
}

const pending = (r: EnvelopeRecipient) => r.status === 'queued' || r.status === 'deferred';
const notifies = (r: EnvelopeRecipient, on: 'SUCCESS' | 'FAILURE' | 'DELAY') => (r.notify ? r.notify.includes(on) : on !== 'SUCCESS');

export class QueueManager {
  private readonly deps: ManagerDeps;
  private readonly entries = new Map<string, Entry>();
  /** Entries with a due time (deferred, or new and not yet dispatched). */
  private readonly waiting = new Set<Entry>();
  private readonly destinations = new Map<string, Destination>();
  private workers = 0;
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private stopping = false;
  private idle: (() => void) | null = null;
  private dnsCache: { servers: string; dns: Dns } | null = null;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(deps: ManagerDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
  }

  /** Reads the spool; with `deliver`, starts on everything that is due. */
  load(): void {
    for (const m of this.deps.spool.list()) this.track(m.envelope);
    if (!this.deps.deliver) return;
    this.wake();
    // A revision applied from another process is noticed when the settings
    // are next read; this makes sure they are read even when no mail moves.
    this.heartbeat = setInterval(() => (this.deps.refresh ?? this.deps.snapshot)(), 5000);
    this.heartbeat.unref();
  }

  private track(env: Envelope): Entry {
    const e: Entry = { env, due: null, active: 0, deleted: false, changed: new Set(), bounceRequested: false, passedOn: new Set() };
    this.entries.set(env.id, e);
    this.setDue(e, this.dueOf(env));
    return e;
  }

  /** Keeps `waiting` (the entries with a due time) in step, so that scheduling never walks the whole queue. */
  private setDue(e: Entry, due: number | null): void {
    e.due = due;
    if (due === null) this.waiting.delete(e);
    else this.waiting.add(e);
  }

  private dueOf(env: Envelope): number | null {
    if (env.held) return null;
    let due: number | null = null;
    for (const r of env.recipients) {
      if (!pending(r)) continue;
      const at = r.status === 'deferred' && r.next_attempt ? Date.parse(r.next_attempt) : 0;
      due = due === null ? at : Math.min(due, at);
    }
    return due;
  }

  /** A message the front end has just committed. */
  enqueue(env: Envelope): void {
    const e = this.track(env);
    if (this.deps.deliver && !this.stopping) this.dispatch(e);
  }

  // ------------------------------------------------------------ scheduling

  /** A new revision is active: delivery may have been switched on, or routes changed. */
  settingsChanged(): void {
    if (this.deps.deliver) setImmediate(() => this.wake());
  }

  private wake(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
    if (this.stopping || !this.settings().delivery.enabled) return;
    const now = this.now();
    for (const e of [...this.waiting]) {
      if (e.due !== null && e.due <= now && e.active === 0) this.dispatch(e);
    }
    this.arm();
  }

  /** One timer, set for the earliest due message (at most every 100 ms). */
  private arm(): void {
    if (!this.deps.deliver || this.stopping || !this.settings().delivery.enabled) return;
    let next = Infinity;
    for (const e of this.waiting) if (e.due !== null && e.active === 0 && e.due < next) next = e.due;
    if (next === Infinity || next >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => this.wake(), Math.max(100, next - this.now()));
    this.timer.unref();
  }

  private settings(): Settings {
    return this.deps.snapshot().settings;
  }

  private dns(): Dns {
    if (this.deps.dns) return this.deps.dns;
    const servers = this.settings().dns.servers;
    const key = servers.join(',');
    if (!this.dnsCache || this.dnsCache.servers !== key) this.dnsCache = { servers: key, dns: createDns(servers) };
    return this.dnsCache.dns;
  }

  /** The address a recipient is sent as: a bare "postmaster" goes to the postmaster setting. */
  private sendAddress(s: Settings, r: EnvelopeRecipient): string | null {
    if (r.address.includes('@')) return r.address;
    if (s.postmaster) return s.postmaster;
    const first = s.domains[0];
    return first ? `postmaster@${first.name}` : null;
  }

  private dispatch(e: Entry): void {
    if (e.active > 0 || e.deleted || e.env.held || !this.settings().delivery.enabled) return;
    const now = this.now();
    const s = this.settings();
    const jobs = new Map<string, { plan: RoutePlan; job: Job }>();
    for (const r of e.env.recipients) {
      if (!pending(r)) continue;
      if (r.status === 'deferred' && r.next_attempt && Date.parse(r.next_attempt) > now) continue;
      const to = this.sendAddress(s, r);
      if (to === null) {
        this.apply(e, r, { address: r.address, fate: 'failed', code: null, status: '5.1.1', diagnostic: 'no postmaster address is configured for a bare <postmaster>', remote: null });
        continue;
      }
      const plan = planRoute(s, recipientDomain(to));
      let slot = jobs.get(plan.key);
      if (!slot) {
        slot = { plan, job: { entry: e, recipients: [], sendAs: new Map() } };
        jobs.set(plan.key, slot);
      }
      slot.job.recipients.push(r);
      slot.job.sendAs.set(r, to);
    }
    this.setDue(e, null);
    if (jobs.size === 0) {
      void this.finish(e);
      return;
    }
    for (const { plan, job } of jobs.values()) {
      e.active++;
      let d = this.destinations.get(plan.key);
      if (!d) {
        d = { key: plan.key, plan, jobs: [], workers: 0, idle: [] };
        this.destinations.set(plan.key, d);
      }
      d.plan = plan;
      d.jobs.push(job);
    }
    this.pump();
  }

  /** Starts workers where jobs wait, within the connection limits. */
  private pump(): void {
    const s = this.settings().delivery;
    let blocked = false;
    for (const d of this.destinations.values()) {
      // Idle connections first: a job waiting there needs no new connection.
      for (let n = d.jobs.length; n > 0 && d.idle.length > 0; n--) d.idle.shift()?.wake(true);
      while (d.jobs.length > d.workers - d.idle.length && d.workers < s.max_connections_per_destination) {
        if (this.workers >= s.max_connections) {
          blocked = true;
          break;
        }
        d.workers++;
        this.workers++;
        void this.run(d).finally(() => {
          d.workers--;
          this.workers--;
          if (d.workers === 0 && d.jobs.length === 0) this.destinations.delete(d.key);
          if (this.workers === 0 && this.idle) this.idle();
          if (!this.stopping) this.pump();
        });
      }
    }
    // Out of connections with work waiting: idle connections elsewhere give way.
    if (blocked) for (const d of this.destinations.values()) while (d.idle.length > 0) d.idle.shift()?.wake(false);
  }

  /** Waits, connection open, for the next job of `d`; false when none came within IDLE_MS. */
  private awaitJob(d: Destination): Promise<boolean> {
    if (this.stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = {
        wake: (job: boolean) => {
          clearTimeout(timer);
          resolve(job);
        },
      };
      const timer = setTimeout(() => {
        const i = d.idle.indexOf(waiter);
        if (i >= 0) d.idle.splice(i, 1);
        resolve(false);
      }, IDLE_MS);
      timer.unref();
      d.idle.push(waiter);
    });
  }

  // ------------------------------------------------------------ delivery

  /**
   * One worker of a destination. Whatever throws inside a delivery (a bug, a
   * library's surprise) ends here: the jobs the worker held are deferred with
   * a log line, and the daemon goes on. Before a connection is made every job
   * waiting for the destination shares the fault (the next worker would meet
   * it too), so those are deferred as well rather than retried in a loop.
   */
  private async run(d: Destination): Promise<void> {
    const w: Worker = { held: new Set(), connected: false };
    try {
      await this.work(d, w);
    } catch (err) {
      const error = cleanError(err);
      if (!w.connected) for (const job of d.jobs.splice(0)) w.held.add(job);
      this.deps.logger.log('delivery.error', { destination: d.key, error, ids: [...new Set([...w.held].map((j) => j.entry.env.id))] });
      for (const job of [...w.held]) {
        const diagnostic = `internal error while delivering: ${error}`;
        try {
          await this.jobDone(w, job, job.recipients.map((r) => ({ address: r.address, fate: 'deferred', code: null, status: '4.3.0', diagnostic, remote: null })));
        } catch (again) {
          // Not even the deferral could be recorded: leave the files as they
          // are and look at the message again in a minute.
          w.held.delete(job);
          const e = job.entry;
          e.active--;
          this.deps.logger.log('queue.error', { id: e.env.id, error: cleanError(again) });
          if (e.active === 0) {
            this.setDue(e, this.now() + 60_000);
            this.arm();
          }
        }
      }
    }
  }

  /** Takes every job waiting for `d` into the worker's hands. */
  private takeAll(d: Destination, w: Worker): Job[] {
    const jobs = d.jobs.splice(0);
    for (const job of jobs) w.held.add(job);
    return jobs;
  }

  private async work(d: Destination, w: Worker): Promise<void> {
    const s = this.settings();
    const targets = await (this.deps.resolve ?? resolveTargets)(d.plan, this.dns(), s.delivery.mx_port, this.random);
    if (!targets.ok) {
      // Every job waiting for this destination shares the answer.
      for (const job of this.takeAll(d, w)) {
        await this.jobDone(w, job, job.recipients.map((r) => ({ address: r.address, fate: targets.fate, code: null, status: targets.status, diagnostic: targets.reason, remote: null })));
      }
      return;
    }
    const ro = routeOptions(s, d.plan);
    const opts: OutboundOptions = {
      hostname: s.hostname,
      connectTimeoutMs: durationMs(s.delivery.connect_timeout),
      replyTimeoutMs: durationMs(s.delivery.reply_timeout),
      tls: ro.tls,
      auth: ro.auth,
    };
    if (ro.caFile) {
      try {
        opts.ca = await readFile(ro.caFile);
      } catch (err) {
        for (const job of this.takeAll(d, w)) {
          await this.jobDone(w, job, job.recipients.map((r) => ({ address: r.address, fate: 'deferred', code: null, status: '4.7.5', diagnostic: `cannot read delivery.smarthost.ca: ${(err as Error).message}`, remote: null })));
        }
        return;
      }
    }
    const opened = await OutboundSession.open(targets.targets, opts);
    if (!opened.ok) {
      const f = opened.failure;
      const fate = f.code !== null && f.code >= 500 && d.plan.kind !== 'local' ? 'failed' : 'deferred';
      const status = f.status ?? (f.code === null ? '4.4.1' : `${fate === 'failed' ? 5 : 4}.4.1`);
      // A reply is reported as it was given (Diagnostic-Code: smtp); our own words may name every host tried.
      const diagnostic = f.code === null && f.tried.length > 1 ? `${f.reply} (tried ${f.tried.join(', ')})` : f.reply;
      this.deps.logger.log('delivery.connect_failed', { destination: d.key, tried: f.tried, code: f.code, error: f.reply });
      for (const job of this.takeAll(d, w)) {
        await this.jobDone(w, job, job.recipients.map((r) => ({ address: r.address, fate, code: f.code, status, diagnostic, remote: f.remote })));
      }
      return;
    }
    const session = opened.session;
    w.connected = true;
    try {
      for (;;) {
        if (this.stopping || !session.usable) break;
        const job = d.jobs.shift();
        if (!job) {
          // Keep the connection a moment for the next message to this next hop.
          if (await this.awaitJob(d)) continue;
          break;
        }
        w.held.add(job);
        await this.deliverJob(w, session, job);
      }
    } finally {
      session.close();
    }
  }

  /** One message to one next hop: what the hop can take decides what is sent (src/delivery/transaction.ts). */
  private async deliverJob(w: Worker, session: OutboundSession, job: Job): Promise<void> {
    const env = job.entry.env;
    const hop = session.extensions;
    const plan = planTransaction(
      {
        sender: env.sender,
        smtputf8: env.smtputf8 === true,
        eightBit: env.body === '8bitmime',
        dsn: env.dsn,
        recipients: job.recipients.map((r) => ({ received: r.address, sendAs: job.sendAs.get(r) ?? r.address, notify: r.notify, orcpt: r.orcpt })),
      },
      hop,
    );
    const outcomes = new Map<EnvelopeRecipient, RecipientOutcome>();
    const sending: { r: EnvelopeRecipient; address: string; params: string[] }[] = [];
    job.recipients.forEach((r, i) => {
      const p = plan.recipients[i];
      if (p?.ok) sending.push({ r, address: p.address, params: p.params });
      else if (p) outcomes.set(r, { ...p.outcome, address: r.address, remote: session.remote });
    });
    if (plan.from !== null && sending.length > 0) {
      const body = await this.body(env, plan.scan, hop);
      if (!body.ok) {
        for (const x of sending) outcomes.set(x.r, { address: x.r.address, fate: body.fate, code: null, status: body.status, diagnostic: body.reason, remote: body.fate === 'failed' ? session.remote : null });
      } else {
        const results = await session.send({
          from: plan.from,
          to: sending.map((x) => x.address),
          size: env.size,
          eightBit: body.eightBit,
          mailParams: plan.mailParams,
          rcptParams: sending.map((x) => x.params),
          stream: body.stream,
        });
        sending.forEach((x, i) => {
          const o = results[i] ?? results[0];
          if (!o) return;
          outcomes.set(x.r, { ...o, address: x.r.address });
          // A hop that announces DSN got the recipient's NOTIFY: a success report is its to send.
          if (hop.dsn && o.fate === 'delivered') job.entry.passedOn.add(x.r);
        });
      }
    }
    await this.jobDone(
      w,
      job,
      job.recipients.map((r) => outcomes.get(r) ?? { address: r.address, fate: 'deferred', code: null, status: '4.3.0', diagnostic: 'no outcome for this recipient', remote: null }),
    );
  }

  /**
   * The message as it is to be sent: as stored (small ones in one piece), or
   * converted to 7 bit for a hop without 8BITMIME (src/delivery/downgrade.ts),
   * or refused when the hop cannot take it (bodyVerdict()).
   */
  private async body(
    env: Envelope,
    scanNeeded: boolean,
    hop: HopExtensions,
  ): Promise<{ ok: true; stream: Readable | Buffer; eightBit: boolean } | { ok: false; fate: 'deferred' | 'failed'; status: string; reason: string }> {
    const path = this.deps.spool.messagePath(env.id);
    const eightBit = env.body === '8bitmime';
    try {
      if (scanNeeded) {
        const verdict = bodyVerdict(await scan8Bit(path), { smtputf8: env.smtputf8 === true, eightBit }, hop);
        if (verdict.kind === 'refuse') return { ok: false, fate: 'failed', status: verdict.status, reason: verdict.reason };
        if (verdict.kind === 'convert') {
          const converted = downgrade(createReadStream(path, { highWaterMark: 256 * 1024 }), verdict.parts);
          const limited = new LineLimit();
          // As below: an error must fail the send, not stall it.
          converted.on('error', (err) => limited.destroy(err));
          return { ok: true, stream: converted.pipe(limited), eightBit: false };
        }
        // Declared 8BITMIME and all 7 bit (or a hop that takes it): byte for byte as stored.
      }
      if (env.size <= READ_WHOLE) {
        // Small messages (most of them) in one read and one write to the socket.
        return { ok: true, stream: LineLimit.whole(readFileSync(path)), eightBit };
      }
      const file = createReadStream(path, { highWaterMark: 256 * 1024 });
      const limited = new LineLimit();
      // pipe() does not forward errors: a file that cannot be read must fail the send, not stall it.
      file.on('error', (err) => limited.destroy(err));
      return { ok: true, stream: file.pipe(limited), eightBit };
    } catch (err) {
      return { ok: false, fate: 'deferred', status: '4.3.0', reason: `cannot read the spooled message: ${cleanError(err)}` };
    }
  }

  private async jobDone(w: Worker, job: Job, outcomes: RecipientOutcome[]): Promise<void> {
    const e = job.entry;
    job.recipients.forEach((r, i) => {
      const o = outcomes[i];
      if (o) this.apply(e, r, o);
    });
    // Only now is the job out of the worker's hands (a throw above leaves it for run() to defer).
    w.held.delete(job);
    e.active--;
    if (e.active === 0) await this.finish(e);
  }

  /** Records one recipient's outcome in its envelope entry (in memory; finish() persists). */
  private apply(e: Entry, r: EnvelopeRecipient, o: RecipientOutcome): void {
    const now = this.now();
    r.attempts = (r.attempts ?? 0) + 1;
    r.last_error = o.fate === 'delivered' ? undefined : o.diagnostic;
    r.last_status = o.status;
    // Whether last_error is a next hop's reply (smtp) or our own words (x-mailwarden) in a notification.
    if (o.code !== null) r.last_code = o.code;
    else delete r.last_code;
    if (o.remote) r.remote = o.remote;
    let fate = o.fate;
    if (fate === 'deferred') {
      const q = this.settings().queue;
      const step = nextAttempt({ firstMs: durationMs(q.retry.first), maxMs: durationMs(q.retry.max), lifetimeMs: durationMs(q.lifetime) }, r.attempts, Date.parse(e.env.received_at), now, this.random);
      if (step.kind === 'retry') {
        r.next_attempt = new Date(step.at).toISOString();
      } else {
        fate = 'failed';
        r.last_status = '4.4.7';
        delete r.last_code;
        r.last_error = `message expired in the queue after ${r.attempts} attempts; last error: ${o.diagnostic}`;
      }
    }
    r.status = fate;
    if (fate !== 'deferred') {
      delete r.next_attempt;
      r.done_at = new Date(now).toISOString();
      e.changed.add(r);
    }
    this.deps.logger.log('delivery', {
      id: e.env.id,
      recipient: r.address,
      status: fate,
      relay: o.remote,
      code: o.code,
      dsn: r.last_status,
      response: o.diagnostic,
      attempt: r.attempts,
      delay_s: Math.round((now - Date.parse(e.env.received_at)) / 1000),
      next_attempt: r.next_attempt ?? null,
    });
    if (r.last_error === undefined) delete r.last_error;
  }

  private history(env: Envelope, event: string, detail?: string): void {
    addHistory(env, this.now(), event, detail);
  }

  /** After an attempt: notifications, then the envelope rewritten or the message removed. */
  private async finish(e: Entry): Promise<void> {
    const env = e.env;
    try {
      if (e.bounceRequested) this.failPending(e, 'bounced by the administrator');
      if (e.deleted) {
        await this.deps.spool.remove(env.id);
        this.forget(e);
        this.deps.logger.log('queue.removed', { id: env.id, reason: 'deleted by the administrator' });
        return;
      }
      const changed = [...e.changed];
      e.changed.clear();
      const counts = { delivered: 0, deferred: 0, failed: 0 };
      for (const r of env.recipients) if (r.status !== 'queued') counts[r.status]++;
      if (changed.length || counts.deferred) this.history(env, 'attempt', `delivered ${counts.delivered}, deferred ${counts.deferred}, failed ${counts.failed}`);
      // Notifications are committed before the state that triggers them: a
      // crash in between may send one twice, never lose one.
      // Our own notifications carry NOTIFY=NEVER for the next hop's sake, but
      // their failure still goes to the postmaster (notify() decides).
      const failed = changed.filter((r) => r.status === 'failed' && (env.bounce !== undefined || notifies(r, 'FAILURE')));
      if (failed.length) await this.notify(env, 'failure', failed);
      // Postfix's rule: "relayed" only for a hop that does not announce DSN; one that does got NOTIFY.
      const succeeded = changed.filter((r) => r.status === 'delivered' && r.notify?.includes('SUCCESS') && !e.passedOn.has(r));
      e.passedOn.clear();
      if (succeeded.length) await this.notify(env, 'success', succeeded);
      const warning = this.settings().queue.delay_warning;
      if (warning !== null && !env.delay_warned && this.now() - Date.parse(env.received_at) >= durationMs(warning)) {
        const delayed = env.recipients.filter((r) => r.status === 'deferred' && notifies(r, 'DELAY'));
        if (delayed.length) {
          await this.notify(env, 'delay', delayed);
          env.delay_warned = true;
        }
      }
      if (!env.recipients.some(pending)) {
        // Not awaited (the worker moves on to its next job); a removal lost in
        // a crash means delivering again, never losing. Logged once done.
        this.forget(e);
        void this.deps.spool.remove(env.id).then(
          () => this.deps.logger.log('queue.removed', { id: env.id, reason: 'every recipient is done', ...counts }),
          (err: unknown) => this.deps.logger.log('queue.error', { id: env.id, error: `cannot remove the delivered message: ${cleanError(err)}` }),
        );
        return;
      }
      await this.deps.spool.update(env);
      this.setDue(e, this.dueOf(env));
      this.arm();
    } catch (err) {
      // The files keep the last good state; the next start (or attempt) tries again.
      this.deps.logger.log('queue.error', { id: env.id, error: (err as Error).message });
      this.setDue(e, this.now() + 60_000);
      this.arm();
    }
  }

  private failPending(e: Entry, why: string): void {
    for (const r of e.env.recipients) {
      if (!pending(r)) continue;
      r.status = 'failed';
      r.last_status = '5.0.0';
      r.last_error = why;
      delete r.last_code;
      delete r.next_attempt;
      r.done_at = new Date(this.now()).toISOString();
      e.changed.add(r);
      this.deps.logger.log('delivery', { id: e.env.id, recipient: r.address, status: 'failed', dsn: '5.0.0', response: why, attempt: r.attempts ?? 0 });
    }
  }

  /** Queues one notification about `about` (recipients of `env`) and starts its delivery. */
  private async notify(env: Envelope, type: BounceType, about: EnvelopeRecipient[]): Promise<void> {
    const queued = await queueNotification({ spool: this.deps.spool, snapshot: this.deps.snapshot(), logger: this.deps.logger, now: this.now() }, env, type, about);
    if (!queued) return;
    this.history(env, `dsn.${type}`, `${queued.id} to <${queued.recipients[0]?.address ?? ''}>`);
    this.enqueue(queued);
  }

  // ------------------------------------------------------------ admin operations

  /** Due now: every deferred recipient of one message, or of all. Returns how many messages. */
  async retry(id: string | null): Promise<number> {
    const targets = id === null ? [...this.entries.values()] : [this.need(id)];
    let n = 0;
    for (const e of targets) {
      if (e.env.held || e.active > 0) continue;
      let any = false;
      for (const r of e.env.recipients) {
        if (r.status === 'deferred') {
          delete r.next_attempt;
          any = true;
        }
      }
      if (!any) continue;
      n++;
      this.history(e.env, 'retry', 'by the administrator');
      await this.deps.spool.update(e.env);
      this.setDue(e, this.dueOf(e.env));
      if (this.deps.deliver) this.dispatch(e);
    }
    return n;
  }

  async hold(id: string): Promise<void> {
    const e = this.need(id);
    e.env.held = true;
    this.setDue(e, null);
    this.history(e.env, 'hold', 'by the administrator');
    await this.deps.spool.update(e.env);
  }

  async release(id: string): Promise<void> {
    const e = this.need(id);
    delete e.env.held;
    for (const r of e.env.recipients) if (r.status === 'deferred') delete r.next_attempt;
    this.history(e.env, 'release', 'by the administrator');
    await this.deps.spool.update(e.env);
    this.setDue(e, this.dueOf(e.env));
    if (this.deps.deliver) this.dispatch(e);
  }

  async delete(id: string): Promise<void> {
    const e = this.need(id);
    e.deleted = true;
    if (e.active > 0) return; // removed when the attempt in flight ends
    await this.deps.spool.remove(id);
    this.forget(e);
    this.deps.logger.log('queue.removed', { id, reason: 'deleted by the administrator' });
  }

  /** Fails every pending recipient now, with a notification to the sender. */
  async bounce(id: string): Promise<void> {
    const e = this.need(id);
    if (e.active > 0) {
      e.bounceRequested = true;
      return;
    }
    this.failPending(e, 'bounced by the administrator');
    await this.finish(e);
  }

  private forget(e: Entry): void {
    this.entries.delete(e.env.id);
    this.waiting.delete(e);
  }

  private need(id: string): Entry {
    const e = this.entries.get(id);
    if (!e) throw new QueueError(`no message ${id} in the queue`);
    return e;
  }

  /** Stops starting attempts; resolves when those in flight have ended (or after `graceMs`). */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const d of this.destinations.values()) while (d.idle.length > 0) d.idle.shift()?.wake(false);
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.workers === 0) return;
    await new Promise<void>((done) => {
      const t = setTimeout(done, graceMs);
      t.unref();
      this.idle = () => {
        clearTimeout(t);
        done();
      };
    });
  }
}

export class QueueError extends Error {}
