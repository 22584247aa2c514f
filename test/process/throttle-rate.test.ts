// `processes: 2`: what must count across processes does. The failed-login
// throttle: failures from one client address in sessions served by the
// worker and by the primary reach limits.max_auth_failures together, and the
// next attempt is refused at once as in a single process. A rate limit
// (limits.rate): messages from sessions in both processes fill one bucket,
// exactly N of them accepted for a limit of N.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, queuedId } from '../smtp/harness.ts';
import { onePerProcess, sendOne, servedBy, twoProcesses } from './procs.ts';

const PASSWORD = 'Alice-pw-7f3c9';
const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

async function tlsSession(port: number, src: string): Promise<RawClient> {
  const c = await RawClient.connectTls(port, src);
  assert.match((await c.reply()) ?? '', /^220 /);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250/);
  return c;
}

test('processes: 2 — auth failures from one address in both processes reach max_auth_failures together', async (t) => {
  const MAX = 4;
  const { relay, worker } = await twoProcesses(t, {
    users: [{ name: 'alice', password: PASSWORD, groups: [] }],
    relaying: { allowed_hosts: ['localhost'], authenticated_relay: { enabled: true, users: ['alice'] } },
    limits: { auth_failure_delay: '10ms', max_auth_failures: MAX, auth_failure_window: '10m' },
  });
  const BAD = '127.0.4.1';
  const { w, p } = await onePerProcess(relay, worker, BAD, () => tlsSession(relay.ports.smtps, BAD));
  const isFail = (l: { event: string; client?: unknown; action?: unknown }) => l.event === 'auth' && l.client === BAD && l.action === 'reject';
  // Alternate: worker, primary, worker, primary. Each failure's log line says which process served it.
  const order = [w, p, w, p];
  const replies: string[] = [];
  const pids: (number | 'primary')[] = [];
  for (const [i, c] of order.entries()) {
    replies.push((await c.cmd(`AUTH PLAIN ${plain('alice', `guess-${i}`)}`)) ?? '(closed)');
    await relay.waitLogs(isFail, i + 1);
    pids.push(servedBy(relay.logs.filter(isFail)[i]!));
  }
  assert.deepEqual(pids, [worker, 'primary', worker, 'primary']);
  // Two failures in each process: alone, neither reaches 4; together the fourth closes, as one process does.
  assert.deepEqual(replies.map((r) => r.slice(0, 9)), ['535 5.7.8', '535 5.7.8', '535 5.7.8', '421 4.7.0']);
  assert.equal(await p.closedByServer(), true);
  const last = relay.logs.filter(isFail).at(-1)!;
  assert.equal(last.failures_close, true);
  // The worker's session, still open, is refused at once even with the right password.
  const t0 = performance.now();
  assert.match((await w.cmd(`AUTH PLAIN ${plain('alice', PASSWORD)}`)) ?? '', /^421 4\.7\.0 /);
  assert.equal(await w.closedByServer(), true);
  // And so are new sessions from that address, whichever process serves them (one each: two at once).
  const again = await onePerProcess(relay, worker, BAD, () => tlsSession(relay.ports.smtps, BAD));
  for (const c of [again.w, again.p]) {
    assert.match((await c.cmd(`AUTH PLAIN ${plain('alice', PASSWORD)}`)) ?? '', /^421 4\.7\.0 /);
    assert.equal(await c.closedByServer(), true);
  }
  assert.ok(performance.now() - t0 < 5_000);
  await relay.waitLogs((l) => l.event === 'auth.blocked' && l.client === BAD, 3);
  const blocked = relay.logs.filter((l) => l.event === 'auth.blocked' && l.client === BAD).map(servedBy);
  assert.ok(blocked.includes(worker) && blocked.includes('primary'), `blocked in both: ${JSON.stringify(blocked)}`);
  assert.equal(relay.logs.some((l) => l.event === 'auth' && l.action === 'accept' && l.client === BAD), false);
  // Another address still logs in, in the worker.
  const ok = await tlsSession(relay.ports.smtps, '127.0.4.2');
  assert.equal(await ok.cmd(`AUTH PLAIN ${plain('alice', PASSWORD)}`), '235 2.7.0 Authentication successful');
  ok.end();
});

const HOUR = 3_600_000;

test('processes: 2 — a rate limit counts the messages of both processes in one bucket: exactly N accepted', async (t) => {
  const N = 4;
  const SRC = '127.0.5.1';
  const now = Date.now();
  // A second into a fresh hour (the windows are fixed): the test cannot cross a window's end.
  const offset = String(Math.ceil(now / HOUR) * HOUR + 1000 - now);
  process.env.MAILWARDEN_TEST_CLOCK_OFFSET_MS = offset;
  t.after(() => delete process.env.MAILWARDEN_TEST_CLOCK_OFFSET_MS);
  const { relay, worker } = await twoProcesses(t, {
    networks: [
      { name: 'localhost', type: 'host', address: '127.0.0.1' },
      { name: 'senders', type: 'network', address: '127.0.5.0/24' },
    ],
    relaying: { allowed_hosts: ['localhost', 'senders'] },
    limits: { rate: [{ name: 'per client', who: 'client', match: 'senders', messages: N, per: '1h', action: 'defer' }] },
  });
  const { w, p } = await onePerProcess(relay, worker, SRC, async () => {
    const c = await RawClient.connect(relay.ports.mx, SRC);
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250/);
    return c;
  });
  const replies: string[] = [];
  // Alternate between the processes, twice the limit in all.
  for (let i = 0; i < 2 * N; i++) replies.push(await sendOne(i % 2 === 0 ? w : p, `m${i}`));
  const accepted = replies.filter((r) => r.startsWith('250'));
  const why = () => `${replies.join('\n')}\n${JSON.stringify(relay.logs.filter((l) => l.event === 'mail' && l.action !== 'accept'))}`;
  assert.equal(accepted.length, N, why());
  assert.deepEqual(replies.slice(0, N).map((r) => r.slice(0, 3)), Array(N).fill('250'), why());
  for (const r of replies.slice(N)) assert.equal(r, '450 4.7.1 Rate limit exceeded (messages per 1h), try again later');
  // The accepted ones were served by both processes.
  await relay.waitLogs((l) => l.event === 'queued', N);
  const ids = accepted.map(queuedId);
  const by = ids.map((id) => servedBy(relay.logs.find((l) => l.event === 'queued' && l.id === id)!));
  assert.deepEqual(by, [worker, 'primary', worker, 'primary']);
  // Refusals in both processes too, each logged by the primary's one rate.limited count.
  await relay.waitLogs((l) => l.event === 'mail' && l.action === 'tempfail' && l.rule === 'limits.rate[0]', N);
  const refusedBy = relay.logs.filter((l) => l.event === 'mail' && l.action === 'tempfail').map(servedBy);
  assert.ok(refusedBy.includes(worker) && refusedBy.includes('primary'), JSON.stringify(refusedBy));
  const trip = await relay.waitLog((l) => l.event === 'rate.limited');
  assert.deepEqual([trip.who, trip.value, trip.count, trip.max], ['client', SRC, N, N]);
  w.end();
  p.end();
});
