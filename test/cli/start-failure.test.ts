// A start that fails part-way leaves nothing behind: a data directory whose
// path is too long for the control socket is refused with a clear message
// before anything is bound, and a failure after the listeners are up (here
// the control socket cannot be created) closes every listener, the admin one
// included, before the error is reported.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runBounded, tempDir } from './helpers.ts';
import { relayDoc } from '../smtp/harness.ts';
import { startDaemon, StartError } from '../../src/daemon.ts';
import { jsonLogger } from '../../src/log/logger.ts';
import { validate } from '../../src/config/validate.ts';
import { openConfigStore } from '../../src/store/data-dir.ts';

/** Whether `port` on 127.0.0.1 can be bound now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer();
    s.once('error', () => done(false));
    s.listen(port, '127.0.0.1', () => s.close(() => done(true)));
  });
}

test('start with a data directory path too long for the control socket: exit 1, a clear error, nothing bound', async (t) => {
  const base = tempDir(t);
  let data = base;
  // Nested, so that each name stays well under NAME_MAX: 150 characters in all.
  while (data.length < 150) data = join(data, 'x'.repeat(Math.min(40, 150 - data.length - 1) || 1));
  data = data.slice(0, 150);
  mkdirSync(data, { recursive: true });
  assert.equal(data.length, 150);
  const { doc } = await relayDoc();
  const file = join(base, 'settings.yaml');
  writeFileSync(file, stringify(doc));
  const r = await runBounded(['start', '--data', data, '--config', file]);
  assert.equal(r.timedOut, false, 'the failed start must exit');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^mailwarden: the data directory's path is too long for its control socket: .*control\.sock is 163 bytes, and a Unix socket path can have at most 107/m);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  assert.doesNotMatch(r.stdout, /"event":"(started|listening)"/, 'nothing was bound');

  // The queue commands know no daemon can be there, and work on the files themselves.
  assert.equal((await runBounded(['config', 'import', file, '--data', data])).status, 0);
  const retry = await runBounded(['queue', 'retry', '--all', '--data', data]);
  assert.equal(retry.status, 0, retry.stderr);
  assert.doesNotMatch(retry.stderr, /EINVAL|^\s+at /m);
});

test('a start that fails after its listeners are up closes all of them (admin included) before it reports', async (t) => {
  const data = tempDir(t);
  // A directory where the control socket goes: it cannot be replaced.
  mkdirSync(join(data, 'control.sock', 'in-the-way'), { recursive: true });
  const { doc } = await relayDoc({ admin: { enabled: true, address: '127.0.0.1', port: 0 } });
  const lines: { event: string; listener?: string; port?: number }[] = [];
  const logger = jsonLogger((text) => {
    for (const l of text.split('\n').filter(Boolean)) lines.push(JSON.parse(l) as (typeof lines)[number]);
  });
  const raw = doc as Record<string, unknown>;
  await assert.rejects(
    startDaemon({ dataDir: data, logger, config: { raw, meta: { author: 'test', comment: 'failing start' } } }),
    (err: Error) => err instanceof StartError && /cannot open the control socket/.test(err.message),
  );
  const bound = lines.filter((l) => l.event === 'listening');
  assert.deepEqual(bound.map((l) => l.listener).sort(), ['admin', 'mx', 'smtps', 'submission']);
  for (const l of bound) assert.equal(await bindable(l.port ?? -1), true, `${l.listener}'s port ${l.port} is free again`);
  assert.equal(lines.some((l) => l.event === 'started'), false);
});

test('an active revision that is an open relay by today\'s rule 8 (applied by an older version) is never started', async (t) => {
  const data = tempDir(t);
  const { doc } = await relayDoc();
  const d = doc as { networks: unknown[]; listeners: { trusted_proxies?: string[] }[]; relaying: Record<string, unknown> };
  d.networks.push({ name: 'lb', type: 'network', address: '64.0.0.0/2' });
  for (const l of d.listeners) l.trusted_proxies = ['lb'];
  // Today's validation refuses it unless acknowledged; an older version stored it as it was.
  const v = validate({ ...d, relaying: { ...d.relaying, open_relay_acknowledged: true } });
  assert.deepEqual(v.errors, []);
  const store = openConfigStore(data);
  await store.apply({ ...v.settings, relaying: { ...v.settings.relaying, open_relay_acknowledged: false } }, { author: 'older version', comment: 'wide proxies' });
  await store.close();
  const r = await runBounded(['start', '--data', data]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /the active revision 1 makes an open relay \(rule 8: .*trusted_proxies/);
  assert.doesNotMatch(r.stdout, /"event":"listening"/, 'nothing was bound');
});
