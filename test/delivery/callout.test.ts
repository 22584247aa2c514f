// The callout probe against a real SMTP server (test/delivery/sink.ts):
// 2xx exists, 5xx unknown, 4xx temporary-but-answered, no server temporary,
// a server that stops talking times out, failover to the next host, and
// never DATA. Then the Callout's cache (positive and negative TTLs, no
// temporary answers, LRU bound), the merging of probes for one address and
// the bound on concurrent probes per route, with a fake probe and clock.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Callout, probe, type ProbeRequest, type ProbeResult } from '../../src/delivery/callout.ts';
import { startSink, type Sink } from './sink.ts';
import { freePort } from '../smtp/harness.ts';
import { deferred } from '../support/conditions.ts';

const KNOWN = new Set(['alice@example.com', 'bob@example.com']);

async function refusingSink(t: { after: (fn: () => Promise<void>) => void }, address = '127.0.0.61'): Promise<Sink> {
  const sink = await startSink({
    address,
    behaviour: {
      rcpt: (to) => (to === 'full@example.com' ? { code: 452, text: '4.2.2 mailbox full' } : KNOWN.has(to.toLowerCase()) ? undefined : { code: 550, text: '5.1.1 no such user here' }),
    },
  });
  t.after(() => sink.close());
  return sink;
}

function req(sink: { address: string; port: number }, address: string, extra: Partial<ProbeRequest> = {}): ProbeRequest {
  return { hosts: [{ host: sink.address, port: sink.port }], hostname: 'mx.test.example', sender: '', address, timeoutMs: 5000, ...extra };
}

test('probe: 250 exists, 550 unknown, 452 temporary with an answer; MAIL FROM:<> and never DATA', async (t) => {
  const sink = await refusingSink(t);
  const known = await probe(req(sink, 'alice@example.com'));
  assert.equal(known.answer, 'exists');
  const unknown = await probe(req(sink, 'nobody@example.com'));
  assert.deepEqual([unknown.answer, unknown.busy], ['unknown', false]);
  assert.match(unknown.detail, /127\.0\.0\.61:\d+: RCPT 550 5\.1\.1 no such user here/);
  const full = await probe(req(sink, 'full@example.com'));
  assert.deepEqual([full.answer, full.busy], ['temporary', true]);
  const seen = sink.events.filter((e) => e.command !== 'CONNECT').map((e) => `${e.command} ${e.arg} ${e.code}`);
  assert.deepEqual(seen, ['MAIL  250', 'RCPT alice@example.com 250', 'MAIL  250', 'RCPT nobody@example.com 550', 'MAIL  250', 'RCPT full@example.com 452']);
  assert.equal(sink.messages.length, 0);
  // The null sender, as written on the wire.
  assert.ok(sink.commands.some((c) => c.line === 'MAIL FROM:<>'), JSON.stringify(sink.commands));
});

test('probe: the configured sender is used as MAIL FROM', async (t) => {
  const sink = await refusingSink(t);
  await probe(req(sink, 'alice@example.com', { sender: 'verify@mx.test.example' }));
  assert.deepEqual(sink.events.filter((e) => e.command === 'MAIL').map((e) => e.arg), ['verify@mx.test.example']);
});

test('probe: a host where nothing listens passes to the next; none answering is temporary without an answer', async (t) => {
  const sink = await refusingSink(t);
  const dead = await freePort();
  const failover = await probe({ ...req(sink, 'nobody@example.com'), hosts: [{ host: '127.0.0.62', port: dead }, { host: sink.address, port: sink.port }] });
  assert.equal(failover.answer, 'unknown');
  const none = await probe({ ...req(sink, 'alice@example.com'), hosts: [{ host: '127.0.0.62', port: dead }] });
  assert.deepEqual([none.answer, none.busy], ['temporary', false]);
  assert.match(none.detail, /ECONNREFUSED/);
});

