// The greylist through the asynchronous GreylistStore port, on the embedded
// SQLite file: the RCPT check (AntispamChecks.atRcpt) greylists a first
// attempt, accepts a retry after the delay, remembers the triplet across a
// reopen of DATA/greylist.db, and pruning drops what can no longer matter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AntispamChecks } from '../../src/antispam/checks.ts';
import { openGreylistStore } from '../../src/antispam/sqlite-greylist-store.ts';
import { tripletKey } from '../../src/antispam/greylist.ts';
import { compileSnapshot } from '../../src/config/snapshot.ts';
import { validate } from '../../src/config/validate.ts';
import { parseIp } from '../../src/objects/ip.ts';
import { tempDir } from '../cli/helpers.ts';

const T = { delayMs: 60_000, expiryMs: 3_600_000, lifetimeMs: 86_400_000 };

function ip(text: string): bigint {
  const p = parseIp(text);
  assert.ok(p.ok);
  return p.value;
}

test('the RCPT check through the async store: greylisted, then passed after the delay, remembered after a reopen', async (t) => {
  const dir = tempDir(t);
  const v = validate({ hostname: 'mx.test.example', antispam: { greylisting: { enabled: true, delay: '1m', expiry: '1h', lifetime: '1d' } } });
  assert.deepEqual(v.errors, []);
  const snap = compileSnapshot(v.settings, 1, v.networks);
  const client = { ip: ip('192.0.2.10'), text: '192.0.2.10', upstream: false, relayHost: false };
  let now = 10_000_000;

  const store = openGreylistStore(dir);
  assert.ok(existsSync(join(dir, 'greylist.db')));
  const checks = new AntispamChecks({ greylist: store, now: () => now });
  const first = await checks.atRcpt(snap, client, 'a@example.net', 'info@example.com');
  assert.equal(first.refusal?.code, 451);
  assert.match(first.refusal?.text ?? '', /Greylisted, please try again in 60 seconds/);
  now += 30_000;
  const early = await checks.atRcpt(snap, client, 'a@example.net', 'info@example.com');
  assert.match(early.refusal?.text ?? '', /try again in 30 seconds/);
  // Another host of the same /24 is the same sender pool.
  now += 30_000;
  const passed = await checks.atRcpt(snap, { ...client, ip: ip('192.0.2.77'), text: '192.0.2.77' }, 'a@example.net', 'info@example.com');
  assert.equal(passed.refusal, null);
  assert.deepEqual(passed.log, { greylisting: { verdict: 'passed' } });
  await store.close();

  // Reopened (a restart): the triplet is known.
  const again = openGreylistStore(dir);
  t.after(() => again.close());
  const known = await new AntispamChecks({ greylist: again, now: () => now + 1000 }).atRcpt(snap, client, 'a@example.net', 'info@example.com');
  assert.deepEqual(known, { refusal: null, log: { greylisting: { verdict: 'known' } } });
  // A first attempt that never came back is pruned after the expiry; a passed one after its lifetime.
  await again.check(tripletKey(ip('198.51.100.1'), 'b@example.net', 'x@example.com'), now, T);
  assert.equal(await again.prune(now + T.expiryMs + 1, T), 1);
  assert.equal(await again.prune(now + T.lifetimeMs + 1001, T), 1);
  assert.equal(await again.prune(now + T.lifetimeMs * 2, T), 0);
});
