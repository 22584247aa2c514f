// Issue #14: a revision applied anywhere is in force on every running node
// within 2 s. Three nodes run, each with its own web admin/API listener
// (`--listen admin=127.0.0.1:0`); twenty Applies go through node A's REST
// API (PUT /api/settings with an API token made by `admin token create
// --store`), and one more through the CLI (`config import --store`, no node
// involved at all). An Apply's time is the one stamped on the revision just
// before its commit; it is seen on a node when that node logs
// `revision.applied` with its number (the line's own time stamp; one clock,
// this machine's). After each Apply a new connection to C must act on it,
// not only log it: each Apply names a new recipient domain and drops the
// previous one, relaying is off, so C accepts RCPT for the new domain and
// refuses the old one. (Not the host name: the greeting's name is fixed when
// a listener starts, on a single node too.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ApiClient } from '../api/client.ts';
import { RawClient } from '../smtp/harness.ts';
import { clusterMissing, quantile, startCluster, type ClusterNode } from './harness.ts';

const APPLIES = 20;
const LIMIT_MS = 2_000;

async function inForce(node: ClusterNode, i: number): Promise<void> {
  const client = await RawClient.connect(node.ports.mx);
  try {
    assert.match((await client.reply()) ?? '', /^220 /);
    assert.match((await client.cmd('EHLO client.example')) ?? '', /^250[ -]/);
    assert.match((await client.cmd('MAIL FROM:<sender@client.example>')) ?? '', /^250 /);
    assert.match((await client.cmd(`RCPT TO:<rcpt@d${i}.example>`)) ?? '', /^250 /, `${node.name} accepts the domain of apply ${i} on a new connection`);
    if (i > 1) assert.match((await client.cmd(`RCPT TO:<rcpt@d${i - 1}.example>`)) ?? '', /^5\d\d /, `${node.name} refuses the domain apply ${i} dropped`);
  } finally {
    client.end();
  }
}

test('Apply on one node is in force on every other node within 2 s', { skip: clusterMissing() ?? false, timeout: 180_000 }, async (t) => {
  const c = await startCluster(t, { settings: { relaying: { allowed_hosts: [] }, admin: { enabled: true, address: '127.0.0.1', port: 8025 } } });
  const base = c.doc.domains as unknown[];
  const listen = ['admin=127.0.0.1:0'];
  const a = await c.startNode('a', { config: true, listen });
  const others = [await c.startNode('b', { listen }), await c.startNode('c', { listen })];
  const nodeC = others[1]!;

  const made = await c.cli(['admin', 'token', 'create', 'apply-propagation', '--owner', 'admin', '--json']);
  assert.equal(made.status, 0, `admin token create --store: ${made.stderr}`);
  const token = (JSON.parse(made.stdout) as { token: string }).token;
  assert.ok(a.adminPort, 'node a runs its API');
  const api = new ApiClient(a.adminPort, readFileSync(String(a.logs.find((l) => l.event === 'started')!.tls).replace(/ \(.*\)$/, '')));

  const seen = new Map<string, number[]>(others.map((n) => [n.name, []]));
  const apply = async (i: number, via: 'api' | 'cli'): Promise<void> => {
    const domains = [...base, { name: `d${i}.example`, route: { hosts: [`127.0.0.1:${c.sink.port}`] } }];
    let rev: { number: number; created: number };
    if (via === 'cli') rev = await c.apply({ domains });
    else {
      c.doc = { ...c.doc, domains };
      const r = await api.call('PUT', '/api/settings', { body: { document: c.doc, comment: `apply ${i}` }, as: { token } });
      assert.equal(r.status, 200, `PUT /api/settings on node a: ${r.text}`);
      rev = { number: r.json.revision.number, created: Date.parse(r.json.revision.created) };
    }
    const lines = await Promise.all(others.map((n) => n.waitLog((l) => l.event === 'revision.applied' && l.revision === rev.number, 10_000)));
    for (const [k, n] of others.entries()) seen.get(n.name)!.push(Date.parse(String(lines[k]!.ts)) - rev.created);
    await inForce(nodeC, i);
  };
  for (let i = 1; i <= APPLIES; i++) await apply(i, 'api');
  await apply(APPLIES + 1, 'cli');

  const fmt = (xs: number[]) => `p50 ${quantile(xs, 0.5)} ms, p99 ${quantile(xs, 0.99)} ms, max ${Math.max(...xs)} ms`;
  t.diagnostic(`Apply propagation over ${APPLIES + 1} applies (${APPLIES} by node a's API, 1 by the CLI; revision stamped → revision.applied logged): ${[...seen].map(([n, xs]) => `node ${n} ${fmt(xs)}`).join('; ')}`);
  for (const [n, xs] of seen) for (const [i, ms] of xs.entries()) assert.ok(ms <= LIMIT_MS, `apply ${i + 1} reached node ${n} after ${ms} ms`);
});
