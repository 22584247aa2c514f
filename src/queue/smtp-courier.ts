// The SMTP courier: takes delivery jobs to their next hops. Jobs are grouped
// per destination (a local domain's route, the smarthost, or a domain's MX
// hosts); a destination's jobs share connections, with a limit on
// connections per destination and in total, and an idle connection is kept a
// moment for the next message to the same hop. What the hop announces decides
// what is sent (src/delivery/transaction.ts): as stored, converted to 7 bit,
// or refused. It reads the message from the queue store as a stream or, when
// small, whole; it records nothing: the outcomes go back to the scheduler.

import type { Readable } from 'node:stream';
import { readFile } from 'node:fs/promises';
import type { Snapshot } from '../config/snapshot.ts';
import type { Settings } from '../config/document.ts';
import { durationMs } from '../core/duration.ts';
import { downgrade, scan8Bit } from '../delivery/downgrade.ts';
import { resignConverted } from '../dkim/resign.ts';
import { signable } from '../dkim/choose.ts';
import { LineLimit } from '../delivery/line-limit.ts';
import { rootCertificates } from 'node:tls';
import { OutboundSession, type OutboundOptions, type Target, type TargetTls } from '../delivery/outbound.ts';
import { fetchPolicyText, MtaStsCache, txtLookup, type StsAnswer, type TxtLookup } from '../delivery/mta-sts.ts';
import type { MtaStsPolicy } from '../delivery/mta-sts-policy.ts';
import { decideTls, describeSource, domainEntryFor, type TlsDecision } from '../delivery/tls-policy.ts';
import { cleanError } from '../delivery/outcome.ts';
import { createDns, type Dns } from '../delivery/resolver.ts';
import { resolveTargets, routeOptions, type RoutePlan } from '../delivery/routes.ts';
import { bodyVerdict, planTransaction, type HopExtensions } from '../delivery/transaction.ts';
import type { Logger } from '../log/logger.ts';
import type { Courier, CourierOutcome, DeliveryJob } from './courier.ts';
import type { Envelope } from './envelope.ts';
import type { QueueStore } from './queue-store.ts';

/** Messages up to this size are read and sent in one piece; larger ones stream. */
const READ_WHOLE = 256 * 1024;

/** How long a connection to a next hop stays open, idle, for the next message. */
const IDLE_MS = 2000;

interface Job {
  job: DeliveryJob;
  done: (outcomes: CourierOutcome[]) => void;
}

type Targets = ReturnType<typeof resolveTargets>;

interface Destination {
  key: string;
  plan: RoutePlan;
  jobs: Job[];
  workers: number;
  /** Workers whose connection is open and idle, waiting for a job: wake(true) hands one over, wake(false) closes. */
  idle: { wake: (job: boolean) => void }[];
  /**
   * The MTA-STS look-up for the next new connection(s), made before a worker
   * takes a connection slot: a policy server that is slow (up to
   * delivery.mta_sts.timeout) must not hold slots of delivery.max_connections
   * that other destinations could use. `ready` holds the settled promise, and
   * the MX look-up made at the same time for the first worker to start.
   */
  sts?: { state: 'pending' } | { state: 'ready'; answer: Promise<StsAnswer>; targets?: Targets | undefined };
}

/** What one worker holds: the jobs taken and not yet answered, and whether it got a connection. */
interface Worker {
  held: Set<Job>;
  connected: boolean;
}

export interface SmtpCourierDeps {
  store: QueueStore;
  snapshot: () => Snapshot;
  logger: Logger;
  random?: () => number;
  /** For tests: a DNS other than the one of dns.servers. */
  dns?: Dns;
  /** For tests: a route resolver other than resolveTargets (e.g. one that throws). */
  resolve?: typeof resolveTargets;
  /** For tests: a TXT look-up other than the one of dns.servers (MTA-STS). */
  txt?: TxtLookup;
}

/** Whether deliveries to `plan` follow MTA-STS: MX deliveries with it enabled and no domain entry of tls_policy. */
function stsWanted(s: Settings, plan: RoutePlan): boolean {
  return plan.kind === 'mx' && s.delivery.mta_sts.enabled && domainEntryFor(s.delivery.tls_policy, plan) < 0;
}

export class SmtpCourier implements Courier {
  private readonly deps: SmtpCourierDeps;
  private readonly destinations = new Map<string, Destination>();
  private workers = 0;
  private stopping = false;
  private idle: (() => void) | null = null;
  private dnsCache: { servers: string; dns: Dns } | null = null;
  private txtCache: { servers: string; txt: TxtLookup } | null = null;
  /** MTA-STS policies of this node, in memory (see src/delivery/mta-sts.ts). */
  readonly sts = new MtaStsCache();
  private readonly random: () => number;

