// The QueueStore contract (src/queue/queue-store.ts): what every adapter (the
// spool directory, PostgreSQL) promises, from the port's doc comments. The
// factory makes an opened, empty store; `second`, when the adapter supports
// it, opens another instance on the same store, as a second node would.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Envelope } from '../../../src/queue/envelope.ts';
import { newQueueId } from '../../../src/queue/queue-id.ts';
import { ClaimLostError, type QueueArea, type QueueStore } from '../../../src/queue/queue-store.ts';
import type { Made } from './types.ts';
import { envelopeFields } from '../../support/envelope.ts';

export interface QueueMade extends Made<QueueStore> {
  /** Another instance on the same store (a second node); closed by cleanup(). */
  second?: () => Promise<QueueStore>;
  /**
   * For an adapter that keeps leases on a clock of its own (PostgreSQL: the
   * database's) rather than the callers' `now`: moves that clock by `ms` as
   * the tests move `now` (for PostgreSQL, every stored lease end moves back by
   * as much, which is the same thing).
   */
  leaseClock?: { advance(ms: number): Promise<void> };
}

export type QueueFactory = () => Promise<QueueMade>;

const T0 = Date.parse('2026-05-01T12:00:00.000Z');
const LEASE = 60_000;
const A = { node: 'node-a', leaseMs: LEASE };
const B = { node: 'node-b', leaseMs: LEASE };

export function fields(over: Partial<Envelope> = {}): Omit<Envelope, 'size' | 'id'> {
  return envelopeFields({ received_at: '2026-05-01T11:59:00.000Z', ...over });
}

const deferredUntil = (at: number): Partial<Envelope> => ({ recipients: [{ address: 'b@example.org', kind: 'relay', rule: 'rule 7', status: 'deferred', attempts: 1, next_attempt: new Date(at).toISOString() }] });

const MESSAGE = Buffer.from('Received: from client.example\r\nSubject: hello\r\nX-Spam: maybe\r\n\r\nbody line 1\r\nbody line 2\r\n');

/** Commits one message, written in pieces. */
export async function put(store: QueueStore, body: Buffer = MESSAGE, over: Partial<Envelope> = {}, opts: { area?: QueueArea; id?: string } = {}): Promise<Envelope> {
  const w = store.begin(opts.id ?? newQueueId());
  for (let i = 0; i < body.length; i += 7_001) await w.write(body.subarray(i, i + 7_001));
  const c = await w.commit(fields(over), opts.area ? { area: opts.area } : {});
  return c.envelope;
}

async function streamed(store: QueueStore, id: string, area?: QueueArea): Promise<Buffer> {
  const b = await store.body(id, area);
  assert.ok(b, `body of ${id}`);
  const parts: Buffer[] = [];
  for await (const c of b.stream()) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function gather(src: { chunks(): AsyncIterable<Buffer> }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src.chunks()) parts.push(c);
  return Buffer.concat(parts);
}

export interface QueueContractOptions {
  /** The factory's `second` opens another node on the same store: the multi-node tests run. */
  multiNode?: boolean;
}

