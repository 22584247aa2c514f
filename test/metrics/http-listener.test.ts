// The metrics listener (src/metrics/http-listener.ts) on loopback, port 0:
// GET and HEAD /metrics, 404 elsewhere, 405 for other methods; apply() with
// the same settings keeps the socket, with others moves it (the old port
// stops answering), with null closes it; a port that is taken is logged and
// the listener stays off, never throwing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { memoryLogger } from '../../src/log/logger.ts';
import { MetricsListener } from '../../src/metrics/http-listener.ts';

function get(port: number, path = '/metrics', method = 'GET', host = '127.0.0.1'): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((done, fail) => {
    const req = request({ host, port, path, method, timeout: 5_000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => done({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', fail);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end();
  });
}

const EXPOSITION = '# HELP x_total a\n# TYPE x_total counter\nx_total 1\n';

test('serves GET and HEAD /metrics on the port it reports; 404 and 405 otherwise', async (t) => {
  const logger = memoryLogger();
  const l = new MetricsListener(async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: EXPOSITION }), logger);
  t.after(() => l.close());
  await l.apply({ address: '127.0.0.1', port: 0 });
  const port = l.bound?.port ?? 0;
  assert.ok(port > 0);
  assert.equal(l.url, `http://127.0.0.1:${port}/metrics`);
  assert.deepEqual(logger.lines.find((x) => x.event === 'listening')?.fields, { listener: 'metrics', address: '127.0.0.1', port });
  const r = await get(port);
  assert.equal(r.status, 200);
  assert.match(r.type ?? '', /^text\/plain; version=0\.0\.4/);
  assert.equal(r.body, EXPOSITION);
  assert.equal((await get(port, '/metrics?x=1')).status, 200);
  const head = await get(port, '/metrics', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal((await get(port, '/')).status, 404);
  assert.equal((await get(port, '/metrics/../admin')).status, 404);
  assert.equal((await get(port, '/metrics', 'POST')).status, 405);
});

test('apply: the same settings keep the socket; others move it; null closes it', async (t) => {
  const logger = memoryLogger();
  const l = new MetricsListener(async () => ({ contentType: 'text/plain', body: EXPOSITION }), logger);
  t.after(() => l.close());
  await l.apply({ address: '127.0.0.1', port: 0 });
  const first = l.bound?.port ?? 0;
  await l.apply({ address: '127.0.0.1', port: 0 });
  assert.equal(l.bound?.port, first, 'unchanged settings: same socket');
  await l.apply({ address: '127.0.0.2', port: 0 });
  const second = l.bound?.port ?? 0;
  assert.equal(l.bound?.address, '127.0.0.2');
  assert.equal((await get(second, '/metrics', 'GET', '127.0.0.2')).status, 200);
  await assert.rejects(get(first), /ECONNREFUSED/, 'the old socket is closed');
  await l.apply(null);
  assert.equal(l.bound, null);
  assert.equal(l.url, null);
  await assert.rejects(get(second, '/metrics', 'GET', '127.0.0.2'), /ECONNREFUSED/);
  assert.equal(logger.lines.filter((x) => x.event === 'metrics.stopped').length, 2);
});

test('a port that is taken: logged, no listener, apply resolves; the exposition failing is a 500', async (t) => {
  const taken = createServer();
  await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
  t.after(() => new Promise<void>((done) => taken.close(() => done())));
  const port = (taken.address() as { port: number }).port;
  const logger = memoryLogger();
  const l = new MetricsListener(async () => Promise.reject(new Error('registry broke')), logger);
  t.after(() => l.close());
  await l.apply({ address: '127.0.0.1', port });
  assert.equal(l.url, null, 'not listening');
  const failed = logger.lines.find((x) => x.event === 'metrics.listen_failed');
  assert.equal(failed?.fields.port, port);
  assert.match(String(failed?.fields.error), /EADDRINUSE/);
  await l.apply({ address: '127.0.0.1', port: 0 });
  const r = await get(l.bound?.port ?? 0);
  assert.equal(r.status, 500);
  assert.match(JSON.stringify(logger.lines.find((x) => x.event === 'metrics.error')?.fields), /registry broke/);
});
