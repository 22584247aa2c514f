// Personal sender lists without the daemon: validation and matching (pure),
// the scan decision with every recipient allowing the sender (the spam
// verdict not applied, malware still), and the checks' cache over a real
// SQLite store: no store read for a recipient without lists, one read per
// owner, fresh after a change, 'unavailable' (not a throw) when the store is
// gone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addressKey, matchSender, normaliseEntry, validateLists, MAX_LIST_ENTRIES } from '../../src/portal/sender-lists.ts';
import { SenderListCache } from '../../src/portal/sender-list-cache.ts';
import { SqlitePortalStore } from '../../src/portal/sqlite-portal-store.ts';
import type { PortalStore } from '../../src/portal/portal-store.ts';
import { decideScan, type SpamOutcome } from '../../src/scan/scan-policy.ts';
import { defaultAntispam, defaultAntivirus } from '../../src/config/document.ts';

test('entries: addresses and @domains normalised, junk refused with a reason', () => {
  assert.deepEqual(normaliseEntry(' Friend@Example.NET '), { ok: true, entry: 'friend@example.net' });
  assert.deepEqual(normaliseEntry('@Partner.Example.'), { ok: true, entry: '@partner.example' });
  assert.deepEqual(normaliseEntry('@bücher.example'), { ok: true, entry: '@xn--bcher-kva.example' });
  for (const bad of ['', 'no-at-sign', '@', '@bad..example', 'a@b@c.example', 'user@[192.0.2.1]', 'x%y@example.com', 'a b@example.com', 'x'.repeat(300)]) {
    const r = normaliseEntry(bad);
    assert.equal(r.ok, false, `${JSON.stringify(bad)} refused`);
  }
});

test('lists: duplicates dropped, bounded, an entry in both refused, errors name the entry', () => {
  assert.deepEqual(validateLists({ allow: ['a@example.net', 'A@example.net'], block: ['@spam.example'] }), { ok: true, lists: { allow: ['a@example.net'], block: ['@spam.example'] } });
  const both = validateLists({ allow: ['a@example.net'], block: ['A@Example.net'] });
  assert.equal(both.ok, false);
  assert.match((both as { errors: string[] }).errors.join(), /a@example\.net: in both lists/);
  const bad = validateLists({ allow: ['ok@example.net', 'nope'], block: [] });
  assert.equal(bad.ok, false);
  assert.match((bad as { errors: string[] }).errors[0] ?? '', /^allow\[1\]: /);
  const many = Array.from({ length: MAX_LIST_ENTRIES + 1 }, (_, i) => `s${i}@example.net`);
  const over = validateLists({ allow: [], block: many });
  assert.equal(over.ok, false);
  assert.match((over as { errors: string[] }).errors[0] ?? '', /block: 1001 entries, at most 1000/);
  assert.equal(validateLists({ allow: many.slice(1), block: [] }).ok, true, '1,000 is allowed');
});

test('matching: the address, else its domain (that domain only); <> matches nothing', () => {
  const list = new Set(['friend@example.net', '@partner.example']);
  assert.equal(matchSender(list, 'Friend@EXAMPLE.net'), 'friend@example.net');
  assert.equal(matchSender(list, 'anyone@Partner.example'), '@partner.example');
  assert.equal(matchSender(list, 'x@sub.partner.example'), null, 'subdomains are not the domain');
  assert.equal(matchSender(list, 'other@example.net'), null);
  assert.equal(matchSender(list, ''), null);
  assert.equal(addressKey('Ab@Bücher.Example'), 'ab@xn--bcher-kva.example');
});

const GTUBE: SpamOutcome = { scanned: true, engine: 'spamassassin', verdict: { result: 'scored', score: 1000, required: 5, symbols: ['GTUBE'] }, ms: 5 };
const allowed = { points: 3, symbols: ['DNSBL'], headers: [], senderAllowed: { rule: 'sender_list.allow', recipients: 2 } };

