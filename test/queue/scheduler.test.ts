// The scheduler and the admin operations over a real FileQueueStore, with a
// courier of the test's own (deliveries end when the test says so): the
// active window is bounded; a delivery does not walk the backlog (2,000
// deferred messages, store calls and envelope reads counted); fresh mail
// claimed at commit is delivered without a read; a delivery that runs longer
// than the lease keeps its claim by renewal; a claim lost to another node is
// logged as queue.claim_lost and its settle writes nothing; admin operations
// act through claims (another node's claim is refused by name; a message in
// flight takes the change when its attempt ends). Waits are on state changes,
// never sleeps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedDefaults } from '../../src/config/document.ts';
import { compileSnapshot } from '../../src/config/snapshot.ts';
import type { LogFields, Logger } from '../../src/log/logger.ts';
import type { Courier, CourierOutcome, DeliveryJob } from '../../src/queue/courier.ts';
import type { Envelope } from '../../src/queue/envelope.ts';
import { FileQueueStore } from '../../src/queue/file-queue-store.ts';
import { QueueError, QueueManager } from '../../src/queue/manager.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import type { ClaimRequest } from '../../src/queue/queue-store.ts';
import { queueFiles, storedEnvelope } from '../support/spool-files.ts';
import { conditions } from '../support/conditions.ts';

type Fate = CourierOutcome['fate'];

/** A courier whose deliveries end when the test says (or at once, in `auto` mode). */
class TestCourier implements Courier {
  readonly jobs: DeliveryJob[] = [];
  private readonly open = new Map<string, (fate: Fate | 'storeAway') => void>();
  auto: Fate | null = null;
  private readonly changed: () => void;

  constructor(changed: () => void) {
    this.changed = changed;
  }

  deliver(job: DeliveryJob): Promise<CourierOutcome[]> {
    this.jobs.push(job);
    return new Promise((resolve) => {
      const done = (fate: Fate | 'storeAway') =>
        resolve(
          job.recipients.map((r) =>
            fate === 'storeAway'
              ? { address: r.address, fate: 'deferred', code: null, status: '4.3.0', diagnostic: 'cannot read the spooled message: the store is away (test)', remote: null, storeAway: true }
              : { address: r.address, fate, code: fate === 'delivered' ? 250 : 451, status: fate === 'delivered' ? '2.0.0' : '4.0.0', diagnostic: `${fate} by the test`, remote: 'sink [127.0.0.1]:25' },
          ),
        );
      if (this.auto) done(this.auto);
      else this.open.set(job.envelope.id, done);
      this.changed();
    });
  }

  get running(): number {
    return this.open.size;
  }

  finish(id: string, fate: Fate | 'storeAway' = 'delivered'): void {
    const done = this.open.get(id);
    assert.ok(done, `no delivery of ${id} in flight`);
    this.open.delete(id);
    done(fate);
  }

  finishAll(fate: Fate = 'delivered'): void {
    for (const id of [...this.open.keys()]) this.finish(id, fate);
  }

  /** What is still open counts as never started: the scheduler may give those messages up. */
  async stop(): Promise<DeliveryJob[]> {
    const ids = new Set(this.open.keys());
    this.open.clear();
    return this.jobs.filter((j) => ids.has(j.envelope.id));
  }
}

interface Options {
  window?: number;
  lease?: string;
  now?: () => number;
  deliver?: boolean;
  dir?: string;
}

