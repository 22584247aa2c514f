// `processes: 2`, SIGTERM with sessions mid-DATA in the worker and in the
// primary: each client gets either a 250 (and that message reaches the sink,
// before the stop or after a restart) or a 4xx/421 or a closed connection,
// never a 250 for a message that is then lost. Half the clients send their
// final dot as the signal goes out (racing the stop), half after the worker
// has begun stopping.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, relayDoc, restartRelay, startRelay } from '../smtp/harness.ts';
import { startSink } from '../delivery/sink.ts';
import { servedBy } from './procs.ts';

const SESSIONS = 6;

test('processes: 2 — SIGTERM with clients mid-DATA in both processes: every 250 is delivered, the rest get 4xx or a close', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const { doc, ports } = await relayDoc({
    processes: 2,
    domains: [{ name: 'example.com', route: { hosts: [`127.0.0.1:${sink.port}`] } }],
    delivery: { enabled: true },
    limits: { shutdown_grace: '5s' },
  });
  const relay = await startRelay(t, doc, ports);
  t.after(async () => void (await relay.stop()));
  const worker = (await relay.waitLog((l) => l.event === 'process.started' && l.role === 'worker')).pid as number;

  // Six sessions held open at once, each from its own address: the dispatcher spreads them over both processes.
  const clients: RawClient[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const src = `127.0.6.${i + 1}`;
    const c = await RawClient.connect(relay.ports.mx, src);
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250/);
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.match((await c.cmd(`RCPT TO:<bob@example.com>`)) ?? '', /^250 /);
    assert.match((await c.cmd('DATA')) ?? '', /^354/);
    c.write(`Subject: stop-${i}\r\n\r\nthe first half of message ${i}\r\n`);
    clients.push(c);
  }
  await relay.waitLogs((l) => l.event === 'connect' && String(l.client).startsWith('127.0.6.'), SESSIONS);
  const where = relay.logs.filter((l) => l.event === 'connect' && String(l.client).startsWith('127.0.6.')).map(servedBy);
  assert.ok(where.includes(worker) && where.includes('primary'), `mid-DATA in both processes: ${JSON.stringify(where)}`);

  // Even ones: the final dot races the signal. Odd ones: after the worker has begun to stop.
  for (let i = 0; i < SESSIONS; i += 2) clients[i]!.write(`the rest ${i}\r\n.\r\n`);
  const exited = new Promise<number | null>((done) => relay.child.once('exit', (code) => done(code)));
  relay.child.kill('SIGTERM');
  await relay.waitLog((l) => l.event === 'process.stopping' && l.role === 'worker');
  for (let i = 1; i < SESSIONS; i += 2) clients[i]!.write(`the rest ${i}\r\n.\r\n`);

  // Every reply each client got until the connection closed.
  const answers = await Promise.all(
    clients.map(async (c) => {
      const got: string[] = [];
      for (;;) {
        const r = await c.reply(30_000);
        if (r === null) return got;
        got.push(r);
      }
    }),
  );
  assert.equal(await exited, 0, relay.stderr());
  const acked: string[] = [];
  for (const [i, got] of answers.entries()) {
    // Never a 250 and a refusal for one message; anything else than a 250 is temporary.
    const ok = got.filter((r) => r.startsWith('250'));
    assert.ok(ok.length <= 1, JSON.stringify(got));
    if (ok.length === 1) {
      assert.match(ok[0]!, /^250 2\.0\.0 Ok: queued as /);
      acked.push(`stop-${i}`);
    } else for (const r of got) assert.match(r, /^4\d\d /, `client ${i}: ${JSON.stringify(got)}`);
  }
  // The worker was asked to stop (not killed): its exit is expected.
  const wExit = await relay.waitLog((l) => l.event === 'process.exited' && l.pid === worker).catch(() => null);
  assert.ok(wExit === null || wExit.unexpected === undefined, JSON.stringify(wExit));

  // Restarted on the same data directory: whatever was acknowledged and not delivered before the stop goes out now.
  const again = await restartRelay(t, relay.dataDir, ports);
  t.after(async () => void (await again.stop()));
  await sink.waitFor(acked.length, 30_000);
  const subjects = (m: { raw: Buffer }) => /^Subject: (stop-\d)/m.exec(m.raw.toString())?.[1] ?? '?';
  const delivered = sink.messages.map(subjects);
  for (const s of acked) assert.ok(delivered.includes(s), `acknowledged ${s} was delivered (got ${delivered.join(', ')})`);
  // Nothing is delivered twice, nor anything that was never sent.
  assert.equal(new Set(delivered).size, delivered.length, delivered.join(', '));
  for (const s of delivered) assert.match(s, /^stop-[0-5]$/);
  t.diagnostic(`acknowledged ${acked.length} of ${SESSIONS}; delivered ${delivered.length}`);
});
