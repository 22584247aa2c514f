// Crash safety of the spool, end to end: several raw SMTP clients send a few
// hundred messages, each with a unique marker and known bytes, while the
// daemon is killed with SIGKILL at random moments and restarted on the same
// data directory (its listeners on port 0: the clients connect to the port of
// each restart's "started" line). Clients re-send every message that did not get
// its 250. Afterwards every acknowledged message is in the spool exactly as
// sent (our Received header first, then the bytes sent, dot-unstuffed),
// every envelope is valid, nothing partial or unreadable is left, and the
// only extra copies are of messages whose 250 never reached the client.
//
// Reproduce a run with CRASH_SEED=<seed printed in the diagnostics>.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RawClient, relayDoc, restartRelay, startRelay, type Relay } from './harness.ts';
import { mailwarden } from '../cli/helpers.ts';
import { isEnvelope, type Envelope } from '../../src/queue/envelope.ts';
import { QUEUE_ID } from '../../src/queue/queue-id.ts';
import { mulberry32 } from '../support/prng.ts';
import { fileWithData, isCommittedFile, storedMessage } from '../support/spool-files.ts';
import { conditions, deferred } from '../support/conditions.ts';

const MESSAGES = 300;
const CLIENTS = 5;
const KILLS = 7; // at least 5 must happen
const MIN_KILLS = 5;
const MAX_ACKS_PER_ROUND = 25; // KILLS × this < MESSAGES, so the kills all fall inside the load
const DEADLINE_MS = 70_000;

interface Msg {
  marker: string;
  client: number;
  /** The message as the client means it (what must land after our Received header). */
  content: Buffer;
  /** On the wire after DATA: dot-stuffed, with the terminating dot. */
  wire: Buffer;
  attempts: number;
  /** Attempts that wrote the whole message, terminating dot included, but saw no 250. */
  unackedComplete: number;
  ackedId: string | null;
}

interface Worker {
  index: number;
  address: string;
  helo: string;
  todo: Msg[];
  state: 'running' | 'dead' | 'done';
}

class Dead extends Error {}

/** Builds one message with awkward lines: leading dots, a lone dot, 8-bit bytes, long lines. */
function makeMessage(rand: () => number, marker: string, client: number, big: boolean): Msg {
  const lines = [
    `From: <w${client}@example.net>`,
    `To: <rcpt@example.org>`,
    `Message-ID: <${marker}@crash.test>`,
    `Subject: crash test ${marker}`,
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
  const n = big ? 700 + Math.floor(rand() * 3000) : 5 + Math.floor(rand() * 40);
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.1) lines.push('.');
    else if (r < 0.2) lines.push(`.${marker} dotted line ${i}`);
    else lines.push(`${marker} line ${i} ${'abcdefghij'.repeat(Math.floor(rand() * 9))}`);
  }
  lines.push(`end of ${marker}`);
  const text = lines.join('\r\n') + '\r\n';
  const stuffed = lines.map((l) => (l.startsWith('.') ? '.' + l : l)).join('\r\n') + '\r\n.\r\n';
  return { marker, client, content: Buffer.from(text, 'latin1'), wire: Buffer.from(stuffed, 'latin1'), attempts: 0, unackedComplete: 0, ackedId: null };
}

