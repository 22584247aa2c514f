// The MTA-STS policy fetch against a local HTTPS server: delivery.mta_sts.timeout
// is one deadline over the whole fetch, so a server that trickles a valid
// policy a byte at a time (never idle long enough for a socket timeout) cannot
// hold the fetch, and the deliveries waiting on it, past the deadline.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { fetchPolicyText } from '../../src/delivery/mta-sts.ts';
import type { Dns } from '../../src/delivery/resolver.ts';
import { selfSignedCert } from './sink.ts';

const POLICY = 'version: STSv1\r\nmode: enforce\r\nmx: mx.trickle.test\r\nmax_age: 86400\r\n';

/** Every name is 127.0.0.1: the fetch goes to the local server only. */
const loopback: Dns = {
  mx: async () => ({ kind: 'nodata' }),
  addresses: async () => ({ kind: 'ok', value: ['127.0.0.1'] }),
};

async function policyServer(everyMs: number | null): Promise<{ server: Server; port: number; cert: string; stop: () => Promise<void> }> {
  const pem = await selfSignedCert({ dns: ['mta-sts.trickle.test'] });
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer({ key: pem.key, cert: pem.cert }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    if (everyMs === null) return void res.end(POLICY);
    // One byte at a time, well inside any idle timeout.
    let i = 0;
    const t = setInterval(() => {
      if (i >= POLICY.length) {
        clearInterval(t);
        timers.delete(t);
        return void res.end();
      }
      res.write(POLICY[i++]);
    }, everyMs);
    timers.add(t);
    res.on('close', () => {
      clearInterval(t);
      timers.delete(t);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  const stop = async () => {
    for (const t of timers) clearInterval(t);
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
  };
  return { server, port, cert: pem.cert, stop };
}

test('a policy served at once is fetched within the deadline', async (t) => {
  const s = await policyServer(null);
  t.after(s.stop);
  assert.equal(await fetchPolicyText('trickle.test', loopback, { port: s.port, timeoutMs: 5000, ca: s.cert }), POLICY);
});

test('a policy trickled a byte every 200 ms fails at the deadline, not after the whole body', async (t) => {
  // The whole body takes ~14 s at this pace; the deadline is 1.5 s.
  const s = await policyServer(200);
  t.after(s.stop);
  const deadline = 1500;
  const started = Date.now();
  await assert.rejects(fetchPolicyText('trickle.test', loopback, { port: s.port, timeoutMs: deadline, ca: s.cert }), /took longer than 1500 ms/);
  const took = Date.now() - started;
  assert.ok(took < 3 * deadline, `the fetch took ${took} ms, the deadline was ${deadline} ms`);
});

test('a name that never resolves counts against the same deadline', async () => {
  const hanging: Dns = { mx: async () => ({ kind: 'nodata' }), addresses: () => new Promise(() => {}) };
  const started = Date.now();
  await assert.rejects(fetchPolicyText('trickle.test', hanging, { port: 1, timeoutMs: 500 }), /took longer than 500 ms/);
  assert.ok(Date.now() - started < 1500);
});
