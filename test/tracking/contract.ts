// The TrackingStore contract (src/tracking/tracking-store.ts), run against
// the memory, SQLite and PostgreSQL stores: batches written (entries, then
// updates, then events), the search newest first with each filter and the
// keyset paging, timelines, pruning, and the reader's decisions() and top().

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TrackQueryError } from '../../src/tracking/track-query.ts';
import type { TrackEntry, TrackEvent, TrackingStore, TrackQuery } from '../../src/tracking/tracking-store.ts';
import type { Factory } from '../store/contract/types.ts';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const Q1 = 'aaaaaaaaaaaaaaa1';
const Q2 = 'aaaaaaaaaaaaaaa2';

export function entry(over: Partial<TrackEntry> & Pick<TrackEntry, 'key'>): TrackEntry {
  return {
    at: T0,
    updated: T0,
    node: 'n1',
    cid: 'c1',
    tx: 1,
    queue_id: null,
    client: '192.0.2.1',
    helo: 'client.example',
    listener: 'mx',
    user: null,
    sender: 'alice@example.net',
    recipient: 'bob@example.org',
    message_id: null,
    subject: null,
    size: null,
    kind: 'inbound',
    status: 'queued',
    rule: 'rule 3',
    code: 250,
    reply: null,
    attempts: 0,
    relay: null,
    rcpt_action: 'accept',
    rcpt_rule: 'rule 3',
    rcpt_code: 250,
    first: true,
    ...over,
  };
}

const ev = (at: number, event: string, over: Partial<TrackEvent> = {}): TrackEvent => ({ at, cid: 'c1', tx: 0, queue_id: null, event, fields: { n: at - T0 }, ...over });

/** A small recorded world: two messages on one connection, refusals on two others, a DSN. */
function world(): { entries: TrackEntry[]; events: TrackEvent[] } {
  const entries = [
    entry({ key: `${Q1}:0`, at: T0 + 1000, queue_id: Q1, recipient: 'Bob@Example.org', message_id: 'm1@client.example', subject: 'Quarterly Report', size: 1200 }),
    entry({ key: `${Q1}:1`, at: T0 + 1000, queue_id: Q1, recipient: 'carol@example.org', message_id: 'm1@client.example', subject: 'Quarterly Report', size: 1200, first: false }),
    entry({ key: `${Q2}:0`, at: T0 + 2000, tx: 2, queue_id: Q2, sender: '', recipient: 'dave@example.org', message_id: 'm2@client.example', subject: 'Undelivered Mail' }),
    entry({ key: 'c2:1:0', at: T0 + 3000, cid: 'c2', client: '198.51.100.7', sender: 'printer@office.example', recipient: 'x@elsewhere.example', kind: 'relay', status: 'refused', rule: 'rule 4', code: 554, reply: 'Relaying denied', rcpt_action: 'reject', rcpt_rule: 'rule 4', rcpt_code: 554 }),
    entry({ key: 'c2:1:1', at: T0 + 3001, cid: 'c2', client: '198.51.100.7', sender: 'printer@office.example', recipient: 'y@elsewhere.example', kind: 'relay', status: 'refused', rule: 'rule 4', code: 554, reply: 'Relaying denied', rcpt_action: 'reject', rcpt_rule: 'rule 4', rcpt_code: 554 }),
    entry({ key: 'c3:0:0', at: T0 + 4000, cid: 'c3', tx: 0, client: '203.0.113.9', helo: null, sender: null, recipient: null, kind: null, status: 'refused', rule: 'rule 1', code: 554, rcpt_action: null, rcpt_rule: null, rcpt_code: null }),
    entry({ key: 'aaaaaaaaaaaaaaa3:0', at: T0 + 5000, cid: null, tx: null, client: null, helo: null, listener: null, queue_id: 'aaaaaaaaaaaaaaa3', sender: '', recipient: 'alice@example.net', kind: 'relay', rule: 'dsn', code: null, rcpt_action: null, rcpt_rule: null, rcpt_code: null }),
  ];
  const events = [
    ev(T0 + 10, 'connect'),
    ev(T0 + 900, 'rcpt', { tx: 1 }),
    ev(T0 + 1000, 'queued', { tx: 1, queue_id: Q1 }),
    ev(T0 + 1900, 'rcpt', { tx: 2 }),
    ev(T0 + 2000, 'queued', { tx: 2, queue_id: Q2 }),
    ev(T0 + 2500, 'disconnect'),
    ev(T0 + 2600, 'delivery', { cid: null, tx: null, queue_id: Q1 }),
    ev(T0 + 3000, 'rcpt', { cid: 'c2', tx: 1 }),
    ev(T0 + 3001, 'rcpt', { cid: 'c2', tx: 1 }),
    ev(T0 + 4000, 'connect', { cid: 'c3' }),
  ];
  return { entries, events };
}