async function harness(t: { after: (fn: () => unknown) => void }, o: Options = {}) {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'mailwarden-sched-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cond = conditions('scheduler test');
  const lines: { event: string; fields: LogFields }[] = [];
  const logger: Logger = {
    log(event, fields = {}) {
      lines.push({ event, fields });
      cond.changed();
    },
  };
  const store = new FileQueueStore(dir, logger);
  await store.open();
  const settings = embeddedDefaults();
  settings.delivery.enabled = true;
  settings.domains = [{ name: 'dest.example', route: { hosts: ['127.0.0.1:25'] } }];
  settings.queue.lease = o.lease ?? '60s';
  const snapshot = compileSnapshot(settings, 1);
  const courier = new TestCourier(() => cond.changed());
  const manager = new QueueManager({ store, snapshot: () => snapshot, logger, deliver: o.deliver ?? true, courier, window: o.window, now: o.now, node: 'n1' });
  t.after(async () => {
    courier.finishAll();
    await manager.stop(1000);
    await store.close();
  });
  const commit = async (over: Partial<Envelope> = {}, claim?: ClaimRequest) => {
    const w = store.begin(newQueueId());
    await w.write(Buffer.from('Subject: test\r\n\r\nhello\r\n'));
    const done = await w.commit(
      {
        version: 1,
        received_at: new Date().toISOString(),
        sender: 's@sender.example',
        recipients: [{ address: 'r@dest.example', kind: 'inbound', rule: 'rule 3', status: 'queued' }],
        client: { address: '127.0.0.1', helo: 'client.example', user: null, tls: false, listener: 'mx' },
        relayed: false,
        revision: 1,
        body: '7bit',
        smtputf8: false,
        ...over,
      },
      { claim },
    );
    return done;
  };
  const count = (event: string, pred: (f: LogFields) => boolean = () => true) => lines.filter((l) => l.event === event && pred(l.fields)).length;
  return { dir, store, manager, courier, cond, lines, commit, count };
}

const onDisk = (dir: string, id: string): Envelope => storedEnvelope(join(dir, 'spool', 'queue'), id);

test('the active window is bounded: with window 3 and 10 due messages, 3 are claimed and delivered at a time', async (t) => {
  const h = await harness(t, { window: 3 });
  h.manager.load();
  for (let i = 0; i < 10; i++) await h.commit();
  await h.cond.waitFor(() => h.courier.running === 3, 'three deliveries', 10_000);
  assert.equal(h.manager.scheduler?.activeCount, 3);
  assert.equal(h.store.indexed, 7, 'the other seven wait in the store, unclaimed');
  assert.equal(h.manager.claimRequest(), undefined, 'a full window takes no fresh mail at commit either');
  h.courier.finish(h.courier.jobs[0]!.envelope.id);
  await h.cond.waitFor(() => h.courier.jobs.length === 4, 'a fourth delivery once one ended', 10_000);
  assert.equal(h.courier.running, 3);
  assert.equal(h.manager.scheduler?.activeCount, 3);
  h.courier.auto = 'delivered';
  h.courier.finishAll();
  await h.cond.waitFor(() => h.count('queue.removed') === 10, 'every message delivered and removed', 10_000);
  assert.equal(h.courier.jobs.length, 10, 'each message delivered once');
  assert.equal(new Set(h.courier.jobs.map((j) => j.envelope.id)).size, 10);
  assert.deepEqual(await h.store.list(), []);
});

