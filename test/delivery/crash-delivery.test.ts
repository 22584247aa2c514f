// Crash safety of delivery, end to end: several raw SMTP clients send a few
// hundred messages (each with a unique marker, awkward lines and known bytes)
// to a local domain whose route is a sink on 127.0.0.22, while the daemon is
// killed with SIGKILL at random moments (some of them while the sink is still
// holding a message it has fully received but not yet acknowledged) and
// restarted on the same data directory. The sink outlives every daemon and is
// slow now and then, so that kills land in the middle of deliveries. Clients
// re-send whatever did not get its 250. After the last restart the queue must
// drain, and every message that got a 250 must have reached the sink at least
// once, byte for byte (our Received header, then exactly what was sent,
// dot-unstuffed), under the queue id its 250 named. Duplicates are allowed
// (at least once) and reported.
//
// Reproduce a run with CRASH_SEED=<seed printed in the diagnostics>.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort, queueEnvelopes, queuedIds, RawClient, relayDoc, restartRelay, startRelay, type Relay } from '../smtp/harness.ts';
import { startSink, type ReceivedMessage } from './sink.ts';
import { mulberry32 } from '../support/prng.ts';
import { conditions, deferred } from '../support/conditions.ts';

const MESSAGES = 300;
const CLIENTS = 5;
const KILLS = 7;
const MIN_KILLS = 5;
const MAX_ACKS_PER_ROUND = 25; // KILLS × this < MESSAGES: the kills all fall inside the load
const SLOW_SHARE = 0.3; // of the deliveries the sink holds for a while
const SLOW_MS: [number, number] = [20, 150];
const LOAD_DEADLINE_MS = 55_000;
const DRAIN_MS = 20_000;
const TOTAL_MS = 85_000;

interface Msg {
  marker: string;
  client: number;
  rcpt: string;
  /** The message as the client means it: what must arrive after our Received header. */
  content: Buffer;
  /** On the wire after DATA: dot-stuffed, with the terminating dot. */
  wire: Buffer;
  attempts: number;
  ackedId: string | null;
}

interface Worker {
  index: number;
  address: string;
  helo: string;
  sender: string;
  todo: Msg[];
  state: 'running' | 'dead' | 'done';
}

class Dead extends Error {}
class Retry extends Error {}

/** One message with awkward lines: leading dots, a lone dot, 8-bit octets, a line just under the limit. */
function makeMessage(rand: () => number, marker: string, w: Worker, big: boolean): Msg {
  const rcpt = `rcpt${w.index}@example.com`;
  const lines = [
    `From: <${w.sender}>`,
    `To: <${rcpt}>`,
    `Message-ID: <${marker}@crash-delivery.test>`,
    `Subject: crash delivery ${marker}`,
    `X-Marker: ${marker}`,
    '',
    `Body of ${marker}.`,
    '.',
    '.leading dot',
    '..two leading dots',
    '...',
    'caf\xe9 8-bit latin1 \xff\xfe',
    '',
    'x'.repeat(900 + Math.floor(rand() * 98)),
  ];
  const n = big ? 700 + Math.floor(rand() * 2500) : 5 + Math.floor(rand() * 40);
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.1) lines.push('.');
    else if (r < 0.2) lines.push(`.${marker} dotted line ${i}`);
    else lines.push(`${marker} line ${i} ${'abcdefghij'.repeat(Math.floor(rand() * 9))}`);
  }
  lines.push(`end of ${marker}`);
  const text = lines.join('\r\n') + '\r\n';
  const stuffed = lines.map((l) => (l.startsWith('.') ? '.' + l : l)).join('\r\n') + '\r\n.\r\n';
  return { marker, client: w.index, rcpt, content: Buffer.from(text, 'latin1'), wire: Buffer.from(stuffed, 'latin1'), attempts: 0, ackedId: null };
}