test('probe: a route host given by name is resolved (the settings\' DNS in the daemon); a name that does not resolve passes to the next', async (t) => {
  const sink = await refusingSink(t);
  const asked: string[] = [];
  const resolve = async (name: string) => {
    asked.push(name);
    if (name === 'gone.internal.example') throw new Error('queryA ENOTFOUND gone.internal.example');
    return [sink.address];
  };
  const r = await probe({ ...req(sink, 'alice@example.com'), hosts: [{ host: 'gone.internal.example', port: sink.port }, { host: 'mail.internal.example', port: sink.port }], resolve });
  assert.equal(r.answer, 'exists');
  assert.deepEqual(asked, ['gone.internal.example', 'mail.internal.example']);
  const none = await probe({ ...req(sink, 'alice@example.com'), hosts: [{ host: 'gone.internal.example', port: sink.port }], resolve });
  assert.deepEqual([none.answer, none.busy], ['temporary', false]);
  assert.match(none.detail, /ENOTFOUND/);
});

test('probe: a refused greeting or MAIL is temporary, never unknown', async (t) => {
  const sink = await refusingSink(t);
  sink.setBehaviour({ greeting: { code: 554, text: '5.3.2 go away' } });
  assert.deepEqual((await probe(req(sink, 'nobody@example.com'))).answer, 'temporary');
  sink.setBehaviour({ mailFrom: () => ({ code: 550, text: '5.7.1 no null senders' }) });
  const r = await probe(req(sink, 'nobody@example.com'));
  assert.deepEqual([r.answer, r.busy], ['temporary', false]);
  assert.match(r.detail, /MAIL 550/);
});

test('probe: a server that stops answering times out (temporary)', async (t) => {
  const sink = await refusingSink(t);
  sink.setBehaviour({ rcpt: () => new Promise(() => {}) });
  const started = Date.now();
  const r = await probe(req(sink, 'alice@example.com', { timeoutMs: 400 }));
  assert.deepEqual([r.answer, r.busy], ['temporary', false]);
  assert.match(r.detail, /no answer within 400 ms/);
  assert.ok(Date.now() - started < 4000);
});

/** A fake probe: answers from a map (default unknown), counting calls; `gate` holds answers back. */
function fakeProbe(answers: Record<string, ProbeResult['answer']> = {}) {
  const calls: string[] = [];
  let running = 0;
  let peak = 0;
  let gate: Promise<void> | null = null;
  const fn = async (r: ProbeRequest): Promise<ProbeResult> => {
    calls.push(r.address);
    running++;
    peak = Math.max(peak, running);
    try {
      if (gate) await gate;
      const answer = answers[r.address] ?? 'unknown';
      return { answer, busy: false, detail: `fake ${answer}` };
    } finally {
      running--;
    }
  };
  return { fn, calls, peak: () => peak, hold: (p: Promise<void> | null) => (gate = p) };
}

const HOSTS = [{ host: '10.0.0.1', port: 25 }];
const creq = (address: string) => ({ hosts: HOSTS, hostname: 'mx.test.example', sender: '', address, timeoutMs: 1000, positiveMs: 60_000, negativeMs: 10_000 });

test('cache: exists kept for cache_positive, unknown for cache_negative, temporary not at all', async () => {
  let now = 1_000_000;
  const p = fakeProbe({ 'a@x': 'exists', 't@x': 'temporary' });
  const c = new Callout({ probe: p.fn, now: () => now });
  assert.deepEqual(await c.verify(creq('a@x')), { answer: 'exists', busy: false, detail: 'fake exists', cached: false });
  assert.equal((await c.verify(creq('a@x'))).cached, true);
  assert.equal((await c.verify(creq('n@x'))).answer, 'unknown');
  assert.equal((await c.verify(creq('n@x'))).cached, true);
  assert.equal((await c.verify(creq('t@x'))).cached, false);
  assert.equal((await c.verify(creq('t@x'))).cached, false);
  assert.deepEqual(p.calls, ['a@x', 'n@x', 't@x', 't@x']);
  now += 10_001; // past the negative TTL, not the positive one
  assert.equal((await c.verify(creq('n@x'))).cached, false);
  assert.equal((await c.verify(creq('a@x'))).cached, true);
  now += 60_000;
  assert.equal((await c.verify(creq('a@x'))).cached, false);
  assert.deepEqual(p.calls, ['a@x', 'n@x', 't@x', 't@x', 'n@x', 'a@x']);
  // Another route, or another sender, is another question.
  await c.verify({ ...creq('a@x'), hosts: [{ host: '10.0.0.2', port: 25 }] });
  await c.verify({ ...creq('a@x'), sender: 'v@x' });
  assert.equal(p.calls.length, 8);
  // A TTL of 0 keeps nothing.
  await c.verify({ ...creq('z@x'), negativeMs: 0 });
  await c.verify({ ...creq('z@x'), negativeMs: 0 });
  assert.equal(p.calls.filter((a) => a === 'z@x').length, 2);
});

