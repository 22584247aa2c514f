// The pure rate limit decisions (src/limits/rate-rules.ts): windows aligned on
// UTC minutes, hours and days; which buckets each kind of `who` and `match`
// puts a subject in; and which limit trips, with every action.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RateLimit } from '../../src/config/document.ts';
import { bucketKey, bucketValues, decide, demandsOf, parseBucketKey, windowOf, type RateSubject } from '../../src/limits/rate-rules.ts';

const NOW = Date.UTC(2026, 5, 15, 10, 42, 17, 500);

function subject(o: Partial<RateSubject> & { networks?: string[] } = {}): RateSubject {
  const nets = o.networks ?? [];
  return { user: o.user ?? null, groups: o.groups ?? [], client: o.client ?? '192.0.2.7', relayed: o.relayed ?? true, inNetwork: (n) => nets.includes(n), senderDomain: o.senderDomain === undefined ? 'example.org' : o.senderDomain };
}

describe('rate windows', () => {
  it('are fixed and aligned on UTC minutes, hours and days; the end is the next start', () => {
    assert.deepEqual(windowOf('1m', NOW), { start: Date.UTC(2026, 5, 15, 10, 42), end: Date.UTC(2026, 5, 15, 10, 43) });
    assert.deepEqual(windowOf('1h', NOW), { start: Date.UTC(2026, 5, 15, 10), end: Date.UTC(2026, 5, 15, 11) });
    assert.deepEqual(windowOf('1d', NOW), { start: Date.UTC(2026, 5, 15), end: Date.UTC(2026, 5, 16) });
    const w = windowOf('1m', NOW);
    assert.deepEqual(windowOf('1m', w.end - 1), w, 'the last millisecond is still in');
    assert.equal(windowOf('1m', w.end).start, w.end, 'the end belongs to the next window');
  });
});

describe('rate buckets', () => {
  const lim = (who: RateLimit['who'], match?: string): RateLimit => ({ who, per: '1h', action: 'defer', messages: 1, ...(match ? { match } : {}) });

  it('user: every authenticated user its own bucket; match names one user; an unauthenticated client none', () => {
    assert.deepEqual(bucketValues(lim('user'), subject({ user: 'alice' })), ['alice']);
    assert.deepEqual(bucketValues(lim('user', 'alice'), subject({ user: 'alice' })), ['alice']);
    assert.deepEqual(bucketValues(lim('user', 'bob'), subject({ user: 'alice' })), []);
    assert.deepEqual(bucketValues(lim('user'), subject()), []);
  });

  it('group: the bucket of each of the user\'s groups (members share it); match narrows to one group', () => {
    assert.deepEqual(bucketValues(lim('group'), subject({ user: 'alice', groups: ['sales', 'staff'] })), ['sales', 'staff']);
    assert.deepEqual(bucketValues(lim('group', 'staff'), subject({ user: 'alice', groups: ['sales', 'staff'] })), ['staff']);
    assert.deepEqual(bucketValues(lim('group', 'it'), subject({ user: 'alice', groups: ['sales'] })), []);
    assert.deepEqual(bucketValues(lim('group'), subject({ groups: ['sales'] })), [], 'no user, no group');
  });

  it('network: one bucket for the whole network object, only for its clients', () => {
    assert.deepEqual(bucketValues(lim('network', 'office'), subject({ networks: ['office'] })), ['office']);
    assert.deepEqual(bucketValues(lim('network', 'office'), subject({ networks: ['lab'] })), []);
    assert.deepEqual(bucketValues(lim('network'), subject({ networks: ['office'] })), [], 'without match (refused by validation) nothing');
  });

  it('client: each address its own bucket; match narrows to the clients in a network object', () => {
    assert.deepEqual(bucketValues(lim('client'), subject({ client: '2001:db8::1' })), ['2001:db8::1']);
    assert.deepEqual(bucketValues(lim('client', 'office'), subject({ networks: ['office'] })), ['192.0.2.7']);
    assert.deepEqual(bucketValues(lim('client', 'office'), subject()), []);
  });

  it('sender_domain: each domain its own bucket; match compares as a domain; the null sender none', () => {
    assert.deepEqual(bucketValues(lim('sender_domain'), subject()), ['example.org']);
    assert.deepEqual(bucketValues(lim('sender_domain', 'Example.ORG'), subject()), ['example.org']);
    assert.deepEqual(bucketValues(lim('sender_domain', 'example.net'), subject()), []);
    assert.deepEqual(bucketValues(lim('sender_domain'), subject({ senderDomain: null })), []);
  });

  it('sender_domain: mail from a client without relay right or login is not counted, unless the entry says inbound: true', () => {
    assert.deepEqual(bucketValues(lim('sender_domain'), subject({ relayed: false })), [], 'a forged sender domain burns nobody');
    assert.deepEqual(bucketValues({ ...lim('sender_domain'), inbound: true }, subject({ relayed: false })), ['example.org']);
    assert.deepEqual(bucketValues(lim('client'), subject({ relayed: false })), ['192.0.2.7'], 'the other kinds count every client');
  });

  it('keys name the unit, who, value and window length, and read back (values may hold "|")', () => {
    const k = bucketKey('recipients', 'user', 'a|b', '1d');
    assert.deepEqual(parseBucketKey(k), { unit: 'recipients', who: 'user', value: 'a|b', per: '1d' });
    assert.equal(parseBucketKey('junk'), null);
    assert.equal(parseBucketKey('bytes|user|x|1h'), null);
  });
});