const RECEIVED = /^Received: from (\S+) \(\[([0-9.]+)\]\)\r\n\tby mx\.test\.example \(mailwarden, listener mx\) with ESMTP id ([0-9a-z]{16})\r\n\tfor <([^>\r\n]+)>;\r\n\t(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000\r\n/;

test('SIGKILL during delivery under load: every acknowledged message reaches the next hop at least once, byte-complete', { timeout: TOTAL_MS + 4_000 }, async (t) => {
  const started = Date.now();
  const seed = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : Math.floor(Math.random() * 2 ** 32);
  t.diagnostic(`seed ${seed} (rerun with CRASH_SEED=${seed})`);
  const rand = mulberry32(seed);
  const sinkRand = mulberry32(seed ^ 0x9e3779b9);
  const randInt = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const ctx = `seed ${seed}`;
  const loadDeadline = started + LOAD_DEADLINE_MS;

  // Everyone waits on state changes through this, never on a timer.
  const { changed, waitFor } = conditions(ctx);

  // The next hop: outlives every daemon; holds some messages for a while after
  // their final dot, before its 250 (a kill then lands mid-delivery).
  let holding = 0;
  let held = 0;
  const sink = await startSink({
    address: '127.0.0.22',
    behaviour: {
      data: async () => {
        if (sinkRand() >= SLOW_SHARE) return undefined;
        holding++;
        held++;
        changed();
        try {
          await delay(SLOW_MS[0] + Math.floor(sinkRand() * (SLOW_MS[1] - SLOW_MS[0])));
        } finally {
          holding--;
          changed();
        }
        return undefined;
      },
    },
  });
  t.after(() => sink.close());

  // No traffic off loopback, whatever happens: the resolver is a closed port on 127.0.0.1,
  // and the senders are in the local domain too (a notification would reach the sink, and fail the test).
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'example.com', route: { hosts: [`127.0.0.22:${sink.port}`] } }],
    delivery: { enabled: true },
    queue: { retry: { first: '1s', max: '2s' } },
    dns: { servers: [`127.0.0.1:${await freePort()}`] },
  });
  let relay: Relay = await startRelay(t, doc, ports);
  const dataDir = relay.dataDir;
  const relays: Relay[] = [relay];

  const workers: Worker[] = Array.from({ length: CLIENTS }, (_, i) => ({ index: i, address: `127.0.0.${11 + i}`, helo: `w${i}.crash-delivery.test`, sender: `w${i}@example.com`, todo: [], state: 'running' as const }));
  const messages: Msg[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    const w = workers[i % CLIENTS] as Worker;
    const m = makeMessage(rand, `d${seed.toString(36)}-w${w.index}-${String(i).padStart(3, '0')}`, w, i % 13 === 6);
    messages.push(m);
    w.todo.push(m);
  }
  const byMarker = new Map(messages.map((m) => [m.marker, m]));

  let acks = 0;
  let retries4xx = 0;
  let up = deferred();
  up.resolve();
  let killing = false;
  const problems: string[] = [];

  const expect = (reply: string | null, code: RegExp, what: string, w: Worker): string => {
    if (reply === null) throw new Dead();
    if (/^4\d\d[ -]/.test(reply)) {
      retries4xx++;
      throw new Retry(`${what}: ${reply}`);
    }
    if (!code.test(reply)) {
      problems.push(`client ${w.address}: unexpected reply to ${what}: ${JSON.stringify(reply)}`);
      throw new Error(problems.at(-1));
    }
    return reply;
  };

  const died = async (w: Worker) => {
    if (!killing) problems.push(`client ${w.address}: connection lost while no kill was in progress`);
    w.state = 'dead';
    changed();
    await up.promise;
    w.state = 'running';
  };

  const runWorker = async (w: Worker): Promise<void> => {
    while (w.todo.length > 0) {
      if (Date.now() > loadDeadline) throw new Error(`${ctx}: client ${w.address} did not finish in time (${w.todo.length} left)`);
      if (problems.length > 20) throw new Error(problems.join('\n'));
      await up.promise;
      let c: RawClient;
      try {
        c = await RawClient.connect(ports.mx, w.address);
      } catch {
        await died(w);
        continue;
      }
      try {
        expect(await c.reply(), /^220 /, 'connect', w);
        expect(await c.cmd(`EHLO ${w.helo}`), /^250[ -]/, 'EHLO', w);
        while (w.todo.length > 0) {
          const m = w.todo[0] as Msg;
          m.attempts++;
          if (m.attempts > 15) throw new Error(`${ctx}: ${m.marker} tried 15 times`);
          expect(await c.cmd(`MAIL FROM:<${w.sender}>`), /^250 /, 'MAIL', w);
          expect(await c.cmd(`RCPT TO:<${m.rcpt}>`), /^250 /, 'RCPT', w);
          expect(await c.cmd('DATA'), /^354 /, 'DATA', w);
          c.write(m.wire);
          const r = expect(await c.reply(), /^250 2\.0\.0 Ok: queued as [0-9a-z]{16}$/, `end of data of ${m.marker}`, w);
          m.ackedId = r.slice(-16);
          w.todo.shift();
          acks++;
          changed();
        }
        c.write('QUIT\r\n');
        await c.reply().catch(() => null);
        c.end();
      } catch (err) {
        c.end();
        if (err instanceof Retry) continue; // a new connection, at once (attempts are bounded per message)
        if (!(err instanceof Dead)) throw err;
        await died(w);
      }
    }
    w.state = 'done';
    changed();
  };

  const running = workers.map((w) =>
    runWorker(w).catch((err: unknown) => {
      w.state = 'done';
      w.todo = [];
      problems.push(err instanceof Error ? err.message : String(err));
      changed();
    }),
  );
  const allDone = () => workers.every((w) => w.state === 'done');

  // The killer. Kills 2, 4 and 6 wait for the sink to be holding a message
  // (fully received, 250 not yet sent): a kill in the middle of a delivery.
  // The others come after a random number of 250s or a random short moment.
  const killLog: string[] = [];
  let kills = 0;
  let killsMidDelivery = 0;
  for (let k = 0; k < KILLS && !allDone(); k++) {
    const base = acks;
    if (k % 2 === 1) {
      await waitFor(() => holding > 0 || allDone(), 'the sink to hold a message mid-delivery', 15_000).catch(() => {});
      killLog.push(`while the sink held ${holding} message(s) (${acks - base} acks)`);
    } else if (rand() < 0.5) {
      const n = randInt(1, MAX_ACKS_PER_ROUND);
      await waitFor(() => acks >= base + n || allDone(), `${n} more 250 replies`, 20_000);
      killLog.push(`after ${acks - base} acks`);
    } else {
      await waitFor(() => acks > base || allDone(), 'the first 250 after the restart', 20_000);
      const ms = randInt(0, 100);
      await waitFor(() => acks >= base + MAX_ACKS_PER_ROUND || allDone(), `${ms} ms`, ms).catch(() => {});
      killLog.push(`after ${ms} ms (${acks - base} acks)`);
    }
    if (allDone()) break;
    killing = true;
    up = deferred();
    if (holding > 0) killsMidDelivery++;
    await relay.kill();
    kills++;
    assert.equal(relay.child.signalCode, 'SIGKILL', ctx);
    await waitFor(() => workers.every((w) => w.state !== 'running'), 'clients to see their connections die', 10_000);
    relay = await restartRelay(t, dataDir, ports);
    relays.push(relay);
    killing = false;
    up.resolve();
  }
  await Promise.all(running);
  const loadMs = Date.now() - started;
  t.diagnostic(`kills: ${killLog.join('; ')}`);
  assert.deepEqual(problems, [], ctx);
  assert.ok(kills >= MIN_KILLS, `${ctx}: only ${kills} kills happened inside the load`);
  const unacked = messages.filter((m) => m.ackedId === null).map((m) => m.marker);
  assert.deepEqual(unacked, [], `${ctx}: messages never acknowledged`);

  // The last daemon drains the queue: wait on its queue.removed lines until the spool is empty.
  // Should it not, what reached the sink is still checked first (the property that matters).
  const drainStart = Date.now();
  const drainMs = Math.min(DRAIN_MS, started + TOTAL_MS - drainStart);
  const drainProblems: string[] = [];
  if (queuedIds(relay).length > 0) {
    await relay.waitLog((l) => l.event === 'queue.removed' && queuedIds(relay).length === 0, drainMs).catch((err: Error) => {
      const left = queuedIds(relay);
      drainProblems.push(`${ctx}: the queue did not drain within ${drainMs} ms: ${left.length} message(s) left (${left.slice(0, 5).join(', ')}${left.length > 5 ? ', …' : ''}); the sink has ${sink.messages.length}; ${err.message.slice(0, 200)}`);
    });
  }
  const drainedMs = Date.now() - drainStart;
  if (drainProblems.length === 0) assert.deepEqual(await queueEnvelopes(relay), [], `${ctx}: queue list --json after the drain`);
  // A message a killed daemon had left with the sink may still be held there: let it land.
  await waitFor(() => holding === 0, 'the sink to finish the messages it holds', 5_000);
  const stopCode = await relay.stop();

  // What reached the sink: every copy is a complete, known message.
  const copies = new Map<string, { id: string; m: ReceivedMessage }[]>();
  for (const [i, got] of sink.messages.entries()) {
    const text = got.raw.toString('latin1');
    const marker = /^X-Marker: (\S+)\r$/m.exec(text)?.[1] ?? '';
    const m = byMarker.get(marker);
    assert.ok(m, `${ctx}: sink message ${i + 1} carries no known marker (from <${got.from}>): ${JSON.stringify(text.slice(0, 300))}`);
    const rec = RECEIVED.exec(text);
    assert.ok(rec, `${ctx}: sink copy of ${marker} does not start with our Received header: ${JSON.stringify(text.slice(0, 300))}`);
    const w = workers[m.client] as Worker;
    assert.equal(rec[1], w.helo, `${ctx}: HELO in the Received header of ${marker}`);
    assert.equal(rec[2], w.address, `${ctx}: client address in the Received header of ${marker}`);
    assert.equal(rec[4], m.rcpt, `${ctx}: "for" in the Received header of ${marker}`);
    assert.ok(
      got.raw.subarray(rec[0].length).equals(m.content),
      `${ctx}: the copy of ${marker} (queue id ${rec[3]}) at the sink is not byte-complete: ${got.raw.length - rec[0].length} octets after the Received header, ${m.content.length} sent`,
    );
    assert.equal(got.from, w.sender, `${ctx}: envelope sender of ${marker}`);
    assert.deepEqual(got.to, [m.rcpt], `${ctx}: envelope recipients of ${marker}`);
    copies.set(marker, [...(copies.get(marker) ?? []), { id: rec[3] as string, m: got }]);
  }

  // At least once: every 250 was delivered under the queue id it named.
  const missing = messages.filter((m) => !(copies.get(m.marker) ?? []).some((c) => c.id === m.ackedId));
  assert.deepEqual(
    missing.map((m) => `${m.marker} (queued as ${m.ackedId}; at the sink: ${(copies.get(m.marker) ?? []).map((c) => c.id).join(', ') || 'nothing'})`),
    [],
    `${ctx}: acknowledged messages that never reached the sink`,
  );

  // Nothing went wrong in any daemon: no unreadable file, no failure, no notification.
  for (const [i, r] of relays.entries()) {
    const bad = r.logs.filter((l) => ['spool.corrupt', 'queue.error', 'dsn.queued', 'data.error'].includes(l.event) || (l.event === 'delivery' && l.status === 'failed'));
    assert.deepEqual(bad, [], `${ctx}: daemon ${i + 1} logged trouble`);
  }
  const deferrals = relays.flatMap((r) => r.logs.filter((l) => l.event === 'delivery' && l.status === 'deferred'));

  // Duplicates: the same queue id delivered again (a kill between the next hop's 250 and
  // the removal), and extra queue ids of one marker (a client re-sent after a lost 250).
  let redelivered = 0;
  let resent = 0;
  let maxCopies = 0;
  for (const list of copies.values()) {
    const ids = new Set(list.map((c) => c.id));
    redelivered += list.length - ids.size;
    resent += ids.size - 1;
    maxCopies = Math.max(maxCopies, list.length);
  }
  t.diagnostic(
    `${MESSAGES} messages, ${messages.reduce((s, m) => s + m.attempts, 0)} client attempts (${retries4xx} 4xx retries); ${kills} kills, ${killsMidDelivery} while the sink held a message (${held} held in all); ` +
      `${sink.messages.length} arrived at the sink: ${redelivered} redeliveries of a queue id, ${resent} extra copies re-sent by clients (max ${maxCopies} per marker); ${deferrals.length} deferrals`,
  );
  t.diagnostic(`times: load with kills ${loadMs} ms, drain after the last restart ${drainedMs} ms, total ${Date.now() - started} ms`);
  assert.deepEqual(drainProblems, [], 'the queue drains after the last restart');
  assert.equal(stopCode, 0, `${ctx}: the last daemon stops with 0; stderr: ${relay.stderr()}`);
  assert.ok(killsMidDelivery >= 1, `${ctx}: no kill landed while the sink held a message`);
});