export function queueStoreContract(name: string, make: QueueFactory, opts: QueueContractOptions = {}): void {
  const fresh = async (t: { after(fn: () => Promise<void>): void }) => {
    const m = await make();
    t.after(m.cleanup);
    return m;
  };
  /**
   * The tests' time for leases: `to(t)` makes `t` the callers' now and moves an adapter's own lease clock along
   * (it starts at T0). `edge`: how close to a lease's end a test looks — 1 ms on the callers' clock; a few
   * seconds on a real clock that runs on while the test does.
   */
  const leaseTime = (m: QueueMade) => {
    let at = T0;
    return {
      edge: m.leaseClock ? 5_000 : 1,
      async to(t: number): Promise<number> {
        const d = t - at;
        at = t;
        if (m.leaseClock && d !== 0) await m.leaseClock.advance(d);
        return t;
      },
    };
  };
  /** `until` as the adapter gives it back: exact on the callers' clock, within `edge` on its own. */
  const near = (m: QueueMade, got: number | undefined, want: number, what: string) => {
    if (!m.leaseClock) return assert.equal(got, want, what);
    assert.ok(got !== undefined && Math.abs(got - want) <= 5_000, `${what}: ${got} near ${want}`);
  };

  describe(`QueueStore contract: ${name}`, () => {
    test('commit, then read, list, body (whole and stream) and headers give back what was written', async (t) => {
      const { store } = await fresh(t);
      const id = newQueueId();
      const w = store.begin(id);
      assert.equal(w.id, id);
      await w.write(MESSAGE.subarray(0, 10));
      await w.write(MESSAGE.subarray(10));
      assert.equal(w.size, MESSAGE.length);
      assert.deepEqual(await gather(await w.contents()), MESSAGE, 'contents() before commit');
      const { envelope, claim } = await w.commit(fields());
      assert.equal(claim, null);
      assert.deepEqual(envelope, { ...fields(), id, size: MESSAGE.length });
      assert.deepEqual(await store.read(id), envelope);
      assert.deepEqual(await store.list(), [envelope]);
      const body = await store.body(id);
      assert.equal(body?.size, MESSAGE.length);
      assert.deepEqual(await body?.whole(), MESSAGE);
      assert.deepEqual(await streamed(store, id), MESSAGE);
      assert.equal((await store.headers(id)).toString(), 'Received: from client.example\r\nSubject: hello\r\nX-Spam: maybe\r\n');
      assert.equal((await store.headers(id, 'queue', 20)).toString(), MESSAGE.subarray(0, 20).toString(), 'at most `max` octets');
      assert.equal(await store.read(id, 'quarantine'), null, 'not in the other area');
      assert.equal(await store.body(id, 'quarantine'), null);
      assert.equal(await store.read(newQueueId()), null);
      assert.equal(await store.body(newQueueId()), null);
    });

    test('nothing is visible before commit, and abort leaves nothing (twice is safe)', async (t) => {
      const { store } = await fresh(t);
      const id = newQueueId();
      const w = store.begin(id);
      await w.write(randomBytes(600 * 1024));
      assert.equal(await store.read(id), null);
      assert.equal(await store.body(id), null);
      assert.deepEqual(await store.list(), []);
      assert.deepEqual(await store.claimDue({ ...A, now: T0, limit: 10 }), []);
      await w.abort();
      await w.abort();
      assert.equal(await store.read(id), null);
      assert.deepEqual(await store.list(), []);
      assert.equal(await store.nextDue(), null);
    });

    test('a message of several megabytes round-trips byte for byte, by stream and whole', async (t) => {
      const { store } = await fresh(t);
      const data = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), randomBytes(3 * 1024 * 1024 + 12_345)]);
      const w = store.begin(newQueueId());
      for (let i = 0; i < data.length; i += 64 * 1024) await w.write(data.subarray(i, i + 64 * 1024));
      assert.equal(sha(await gather(await w.contents())), sha(data), 'contents() of a large message');
      const { envelope } = await w.commit(fields());
      assert.equal(envelope.size, data.length);
      assert.equal(sha(await streamed(store, envelope.id)), sha(data));
      assert.equal(sha((await (await store.body(envelope.id))!.whole())), sha(data));
      assert.equal((await store.headers(envelope.id)).toString(), 'Subject: big\r\n');
    });

    test('a header edit at commit rewrites the header section; the size follows; the rest is unchanged', async (t) => {
      const { store } = await fresh(t);
      for (const tail of [Buffer.from('short body\r\n'), randomBytes(700 * 1024)]) {
        const w = store.begin(newQueueId());
        const msg = Buffer.concat([MESSAGE, tail]);
        await w.write(msg);
        const { envelope } = await w.commit(fields(), { edit: { add: ['X-Scanned: yes'], remove: ['x-spam'], subjectTag: '[SPAM]' } });
        const want = Buffer.concat([Buffer.from('X-Scanned: yes\r\nReceived: from client.example\r\nSubject: [SPAM] hello\r\n\r\nbody line 1\r\nbody line 2\r\n'), tail]);
        assert.equal(envelope.size, want.length);
        assert.equal(sha(await streamed(store, envelope.id)), sha(want));
        assert.equal((await store.read(envelope.id))?.size, want.length);
      }
    });

    test('rewrite before commit: the new message replaces the old (in memory and flushed), size and contents() follow, a header edit still applies', async (t) => {
      const { store } = await fresh(t);
      // Drops every octet 0x00 of the body and appends a line: the old message is read as the new one is written.
      const transform = (source: { chunks(): AsyncIterable<Buffer> }) =>
        (async function* () {
          for await (const c of source.chunks()) yield Buffer.from(c.filter((b) => b !== 0));
          yield Buffer.from('appended\r\n');
        })();
      for (const tail of [Buffer.from('short body\r\n'), Buffer.concat([randomBytes(700 * 1024), Buffer.alloc(1000)]), randomBytes(3 * 1024 * 1024)]) {
        const msg = Buffer.concat([MESSAGE, tail]);
        const want = Buffer.concat([Buffer.from(msg.filter((b) => b !== 0)), Buffer.from('appended\r\n')]);
        const w = store.begin(newQueueId());
        for (let i = 0; i < msg.length; i += 64 * 1024) await w.write(msg.subarray(i, i + 64 * 1024));
        await w.rewrite(transform);
        assert.equal(w.size, want.length, 'size follows');
        assert.equal(sha(await gather(await w.contents())), sha(want), 'contents() follows');
        const { envelope } = await w.commit(fields(), { edit: { add: ['X-Stripped: yes'], remove: [], subjectTag: null } });
        const stored = Buffer.concat([Buffer.from('X-Stripped: yes\r\n'), want]);
        assert.equal(envelope.size, stored.length);
        assert.equal((await store.read(envelope.id))?.size, stored.length);
        assert.equal(sha(await streamed(store, envelope.id)), sha(stored), `the stored message is the new one (${msg.length} octets before)`);
      }
    });

    test('rewrite that fails: it rejects and the message is as it was (commit stores it, abort leaves nothing)', async (t) => {
      const { store } = await fresh(t);
      const broken = (source: { chunks(): AsyncIterable<Buffer> }) =>
        (async function* () {
          for await (const c of source.chunks()) yield Buffer.from(c.toString('latin1').toUpperCase(), 'latin1');
          yield randomBytes(300 * 1024);
          throw new Error('the transform broke');
        })();
      for (const size of [100, 900 * 1024]) {
        const msg = Buffer.concat([MESSAGE, randomBytes(size)]);
        const kept = store.begin(newQueueId());
        await kept.write(msg);
        await assert.rejects(kept.rewrite(broken), /the transform broke/);
        assert.equal(kept.size, msg.length);
        assert.equal(sha(await gather(await kept.contents())), sha(msg), 'contents() is the old message');
        const { envelope } = await kept.commit(fields(), { area: 'quarantine' });
        assert.equal(envelope.size, msg.length);
        assert.equal(sha(await streamed(store, envelope.id, 'quarantine')), sha(msg), 'the old message is committed');
        const id = newQueueId();
        const dropped = store.begin(id);
        await dropped.write(msg);
        await assert.rejects(dropped.rewrite(broken), /the transform broke/);
        await dropped.abort();
        assert.equal(await store.read(id), null);
        assert.deepEqual(await store.list(), []);
      }
      const e = await put(store);
      assert.deepEqual(await streamed(store, e.id), MESSAGE);
    });

    test('the quarantine: apart from the queue, never claimed; release moves it into the queue; removeQuarantined removes', async (t) => {
      const { store } = await fresh(t);
      const q = await put(store, MESSAGE, { quarantine: { at: '2026-05-01T12:00:00.000Z', rule: 'spam', reason: 'score 9' } }, { area: 'quarantine' });
      const other = await put(store, MESSAGE, {}, { area: 'quarantine' });
      assert.deepEqual(await store.list('quarantine'), [q, other].sort((a, b) => (a.id < b.id ? -1 : 1)));
      assert.deepEqual(await store.list('queue'), []);
      assert.deepEqual(await store.read(q.id, 'quarantine'), q);
      assert.deepEqual(await streamed(store, q.id, 'quarantine'), MESSAGE);
      assert.equal((await store.headers(q.id, 'quarantine')).toString().startsWith('Received:'), true);
      assert.deepEqual(await store.claimDue({ ...A, now: T0, limit: 10 }), []);
      assert.equal(await store.claim(q.id, { ...A, now: T0 }), null, 'a quarantined message is not claimed');
      const released: Envelope = { ...q, quarantine: undefined } as Envelope;
      delete released.quarantine;
      await store.release(released);
      assert.deepEqual(await store.read(q.id), released);
      assert.equal(await store.read(q.id, 'quarantine'), null);
      assert.deepEqual(await streamed(store, q.id), MESSAGE, 'the body moved with it');
      const claims = await store.claimDue({ ...A, now: T0, limit: 10 });
      assert.deepEqual(claims.map((c) => c.id), [q.id]);
      await store.removeQuarantined(other.id);
      assert.deepEqual(await store.list('quarantine'), []);
      assert.equal(await store.body(other.id, 'quarantine'), null);
    });

    test('claimDue: due work only, soonest first, up to the limit; never a claimed, held or quarantined one', async (t) => {
      const { store } = await fresh(t);
      const later = await put(store, MESSAGE, deferredUntil(T0 + 30_000));
      const soon = await put(store, MESSAGE, deferredUntil(T0 - 30_000));
      const now1 = await put(store, MESSAGE);
      const now2 = await put(store, MESSAGE);
      await put(store, MESSAGE, { held: true });
      await put(store, MESSAGE, { recipients: [{ address: 'x@example.org', kind: 'relay', rule: 'rule 7', status: 'delivered' }] });
      await put(store, MESSAGE, {}, { area: 'quarantine' });
      const first = await store.claimDue({ ...A, now: T0, limit: 2 });
      assert.deepEqual(first.map((c) => c.id), [now1.id, now2.id].sort(), 'due now (0) before due 30 s ago; the limit holds');
      for (const c of first) {
        assert.equal(c.node, 'node-a');
        assert.equal(c.until, T0 + LEASE);
        assert.equal(typeof c.token, 'string');
        assert.deepEqual(c.envelope, await store.read(c.id));
      }
      const second = await store.claimDue({ ...B, now: T0, limit: 10 });
      assert.deepEqual(second.map((c) => c.id), [soon.id], 'claimed ones are not handed out again; a later one waits');
      assert.deepEqual(await store.claimDue({ ...B, now: T0 + 29_000, limit: 10 }), []);
      assert.deepEqual((await store.claimDue({ ...B, now: T0 + 30_000, limit: 10 })).map((c) => c.id), [later.id]);
      assert.deepEqual(await store.claimDue({ ...B, now: T0 + 40_000, limit: 10 }), []);
      assert.deepEqual(await store.claimDue({ ...A, now: T0, limit: 0 }), []);
    });

    test('a lease that expires hands the message out again; the old claim is lost: settle throws ClaimLostError and writes nothing', async (t) => {
      const m = await fresh(t);
      const { store } = m;
      const lt = leaseTime(m);
      const env = await put(store);
      const [old] = await store.claimDue({ ...A, now: T0, limit: 10 });
      assert.ok(old);
      assert.deepEqual(await store.claimDue({ ...B, now: await lt.to(T0 + LEASE - lt.edge), limit: 10 }), [], 'the lease still runs');
      const [taken] = await store.claimDue({ ...B, now: await lt.to(T0 + LEASE + 1), limit: 10 });
      assert.equal(taken?.id, env.id);
      assert.notEqual(taken?.token, old.token);
      const changed: Envelope = { ...env, recipients: env.recipients.map((r) => ({ ...r, status: 'delivered' as const })) };
      await assert.rejects(store.settle(old, changed), (e: unknown) => e instanceof ClaimLostError);
      await assert.rejects(store.settle(old, null), (e: unknown) => e instanceof ClaimLostError);
      assert.deepEqual(await store.read(env.id), env, 'the lost settle wrote nothing');
      assert.deepEqual(await store.renew([old], LEASE, T0 + LEASE + 2), [old.id], 'renewing a lost claim reports it');
      assert.deepEqual((await store.holder(env.id, T0 + LEASE + 1))?.node, 'node-b');
      await store.unclaim(old);
      assert.equal((await store.holder(env.id, T0 + LEASE + 1))?.node, 'node-b', 'unclaim of a lost claim leaves the new one');
      await store.settle(taken!, null);
      assert.equal(await store.read(env.id), null);
    });

    test('settle with a new envelope records it and gives the claim up; deferred work is due again at its next attempt', async (t) => {
      const { store } = await fresh(t);
      const env = await put(store);
      const [c] = await store.claimDue({ ...A, now: T0, limit: 1 });
      const next: Envelope = { ...env, ...deferredUntil(T0 + 600_000) } as Envelope;
      await store.settle(c!, next);
      assert.deepEqual(await store.read(env.id), next);
      assert.equal(await store.holder(env.id, T0), null);
      assert.deepEqual(await store.claimDue({ ...A, now: T0 + 1, limit: 1 }), []);
      assert.equal(await store.nextDue(), T0 + 600_000);
      const [again] = await store.claimDue({ ...B, now: T0 + 600_000, limit: 1 });
      assert.equal(again?.id, env.id);
      assert.deepEqual(again?.envelope, next);
      await assert.rejects(store.settle(c!, null), (e: unknown) => e instanceof ClaimLostError, 'a settled claim is spent');
      await store.settle(again!, null);
      assert.deepEqual(await store.list(), []);
      assert.equal(await store.body(env.id), null, 'the body went with it');
      await assert.rejects(store.settle(again!, next), (e: unknown) => e instanceof ClaimLostError, 'the message is gone');
    });

    test('renew extends a lease; unclaim gives it up at once', async (t) => {
      const m = await fresh(t);
      const { store } = m;
      const lt = leaseTime(m);
      const env = await put(store);
      const [c] = await store.claimDue({ ...A, now: T0, limit: 1 });
      assert.deepEqual(await store.renew([c!], LEASE, await lt.to(T0 + 50_000)), []);
      assert.equal(c!.until, T0 + 50_000 + LEASE, 'the claim carries its new end');
      assert.deepEqual(await store.claimDue({ ...B, now: await lt.to(T0 + LEASE + 1), limit: 1 }), [], 'renewed: not expired at the old end');
      const h = await store.holder(env.id, T0 + LEASE + 1);
      assert.equal(h?.node, 'node-a');
      near(m, h?.until, T0 + 50_000 + LEASE, 'the holder\'s lease ends at the renewed end');
      await store.unclaim(c!);
      assert.equal(await store.holder(env.id, T0 + LEASE + 1), null);
      assert.deepEqual(await store.read(env.id), env, 'unclaim changes nothing else');
      assert.equal((await store.claimDue({ ...B, now: T0 + LEASE + 1, limit: 1 }))[0]?.id, env.id);
    });

    test('releaseClaimsOf gives up every claim of one node at once, whatever the lease; the others\' stay; the old claims are lost', async (t) => {
      const { store } = await fresh(t);
      await put(store);
      await put(store);
      await put(store);
      const mine = await store.claimDue({ ...A, now: T0, limit: 2 });
      const theirs = await store.claimDue({ ...B, now: T0, limit: 1 });
      assert.equal(mine.length, 2);
      assert.equal(await store.releaseClaimsOf('node-a'), 2);
      assert.equal(await store.releaseClaimsOf('node-a'), 0, 'nothing left to release');
      assert.deepEqual(await store.claimsByNode(T0 + 1), new Map([['node-b', 1]]));
      const again = await store.claimDue({ ...B, now: T0 + 1, limit: 10 });
      assert.deepEqual(again.map((c) => c.id).sort(), mine.map((c) => c.id).sort(), 'due again at once, long before the leases end');
      await assert.rejects(store.settle(mine[0]!, null), (e: unknown) => e instanceof ClaimLostError);
      assert.equal((await store.read(mine[0]!.id))?.id, mine[0]!.id, 'the lost settle removed nothing');
      await store.settle(theirs[0]!, null);
    });

    test('claim(id) takes one message whatever its due time; null when claimed elsewhere or absent', async (t) => {
      const m = await fresh(t);
      const { store } = m;
      const lt = leaseTime(m);
      const held = await put(store, MESSAGE, { held: true });
      const later = await put(store, MESSAGE, deferredUntil(T0 + 3_600_000));
      const c = await store.claim(later.id, { ...A, now: T0 });
      assert.equal(c?.id, later.id);
      assert.equal(c?.node, 'node-a');
      assert.equal(c?.until, T0 + LEASE);
      assert.deepEqual(c?.envelope, later);
      assert.equal(await store.claim(later.id, { ...B, now: T0 }), null);
      assert.equal((await store.claim(held.id, { ...B, now: T0 }))?.id, held.id, 'an admin may take a held message');
      assert.equal(await store.claim(newQueueId(), { ...A, now: T0 }), null);
      assert.equal((await store.claim(later.id, { ...B, now: await lt.to(T0 + LEASE + 1) }))?.node, 'node-b', 'after the lease');
    });

    test('commit with a claim request hands the claim out at once; nobody else claims the message', async (t) => {
      const { store } = await fresh(t);
      const w = store.begin(newQueueId());
      await w.write(MESSAGE);
      const before = Date.now();
      const { envelope, claim } = await w.commit(fields(), { claim: A });
      assert.ok(claim);
      assert.equal(claim.id, envelope.id);
      assert.equal(claim.node, 'node-a');
      assert.deepEqual(claim.envelope, envelope);
      assert.ok(claim.until >= before + LEASE && claim.until <= Date.now() + LEASE);
      assert.deepEqual(await store.claimDue({ ...B, now: Date.now(), limit: 10 }), []);
      assert.equal((await store.holder(envelope.id, Date.now()))?.node, 'node-a');
      await store.settle(claim, null);
      assert.deepEqual(await store.list(), []);
    });

    test('holder and claimsByNode count live claims only', async (t) => {
      const m = await fresh(t);
      const { store } = m;
      const lt = leaseTime(m);
      const envs = [await put(store), await put(store), await put(store)];
      assert.deepEqual(await store.claimsByNode(T0), new Map());
      await store.claimDue({ ...A, now: T0, limit: 2 });
      await store.claimDue({ ...B, leaseMs: 10_000, now: T0, limit: 2 });
      assert.deepEqual(await store.claimsByNode(T0 + 1), new Map([['node-a', 2], ['node-b', 1]]));
      const byNode = await Promise.all(envs.map((e) => store.holder(e.id, T0 + 1)));
      assert.deepEqual(byNode.map((h) => h?.node).sort(), ['node-a', 'node-a', 'node-b']);
      assert.equal(await store.holder(newQueueId(), T0), null);
      assert.deepEqual(await store.claimsByNode(await lt.to(T0 + 10_000 + lt.edge)), new Map([['node-a', 2]]), 'an expired lease is no claim');
    });

    test('nextDue: null when nothing waits; the soonest unclaimed due time; held and quarantined mail do not count', async (t) => {
      const { store } = await fresh(t);
      assert.equal(await store.nextDue(), null);
      await put(store, MESSAGE, { held: true });
      await put(store, MESSAGE, {}, { area: 'quarantine' });
      assert.equal(await store.nextDue(), null);
      await put(store, MESSAGE, deferredUntil(T0 + 90_000));
      await put(store, MESSAGE, deferredUntil(T0 + 60_000));
      assert.equal(await store.nextDue(), T0 + 60_000);
      const [c] = await store.claimDue({ ...A, now: T0 + 60_000, limit: 1 });
      const n = await store.nextDue();
      // A claimed message counts at most from its lease's end (an adapter may leave it out).
      assert.ok(n === T0 + 90_000 || n === Math.min(T0 + 90_000, c!.until), `nextDue ${n}`);
    });

    test('update rewrites a queued envelope; remove deletes a queued message and its body', async (t) => {
      const { store } = await fresh(t);
      const env = await put(store);
      const held: Envelope = { ...env, held: true, history: [{ at: '2026-05-01T12:00:00.000Z', event: 'held', detail: 'by alice' }] };
      await store.update(held);
      assert.deepEqual(await store.read(env.id), held);
      assert.deepEqual(await store.claimDue({ ...A, now: T0, limit: 1 }), [], 'held now');
      assert.equal(await store.nextDue(), null);
      await store.update({ ...held, held: false });
      assert.equal((await store.claimDue({ ...A, now: T0, limit: 1 }))[0]?.id, env.id);
      const other = await put(store);
      await store.remove(other.id);
      assert.equal(await store.read(other.id), null);
      assert.equal(await store.body(other.id), null);
      assert.deepEqual((await store.list()).map((e) => e.id), [env.id]);
      await store.remove(other.id);
    });

    test('list: oldest first', async (t) => {
      const { store } = await fresh(t);
      // Committed out of order; the queue id and received_at agree on the arrival (as the front end makes them).
      const at = (s: number) => ({ over: { received_at: new Date(T0 + s * 1000).toISOString() }, id: newQueueId(T0 + s * 1000) });
      const [ab, aa, ac] = [at(2), at(1), at(3)];
      const b = await put(store, MESSAGE, ab.over, { id: ab.id });
      const a = await put(store, MESSAGE, aa.over, { id: aa.id });
      const c = await put(store, MESSAGE, ac.over, { id: ac.id });
      assert.deepEqual((await store.list()).map((e) => e.id), [a.id, b.id, c.id]);
    });

    test('census: counts by state and the oldest of each, following commits, settles, updates, releases and removals', async (t) => {
      const { store } = await fresh(t);
      assert.ok(store.census, 'the adapter answers census()');
      const census = () => store.census!();
      const empty = { queued: { count: 0, oldest: null }, deferred: { count: 0, oldest: null }, held: { count: 0, oldest: null }, quarantined: 0 };
      assert.deepEqual(await census(), empty);
      const at = (s: number) => ({ received_at: new Date(T0 + s * 1000).toISOString() });
      const q1 = await put(store, MESSAGE, at(5));
      await put(store, MESSAGE, at(2));
      const d = await put(store, MESSAGE, { ...at(3), ...deferredUntil(T0 + 60_000) });
      const h = await put(store, MESSAGE, { ...at(1), held: true });
      const qu = await put(store, MESSAGE, at(0), { area: 'quarantine' });
      assert.deepEqual(await census(), {
        queued: { count: 2, oldest: T0 + 2000 },
        deferred: { count: 1, oldest: T0 + 3000 },
        held: { count: 1, oldest: T0 + 1000 },
        quarantined: 1,
      });
      // A settle that defers the newest queued one; an admin's release of the held one; a delivered deferred one goes.
      const [c] = (await store.claimDue({ ...A, now: T0, limit: 10 })).filter((x) => x.id === q1.id);
      assert.ok(c);
      await store.settle(c, { ...q1, ...deferredUntil(T0 + 120_000) } as Envelope);
      await store.update({ ...h, held: false } as Envelope);
      const [cd] = await store.claimDue({ ...A, now: T0 + 60_000, limit: 10 }).then((l) => l.filter((x) => x.id === d.id));
      assert.ok(cd);
      await store.settle(cd, null);
      const released = { ...qu } as Envelope;
      delete released.quarantine;
      await store.release(released);
      assert.deepEqual(await census(), {
        queued: { count: 3, oldest: T0 },
        deferred: { count: 1, oldest: T0 + 5000 },
        held: { count: 0, oldest: null },
        quarantined: 0,
      });
      await store.remove(released.id);
      assert.equal((await census()).queued.count, 2);
    });

    test('onWork is called when new work is committed and when a settle leaves work due', async (t) => {
      const { store } = await fresh(t);
      let calls = 0;
      let wake: () => void = () => {};
      const off = store.onWork(() => {
        calls++;
        wake();
      });
      const next = () => new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('onWork was not called within 5 s')), 5_000);
        wake = () => (clearTimeout(timer), resolve());
      });
      let called = next();
      const env = await put(store);
      await called;
      const [c] = await store.claimDue({ ...A, now: Date.now(), limit: 1 });
      called = next();
      await store.settle(c!, { ...env, ...deferredUntil(Date.now()) } as Envelope);
      await called;
      off();
      const seen = calls;
      await put(store);
      // Another round trip through the store, so that a notification in flight would have arrived.
      await put(store);
      await store.list();
      assert.equal(calls, seen, 'no calls after unsubscribing');
    });

    if (opts.multiNode) test('two instances on one store (two nodes): one sees the other\'s commits and claims', async (t) => {
      const m = await fresh(t);
      const lt = leaseTime(m);
      assert.ok(m.second, 'multiNode needs a factory with second()');
      const other = await m.second();
      const env = await put(m.store);
      assert.deepEqual(await other.read(env.id), env);
      assert.deepEqual(await streamed(other, env.id), MESSAGE);
      const [c] = await m.store.claimDue({ ...A, now: T0, limit: 10 });
      assert.equal(c?.id, env.id);
      assert.deepEqual(await other.claimDue({ ...B, now: T0, limit: 10 }), []);
      assert.equal((await other.holder(env.id, T0))?.node, 'node-a');
      const [taken] = await other.claimDue({ ...B, now: await lt.to(T0 + LEASE + 1), limit: 10 });
      assert.equal(taken?.id, env.id);
      await assert.rejects(m.store.settle(c!, null), (e: unknown) => e instanceof ClaimLostError);
      await other.settle(taken!, null);
      assert.equal(await m.store.read(env.id), null);
    });
  });
}

