// src/delivery/mta-sts-policy.ts (RFC 8461 without I/O) and the cache of
// src/delivery/mta-sts.ts with injected look-ups and clock: the TXT record,
// the policy file, MX patterns, and when a policy is fetched, reused or
// dropped. The network side is tested end to end in mta-sts.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterTxt, MAX_AGE_LIMIT, mxMatches, parseStsPolicy, parseStsTxt, type CachedPolicy } from '../../src/delivery/mta-sts-policy.ts';
import { MtaStsCache, type MtaStsDeps } from '../../src/delivery/mta-sts.ts';

test('TXT: v=STSv1 with an id; other records ignored; two of ours or a bad id is no record', () => {
  assert.deepEqual(parseStsTxt(['v=STSv1; id=20160831085700Z;']), { ok: true, id: '20160831085700Z' });
  assert.deepEqual(parseStsTxt(['v=STSv1;id=abc']), { ok: true, id: 'abc' });
  assert.deepEqual(parseStsTxt(['v=spf1 -all', 'v=STSv1; id=x1; ext=1']), { ok: true, id: 'x1' });
  assert.equal(parseStsTxt([]).ok, false);
  assert.equal(parseStsTxt(['v=spf1 -all']).ok, false);
  assert.equal(parseStsTxt(['v=STSv1; id=a', 'v=STSv1; id=b']).ok, false);
  assert.equal(parseStsTxt(['v=STSv1;']).ok, false, 'no id');
  assert.equal(parseStsTxt(['v=STSv1; id=not-alnum']).ok, false);
  assert.equal(parseStsTxt([`v=STSv1; id=${'a'.repeat(33)}`]).ok, false, 'longer than 32');
  assert.equal(parseStsTxt(['v=STSv10; id=a']).ok, false);
  assert.equal(parseStsTxt(['v=STSv1; garbage']).ok, false);
});

test('policy: the RFC example, CRLF or LF, unknown keys ignored, max_age capped', () => {
  const text = 'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com.\r\nmax_age: 604800\r\n';
  assert.deepEqual(parseStsPolicy(text, 'id1'), { ok: true, policy: { id: 'id1', mode: 'enforce', mx: ['mail.example.com', '*.example.net', 'backupmx.example.com'], maxAge: 604800 } });
  const lf = parseStsPolicy('version: STSv1\nmode: testing\nmx: MX.Example.com\nmax_age: 99999999\nextension: x\n', 'id2');
  assert.deepEqual(lf, { ok: true, policy: { id: 'id2', mode: 'testing', mx: ['mx.example.com'], maxAge: MAX_AGE_LIMIT } });
  assert.deepEqual(parseStsPolicy('version: STSv1\nmode: none\nmax_age: 86400\n', 'id3'), { ok: true, policy: { id: 'id3', mode: 'none', mx: [], maxAge: 86400 } });
});

test('policy: what makes it invalid', () => {
  const bad = (text: string) => parseStsPolicy(text, 'x').ok;
  assert.equal(bad('mode: enforce\nmx: a.example\nmax_age: 1\n'), false, 'no version');
  assert.equal(bad('version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n'), false);
  assert.equal(bad('version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n'), false);
  assert.equal(bad('version: STSv1\nmx: a.example\nmax_age: 1\n'), false, 'no mode');
  assert.equal(bad('version: STSv1\nmode: enforce\nmx: a.example\n'), false, 'no max_age');
  assert.equal(bad('version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n'), false);
  assert.equal(bad('version: STSv1\nmode: enforce\nmax_age: 10\n'), false, 'enforce without mx');
  assert.equal(bad('version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 10\n'), false, 'a wildcard only leftmost');
  assert.equal(bad('<html>not a policy</html>'), false);
});

test('MX patterns: exact names, "*." for one leftmost label, case and trailing dot ignored', () => {
  const p = ['mail.example.com', '*.example.net'];
  assert.equal(mxMatches(p, 'mail.example.com'), true);
  assert.equal(mxMatches(p, 'MAIL.example.com.'), true);
  assert.equal(mxMatches(p, 'mx1.example.net'), true);
  assert.equal(mxMatches(p, 'example.net'), false);
  assert.equal(mxMatches(p, 'a.b.example.net'), false);
  assert.equal(mxMatches(p, 'other.example.com'), false);
  assert.equal(mxMatches([], 'mail.example.com'), false);
});

const cached = (id: string, fetchedAt: number, maxAge = 100): CachedPolicy => ({ policy: { id, mode: 'enforce', mx: ['mx.example.com'], maxAge }, fetchedAt });

