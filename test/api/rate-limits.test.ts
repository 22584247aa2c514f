// GET /api/limits/rate and the dashboard's count of trips, through the real
// daemon: a client limited to one message a day sends two; the API lists its
// counter (who, limit, count, window, resets at) and /api/stats counts the
// trip in its minute; a viewer may read both; without a session, 401.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient } from '../smtp/harness.ts';
import { startWithApi } from './client.ts';

async function send(port: number): Promise<string | null> {
  const c = await RawClient.connect(port, '127.0.0.1');
  await c.reply();
  await c.cmd('EHLO app.example');
  const mail = await c.cmd('MAIL FROM:<app@example.com>');
  if (!mail?.startsWith('250')) {
    c.end();
    return mail;
  }
  await c.cmd('RCPT TO:<ops@remote.example>');
  await c.cmd('DATA');
  const r = await c.cmd('Subject: x\r\n\r\nbody\r\n.');
  c.end();
  return r;
}

test('GET /api/limits/rate lists the counters; /api/stats counts the trips per minute', async (t) => {
  const { relay, api, password } = await startWithApi(t, {
    limits: { rate: [{ name: 'app daily', who: 'client', match: 'localhost', messages: 1, per: '1d', action: 'defer' }] },
  });
  const me = await api.login('admin', password);
  const none = await api.call('GET', '/api/limits/rate');
  assert.equal(none.status, 401);

  assert.match((await send(relay.ports.mx)) ?? '', /^250 2\.0\.0 /);
  assert.equal(await send(relay.ports.mx), '450 4.7.1 Rate limit exceeded (messages per 1d), try again later');
  await relay.waitLog((l) => l.event === 'rate.limited');

  const r = await api.call('GET', '/api/limits/rate', { as: me });
  assert.equal(r.status, 200, r.text);
  const counters = (r.json as { counters: Record<string, unknown>[] }).counters;
  assert.equal(counters.length, 1);
  const c = counters[0]!;
  assert.deepEqual([c.limit, c.name, c.who, c.value, c.unit, c.count, c.max, c.per, c.action], [0, 'app daily', 'client', '127.0.0.1', 'messages', 1, 1, '1d', 'defer']);
  assert.equal(Date.parse(String(c.resets_at)) - Date.parse(String(c.window_start)), 86_400_000);
  assert.match(String(c.window_start), /T00:00:00\.000Z$/);

  const s = await api.call('GET', '/api/stats', { as: me });
  assert.equal(s.status, 200, s.text);
  const perMinute = (s.json as { per_minute: { rate_limited: number }[] }).per_minute;
  assert.equal(perMinute.reduce((n, m) => n + m.rate_limited, 0), 1);
});
