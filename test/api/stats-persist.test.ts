// The dashboard's counts survive a restart of the single node (issue #17):
// the real daemon accepts messages and refuses one, is stopped and started
// again on the same data directory, and GET /api/stats still shows them (kept
// in DATA/stats.db); a message accepted after the restart adds to them rather
// than replacing the minute it falls in.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RawClient, restartRelay, type Relay } from '../smtp/harness.ts';
import { ApiClient, startWithApi } from './client.ts';

const OUTSIDER = '127.0.0.31';

async function send(relay: Relay, n: number): Promise<void> {
  const c = await RawClient.connect(relay.ports.mx);
  assert.match((await c.reply()) ?? '', /^220 /);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250/m);
  assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
  assert.match((await c.cmd(`RCPT TO:<b${n}@example.org>`)) ?? '', /^250 /);
  assert.match((await c.cmd('DATA')) ?? '', /^354 /);
  assert.match((await c.cmd(`Subject: ${n}\r\n\r\nbody ${n}\r\n.`)) ?? '', /^250 /);
  await c.cmd('QUIT');
  c.end();
}

/** A client that no rule lets relay: its RCPT to a foreign domain is refused. */
async function refused(relay: Relay): Promise<void> {
  const c = await RawClient.connect(relay.ports.mx, OUTSIDER);
  assert.match((await c.reply()) ?? '', /^220 /);
  await c.cmd('EHLO outsider.example');
  assert.match((await c.cmd('MAIL FROM:<x@example.net>')) ?? '', /^250 /);
  assert.match((await c.cmd('RCPT TO:<y@example.org>')) ?? '', /^5\d\d /);
  await c.cmd('QUIT');
  c.end();
}

const total = (json: { per_minute: Record<string, number>[] }, k: string): number => json.per_minute.reduce((n, m) => n + (m[k] ?? 0), 0);

test('the dashboard counts survive a restart of the single node', async (t) => {
  const { relay, api, password } = await startWithApi(t);
  const me = await api.login('admin', password);
  for (let i = 0; i < 3; i++) await send(relay, i);
  // Counted from the log events: wait until they are out.
  await relay.waitLogs((l) => l.event === 'queued', 3);
  const before = (await api.call('GET', '/api/stats', { as: me })).json;
  assert.deepEqual([total(before, 'accepted'), total(before, 'relayed'), total(before, 'refused')], [3, 3, 0]);
  // After the dashboard's read: handed to the store by the heartbeat or on stop.
  await refused(relay);
  await relay.waitLog((l) => l.event === 'rcpt' && l.action === 'reject');

  const ports = relay.ports;
  assert.equal(await relay.stop(), 0);
  assert.ok(existsSync(join(relay.dataDir, 'stats.db')), 'the counts are kept in DATA/stats.db');

  const again = await restartRelay(t, relay.dataDir, ports);
  assert.ok(again.adminPort);
  const api2 = new ApiClient(again.adminPort, api.ca);
  const after = await api2.call('GET', '/api/stats', { as: me });
  assert.equal(after.status, 200, after.text);
  assert.deepEqual([total(after.json, 'accepted'), total(after.json, 'relayed'), total(after.json, 'refused')], [3, 3, 1]);

  // New traffic adds to the stored minutes (the same minute, most likely): never replaces them.
  await send(again, 9);
  await again.waitLog((l) => l.event === 'queued');
  const more = (await api2.call('GET', '/api/stats', { as: me })).json;
  assert.deepEqual([total(more, 'accepted'), total(more, 'refused')], [4, 1]);
});
