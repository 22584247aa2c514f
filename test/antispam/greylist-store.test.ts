// The greylist through the asynchronous GreylistStore port, on the embedded
// SQLite file: the RCPT check (src/checks/greylisting.ts) greylists a first
// attempt, accepts a retry after the delay, remembers the triplet across a
// reopen of DATA/greylist.db, and pruning drops what can no longer matter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parsePath } from '../../src/address/path.ts';
import type { GreylistStore } from '../../src/antispam/greylist-store.ts';
import { greylisting } from '../../src/checks/greylisting.ts';
import { CheckRunner } from '../../src/checks/runner.ts';
import { CheckServices } from '../../src/checks/services.ts';
import type { Snapshot } from '../../src/config/snapshot.ts';
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

/** The RCPT stage with the greylisting check alone, for one client. */
function rcptCheck(snap: Snapshot, greylist: GreylistStore, now: () => number) {
  const runner = new CheckRunner([greylisting], new CheckServices({ greylist, now }));
  return async (client: { ip: bigint; text: string }, sender: string, recipient: string) => {
    const raw = `<${recipient}>`;
    const r = await runner.run('rcpt', { snap, listener: null, client, user: null, helo: 'client.example', localAddress: null, memos: new Map() }, { raw, path: parsePath(raw, { allowNull: false, requireBrackets: true }), smtputf8: false, wire: true, sender, accepted: 0, repeat: false });
    return { refusal: r.error, log: r.log };
  };
}

test('the RCPT check through the async store: greylisted, then passed after the delay, remembered after a reopen', async (t) => {
  const dir = tempDir(t);
  const v = validate({ hostname: 'mx.test.example', antispam: { greylisting: { enabled: true, delay: '1m', expiry: '1h', lifetime: '1d' } } });
  assert.deepEqual(v.errors, []);
  const snap = compileSnapshot(v.settings, 1, v.networks);
  const client = { ip: ip('192.0.2.10'), text: '192.0.2.10' };
  let now = 10_000_000;

  const store = openGreylistStore(dir);
  assert.ok(existsSync(join(dir, 'greylist.db')));
  const check = rcptCheck(snap, store, () => now);
  const first = await check(client, 'a@example.net', 'info@example.com');
  assert.equal(first.refusal?.code, 451);
  assert.match(first.refusal?.text ?? '', /Greylisted, please try again in 60 seconds/);
  now += 30_000;
  const early = await check(client, 'a@example.net', 'info@example.com');
  assert.match(early.refusal?.text ?? '', /try again in 30 seconds/);
  // Another host of the same /24 is the same sender pool.
  now += 30_000;
  const passed = await check({ ip: ip('192.0.2.77'), text: '192.0.2.77' }, 'a@example.net', 'info@example.com');
  assert.equal(passed.refusal, null);
  assert.deepEqual(passed.log, { greylisting: { verdict: 'passed' } });
  await store.close();

  // Reopened (a restart): the triplet is known.
  const again = openGreylistStore(dir);
  t.after(() => again.close());
  const known = await rcptCheck(snap, again, () => now + 1000)(client, 'a@example.net', 'info@example.com');
  assert.deepEqual(known, { refusal: null, log: { greylisting: { verdict: 'known' } } });
  // A first attempt that never came back is pruned after the expiry; a passed one after its lifetime.
  await again.check(tripletKey(ip('198.51.100.1'), 'b@example.net', 'x@example.com'), now, T);
  assert.equal(await again.prune(now + T.expiryMs + 1, T), 1);
  assert.equal(await again.prune(now + T.lifetimeMs + 1001, T), 1);
  assert.equal(await again.prune(now + T.lifetimeMs * 2, T), 0);
});