const RECEIVED = /^Received: from (\S+) \(\[([0-9.]+)\]\)\r\n\tby mx\.test\.example \(mailwarden, listener mx\) with ESMTP id ([0-9a-z]{16})\r\n\tfor <rcpt@example\.org>;\r\n\t(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000\r\n/;

/** The files of a directory that hold something (the spool's files made ahead are empty). */
function withData(dir: string): string[] {
  return readdirSync(dir).filter((n) => statSync(join(dir, n)).size > 0);
}

test('SIGKILL at random moments under load loses no acknowledged message and leaves nothing partial', { timeout: 100_000 }, async (t) => {
  const seed = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : Math.floor(Math.random() * 2 ** 32);
  t.diagnostic(`seed ${seed} (rerun with CRASH_SEED=${seed})`);
  const rand = mulberry32(seed);
  const randInt = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const deadline = Date.now() + DEADLINE_MS;
  const ctx = `seed ${seed}`;

  // Every 127.0.0.x may relay, so that each client can use its own source address.
  const { doc, ports } = await relayDoc({
    networks: [{ name: 'loopback', type: 'network', address: '127.0.0.0/24' }],
    relaying: { allowed_hosts: ['loopback'] },
  });
  let relay: Relay = await startRelay(t, doc, ports);
  const dataDir = relay.dataDir;
  const spoolDir = join(dataDir, 'spool');
  const relays: Relay[] = [relay];

  const messages: Msg[] = [];
  const workers: Worker[] = Array.from({ length: CLIENTS }, (_, i) => ({ index: i, address: `127.0.0.${11 + i}`, helo: `w${i}.crash.test`, todo: [], state: 'running' as const }));
  for (let i = 0; i < MESSAGES; i++) {
    const w = i % CLIENTS;
    const m = makeMessage(rand, `m${seed.toString(36)}-w${w}-${String(i).padStart(3, '0')}`, w, i % 11 === 5);
    messages.push(m);
    workers[w]?.todo.push(m);
  }
  const byMarker = new Map(messages.map((m) => [m.marker, m]));

  // Everyone waits on state changes through this, never on a timer.
  let acks = 0;
  const { changed, waitFor } = conditions(ctx);

  let up = deferred();
  up.resolve();
  let killing = false;
  const problems: string[] = [];

  const expect = (reply: string | null, code: RegExp, what: string, w: Worker): string => {
    if (reply === null) throw new Dead();
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
      if (Date.now() > deadline) throw new Error(`${ctx}: client ${w.address} did not finish in time (${w.todo.length} left)`);
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
          expect(await c.cmd(`MAIL FROM:<w${w.index}@example.net>`), /^250 /, 'MAIL', w);
          expect(await c.cmd('RCPT TO:<rcpt@example.org>'), /^250 /, 'RCPT', w);
          expect(await c.cmd('DATA'), /^354 /, 'DATA', w);
          c.write(m.wire);
          const r = await c.reply();
          if (r === null) {
            m.unackedComplete++;
            throw new Dead();
          }
          const ok = /^250 2\.0\.0 Ok: queued as ([0-9a-z]{16})$/.exec(r);
          if (!ok) expect(r, /^250 .* queued as [0-9a-z]{16}$/, `end of data of ${m.marker}`, w);
          m.ackedId = ok?.[1] ?? null;
          w.todo.shift();
          acks++;
          changed();
        }
        c.write('QUIT\r\n');
        await c.reply().catch(() => null);
        c.end();
      } catch (err) {
        c.end();
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

  // The killer: after a random number of 250s, or after a random short delay.
  const killLog: string[] = [];
  let kills = 0;
  let orphans = 0;
  for (let k = 0; k < KILLS && !allDone(); k++) {
    const base = acks;
    if (rand() < 0.5) {
      const n = randInt(1, MAX_ACKS_PER_ROUND);
      await waitFor(() => acks >= base + n || allDone(), `${n} more 250 replies`, 20_000);
      killLog.push(`after ${acks - base} acks`);
    } else {
      // A random moment once the clients are back at work.
      await waitFor(() => acks > base || allDone(), 'the first 250 after the restart', 20_000);
      const ms = randInt(0, 100);
      await waitFor(() => acks >= base + MAX_ACKS_PER_ROUND || allDone(), `${ms} ms`, ms).catch(() => {});
      killLog.push(`after ${ms} ms (${acks - base} acks)`);
    }
    if (allDone()) break;
    killing = true;
    up = deferred();
    await relay.kill();
    kills++;
    assert.equal(relay.child.signalCode, 'SIGKILL', ctx);
    // Every client must notice that its connection died before the restart.
    await waitFor(() => workers.every((w) => w.state !== 'running'), 'clients to see their connections die', 10_000);
    relay = await restartRelay(t, dataDir, ports);
    relays.push(relay);
    orphans += relay.logs.filter((l) => l.event === 'spool.orphan_removed').length;
    // Recovery at open ran before "started": tmp/ is empty, nothing was unreadable.
    assert.deepEqual(readdirSync(join(spoolDir, 'tmp')), [], `${ctx}: tmp/ after restart ${kills}`);
    assert.deepEqual(readdirSync(join(spoolDir, 'corrupt')), [], `${ctx}: corrupt/ after restart ${kills}`);
    killing = false;
    up.resolve();
  }
  await Promise.all(running);
  t.diagnostic(`kills: ${killLog.join('; ')}; uncommitted messages removed at restarts: ${orphans}`);
  assert.deepEqual(problems, [], ctx);
  assert.ok(kills >= MIN_KILLS, `${ctx}: only ${kills} kills happened inside the load`);
  assert.equal(await relay.stop(), 0, `${ctx}: the last daemon stops with 0; stderr: ${relay.stderr()}`);

  // Every message was eventually acknowledged.
  const unacked = messages.filter((m) => m.ackedId === null).map((m) => m.marker);
  assert.deepEqual(unacked, [], `${ctx}: messages never acknowledged`);
  assert.equal(new Set(messages.map((m) => m.ackedId)).size, MESSAGES, `${ctx}: every 250 names its own queue id`);

  // No daemon ever found an unreadable file.
  for (const r of relays) assert.deepEqual(r.logs.filter((l) => l.event === 'spool.corrupt' || l.event === 'data.error'), [], ctx);

  // Nothing partial: queue/ holds committed files only (whole trailer); tmp/ and corrupt/ are empty.
  const queueDir = join(spoolDir, 'queue');
  assert.deepEqual(readdirSync(join(spoolDir, 'tmp')), [], `${ctx}: tmp/ at the end`);
  assert.deepEqual(readdirSync(join(spoolDir, 'corrupt')), [], `${ctx}: corrupt/ at the end`);
  const names = readdirSync(queueDir).sort();
  const ids = new Set<string>();
  for (const n of names) {
    const m = /^([0-9a-z]{16})\.msg$/.exec(n);
    assert.ok(m && QUEUE_ID.test(m[1] ?? ''), `${ctx}: unexpected file ${n} in queue/`);
    ids.add(m[1] as string);
    assert.ok(isCommittedFile(join(queueDir, n)), `${ctx}: ${n} has no whole trailer`);
  }

  // queue list --json agrees with the files, and finds nothing to move aside.
  const list = await mailwarden(['queue', 'list', '--json', '--data', dataDir]);
  assert.equal(list.status, 0, list.stderr);
  assert.equal(list.stderr, '', `${ctx}: queue list reported problems`);
  const envelopes = JSON.parse(list.stdout) as Envelope[];
  assert.ok(Array.isArray(envelopes));
  assert.deepEqual(envelopes.map((e) => e.id), [...ids].sort(), `${ctx}: queue list shows every committed message, oldest first`);
  assert.deepEqual(readdirSync(join(spoolDir, 'corrupt')), [], `${ctx}: queue list moved something to corrupt/`);

  // Each spooled message: valid envelope, our Received header, then exactly the bytes sent.
  const copies = new Map<string, string[]>();
  for (const env of envelopes) {
    assert.ok(isEnvelope(env), `${ctx}: invalid envelope ${JSON.stringify(env)}`);
    const bytes = storedMessage(queueDir, env.id);
    assert.equal(env.size, bytes.length, `${ctx}: envelope size of ${env.id}`);
    const text = bytes.toString('latin1');
    const rec = RECEIVED.exec(text);
    assert.ok(rec, `${ctx}: ${env.id} does not start with our Received header: ${JSON.stringify(text.slice(0, 300))}`);
    assert.equal(rec[3], env.id, `${ctx}: the Received header names the queue id`);
    const marker = /^X-Marker: (\S+)\r$/m.exec(text)?.[1] ?? '';
    const m = byMarker.get(marker);
    assert.ok(m, `${ctx}: ${env.id} carries no known marker (${JSON.stringify(marker)})`);
    const w = workers[m.client] as Worker;
    assert.equal(rec[1], w.helo, `${ctx}: HELO of ${env.id}`);
    assert.equal(rec[2], w.address, `${ctx}: client address in Received of ${env.id}`);
    assert.ok(bytes.subarray(rec[0].length).equals(m.content), `${ctx}: ${env.id} (${marker}) is not exactly the message sent`);
    assert.equal(env.sender, `w${m.client}@example.net`);
    assert.deepEqual(env.recipients.map((r) => [r.address, r.kind, r.status]), [['rcpt@example.org', 'relay', 'queued']]);
    assert.deepEqual({ ...env.client }, { address: w.address, helo: w.helo, user: null, tls: false, listener: 'mx' });
    assert.equal(env.relayed, true);
    assert.equal(env.revision, 1);
    assert.equal(env.version, 1);
    assert.ok(!Number.isNaN(Date.parse(env.received_at)), `${ctx}: received_at ${env.received_at}`);
    copies.set(marker, [...(copies.get(marker) ?? []), env.id]);
  }

  // Every acknowledged message is there under the id its 250 named; extra
  // copies only for attempts that sent the whole message but heard no 250.
  let extras = 0;
  let maxCopies = 0;
  for (const m of messages) {
    const found = copies.get(m.marker) ?? [];
    assert.ok(m.ackedId && found.includes(m.ackedId), `${ctx}: ${m.marker} got 250 (queued as ${m.ackedId}) but is not in the spool (found ${found.join(', ') || 'nothing'})`);
    assert.ok(found.length <= 1 + m.unackedComplete, `${ctx}: ${m.marker} is spooled ${found.length} times but only ${m.unackedComplete} attempt(s) went unacknowledged after the full message`);
    extras += found.length - 1;
    maxCopies = Math.max(maxCopies, found.length);
  }
  t.diagnostic(`${envelopes.length} spooled for ${MESSAGES} messages: ${extras} extra copies of unacknowledged attempts (max ${maxCopies} per marker); attempts: ${messages.reduce((s, m) => s + m.attempts, 0)}`);
  assert.ok(existsSync(queueDir));
});

test('a client that drops mid-DATA leaves nothing behind and nothing in flight', async (t) => {
  const { doc, ports } = await relayDoc({
    networks: [{ name: 'loopback', type: 'network', address: '127.0.0.0/24' }],
    relaying: { allowed_hosts: ['loopback'] },
  });
  const relay = await startRelay(t, doc, ports);
  const tmp = join(relay.dataDir, 'spool', 'tmp');
  const queueDir = join(relay.dataDir, 'spool', 'queue');
  // Small (still buffered in memory) and large (already in its file) partial messages.
  const cases = [
    { address: '127.0.0.21', body: 'Subject: small\r\n\r\nonly a little\r\n' },
    { address: '127.0.0.22', body: 'Subject: large\r\n\r\n' + ('y'.repeat(998) + '\r\n').repeat(300) },
  ];
  for (const { address, body } of cases) {
    const tmpFile = body.length > 64 * 1024 ? fileWithData(queueDir) : null;
    const c = await RawClient.connect(ports.mx, address);
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO dropper.example')) ?? '', /^250[ -]/);
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<b@example.org>')) ?? '', /^250 /);
    assert.match((await c.cmd('DATA')) ?? '', /^354 /);
    c.write(body);
    if (tmpFile) await tmpFile; // the daemon has started writing queue/<id>.msg
    c.end();
    const err = await relay.waitLog((l) => l.event === 'data.error' && typeof l.cid === 'string' && relay.logs.some((x) => x.event === 'connect' && x.cid === l.cid && x.client === address));
    assert.equal(typeof err.id, 'string');
    assert.deepEqual(readdirSync(tmp), [], `tmp/ after ${address} dropped`);
    assert.ok(!existsSync(join(queueDir, `${err.id}.msg`)), `queue/ after ${address} dropped: its file is gone`);
    // (Sessions that come close together may find empty files made ahead for them in queue/: src/queue/spool-pool.ts.)
    assert.deepEqual(withData(queueDir), [], `queue/ after ${address} dropped`);
  }
  assert.deepEqual(withData(join(relay.dataDir, 'spool', 'queue')), []);
  assert.equal(await relay.stop(), 0);
  assert.equal(relay.logs.find((l) => l.event === 'stopping')?.in_flight, 0, 'aborted transactions are no longer in flight');
  assert.ok(!relay.logs.some((l) => l.event === 'queued'));
});
