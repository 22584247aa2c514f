// `processes: 2` and the PROXY protocol: a trusted proxy's header, read in
// the worker, makes the named client the client of the session there (its
// relay right, the log, the spool), and max_connections_per_client counts
// that client across both processes (the primary holds the one count).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, queueEnvelopes, queuedId } from '../smtp/harness.ts';
import { onePerProcess, servedBy, twoProcesses } from './procs.ts';

const NINE = '127.0.0.9'; // has a relay right
const EIGHT = '127.0.0.8'; // has none

/** From the proxy (127.0.0.1), a PROXY v1 header naming `client`; greeted and EHLO'd. */
async function viaProxy(port: number, client: string): Promise<RawClient> {
  const c = await RawClient.connect(port, '127.0.0.1');
  c.write(`PROXY TCP4 ${client} 127.0.0.1 40000 25\r\n`);
  assert.match((await c.reply()) ?? '(closed)', /^220 /);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250/);
  return c;
}

test('processes: 2 — a PROXY header read in the worker: the named client decides relaying and is counted across both processes', async (t) => {
  const { relay, worker } = await twoProcesses(
    t,
    {
      networks: [
        { name: 'proxy', type: 'host', address: '127.0.0.1' },
        { name: 'nine', type: 'host', address: NINE },
      ],
      relaying: { allowed_hosts: ['nine'] },
      limits: { max_connections_per_client: 2, max_connections: 50 },
    },
    (doc) => {
      const listeners = doc.listeners as Record<string, unknown>[];
      listeners[0] = { ...listeners[0], trusted_proxies: ['proxy'] };
    },
  );
  const port = relay.ports.mx;

  // 127.0.0.9 through the proxy, served by the idle worker: relayed by 127.0.0.9's right (the proxy has none).
  const c = await viaProxy(port, NINE);
  assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
  assert.match((await c.cmd('RCPT TO:<someone@example.org>')) ?? '', /^250 2\.1\.5/);
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  const id = queuedId((await c.cmd('Subject: proxied\r\n\r\nhi\r\n.')) ?? '');
  c.end();
  const connect = await relay.waitLog((l) => l.event === 'connect' && l.client === NINE);
  assert.equal(servedBy(connect), worker, 'the worker served the proxied session');
  const queued = await relay.waitLog((l) => l.event === 'queued' && l.id === id);
  assert.deepEqual([servedBy(queued), queued.client], [worker, NINE]);
  assert.equal(relay.logs.some((l) => l.event === 'connect' && l.client === '127.0.0.1'), false, 'the proxy is never the client');
  const e = (await queueEnvelopes(relay)).find((m) => m.id === id);
  assert.deepEqual([e?.client.address, e?.relayed, e?.recipients[0]?.kind], [NINE, true, 'relay']);

  // 127.0.0.8 through the same proxy, in the worker: no relay right.
  const d = await viaProxy(port, EIGHT);
  assert.match((await d.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
  assert.equal(await d.cmd('RCPT TO:<someone@example.org>'), '554 5.7.1 Relaying denied');
  d.end();
  const refusal = await relay.waitLog((l) => l.event === 'rcpt' && l.client === EIGHT && l.action === 'reject');
  assert.equal(servedBy(refusal), worker);
  await relay.waitLogs((l) => l.event === 'disconnect', 2);

  // max_connections_per_client: 2 for 127.0.0.8, one session in each process: the third is refused.
  const { w, p } = await onePerProcess(relay, worker, EIGHT, () => viaProxy(port, EIGHT));
  const third = await RawClient.connect(port, '127.0.0.1');
  third.write(`PROXY TCP4 ${EIGHT} 127.0.0.1 40001 25\r\n`);
  assert.match((await third.reply()) ?? '(closed)', /^421 4\.7\.0 .*Too many connections/);
  assert.equal(await third.closedByServer(), true);
  const limit = await relay.waitLog((l) => l.event === 'connect.limit' && l.client === EIGHT);
  assert.ok(limit);
  // Another client through the same proxy is not affected: the proxy's own address is not the one counted.
  const other = await viaProxy(port, '127.0.0.7');
  other.end();
  // A slot given back by the worker's session is free again for that client.
  const closedBefore = relay.logs.filter((l) => l.event === 'disconnect').length;
  w.end();
  await relay.waitLogs((l) => l.event === 'disconnect', closedBefore + 1);
  let again: RawClient | null = null;
  // The worker tells the primary its slot is free with its disconnect: the two lines may trail each other by a turn.
  for (let i = 0; i < 20 && again === null; i++) {
    const x = await RawClient.connect(port, '127.0.0.1');
    x.write(`PROXY TCP4 ${EIGHT} 127.0.0.1 ${40010 + i} 25\r\n`);
    const r = (await x.reply()) ?? '(closed)';
    if (r.startsWith('220')) again = x;
    else x.end();
  }
  assert.ok(again, 'the slot freed in the worker is free in the primary\'s count');
  again.end();
  p.end();
});
