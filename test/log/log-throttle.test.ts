// LogThrottle: the first line of an event per key at once, the repeats within
// the interval counted into one later line (`suppressed`), a steady flood one
// line per interval, a bounded number of keys; and the dashboard's statistics
// count every refusal a throttled connect.limit line stands for.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogThrottle } from '../../src/log/log-throttle.ts';
import type { LogFields } from '../../src/log/logger.ts';
import { Stats } from '../../src/api/stats.ts';

function collect(): { lines: { event: string; fields: LogFields }[]; log(event: string, fields?: LogFields): void } {
  const lines: { event: string; fields: LogFields }[] = [];
  return { lines, log: (event, fields = {}) => void lines.push({ event, fields }) };
}

test('first at once, repeats as one line with the count at the end of the interval, then quiet', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const out = collect();
  const th = new LogThrottle(out, 60_000);
  for (let i = 0; i < 500; i++) th.log('connect.limit', '192.0.2.1', { client: '192.0.2.1', limit: 'max_connections_per_client' });
  th.log('connect.limit', '192.0.2.2', { client: '192.0.2.2' });
  assert.deepEqual(out.lines.map((l) => l.fields.client), ['192.0.2.1', '192.0.2.2']);
  t.mock.timers.tick(60_000);
  assert.equal(out.lines.length, 3);
  assert.deepEqual(out.lines[2], { event: 'connect.limit', fields: { client: '192.0.2.1', limit: 'max_connections_per_client', suppressed: 499, interval_s: 60 } });
  // A flood that goes on: one line per interval.
  for (let i = 0; i < 100; i++) th.log('connect.limit', '192.0.2.1', { client: '192.0.2.1' });
  t.mock.timers.tick(60_000);
  assert.equal(out.lines.length, 4);
  assert.equal(out.lines[3]?.fields.suppressed, 100);
  // Quiet for an interval: the key is forgotten, the next one is logged at once.
  t.mock.timers.tick(60_000);
  assert.equal(out.lines.length, 4);
  th.log('connect.limit', '192.0.2.1', { client: '192.0.2.1' });
  assert.equal(out.lines.length, 5);
  assert.equal(out.lines[4]?.fields.suppressed, undefined);
});

test('events are throttled apart; beyond maxKeys new keys share one', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const out = collect();
  const th = new LogThrottle(out, 1000, 3);
  th.log('connect.limit', 'a', { client: 'a' });
  th.log('tls.handshake_failed', 'a', { client: 'a' });
  th.log('connect.limit', 'b', { client: 'b' });
  for (const k of ['c', 'd', 'e', 'f']) th.log('connect.limit', k, { client: k });
  assert.deepEqual(out.lines.map((l) => [l.event, l.fields.client]), [
    ['connect.limit', 'a'],
    ['tls.handshake_failed', 'a'],
    ['connect.limit', 'b'],
    ['connect.limit', 'many'],
  ]);
  t.mock.timers.tick(1000);
  assert.deepEqual(out.lines.at(-1), { event: 'connect.limit', fields: { client: 'many', suppressed: 3, interval_s: 1 } });
});

test('the statistics count the refusals a throttled connect.limit line stands for', () => {
  const stats = new Stats(() => 120_000);
  stats.observe('connect.limit', { client: '192.0.2.1', limit: 'max_connections_per_client' });
  stats.observe('connect.limit', { client: '192.0.2.1', limit: 'max_connections_per_client', suppressed: 41, interval_s: 60 });
  assert.equal(stats.series().at(-1)?.refused, 42);
  assert.deepEqual(stats.topRefused(1), [{ client: '192.0.2.1', count: 42 }]);
});