describe('rate demands and decisions', () => {
  const limits: RateLimit[] = [
    { name: 'per user', who: 'user', messages: 3, recipients: 10, per: '1h', action: 'defer' },
    { who: 'group', match: 'sales', messages: 5, per: '1d', action: 'hold' },
    { who: 'client', recipients: 4, per: '1m', action: 'reject' },
  ];
  const s = subject({ user: 'alice', groups: ['sales'] });

  it('a limit counts only the units it sets, in its own window', () => {
    const m = demandsOf(limits, 'messages', s, NOW);
    assert.deepEqual(m.map((d) => [d.index, d.key, d.max, d.window.start]), [
      [0, 'messages|user|alice|1h', 3, Date.UTC(2026, 5, 15, 10)],
      [1, 'messages|group|sales|1d', 5, Date.UTC(2026, 5, 15)],
    ]);
    const r = demandsOf(limits, 'recipients', s, NOW);
    assert.deepEqual(r.map((d) => [d.index, d.key, d.max]), [[0, 'recipients|user|alice|1h', 10], [2, 'recipients|client|192.0.2.7|1m', 4]]);
    assert.deepEqual(demandsOf([], 'messages', s, NOW), []);
  });

  it('passes up to the limit, trips beyond it, the count given being the one before', () => {
    const d = demandsOf(limits.slice(0, 1), 'messages', s, NOW);
    assert.deepEqual(decide(d, () => 2, 1), { kind: 'pass' });
    const trip = decide(d, () => 3, 1);
    assert.equal(trip.kind, 'refuse');
    assert.equal(trip.kind === 'refuse' && trip.trip.count, 3);
    assert.equal(trip.kind === 'refuse' && trip.trip.action, 'defer');
    assert.equal(decide(d, () => 2, 2).kind, 'refuse', 'adding two at once past the limit');
  });

  it('hold: accepted and held; a refusing limit wins over a holding one whatever their order', () => {
    const m = demandsOf(limits, 'messages', s, NOW);
    const counts: Record<string, number> = { 'messages|user|alice|1h': 0, 'messages|group|sales|1d': 5 };
    const h = decide(m, (k) => counts[k] ?? 0, 1);
    assert.equal(h.kind, 'hold');
    assert.equal(h.kind === 'hold' && h.trip.demand.index, 1);
    counts['messages|user|alice|1h'] = 3;
    const r = decide(m, (k) => counts[k] ?? 0, 1);
    assert.equal(r.kind === 'refuse' && r.trip.demand.index, 0);
  });

  it('reject trips like defer with its own action; the first refusing limit in order is the one named', () => {
    const d = demandsOf(limits, 'recipients', s, NOW);
    const r = decide(d, () => 10, 1);
    assert.equal(r.kind === 'refuse' && r.trip.demand.index, 0);
    const only = decide(d, (k) => (k.startsWith('recipients|client') ? 4 : 0), 1);
    assert.equal(only.kind === 'refuse' && only.trip.action, 'reject');
  });
});
