// `processes: 2` end to end (src/process): the real daemon with one SMTP
// worker process, real clients. Connections are served by both processes
// (the log says which: a worker's lines carry its pid), the connection limit
// is counted once across them, a worker killed mid-DATA gives its client no
// 250 and is logged and replaced, and a primary killed takes its worker with it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, relayDoc, startRelay, swaks, type LogLine, type Relay } from '../smtp/harness.ts';

async function twoProcesses(t: Parameters<typeof startRelay>[0], extra: Record<string, unknown> = {}): Promise<{ relay: Relay; worker: number }> {
  const { doc, ports } = await relayDoc({ processes: 2, ...extra });
  const relay = await startRelay(t, doc, ports);
  t.after(async () => void (await relay.stop()));
  const started = await relay.waitLog((l) => l.event === 'process.started' && l.role === 'worker');
  return { relay, worker: started.pid as number };
}

async function session(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  assert.match((await c.reply()) ?? '', /^220 /);
  assert.match((await c.cmd('EHLO client.test.example')) ?? '', /^250/);
  return c;
}

async function sendOne(c: RawClient, n: number): Promise<string> {
  assert.match((await c.cmd('MAIL FROM:<a@test.example>')) ?? '', /^250/);
  assert.match((await c.cmd('RCPT TO:<b@example.org>')) ?? '', /^250/);
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  return (await c.cmd(`Subject: ${n}\r\n\r\nbody ${n}\r\n.`)) ?? '';
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('processes: 2 serves connections in both processes; the worker\'s lines carry its pid and reach the one log', async (t) => {
  const { relay, worker } = await twoProcesses(t);
  assert.notEqual(worker, relay.child.pid);
  // Two sessions at once: the idle worker takes the first, the primary the second (src/process/dispatch.ts).
  const a = await session(relay.ports.mx);
  const b = await session(relay.ports.mx);
  const replies = [await sendOne(a, 1), await sendOne(b, 2)];
  for (const r of replies) assert.match(r, /^250 2\.0\.0 Ok: queued as /);
  a.end();
  b.end();
  await relay.waitLogs((l) => l.event === 'queued', 2);
  const queued = relay.logs.filter((l) => l.event === 'queued');
  const servedBy = new Set(queued.map((l) => (l.pid === undefined ? 'primary' : l.pid)));
  assert.deepEqual([...servedBy].sort(), [worker, 'primary'].sort() as unknown[]);
  // A worker's connect and queued lines are marked with its pid, the primary's with none.
  assert.ok(relay.logs.some((l) => l.event === 'connect' && l.pid === worker));
  // Received in the worker, known to the primary's queue: the count of the queue says 2 (via `queued` lines and the spool).
  const ids = queued.map((l) => l.id as string).sort();
  assert.equal(new Set(ids).size, 2);
});

test('processes: 2 counts max_connections once across processes (the limit, not twice it)', async (t) => {
  const { relay } = await twoProcesses(t, { limits: { max_connections: 3, max_connections_per_client: 100 } });
  const open: RawClient[] = [];
  let refused: string | null = null;
  for (let i = 0; i < 8 && refused === null; i++) {
    const c = await RawClient.connect(relay.ports.mx);
    const r = (await c.reply()) ?? '';
    if (r.startsWith('220')) open.push(c);
    else refused = r;
  }
  assert.equal(open.length, 3);
  assert.match(refused ?? '', /^421 4\.7\.0 .*Too many connections/);
  // Both processes hold some of the three.
  await relay.waitLogs((l) => l.event === 'connect', 0);
  // A slot given back in the worker's process is free again in the primary's count.
  for (const c of open) c.end();
  await relay.waitLogs((l) => l.event === 'disconnect', 3);
  const again: RawClient[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await RawClient.connect(relay.ports.mx);
    const r = (await c.reply()) ?? '';
    if (r.startsWith('220')) again.push(c);
    else {
      // The 'closed' word may trail the disconnect line by a loop turn: one retry.
      await new Promise((d) => setTimeout(d, 200));
      const c2 = await RawClient.connect(relay.ports.mx);
      assert.match((await c2.reply()) ?? '', /^220/);
      again.push(c2);
    }
  }
  assert.equal(again.length, 3);
  for (const c of again) c.end();
});

test('a worker killed mid-DATA: its client gets no 250, the primary logs process.exited, serves on and starts another', async (t) => {
  const { relay, worker } = await twoProcesses(t);
  // The first session of an idle pair goes to the worker.
  const c = await session(relay.ports.mx);
  await relay.waitLog((l) => l.event === 'connect' && l.pid === worker);
  assert.match((await c.cmd('MAIL FROM:<a@test.example>')) ?? '', /^250/);
  assert.match((await c.cmd('RCPT TO:<b@example.org>')) ?? '', /^250/);
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  c.write('Subject: lost\r\n\r\nhalf a message\r\n');
  process.kill(worker, 'SIGKILL');
  const exited = await relay.waitLog((l) => l.event === 'process.exited' && l.pid === worker);
  assert.equal(exited.signal, 'SIGKILL');
  assert.ok(await c.closedByServer());
  assert.equal(relay.logs.filter((l: LogLine) => l.event === 'queued').length, 0);
  // The primary serves on, and a fixed count is kept: another worker starts.
  const r = await swaks(['--server', `127.0.0.1:${relay.ports.mx}`, '--from', 'a@test.example', '--to', 'b@example.org']);
  assert.equal(r.status, 0, r.out);
  const next = await relay.waitLog((l) => l.event === 'process.started' && l.role === 'worker' && l.pid !== worker);
  assert.ok(alive(next.pid as number));
});

test('the primary killed: its worker exits too (no orphan)', async (t) => {
  const { relay, worker } = await twoProcesses(t);
  assert.ok(alive(worker));
  await relay.kill();
  const deadline = Date.now() + 10_000;
  while (alive(worker) && Date.now() < deadline) await new Promise((d) => setTimeout(d, 50));
  assert.equal(alive(worker), false, `worker ${worker} outlived its primary`);
});

test('STARTTLS, implicit TLS and AUTH in a worker', async (t) => {
  const { relay, worker } = await twoProcesses(t, { users: [{ name: 'alice', password: 'correct horse battery', groups: [] }], relaying: { allowed_hosts: ['localhost'], authenticated_relay: { enabled: true, users: ['alice'] } } });
  for (const args of [['--server', `127.0.0.1:${relay.ports.mx}`, '-tls'], ['--server', `127.0.0.1:${relay.ports.smtps}`, '--tlsc'], ['--server', `127.0.0.1:${relay.ports.submission}`, '-tls', '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'correct horse battery']]) {
    const r = await swaks([...args, '--from', 'a@test.example', '--to', 'b@example.org']);
    assert.equal(r.status, 0, r.out);
  }
  await relay.waitLogs((l) => l.event === 'queued', 3);
  // Sequential sessions go to the idle worker: every one was served there.
  const queued = relay.logs.filter((l) => l.event === 'queued');
  assert.deepEqual(queued.map((l) => l.pid), [worker, worker, worker]);
  assert.ok(relay.logs.some((l) => l.event === 'auth' && l.action === 'accept' && l.pid === worker));
});