  constructor(deps: SmtpCourierDeps) {
    this.deps = deps;
    this.random = deps.random ?? Math.random;
  }

  deliver(job: DeliveryJob): Promise<CourierOutcome[]> {
    return new Promise((done) => {
      let d = this.destinations.get(job.plan.key);
      if (!d) {
        d = { key: job.plan.key, plan: job.plan, jobs: [], workers: 0, idle: [] };
        this.destinations.set(job.plan.key, d);
      }
      d.plan = job.plan;
      d.jobs.push({ job, done });
      this.pump();
    });
  }

  async stop(graceMs: number): Promise<DeliveryJob[]> {
    this.stopping = true;
    for (const d of this.destinations.values()) while (d.idle.length > 0) d.idle.shift()?.wake(false);
    if (this.workers > 0) await this.drained(graceMs);
    // What no worker took will not be taken now.
    const unstarted: DeliveryJob[] = [];
    for (const d of this.destinations.values()) for (const j of d.jobs.splice(0)) unstarted.push(j.job);
    return unstarted;
  }

  private drained(graceMs: number): Promise<void> {
    return new Promise<void>((done) => {
      const t = setTimeout(done, graceMs);
      t.unref();
      this.idle = () => {
        clearTimeout(t);
        done();
      };
    });
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

  /** Starts workers where jobs wait, within the connection limits. */
  private pump(): void {
    if (this.stopping) return;
    const settings = this.settings();
    const s = settings.delivery;
    let blocked = false;
    for (const d of this.destinations.values()) {
      // Idle connections first: a job waiting there needs no new connection.
      for (let n = d.jobs.length; n > 0 && d.idle.length > 0; n--) d.idle.shift()?.wake(true);
      let started = false;
      while (d.jobs.length > d.workers - d.idle.length && d.workers < s.max_connections_per_destination) {
        if (this.workers >= s.max_connections) {
          blocked = true;
          break;
        }
        let prepared: { sts: Promise<StsAnswer>; targets?: Targets | undefined } | null = null;
        if (stsWanted(settings, d.plan)) {
          // No slot until the policy is known; the look-up calls pump() again when it is.
          if (d.sts?.state !== 'ready') {
            if (!d.sts) this.prepareSts(d);
            break;
          }
          prepared = { sts: d.sts.answer, targets: d.sts.targets };
          // The MX answer goes to one worker only: each further connection draws its own MX order.
          d.sts.targets = undefined;
        }
        started = true;
        d.workers++;
        this.workers++;
        void this.run(d, prepared).finally(() => {
          d.workers--;
          this.workers--;
          if (d.workers === 0 && d.jobs.length === 0) this.destinations.delete(d.key);
          if (this.workers === 0 && this.idle) this.idle();
          this.pump();
        });
      }
      // The connections started now share the answer; a later one looks the policy up again (cached, one TXT query).
      if (started && d.sts?.state === 'ready') delete d.sts;
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

  /**
   * One worker of a destination. Whatever throws inside a delivery (a bug, a
   * library's surprise) ends here: the jobs the worker held are deferred with
   * a log line, and the daemon goes on. Before a connection is made every job
   * waiting for the destination shares the fault (the next worker would meet
   * it too), so those are deferred as well rather than retried in a loop.
   */
  private async run(d: Destination, prepared: { sts: Promise<StsAnswer>; targets?: Targets | undefined } | null): Promise<void> {
    const w: Worker = { held: new Set(), connected: false };
    try {
      await this.work(d, w, prepared);
    } catch (err) {
      const error = cleanError(err);
      if (!w.connected) for (const job of d.jobs.splice(0)) w.held.add(job);
      this.deps.logger.log('delivery.error', { destination: d.key, error, ids: [...new Set([...w.held].map((j) => j.job.envelope.id))] });
      for (const job of [...w.held]) {
        const diagnostic = `internal error while delivering: ${error}`;
        this.answer(w, job, job.job.recipients.map((r) => ({ address: r.address, fate: 'deferred', code: null, status: '4.3.0', diagnostic, remote: null })));
      }
    }
  }

  private answer(w: Worker, job: Job, outcomes: CourierOutcome[]): void {
    w.held.delete(job);
    job.done(outcomes);
  }

  /** Takes every job waiting for `d` into the worker's hands. */
  private takeAll(d: Destination, w: Worker): Job[] {
    const jobs = d.jobs.splice(0);
    for (const job of jobs) w.held.add(job);
    return jobs;
  }

  /** Every job waiting for `d` gets the same answer (the destination cannot be reached). */
  private answerAll(d: Destination, w: Worker, outcome: Omit<CourierOutcome, 'address'>): void {
    for (const job of this.takeAll(d, w)) this.answer(w, job, job.job.recipients.map((r) => ({ ...outcome, address: r.address })));
  }

  /** Starts the MTA-STS look-up of `d` outside any connection slot (see Destination.sts). */
  private prepareSts(d: Destination): void {
    const plan = d.plan;
    if (plan.kind !== 'mx') return;
    d.sts = { state: 'pending' };
    const s = this.settings();
    // The MX records are asked at the same time, so that MTA-STS adds no wait to a delivery.
    const targets = this.resolve(plan, s);
    const answer = this.mtaSts(plan.domain);
    // A look-up that throws (a bug) is handed to the worker as it is: run() defers its jobs.
    const settled = () => {
      d.sts = { state: 'ready', answer, targets };
      this.pump();
    };
    answer.then(settled, settled);
    targets.catch(() => {});
  }

  /** Never throws: whatever goes wrong comes as a rejection, for the worker's catch. */
  private async resolve(plan: RoutePlan, s: Settings): Targets {
    return (this.deps.resolve ?? resolveTargets)(plan, this.dns(), s.delivery.mx_port, this.random);
  }

  private async work(d: Destination, w: Worker, prepared: { sts: Promise<StsAnswer>; targets?: Targets | undefined } | null): Promise<void> {
    const s = this.settings();
    const plan = d.plan;
    // MTA-STS is looked up before the worker starts (pump); only a settings change since then asks here, in parallel with the MX look-up.
    const lookUp = prepared?.sts ?? (stsWanted(s, plan) && plan.kind === 'mx' ? this.mtaSts(plan.domain) : null);
    const [targets, sts] = await Promise.all([prepared?.targets ?? this.resolve(plan, s), lookUp]);
    if (!targets.ok) {
      this.answerAll(d, w, { fate: targets.fate, code: null, status: targets.status, diagnostic: targets.reason, remote: null });
      return;
    }
    const tls = await this.targetTls(s, plan, targets.targets, sts?.policy ?? null);
    if (!tls.ok) {
      this.deps.logger.log('delivery.tls_refused', { destination: d.key, error: tls.reason, tls_policy: tls.policy });
      this.answerAll(d, w, { fate: 'deferred', code: null, status: '4.7.5', diagnostic: tls.reason, remote: null });
      return;
    }
    const ro = routeOptions(s, plan);
    const opts: OutboundOptions = {
      hostname: s.hostname,
      connectTimeoutMs: durationMs(s.delivery.connect_timeout),
      replyTimeoutMs: durationMs(s.delivery.reply_timeout),
      tls: (t) => tls.byTarget.get(t) ?? { level: 'may' },
      auth: ro.auth,
    };
    const opened = await OutboundSession.open(tls.targets, opts);
    if (!opened.ok) {
      const f = opened.failure;
      const fate = f.code !== null && f.code >= 500 && d.plan.kind !== 'local' ? 'failed' : 'deferred';
      const status = f.status ?? (f.code === null ? '4.4.1' : `${fate === 'failed' ? 5 : 4}.4.1`);
      // A reply is reported as it was given (Diagnostic-Code: smtp); our own words may name every host tried.
      const diagnostic = f.code === null && f.tried.length > 1 ? `${f.reply} (tried ${f.tried.join(', ')})` : f.reply;
      this.deps.logger.log('delivery.connect_failed', { destination: d.key, tried: f.tried, code: f.code, error: f.reply, ...(f.tlsPolicy ? { tls_policy: f.tlsPolicy } : {}) });
      this.answerAll(d, w, { fate, code: f.code, status, diagnostic, remote: f.remote });
      return;
    }
    const testing = tls.testing.get(opened.session.target);
    if (testing) this.reportTesting(testing, opened.session);
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
        this.answer(w, job, await this.deliverJob(session, job.job));
      }
    } finally {
      session.close();
    }
  }

  /** The MTA-STS policy of a domain (null: none), through the node's cache. */
  private async mtaSts(domain: string): Promise<StsAnswer> {
    const s = this.settings();
    const m = s.delivery.mta_sts;
    const key = s.dns.servers.join(',');
    if (!this.txtCache || this.txtCache.servers !== key) this.txtCache = { servers: key, txt: txtLookup(s.dns.servers) };
    const txt = this.deps.txt ?? this.txtCache.txt;
    let ca: Buffer | undefined;
    try {
      if (m.ca) ca = await readFile(m.ca);
    } catch (err) {
      this.deps.logger.log('mta_sts.fetch_failed', { domain, error: `cannot read delivery.mta_sts.ca: ${(err as Error).message}` });
    }
    return this.sts.policyFor(domain, {
      txt,
      fetch: (dom) => fetchPolicyText(dom, this.dns(), { port: m.port, timeoutMs: durationMs(m.timeout), ca }),
      log: (event, fields) => this.deps.logger.log(event, fields),
    });
  }

  /**
   * Each target's TLS level (tls-policy.ts), with the CA files read. Targets an
   * enforced MTA-STS policy excludes are left out; none left is a deferral.
   */
  private async targetTls(
    s: Settings,
    plan: RoutePlan,
    targets: readonly Target[],
    sts: MtaStsPolicy | null,
  ): Promise<{ ok: true; targets: Target[]; byTarget: Map<Target, TargetTls>; testing: Map<Target, NonNullable<TlsDecision['testing']> & { mx: string }> } | { ok: false; reason: string; policy: string }> {
    const byTarget = new Map<Target, TargetTls>();
    const testing = new Map<Target, NonNullable<TlsDecision['testing']> & { mx: string }>();
    const used: Target[] = [];
    const excluded: string[] = [];
    const files = new Map<string, Promise<Buffer>>();
    let stsCa: Promise<Buffer | null> | null = null;
    for (const t of targets) {
      const decision = decideTls(s, plan, t, sts);
      if (!decision.use) {
        excluded.push(decision.reason);
        continue;
      }
      const d = decision.tls;
      const tt: TargetTls = { level: d.level };
      if (d.level === 'encrypt' || d.level === 'verify') tt.why = describeSource(d.source);
      if (d.caFile !== undefined) {
        const file = d.caFile;
        if (!files.has(file)) files.set(file, readFile(file));
        try {
          tt.ca = await files.get(file);
        } catch (err) {
          const setting = d.source.kind === 'entry' ? `delivery.tls_policy[${d.source.index}].ca` : 'delivery.smarthost.ca';
          return { ok: false, reason: `cannot read ${setting}: ${(err as Error).message}`, policy: describeSource(d.source) };
        }
      } else if ((d.source.kind === 'mta-sts' || d.testing) && s.delivery.mta_sts.ca) {
        // Tests only: the CA of the test MX certificates, trusted besides the system's.
        const file = s.delivery.mta_sts.ca;
        stsCa ??= readFile(file).catch(() => null);
        const extra = await stsCa;
        if (extra) tt.ca = [...rootCertificates, extra];
      }
      byTarget.set(t, tt);
      if (d.testing) testing.set(t, { ...d.testing, mx: t.name });
      used.push(t);
    }
    if (used.length === 0) {
      const reason = `no MX host may be used: ${excluded.join('; ')}`;
      return { ok: false, reason, policy: sts ? `the MTA-STS policy of ${plan.kind === 'mx' ? plan.domain : plan.key} (id ${sts.id}, mode ${sts.mode})` : '' };
    }
    return { ok: true, targets: used, byTarget, testing };
  }

  /** MTA-STS testing: what enforce would have refused is logged, the mail goes anyway (RFC 8461 5.2). */
  private reportTesting(t: NonNullable<TlsDecision['testing']> & { mx: string }, session: OutboundSession): void {
    const tls = session.tls;
    const problems: string[] = [];
    if (!t.mxMatches) problems.push('the MX host is not in the policy');
    if (!tls.secure) problems.push('no TLS');
    else if (!tls.authorized) problems.push(`certificate not valid for ${t.mx}: ${tls.error ?? 'unverified'}`);
    if (problems.length) this.deps.logger.log('mta_sts.testing', { domain: t.domain, id: t.id, mx: t.mx, remote: session.remote, problem: problems.join('; ') });
  }

  /** One message to one next hop: what the hop can take decides what is sent (src/delivery/transaction.ts). */
  private async deliverJob(session: OutboundSession, job: DeliveryJob): Promise<CourierOutcome[]> {
    const env = job.envelope;
    const hop = session.extensions;
    const plan = planTransaction(
      {
        sender: env.sender,
        smtputf8: env.smtputf8 === true,
        eightBit: env.body === '8bitmime',
        dsn: env.dsn,
        recipients: job.recipients.map((r, i) => ({ received: r.address, sendAs: job.sendAs[i] ?? r.address, notify: r.notify, orcpt: r.orcpt })),
      },
      hop,
    );
    const outcomes: (CourierOutcome | undefined)[] = job.recipients.map(() => undefined);
    const sending: { i: number; address: string; params: string[] }[] = [];
    job.recipients.forEach((r, i) => {
      const p = plan.recipients[i];
      if (p?.ok) sending.push({ i, address: p.address, params: p.params });
      else if (p) outcomes[i] = { ...p.outcome, address: r.address, remote: session.remote };
    });
    if (plan.from !== null && sending.length > 0) {
      const body = await this.body(env, plan.scan, hop);
      if (!body.ok) {
        for (const x of sending) outcomes[x.i] = { address: job.recipients[x.i]?.address ?? '', fate: body.fate, code: null, status: body.status, diagnostic: body.reason, remote: body.fate === 'failed' ? session.remote : null, ...(body.storeAway ? { storeAway: true } : {}) };
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
        sending.forEach((x, n) => {
          const o = results[n] ?? results[0];
          if (!o) return;
          // A hop that announces DSN got the recipient's NOTIFY: a success report is its to send.
          outcomes[x.i] = { ...o, address: job.recipients[x.i]?.address ?? o.address, passedOn: hop.dsn && o.fate === 'delivered' };
        });
      }
    }
    return job.recipients.map((r, i) => outcomes[i] ?? { address: r.address, fate: 'deferred', code: null, status: '4.3.0', diagnostic: 'no outcome for this recipient', remote: null });
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
  ): Promise<{ ok: true; stream: Readable | Buffer; eightBit: boolean } | { ok: false; fate: 'deferred' | 'failed'; status: string; reason: string; storeAway?: boolean }> {
    const eightBit = env.body === '8bitmime';
    try {
      const stored = await this.deps.store.body(env.id);
      if (!stored) return { ok: false, fate: 'deferred', status: '4.3.0', reason: 'cannot read the spooled message: it is no longer in the queue' };
      if (scanNeeded) {
        const verdict = bodyVerdict(await scan8Bit(stored.stream()), { smtputf8: env.smtputf8 === true, eightBit }, hop);
        if (verdict.kind === 'refuse') return { ok: false, fate: 'failed', status: verdict.status, reason: verdict.reason };
        if (verdict.kind === 'convert') {
          // Converted mail is signed again (src/dkim/resign.ts): the conversion breaks the signature made at the commit.
          const dkim = this.settings().dkim;
          const resigned = await resignConverted(dkim, signable(dkim, env.relayed || env.client.user !== null, env.recipients.some((x) => x.kind === 'relay')), () => downgrade(stored.stream(), verdict.parts));
          if (resigned) this.deps.logger.log('dkim.resigned', { id: env.id, ...(resigned.result.signed ? { signed: true, domain: resigned.result.domain } : { signed: false, reason: resigned.result.reason }) });
          const converted = resigned?.stream ?? downgrade(stored.stream(), verdict.parts);
          const limited = new LineLimit();
          // As below: an error must fail the send, not stall it.
          converted.on('error', (err) => limited.destroy(err));
          return { ok: true, stream: converted.pipe(limited), eightBit: false };
        }
        // Declared 8BITMIME and all 7 bit (or a hop that takes it): byte for byte as stored.
      }
      if (stored.size <= READ_WHOLE) {
        // Small messages (most of them) in one read and one write to the socket.
        return { ok: true, stream: LineLimit.whole(await stored.whole()), eightBit };
      }
      const file = stored.stream();
      const limited = new LineLimit();
      // pipe() does not forward errors: a message that cannot be read must fail the send, not stall it.
      file.on('error', (err) => limited.destroy(err));
      return { ok: true, stream: file.pipe(limited), eightBit };
    } catch (err) {
      // The store says whether it is away (a cluster store whose database cannot be reached): then the read is no attempt.
      // The error itself is asked too: in a failover the pool may be back before this line runs, and a read lost to
      // the switch must not count as an attempt and wait out a whole retry step.
      const admission = this.deps.store.admits(0);
      const storeAway = this.deps.store.isOutage?.(err) === true || (!admission.ok && admission.cause === 'unavailable');
      return { ok: false, fate: 'deferred', status: '4.3.0', reason: `cannot read the spooled message: ${cleanError(err)}`, storeAway };
    }
  }
}
