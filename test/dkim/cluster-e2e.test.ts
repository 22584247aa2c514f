// DKIM signing on a cluster node (the PostgreSQL queue store, whose writer
// keeps the first 256 KiB in memory for the header edit and streams the rest
// to the database): a small message and one of 400 KiB (its body past the
// in-memory head) are signed at the commit and arrive at the sink with a
// signature python3-dkim verifies over the test DNS server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterMissing, startCluster } from '../cluster/harness.ts';
import { dnsmasqMissing, startDns } from '../delivery/dns-server.ts';
import { message, sendMessage } from '../scan/scan-helpers.ts';
import { dkimpyMissing, dkimpyVerify, keygen } from './helpers.ts';

const skip = clusterMissing() || dnsmasqMissing() || dkimpyMissing();

test('cluster node: signed at the commit into PostgreSQL, small and past the in-memory head; dkimpy verifies at the sink', { skip: skip || false, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-dkim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const g = await keygen('example.org', 'pg', 'rsa-sha256', join(dir, 'k.pem'));
  const dns = await startDns(t, { txt: [{ name: g.record.name, text: g.record.value }] });
  const c = await startCluster(t, { settings: { dkim: { keys: [{ domain: 'example.org', selector: 'pg', key_file: g.file }], sign: 'all' } } });
  const node = await c.startNode('a', { config: true });
  const line = 'All work and no play makes Jack a dull boy. '.repeat(2) + '\r\n';
  const big = line.repeat(Math.ceil((400 * 1024) / line.length));
  for (const [subject, body] of [['small', 'Hello.\r\n'], ['big', big]] as const) {
    const r = await sendMessage(node.ports.mx, { from: 'alice@example.org', to: ['rcpt@example.com'], message: message(body, { From: 'alice@example.org', To: 'rcpt@example.com', Subject: subject }) });
    assert.match(r.reply, /^250 /, subject);
  }
  const got = await c.sink.waitFor(2, 60_000);
  for (const m of got) {
    assert.match(m.raw.toString('latin1'), /^DKIM-Signature: /);
    const v = await dkimpyVerify(m.raw, dns.server);
    assert.deepEqual(v.map((x) => x.ok), [true], `${/Subject: (\w+)/.exec(m.raw.toString('latin1'))?.[1]}: ${JSON.stringify(v)}`);
  }
  assert.ok(got.some((m) => m.raw.length > 400 * 1024));
});