test('a delivery does not walk the backlog: with 2,000 deferred messages, fresh mail is delivered with one envelope read at most', async (t) => {
  // An existing data directory with a backlog of 2,000 deferred messages (in the previous version's two-file layout, which the spool still reads).
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-sched-'));
  const queueDir = join(dir, 'spool', 'queue');
  mkdirSync(queueDir, { recursive: true });
  const later = new Date(Date.now() + 3_600_000).toISOString();
  for (let i = 0; i < 2000; i++) {
    const id = newQueueId();
    const body = Buffer.from(`Subject: backlog ${i}\r\n\r\nx\r\n`);
    writeFileSync(join(queueDir, `${id}.eml`), body);
    const env: Envelope = {
      version: 1,
      id,
      received_at: new Date().toISOString(),
      sender: 's@sender.example',
      recipients: [{ address: 'r@dest.example', kind: 'inbound', rule: 'rule 3', status: 'deferred', attempts: 1, next_attempt: later }],
      client: { address: '127.0.0.1', helo: 'client.example', user: null, tls: false, listener: 'mx' },
      relayed: false,
      revision: 1,
      size: body.length,
      body: '7bit',
      smtputf8: false,
    };
    writeFileSync(join(queueDir, `${id}.json`), JSON.stringify(env));
  }
  const h = await harness(t, { dir });
  assert.equal(h.store.indexed, 2000, 'open() indexed the backlog');
  // From here on, count what the queue does.
  const calls = new Map<string, number>();
  const spy = <T extends object>(obj: T, names: string[]) => {
    for (const name of names) {
      const rec = obj as Record<string, unknown>;
      const fn = rec[name] as (...a: unknown[]) => unknown;
      rec[name] = (...a: unknown[]) => {
        calls.set(name, (calls.get(name) ?? 0) + 1);
        h.cond.changed();
        return fn.apply(obj, a);
      };
    }
  };
  spy(h.store, ['list', 'read', 'claimDue', 'claim', 'nextDue', 'settle', 'update']);
  spy(h.store.spool, ['read', 'list']);
  const envelopeReads = () => (calls.get('read') ?? 0);
  h.courier.auto = 'delivered';
  h.manager.load();
  await h.cond.waitFor(() => (calls.get('nextDue') ?? 0) >= 1, 'the first claim round', 10_000);
  assert.equal(h.courier.jobs.length, 0, 'nothing of the backlog is due');
  calls.clear();

  // Fresh mail, claimed at its commit (the front end's fast path): no read at all.
  const fresh = await h.commit({}, h.manager.claimRequest());
  assert.ok(fresh.claim, 'the commit took the claim');
  h.manager.enqueue(fresh);
  await h.cond.waitFor(() => h.count('queue.removed') === 1, 'the fresh message delivered', 10_000);
  assert.equal(envelopeReads(), 0, 'the fresh message was delivered without reading an envelope');
  // Fresh mail announced by the store (no claim at commit): one read, of that message.
  const announced = await h.commit();
  await h.cond.waitFor(() => h.count('queue.removed') === 2, 'the announced message delivered', 10_000);
  assert.deepEqual(
    h.courier.jobs.map((j) => j.envelope.id),
    [fresh.envelope.id, announced.envelope.id],
  );
  assert.equal(envelopeReads(), 1, `one envelope read for two deliveries, not the backlog (${[...calls].join(', ')})`);
  assert.equal(calls.get('list') ?? 0, 0, 'the queue was never listed');
  assert.ok((calls.get('claimDue') ?? 0) <= 6, `a few claim rounds, not one per backlog message (${calls.get('claimDue')})`);
  assert.equal(h.store.indexed, 2000, 'the backlog still waits, untouched');
});

test('a delivery that runs longer than its lease keeps its claim: the lease is renewed, nobody else gets the message', async (t) => {
  const h = await harness(t, { lease: '1s' });
  let renewals = 0;
  const renew = h.store.renew.bind(h.store);
  h.store.renew = async (...args) => {
    const lost = await renew(...args);
    renewals++;
    h.cond.changed();
    return lost;
  };
  h.manager.load();
  const { envelope } = await h.commit();
  await h.cond.waitFor(() => h.courier.running === 1, 'the delivery under way', 10_000);
  const started = Date.now();
  // Four renewals, a third of a lease apart: the delivery has outlived its first lease.
  await h.cond.waitFor(() => renewals >= 4, 'four renewals', 10_000);
  assert.ok(Date.now() - started >= 1000, 'the delivery has run longer than one lease');
  assert.deepEqual(await h.store.claimDue({ node: 'n2', leaseMs: 1000, now: Date.now(), limit: 10 }), [], 'another node gets nothing: the lease is live');
  assert.equal((await h.store.holder(envelope.id, Date.now()))?.node, 'n1');
  h.courier.finish(envelope.id);
  await h.cond.waitFor(() => h.count('queue.removed') === 1, 'the message settled', 10_000);
  assert.equal(h.count('queue.claim_lost'), 0);
  assert.equal(h.manager.scheduler?.claimsLost, 0);
});