test('cache: bounded in size, the least recently used goes first', async () => {
  const p = fakeProbe();
  const c = new Callout({ probe: p.fn, maxEntries: 2 });
  await c.verify(creq('1@x'));
  await c.verify(creq('2@x'));
  await c.verify(creq('1@x')); // 1 is now the most recent
  await c.verify(creq('3@x')); // 2 goes
  assert.equal(c.size, 2);
  assert.equal((await c.verify(creq('1@x'))).cached, true);
  assert.equal((await c.verify(creq('2@x'))).cached, false);
});

test('RCPTs for one address while its probe runs wait for that probe: one connection', async () => {
  const p = fakeProbe();
  const c = new Callout({ probe: p.fn });
  const gate = deferred();
  p.hold(gate.promise);
  const all = Promise.all([1, 2, 3, 4, 5].map(() => c.verify(creq('same@x'))));
  gate.resolve();
  const answers = await all;
  assert.deepEqual(p.calls, ['same@x']);
  assert.deepEqual(answers.map((a) => a.answer), ['unknown', 'unknown', 'unknown', 'unknown', 'unknown']);
  assert.deepEqual(answers.map((a) => a.cached), [false, true, true, true, true]);
});

test('at most PROBES_PER_ROUTE probes per route at a time; the others wait their turn, then all are answered', async () => {
  const p = fakeProbe();
  const c = new Callout({ probe: p.fn, perRoute: 2 });
  const gate = deferred();
  p.hold(gate.promise);
  const all = Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((l) => c.verify(creq(`${l}@x`))));
  // Let every verify() reach its slot or its queue.
  await new Promise((r) => setImmediate(r));
  assert.equal(p.calls.length, 2, 'two probes started, four wait');
  gate.resolve();
  const answers = await all;
  assert.equal(p.peak(), 2);
  assert.equal(p.calls.length, 6);
  assert.ok(answers.every((a) => a.answer === 'unknown'));
  // Another route has slots of its own.
  const gate2 = deferred();
  p.hold(gate2.promise);
  const mine = [c.verify(creq('g@x')), c.verify(creq('h@x')), c.verify({ ...creq('i@x'), hosts: [{ host: '10.0.0.9', port: 25 }] })];
  await new Promise((r) => setImmediate(r));
  assert.equal(p.calls.length, 9);
  gate2.resolve();
  await Promise.all(mine);
});

test('a probe that waits longer than its timeout for a slot is answered temporary (and not cached)', async () => {
  const p = fakeProbe();
  const c = new Callout({ probe: p.fn, perRoute: 1 });
  const gate = deferred();
  p.hold(gate.promise);
  const first = c.verify(creq('a@x'));
  const second = await c.verify({ ...creq('b@x'), timeoutMs: 50 });
  assert.deepEqual([second.answer, second.busy, second.cached], ['temporary', false, false]);
  assert.match(second.detail, /no probe slot/);
  gate.resolve();
  await first;
  p.hold(null);
  assert.equal((await c.verify(creq('b@x'))).cached, false, 'the temporary answer was not kept');
});