test('afterTxt: same id and fresh: cache; another id, nothing cached or stale: fetch; no record: fresh cache or none', () => {
  const c = cached('a', 1000);
  assert.deepEqual(afterTxt({ ok: true, id: 'a' }, c, 50_000), { use: 'cache' });
  assert.deepEqual(afterTxt({ ok: true, id: 'b' }, c, 50_000), { use: 'fetch', id: 'b' });
  assert.deepEqual(afterTxt({ ok: true, id: 'a' }, undefined, 0), { use: 'fetch', id: 'a' });
  assert.deepEqual(afterTxt({ ok: true, id: 'a' }, c, 101_000), { use: 'fetch', id: 'a' }, 'max_age over: fetched again');
  assert.deepEqual(afterTxt({ ok: false, reason: 'gone' }, c, 50_000), { use: 'cache' }, 'a removed record does not turn a fresh policy off');
  assert.deepEqual(afterTxt({ ok: false, reason: 'gone' }, c, 101_000), { use: 'none' });
  assert.deepEqual(afterTxt({ ok: false, reason: 'gone' }, undefined, 0), { use: 'none' });
});

/** Deps answering from variables the test changes; counts fetches. */
function deps(state: { txt: string[] | null; body: string | Error; now: number }) {
  const log: { event: string; fields: Record<string, unknown> }[] = [];
  let fetches = 0;
  const d: MtaStsDeps = {
    txt: async () => (state.txt ? { ok: true, records: state.txt } : { ok: false, reason: 'ENOTFOUND', missing: true }),
    fetch: async () => {
      fetches++;
      if (state.body instanceof Error) throw state.body;
      return state.body;
    },
    now: () => state.now,
    log: (event, fields) => log.push({ event, fields }),
  };
  return { d, log, fetches: () => fetches };
}

const POLICY = 'version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 60\n';

test('MtaStsCache: fetched once, reused while the id holds, fetched again for a new id or after max_age', async () => {
  const state = { txt: ['v=STSv1; id=one'] as string[] | null, body: POLICY as string | Error, now: 0 };
  const { d, log, fetches } = deps(state);
  const cache = new MtaStsCache();
  const first = await cache.policyFor('example.com', d);
  assert.equal(first.from, 'fetched');
  assert.equal(first.policy?.mode, 'enforce');
  assert.equal(log[0]?.event, 'mta_sts.fetched');
  state.now = 30_000;
  assert.equal((await cache.policyFor('example.com', d)).from, 'cache');
  assert.equal(fetches(), 1);
  state.txt = ['v=STSv1; id=two'];
  const second = await cache.policyFor('example.com', d);
  assert.equal(second.from, 'fetched');
  assert.equal(second.policy?.id, 'two');
  assert.equal(fetches(), 2);
  state.now = 30_000 + 61_000;
  assert.equal((await cache.policyFor('example.com', d)).from, 'fetched', 'max_age over');
  assert.equal(fetches(), 3);
});

test('MtaStsCache: a failed or invalid fetch keeps a fresh policy, else no policy; no record: the fresh one stays', async () => {
  const state = { txt: ['v=STSv1; id=one'] as string[] | null, body: new Error('connection refused') as string | Error, now: 0 };
  const { d, log } = deps(state);
  const cache = new MtaStsCache();
  const none = await cache.policyFor('example.com', d);
  assert.deepEqual(none, { policy: null, from: 'none', note: 'connection refused' });
  assert.deepEqual(log.at(-1), { event: 'mta_sts.fetch_failed', fields: { domain: 'example.com', id: 'one', error: 'connection refused', using: 'none' } });
  state.body = POLICY;
  assert.equal((await cache.policyFor('example.com', d)).from, 'fetched');
  state.txt = ['v=STSv1; id=two'];
  state.body = 'not a policy';
  const kept = await cache.policyFor('example.com', d);
  assert.equal(kept.from, 'cache');
  assert.equal(kept.policy?.id, 'one');
  assert.equal(log.at(-1)?.fields.using, 'cache');
  state.txt = null;
  assert.equal((await cache.policyFor('example.com', d)).from, 'cache', 'the record removed: the fresh policy stays');
  state.now = 61_000;
  assert.equal((await cache.policyFor('example.com', d)).policy, null, 'no record and the policy expired: none');
});

test('MtaStsCache: concurrent look-ups of one domain share one fetch', async () => {
  const state = { txt: ['v=STSv1; id=one'] as string[] | null, body: POLICY as string | Error, now: 0 };
  const { d, fetches } = deps(state);
  const cache = new MtaStsCache();
  const all = await Promise.all([cache.policyFor('example.com', d), cache.policyFor('example.com', d), cache.policyFor('example.com', d)]);
  assert.equal(fetches(), 1);
  assert.ok(all.every((a) => a.policy?.id === 'one'));
});