test('a claim lost to another node (lease expired): queue.claim_lost is logged and counted, the settle writes nothing', async (t) => {
  let clock = Date.parse('2026-06-01T00:00:00Z');
  const h = await harness(t, { now: () => clock });
  h.manager.load();
  const { envelope } = await h.commit({ received_at: new Date(clock).toISOString() });
  await h.cond.waitFor(() => h.courier.running === 1, 'the delivery under way', 10_000);
  clock += 61_000; // the lease (60 s) ran out, with no renewal on this clock
  const [taken] = await h.store.claimDue({ node: 'n2', leaseMs: 60_000, now: clock, limit: 10 });
  assert.equal(taken?.id, envelope.id, 'another node took the message over');
  const before = queueFiles(join(h.dir, 'spool', 'queue'));
  h.courier.finish(envelope.id, 'deferred');
  await h.cond.waitFor(() => h.count('queue.claim_lost') === 1, 'queue.claim_lost', 10_000);
  const line = h.lines.find((l) => l.event === 'queue.claim_lost');
  assert.equal(line?.fields.id, envelope.id);
  assert.equal(line?.fields.possible_duplicate, true);
  assert.equal(h.manager.scheduler?.claimsLost, 1);
  assert.equal(queueFiles(join(h.dir, 'spool', 'queue')), before, 'the lost settle wrote nothing');
  assert.deepEqual(await h.store.holder(envelope.id, clock), { node: 'n2', until: clock + 60_000 }, 'the message is left to its new owner');
});

test('admin operations act through claims: refused by name while another node delivers; claim, change, settle otherwise', async (t) => {
  const h = await harness(t, { deliver: false });
  const later = new Date(Date.now() + 3_600_000).toISOString();
  const deferred = (await h.commit({ recipients: [{ address: 'r@dest.example', kind: 'inbound', rule: 'rule 3', status: 'deferred', attempts: 1, next_attempt: later }] })).envelope;
  const busy = (await h.commit()).envelope;
  await h.store.claim(busy.id, { node: 'n2', leaseMs: 60_000, now: Date.now() });
  for (const op of ['hold', 'release', 'delete', 'bounce'] as const) {
    await assert.rejects(h.manager[op](busy.id), (err: Error) => err instanceof QueueError && /being delivered by node n2; try again in a moment/.test(err.message), op);
  }
  await assert.rejects(h.manager.retry(busy.id), /being delivered by node n2/);
  await assert.rejects(h.manager.hold(newQueueId()), /no message .* in the queue/);

  await h.manager.hold(deferred.id);
  assert.equal(onDisk(h.dir, deferred.id).held, true);
  assert.equal(onDisk(h.dir, deferred.id).history?.at(-1)?.event, 'hold');
  assert.equal(await h.store.holder(deferred.id, Date.now()), null, 'the claim was given up');
  assert.equal(await h.manager.retry(deferred.id), 0, 'a held message is not retried');
  await h.manager.release(deferred.id);
  const released = onDisk(h.dir, deferred.id);
  assert.equal(released.held, undefined);
  assert.equal(released.recipients[0]?.next_attempt, undefined, 'released: due now');
  assert.equal(await h.store.nextDue(), 0);
  // retry --all skips the deferred message another node holds, and counts the deferred ones it changed.
  const deferredFields = { recipients: [{ address: 'q@dest.example', kind: 'inbound' as const, rule: 'rule 3', status: 'deferred' as const, attempts: 1, next_attempt: later }] };
  const another = (await h.commit(deferredFields)).envelope;
  const elsewhere = (await h.commit(deferredFields)).envelope;
  await h.store.claim(elsewhere.id, { node: 'n2', leaseMs: 60_000, now: Date.now() });
  assert.equal(await h.manager.retry(null), 2, 'the released one and the other; not the one node n2 holds');
  assert.equal(onDisk(h.dir, elsewhere.id).recipients[0]?.next_attempt, later);
  assert.equal(onDisk(h.dir, another.id).recipients[0]?.next_attempt, undefined);

  await h.manager.bounce(deferred.id);
  await h.cond.waitFor(() => h.count('queue.removed', (f) => f.id === deferred.id) === 1, 'the bounced message removed', 10_000);
  const dsn = (await h.store.list()).find((e) => e.bounce?.of === deferred.id);
  assert.ok(dsn, 'the sender is told');
  assert.equal(dsn.recipients[0]?.address, 's@sender.example');
  await h.manager.delete(another.id);
  assert.equal(await h.store.read(another.id), null);
});