test('scan decision: every recipient allowing the sender → no spam verdict (quarantine, tag, reject_score); malware still decides', () => {
  const as = { ...defaultAntispam(), enabled: true, spam_action: 'quarantine' as const, reject_score: 20 };
  const av = { ...defaultAntivirus(), enabled: true, action: 'quarantine' as const };
  const without = decideScan({ antivirus: av, antispam: as, virus: { scanned: true, verdict: { result: 'clean' }, ms: 1 }, spam: GTUBE, checks: { ...allowed, senderAllowed: undefined } as never });
  assert.equal(without.action, 'reject', 'without the allow list GTUBE is past reject_score');
  const d = decideScan({ antivirus: av, antispam: as, virus: { scanned: true, verdict: { result: 'clean' }, ms: 1 }, spam: GTUBE, checks: allowed });
  assert.equal(d.action, 'accept');
  assert.equal(d.rule, 'sender_list.allow');
  assert.equal(d.subjectTag, null);
  assert.ok(d.add.some((h) => /^X-Mailwarden-Spam: not scanned \(the sender is on the allow list/.test(h)));
  assert.ok(!d.add.some((h) => /^X-Spam-Flag/.test(h)));
  assert.ok(d.remove.includes('X-Spam-Flag'), 'forged spam headers are removed');
  assert.deepEqual(d.log.spam, { scanned: false, why: 'allowed' });
  const tagged = decideScan({ antivirus: av, antispam: { ...as, spam_action: 'tag', reject_score: null }, virus: { scanned: false, why: 'disabled' }, spam: GTUBE, checks: allowed });
  assert.equal(tagged.subjectTag, null, 'not tagged');
  const malware = decideScan({ antivirus: av, antispam: as, virus: { scanned: true, verdict: { result: 'infected', name: 'Eicar' }, ms: 1 }, spam: GTUBE, checks: allowed });
  assert.equal(malware.action, 'quarantine');
  assert.equal(malware.rule, 'antivirus.action');
  const off = decideScan({ antivirus: av, antispam: { ...as, enabled: false }, virus: { scanned: false, why: 'disabled' }, spam: { scanned: false, why: 'disabled' }, checks: allowed });
  assert.equal(off.action, 'accept', "with the engine off the blocklists' points alone are not applied either");
  assert.deepEqual(off.log.spam, { scanned: false, why: 'allowed' });
});

/** The real SQLite store, its reads counted; `broken` makes every read fail as an unreachable store would. */
function counted(store: PortalStore): { store: PortalStore; reads: { lists: number; owners: number }; broken: { on: boolean } } {
  const reads = { lists: 0, owners: 0 };
  const broken = { on: false };
  const wrapped: PortalStore = Object.create(store) as PortalStore;
  wrapped.lists = async (o) => {
    reads.lists++;
    if (broken.on) throw new Error('connection refused');
    return store.lists(o);
  };
  wrapped.owners = async (n) => {
    reads.owners++;
    if (broken.on) throw new Error('connection refused');
    return store.owners(n);
  };
  wrapped.subscribe = (fn) => store.subscribe(fn);
  wrapped.setLists = (o, l) => store.setLists(o, l);
  return { store: wrapped, reads, broken };
}

test('cache: no read for a recipient without lists, one per owner, fresh after a change; a store away → unavailable, retried at most every retryMs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-lists-'));
  const real = new SqlitePortalStore(join(dir, 'portal.db'));
  t.after(async () => {
    await real.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await real.setLists(['alice@example.org'], { allow: ['@partner.example'], block: ['bad@spam.example'] });
  const { store, reads, broken } = counted(real);
  let now = 1_000_000;
  const cache = new SenderListCache(store, { retryMs: 5000, now: () => now });
  await cache.start();
  t.after(() => cache.stop());
  assert.equal(reads.owners, 1);
  for (let i = 0; i < 100; i++) {
    const l = await cache.lookup('nobody@example.org');
    assert.notEqual(l, 'unavailable');
    assert.equal((l as { block: ReadonlySet<string> }).block.size, 0);
  }
  assert.equal(reads.lists, 0, 'no read for a recipient without lists');
  for (let i = 0; i < 100; i++) assert.ok(((await cache.lookup('Alice@Example.org')) as { block: ReadonlySet<string> }).block.has('bad@spam.example'));
  assert.equal(reads.lists, 1, 'one read per owner');
  await store.setLists(['alice@example.org', 'bob@example.org'], { allow: [], block: ['@spam.example'] });
  const after = (await cache.lookup('alice@example.org')) as { block: ReadonlySet<string> };
  assert.deepEqual([...after.block], ['@spam.example'], 'fresh after a change');
  assert.deepEqual([...((await cache.lookup('bob@example.org')) as { block: ReadonlySet<string> }).block], ['@spam.example'], 'a new owner is seen');
  // The store goes away while the owners are known: a read fails once, then is not retried per RCPT.
  cache.changed('alice@example.org');
  broken.on = true;
  const readsBefore = reads.lists;
  for (let i = 0; i < 50; i++) assert.equal(await cache.lookup('alice@example.org'), 'unavailable');
  assert.equal(reads.lists - readsBefore, 1, 'one failed read, then none until retryMs');
  assert.notEqual(await cache.lookup('nobody@example.org'), 'unavailable', 'an address without lists needs no store');
  broken.on = false;
  now += 5001;
  // The store goes away; a reconnect (null) drops everything.
  broken.on = true;
  cache.changed(null);
  const before = reads.owners;
  for (let i = 0; i < 50; i++) assert.equal(await cache.lookup('alice@example.org'), 'unavailable');
  assert.ok(reads.owners - before <= 2, `at most one retry within retryMs (${reads.owners - before} reads)`);
  broken.on = false;
  now += 5001;
  assert.deepEqual([...((await cache.lookup('alice@example.org')) as { block: ReadonlySet<string> }).block], ['@spam.example'], 'back once the store answers');
});
