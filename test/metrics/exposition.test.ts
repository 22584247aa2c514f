// The tests' exposition parser (exposition.ts) is itself tested: it reads
// what prom-client writes, and refuses what the format does not allow, so
// that the metrics tests built on it cannot pass on a broken exposition.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { parseExposition, series, value } from './exposition.ts';

test('reads a registry as prom-client writes it: counters, gauges, histograms, escaped label values', async () => {
  const registry = new Registry();
  const c = new Counter({ name: 'x_total', help: 'a counter', labelNames: ['a'], registers: [registry] });
  const g = new Gauge({ name: 'x_gauge', help: 'a gauge', registers: [registry] });
  const h = new Histogram({ name: 'x_seconds', help: 'a histogram', labelNames: ['k'], buckets: [0.1, 1], registers: [registry] });
  c.inc({ a: 'one' }, 2);
  c.inc({ a: 'q"uo\\te\nd' });
  g.set(-3.5);
  h.observe({ k: 'v' }, 0.05);
  h.observe({ k: 'v' }, 0.5);
  h.observe({ k: 'v' }, 5);
  const f = parseExposition(await registry.metrics());
  assert.equal(f.get('x_total')?.type, 'counter');
  assert.equal(f.get('x_total')?.help, 'a counter');
  assert.equal(value(f, 'x_total', { a: 'one' }), 2);
  assert.equal(value(f, 'x_total', { a: 'q"uo\\te\nd' }), 1);
  assert.equal(value(f, 'x_total'), 3, 'summed over the label');
  assert.equal(value(f, 'x_gauge'), -3.5);
  assert.equal(value(f, 'x_seconds_count', { k: 'v' }), 3);
  assert.equal(value(f, 'x_seconds_sum', { k: 'v' }), 5.55);
  assert.equal(value(f, 'x_seconds_bucket', { k: 'v', le: '1' }), 2);
  assert.equal(series(f, 'x_seconds_bucket', { k: 'v' }).length, 3);
});

test('refuses what the format does not allow', () => {
  const bad: [string, RegExp][] = [
    ['x 1\n', /without a TYPE/],
    ['# TYPE x counter\nx -1\n', /counter x is -1/],
    ['# TYPE x counter\nx 1', /end with a newline/],
    ['# TYPE x counter\nx{a="1"} 1\nx{a="1"} 2\n', /twice/],
    ['# TYPE x gauge\nx{a=1} 1\n', /not quoted/],
    ['# TYPE x gauge\nx{a="1} 1\n', /unterminated/],
    ['# TYPE x gauge\nx{a="\\t"} 1\n', /bad escape/],
    ['# TYPE x gauge\nx{1a="v"} 1\n', /bad label name/],
    ['# TYPE x gauge\nx one\n', /not a number/],
    ['# TYPE x gauge\nx\n', /expected " value/],
    ['# TYPE x nonsense\n', /unknown type/],
    ['# TYPE x gauge\n# TYPE x gauge\n', /twice/],
    ['# TYPE x histogram\nx_bucket{le="1"} 2\nx_bucket{le="+Inf"} 1\nx_sum 1\nx_count 1\n', /not cumulative/],
    ['# TYPE x histogram\nx_bucket{le="1"} 1\nx_sum 1\nx_count 1\n', /no \+Inf bucket/],
    ['# TYPE x histogram\nx_bucket{le="+Inf"} 2\nx_sum 1\nx_count 1\n', /differs from _count/],
    ['# TYPE x histogram\nx_bucket{le="+Inf"} 1\nx_count 1\n', /_sum or _count missing/],
  ];
  for (const [text, why] of bad) assert.throws(() => parseExposition(text), why, JSON.stringify(text));
});