test('an admin change to a message in flight applies when its attempt ends', async (t) => {
  const h = await harness(t);
  h.manager.load();
  const { envelope } = await h.commit();
  await h.cond.waitFor(() => h.courier.running === 1, 'the delivery under way', 10_000);
  await h.manager.hold(envelope.id);
  assert.equal(onDisk(h.dir, envelope.id).held, undefined, 'not written while the delivery runs');
  h.courier.finish(envelope.id, 'deferred');
  await h.cond.waitFor(() => h.count('delivery') === 1, 'the outcome', 10_000);
  await h.manager.stop(1000);
  const env = onDisk(h.dir, envelope.id);
  assert.equal(env.held, true, 'held once the attempt ended');
  assert.equal(env.recipients[0]?.status, 'deferred');
  assert.equal(await h.store.nextDue(), null, 'and no longer due');
});

test('at stop, messages whose delivery never started are given up at once: another node may take them without waiting for the lease', async (t) => {
  const h = await harness(t);
  h.manager.load();
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await h.commit()).envelope.id);
  await h.cond.waitFor(() => h.courier.running === 3, 'three deliveries waiting in the courier', 10_000);
  assert.equal((await h.store.claimsByNode(Date.now())).get('n1'), 3);
  await h.manager.stop(0);
  assert.equal((await h.store.claimsByNode(Date.now())).get('n1') ?? 0, 0, 'no claim left');
  const taken = await h.store.claimDue({ node: 'n2', leaseMs: 60_000, now: Date.now(), limit: 10 });
  assert.deepEqual(taken.map((c) => c.id).sort(), ids.sort());
  assert.ok(taken.every((c) => c.envelope.recipients[0]?.status === 'queued'), 'unchanged: nothing was attempted');
});

test('a message that could not be read because the store was away is no attempt: given back as it was and delivered again at once, no retry backoff', async (t) => {
  const h = await harness(t);
  h.manager.load();
  const { envelope } = await h.commit();
  await h.cond.waitFor(() => h.courier.running === 1, 'the first delivery', 10_000);
  h.courier.finish(envelope.id, 'storeAway');
  // Settled back unchanged (due now), so it is claimed again at once: a second delivery of the same message.
  await h.cond.waitFor(() => h.courier.jobs.length === 2, 'a second delivery right away', 10_000);
  assert.equal(h.courier.jobs[1]!.envelope.id, envelope.id);
  const r = h.courier.jobs[1]!.envelope.recipients[0]!;
  assert.equal(r.status, 'queued', 'the recipient is as it was');
  assert.equal(r.attempts, undefined, 'no attempt counted');
  assert.equal(r.next_attempt, undefined, 'no retry scheduled');
  assert.equal(h.count('delivery'), 0, 'no delivery line for a read that never reached a hop');
  assert.equal(h.count('queue.error', (f) => String(f.error).startsWith('not attempted:')), 1);
  h.courier.finish(envelope.id, 'delivered');
  await h.cond.waitFor(() => h.count('queue.removed') === 1, 'delivered and removed', 10_000);
});