const keys = (p: { entries: TrackEntry[] }) => p.entries.map((e) => e.key);

export function trackingStoreContract(name: string, make: Factory<TrackingStore>): void {
  describe(`TrackingStore contract: ${name}`, () => {
    test('search: newest first; pages of `limit` with a keyset cursor cover every entry once; the last page has no next', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      assert.deepEqual(await store.search({}), { entries: [], next: null });
      const w = world();
      await store.write({ entries: w.entries, updates: [], events: w.events });
      const all = await store.search({});
      assert.deepEqual(keys(all), ['aaaaaaaaaaaaaaa3:0', 'c3:0:0', 'c2:1:1', 'c2:1:0', `${Q2}:0`, `${Q1}:1`, `${Q1}:0`]);
      assert.equal(all.next, null);
      assert.deepEqual(all.entries.find((e) => e.key === `${Q1}:0`), w.entries[0], 'an entry comes back as written');
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const p = await store.search({ limit: 2, ...(cursor ? { cursor } : {}) });
        assert.ok(p.entries.length <= 2);
        seen.push(...keys(p));
        cursor = p.next ?? undefined;
        pages++;
      } while (cursor && pages < 10);
      assert.equal(pages, 4);
      assert.deepEqual(seen, keys(all), 'same order, no entry twice or missing (two entries share a time)');
      const filtered = await store.search({ from: 'alice@example.net', limit: 1 });
      const second = await store.search({ from: 'alice@example.net', limit: 1, cursor: filtered.next! });
      assert.deepEqual([...keys(filtered), ...keys(second)], [`${Q1}:1`, `${Q1}:0`], 'a cursor pages within a filter');
      assert.equal(second.next, null);
    });

    test('search: each filter', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const w = world();
      await store.write({ entries: w.entries, updates: [], events: [] });
      const find = async (q: TrackQuery) => keys(await store.search(q)).sort();
      assert.deepEqual(await find({ from: 'ALICE@example.NET' }), [`${Q1}:0`, `${Q1}:1`], 'sender: whole address, any case');
      assert.deepEqual(await find({ from: '@office.example' }), ['c2:1:0', 'c2:1:1'], 'sender: @domain');
      assert.deepEqual(await find({ from: '<>' }), [`${Q2}:0`, 'aaaaaaaaaaaaaaa3:0'], 'the null sender');
      assert.deepEqual(await find({ from: '@example.net' }), [`${Q1}:0`, `${Q1}:1`]);
      assert.deepEqual(await find({ to: 'bob@example.org' }), [`${Q1}:0`]);
      assert.deepEqual(await find({ to: '@EXAMPLE.org' }), [`${Q1}:0`, `${Q1}:1`, `${Q2}:0`]);
      assert.deepEqual(await find({ to: '@example' }), [], 'a domain matches whole, not as a suffix');
      assert.deepEqual(await find({ client: '198.51.100.7' }), ['c2:1:0', 'c2:1:1']);
      assert.deepEqual(await find({ id: Q2 }), [`${Q2}:0`]);
      assert.deepEqual(await find({ message_id: '<m1@client.example>' }), [`${Q1}:0`, `${Q1}:1`], 'Message-ID with brackets');
      assert.deepEqual(await find({ message_id: 'm2@client.example' }), [`${Q2}:0`], 'and without');
      assert.deepEqual(await find({ subject: 'report' }), [`${Q1}:0`, `${Q1}:1`], 'subject: a case-insensitive part');
      assert.deepEqual(await find({ subject: '100%' }), [], 'LIKE wildcards in the text are literal');
      assert.deepEqual(await find({ status: ['refused'] }), ['c2:1:0', 'c2:1:1', 'c3:0:0']);
      assert.deepEqual(await find({ status: ['refused', 'queued'], client: '203.0.113.9' }), ['c3:0:0']);
      assert.deepEqual(await find({ since: T0 + 3000, until: T0 + 4000 }), ['c2:1:0', 'c2:1:1'], 'since inclusive, until exclusive');
      assert.deepEqual(await find({ from: 'printer@office.example', status: ['refused'], since: T0 + 3001 }), ['c2:1:1'], 'filters combine');
    });

    test('search: bad input is a TrackQueryError', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await assert.rejects(store.search({ cursor: 'not-a-cursor' }), TrackQueryError);
      await assert.rejects(store.search({ limit: 0 }), TrackQueryError);
      await assert.rejects(store.search({ limit: 501 }), TrackQueryError);
      await assert.rejects(store.search({ status: ['lost' as never] }), TrackQueryError);
      await assert.rejects(store.search({ from: '@' }), TrackQueryError);
    });

    test('write: a key written twice keeps the first; updates apply to one recipient or all, onlyIf a status', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const w = world();
      await store.write({ entries: w.entries.slice(0, 3), updates: [], events: [] });
      await store.write({
        entries: [entry({ key: `${Q1}:0`, status: 'refused' })],
        updates: [
          { queue_id: Q1, recipient: 'carol@example.org', updated: T0 + 9000, status: 'deferred', rule: 'delivery', code: 451, reply: 'try later', relay: 'mx.example.org', attempts: 1 },
          { queue_id: Q1, recipient: 'Bob@Example.org', updated: T0 + 9500, status: 'delivered', rule: 'delivery', code: 250, reply: 'ok', relay: 'mx.example.org', attempts: 1 },
          { queue_id: Q1, recipient: null, onlyIf: ['queued', 'deferred'], updated: T0 + 9900, status: 'removed', rule: 'admin' },
          { queue_id: Q2, recipient: null, onlyIf: ['held'], updated: T0 + 9900, status: 'removed' },
        ],
        events: [],
      });
      const byKey = new Map((await store.search({})).entries.map((e) => [e.key, e]));
      assert.deepEqual(
        { ...byKey.get(`${Q1}:0`) },
        { ...w.entries[0]!, status: 'delivered', updated: T0 + 9500, rule: 'delivery', code: 250, reply: 'ok', relay: 'mx.example.org', attempts: 1 },
      );
      assert.deepEqual(
        { ...byKey.get(`${Q1}:1`) },
        { ...w.entries[1]!, status: 'removed', updated: T0 + 9900, rule: 'admin', code: 451, reply: 'try later', relay: 'mx.example.org', attempts: 1 },
      );
      assert.equal(byKey.get(`${Q2}:0`)?.status, 'queued', 'onlyIf: a status not named is left');
    });

    test('timeline: a message by queue id (its recipients, its connection\'s events of that transaction, its queue events); a refused transaction by key', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const w = world();
      await store.write({ entries: w.entries, updates: [], events: w.events });
      const m = await store.timeline(Q1);
      assert.ok(m);
      assert.deepEqual(keys(m), [`${Q1}:0`, `${Q1}:1`]);
      assert.deepEqual(m.events.map((e) => e.event), ['connect', 'rcpt', 'queued', 'disconnect', 'delivery'], 'not the other transaction\'s rcpt and queued');
      assert.deepEqual(m.events[1], w.events[1]);
      assert.deepEqual([m.truncated, m.omitted], [false, 0], 'whole');
      assert.deepEqual(keys((await store.timeline(`${Q1}:1`))!), [`${Q1}:0`, `${Q1}:1`], 'an entry key finds its whole message');
      const r = await store.timeline('c2:1:1');
      assert.deepEqual(keys(r!), ['c2:1:0', 'c2:1:1']);
      assert.deepEqual(r!.events.map((e) => [e.event, e.at]), [['rcpt', T0 + 3000], ['rcpt', T0 + 3001]]);
      const dsn = await store.timeline('aaaaaaaaaaaaaaa3');
      assert.deepEqual(keys(dsn!), ['aaaaaaaaaaaaaaa3:0']);
      assert.equal(await store.timeline('zzzzzzzzzzzzzzzz'), null);
      assert.equal(await store.timeline('nope:1:0'), null);
    });

    test('timeline of a big message: past TIMELINE_EVENTS the first RCPTs and the first and last other events (queued, disconnect, the latest deliveries), said truncated with how many left out', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const QB = 'aaaaaaaaaaaaaab1';
      const at = (i: number) => T0 + 10_000 + i;
      const on = { cid: 'cb', tx: 1 };
      // connect, MAIL, 1,300 RCPTs, queued, disconnect, then 900 delivery attempts: 2,204 events.
      const events: TrackEvent[] = [ev(at(0), 'connect', { cid: 'cb' }), ev(at(1), 'mail', on)];
      for (let i = 0; i < 1300; i++) events.push(ev(at(2 + i), 'rcpt', { ...on, fields: { n: i } }));
      events.push(ev(at(1302), 'queued', { ...on, queue_id: QB }), ev(at(1303), 'disconnect', { cid: 'cb' }));
      for (let i = 0; i < 900; i++) events.push(ev(at(1304 + i), 'delivery', { cid: null, tx: null, queue_id: QB, fields: { n: i } }));
      await store.write({ entries: [entry({ key: `${QB}:0`, at: at(1302), cid: 'cb', queue_id: QB })], updates: [], events });
      const m = await store.timeline(QB);
      assert.ok(m);
      // TimelineCap of 1,000: 200 RCPTs, the first 400 and last 400 of the others.
      assert.equal(m.events.length, 1000);
      assert.deepEqual([m.truncated, m.omitted], [true, 1204]);
      const names = m.events.map((e) => e.event);
      assert.deepEqual(names.slice(0, 2), ['connect', 'mail']);
      const rcpts = m.events.filter((e) => e.event === 'rcpt');
      assert.deepEqual(rcpts.map((e) => e.fields.n), [...Array(200).keys()], 'the first RCPTs');
      assert.deepEqual(names.slice(202, 204), ['queued', 'disconnect'], 'where it went after the RCPTs');
      const deliveries = m.events.filter((e) => e.event === 'delivery').map((e) => e.fields.n);
      assert.deepEqual(deliveries, [...[...Array(396).keys()], ...[...Array(400).keys()].map((i) => 500 + i)], 'the first and the latest attempts');
      assert.deepEqual(m.events.at(-1), events.at(-1), 'the latest event last');
      assert.deepEqual(m.events.map((e) => e.at), [...m.events.map((e) => e.at)].sort((a, b) => a - b), 'in time order');
    });

    test('prune drops entries and events older than `before` and says how many entries went', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const w = world();
      await store.write({ entries: w.entries, updates: [], events: w.events });
      assert.equal(await store.prune(T0 + 2500), 3);
      assert.deepEqual(keys(await store.search({})), ['aaaaaaaaaaaaaaa3:0', 'c3:0:0', 'c2:1:1', 'c2:1:0']);
      assert.equal(await store.timeline(Q1), null);
      const r = await store.timeline('c3:0:0');
      assert.deepEqual(r!.events.map((e) => e.event), ['connect']);
      assert.equal(await store.prune(T0 + 2500), 0);
      // Many at once: pruned in batches, all of them.
      const many = Array.from({ length: 5000 }, (_, i) => entry({ key: `bulk:${i}:0`, cid: 'bulk', at: T0 - 10_000 + i }));
      await store.write({ entries: many, updates: [], events: many.map((e) => ev(e.at, 'rcpt', { cid: 'bulk', tx: 1 })) });
      assert.equal(await store.prune(T0), 5000);
      assert.equal((await store.search({ client: '192.0.2.1', until: T0 })).entries.length, 0);
    });

    test('decisions: the RCPT answers in [since, until), grouped by their facts, most frequent first, bounded', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const w = world();
      const more = [
        entry({ key: 'c4:1:0', at: T0 + 6000, cid: 'c4', client: '198.51.100.7', sender: 'printer@office.example', recipient: 'x@elsewhere.example', kind: 'relay', status: 'refused', rule: 'rule 4', code: 554, rcpt_action: 'reject', rcpt_rule: 'rule 4', rcpt_code: 554 }),
        // Accepted at RCPT, refused later (the scan): the RCPT's answer is what the preview replays.
        entry({ key: 'c5:1:0', at: T0 + 7000, cid: 'c5', status: 'refused', rule: 'scan', code: 554 }),
      ];
      await store.write({ entries: [...w.entries, ...more], updates: [], events: [] });
      const d = await store.decisions(T0, T0 + 10_000, 10);
      assert.equal(d.truncated, false);
      const tuple = (sender: string, recipient: string, client = '192.0.2.1') => d.tuples.find((x) => x.sender === sender && x.recipient === recipient && x.client === client);
      assert.deepEqual(tuple('printer@office.example', 'x@elsewhere.example', '198.51.100.7'), {
        client: '198.51.100.7', listener: 'mx', user: null, sender: 'printer@office.example', recipient: 'x@elsewhere.example', action: 'reject', rule: 'rule 4', code: 554, count: 2, first: T0 + 3000, last: T0 + 6000,
      });
      assert.deepEqual(tuple('alice@example.net', 'bob@example.org'), { client: '192.0.2.1', listener: 'mx', user: null, sender: 'alice@example.net', recipient: 'bob@example.org', action: 'accept', rule: 'rule 3', code: 250, count: 1, first: T0 + 7000, last: T0 + 7000 });
      assert.equal(d.tuples.length, 6, 'refusals at connect and our own DSN are not RCPT decisions');
      assert.equal(d.tuples[0]?.count, 2, 'most frequent first');
      const few = await store.decisions(T0, T0 + 10_000, 2);
      assert.equal(few.tuples.length, 2);
      assert.equal(few.truncated, true);
      assert.equal((await store.decisions(T0 + 3000, T0 + 3001, 10)).tuples.length, 1, 'until is exclusive');
    });

    test('top: refusals by rule (once per transaction or RCPT) and accepted messages by sender, since a time', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const w = world();
      await store.write({
        entries: [
          ...w.entries,
          entry({ key: 'c6:1:0', at: T0 + 8000, cid: 'c6', status: 'refused', rule: 'scan', code: 554 }),
          entry({ key: 'c6:1:1', at: T0 + 8000, cid: 'c6', recipient: 'z@example.org', status: 'refused', rule: 'scan', code: 554, first: false }),
        ],
        updates: [],
        events: [],
      });
      assert.deepEqual(await store.top('refusal', T0, 10), [
        { key: 'rule 4', count: 2 },
        { key: 'rule 1', count: 1 },
        { key: 'scan', count: 1 },
      ]);
      assert.deepEqual(await store.top('refusal', T0, 1), [{ key: 'rule 4', count: 2 }]);
      assert.deepEqual(await store.top('refusal', T0 + 3500, 10), [{ key: 'rule 1', count: 1 }, { key: 'scan', count: 1 }]);
      assert.deepEqual(await store.top('sender', T0, 10), [
        { key: '<>', count: 1 },
        { key: 'alice@example.net', count: 1 },
      ], 'messages (not recipients); our own DSNs are not received mail');
    });
  });
}
