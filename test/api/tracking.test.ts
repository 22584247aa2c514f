// Message tracking over the API against recorded traffic (issue #20): the
// daemon with a sink as example.com's mail server, mail sent with swaks
// (delivered, deferred, bounced with its DSN, refused by rule 4), then
// GET /api/tracking with each filter, paging by cursor, the 400s of bad
// words, GET /api/tracking/:id (timeline, 404), who may read it, the
// dashboard's top lists and queue age, and tracking switched off.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { swaksMissing } from '../smtp/harness.ts';
import type { Caller } from './client.ts';
import { must, sendTraffic, startTrackedRelay, STRANGER, type Sent, type TrackedRelay } from './tracking-traffic.ts';

const skip = swaksMissing();
const hooks: (() => void | Promise<void>)[] = [];
let r: TrackedRelay;
let me: Caller & { answer: unknown };
let sent: Sent;

before(async () => {
  if (skip) return;
  r = await startTrackedRelay({ after: (fn) => void hooks.push(fn) });
  me = await r.api.login('admin', r.password);
  sent = await sendTraffic(r.relay);
});
after(async () => {
  for (const fn of hooks.reverse()) await fn();
});

interface Entry {
  key: string;
  at: number;
  queue_id: string | null;
  sender: string | null;
  recipient: string | null;
  client: string | null;
  status: string;
  rule: string | null;
  code: number | null;
  reply: string | null;
}

const search = async (query: string): Promise<{ entries: Entry[]; next: string | null }> => must(r.api, me, `/api/tracking${query ? `?${query}` : ''}`);
/** Each entry as "recipient status" (what a search is about), newest first. */
const found = async (query: string): Promise<string[]> => (await search(query)).entries.map((e) => `${e.recipient} ${e.status}`);
const iso = (ms: number) => new Date(ms).toISOString();

test('the traffic is recorded: one entry per recipient, newest first', { skip }, async () => {
  const all = (await search('')).entries;
  // The DSN and the stranger's refusal race each other: the order is checked below, the set here.
  assert.deepEqual(
    all.map((e) => `${e.sender === '' ? '<>' : e.sender} → ${e.recipient} ${e.status} ${e.rule}`).sort(),
    [
      'mallory@example.net → victim@elsewhere.test refused rule 4',
      '<> → dave@example.com delivered delivery',
      'dave@example.com → nobody@example.com bounced delivery',
      'carol@example.net → slow@example.com deferred delivery',
      'carol@example.net → bob@example.com delivered delivery',
      'alice@example.net → bob@example.com delivered delivery',
      'alice@example.net → bob@example.com delivered delivery',
      'alice@example.net → bob@example.com delivered delivery',
    ].sort(),
  );
  assert.deepEqual(all.filter((e) => e.sender === 'alice@example.net').map((e) => e.queue_id), [...sent.alice].reverse(), 'the newest message first');
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.at >= all[i]!.at, 'newest first');
  const refused = all.find((e) => e.status === 'refused')!;
  assert.deepEqual([refused.client, refused.code, refused.reply, refused.queue_id], [STRANGER, 554, 'Relaying denied', null]);
  const bounced = all.find((e) => e.status === 'bounced')!;
  assert.deepEqual([bounced.queue_id, bounced.code, bounced.reply], [sent.dave, 550, '550 5.1.1 no such user here']);
});

test('each filter: sender, recipient, client, queue id, Message-ID, subject, status, time range', { skip }, async () => {
  // Sender: whole address in any case and with brackets, a domain, the null sender.
  assert.deepEqual(await found('from=alice@example.net'), ['bob@example.com delivered', 'bob@example.com delivered', 'bob@example.com delivered']);
  assert.deepEqual(await found(`from=${encodeURIComponent('<ALICE@Example.NET>')}`), await found('from=alice@example.net'));
  assert.deepEqual((await found(`from=${encodeURIComponent('@example.net')}`)).length, 6, 'alice 3, carol 2, mallory 1');
  assert.deepEqual(await found(`from=${encodeURIComponent('<>')}`), ['dave@example.com delivered']);
  // Recipient.
  assert.deepEqual(await found('to=slow@example.com'), ['slow@example.com deferred']);
  assert.equal((await found('to=bob@example.com')).length, 4);
  assert.equal((await found(`to=${encodeURIComponent('@example.com')}`)).length, 7);
  assert.deepEqual(await found(`to=${encodeURIComponent('@elsewhere.test')}`), ['victim@elsewhere.test refused']);
  // Client, as the listeners log it (an IPv4-mapped spelling is the same address).
  assert.deepEqual(await found(`client=${STRANGER}`), ['victim@elsewhere.test refused']);
  assert.deepEqual(await found(`client=${encodeURIComponent(`::ffff:${STRANGER}`)}`), ['victim@elsewhere.test refused']);
  assert.equal((await found('client=127.0.0.1')).length, 6, 'the DSN has no client');
  // Queue id: every recipient of the message.
  assert.deepEqual((await found(`id=${sent.carol}`)).sort(), ['bob@example.com delivered', 'slow@example.com deferred']);
  // Message-ID with or without its brackets.
  assert.deepEqual(await found(`message_id=${encodeURIComponent('<alice-2@tracking.test>')}`), ['bob@example.com delivered']);
  const second = (await search('message_id=alice-2@tracking.test')).entries;
  assert.deepEqual(second.map((e) => e.queue_id), [sent.alice[1]]);
  // Subject words, any case (tracking.subject is on in this daemon).
  assert.equal((await found('subject=INVOICE')).length, 3);
  assert.deepEqual(await found(`subject=${encodeURIComponent('of the meeting')}`).then((l) => l.sort()), ['bob@example.com delivered', 'slow@example.com deferred']);
  // Status: one, a comma-separated list, the parameter repeated.
  assert.deepEqual(await found('status=deferred'), ['slow@example.com deferred']);
  assert.deepEqual((await found('status=bounced,refused')).sort(), ['nobody@example.com bounced', 'victim@elsewhere.test refused']);
  assert.deepEqual((await found('status=bounced&status=refused')).sort(), ['nobody@example.com bounced', 'victim@elsewhere.test refused']);
  assert.deepEqual(await found('status=quarantined'), []);
  // Filters combine.
  assert.deepEqual(await found(`from=${encodeURIComponent('@example.net')}&status=deferred`), ['slow@example.com deferred']);
  // Time range: since is inclusive, until exclusive; ISO times and times ago.
  assert.equal((await found('since=1h')).length, 8);
  assert.equal((await found(`since=${iso(sent.started - 1000)}`)).length, 8);
  assert.deepEqual(await found(`since=${iso(sent.finished + 60_000)}`), []);
  assert.deepEqual(await found(`until=${iso(sent.started - 1000)}`), []);
  const all = (await search('')).entries;
  const pivot = all.find((e) => e.status === 'bounced')!.at;
  assert.deepEqual((await search(`since=${iso(pivot)}`)).entries.map((e) => e.key), all.filter((e) => e.at >= pivot).map((e) => e.key));
  assert.deepEqual((await search(`until=${iso(pivot)}`)).entries.map((e) => e.key), all.filter((e) => e.at < pivot).map((e) => e.key));
});

test('paging: pages follow each other by cursor, newest first, without gaps or repeats', { skip }, async () => {
  const all = (await search('')).entries.map((e) => e.key);
  const seen: string[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  do {
    const page: { entries: Entry[]; next: string | null } = await search(`limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    sizes.push(page.entries.length);
    seen.push(...page.entries.map((e) => e.key));
    cursor = page.next;
  } while (cursor !== null && sizes.length < 10);
  assert.deepEqual(sizes, [3, 3, 2]);
  assert.deepEqual(seen, all);
  // With a filter too.
  const first = await search(`from=${encodeURIComponent('@example.net')}&limit=4`);
  assert.equal(first.entries.length, 4);
  assert.notEqual(first.next, null);
  const rest = await search(`from=${encodeURIComponent('@example.net')}&limit=4&cursor=${encodeURIComponent(first.next!)}`);
  assert.deepEqual([rest.entries.length, rest.next], [2, null]);
  assert.deepEqual([...first.entries, ...rest.entries].map((e) => e.key), (await search(`from=${encodeURIComponent('@example.net')}`)).entries.map((e) => e.key));
});

test('bad words are a 400 naming the parameter', { skip }, async () => {
  const cases: [string, RegExp][] = [
    ['status=lost', /^status: "lost" is not a status \(one of refused, tempfailed/],
    ['since=yesterday', /^since: "yesterday" is neither a time/],
    ['until=2026-02-30', /^until: "2026-02-30" is not a valid date/],
    ['since=1h&until=2h', /^since: is not before until/],
    ['limit=0', /^limit: "0" is not a number from 1 to 500/],
    ['limit=501', /^limit: "501"/],
    ['client=mail.example', /^client: "mail\.example" is not an IP address/],
    ['id=NOT-A-QUEUE-ID', /^id: "NOT-A-QUEUE-ID" is not a queue id/],
    ['to=%3C%3E', /^to: cannot be the null address/],
    ['cursor=bm90LWEtY3Vyc29y', /^cursor: the cursor is not one a search gave/],
    ['cursor=%20%3B', /^cursor: /],
    ['sender=alice@example.net', /querystring\.sender: unknown field/],
    [`subject=${'x'.repeat(201)}`, /subject/],
  ];
  for (const [q, re] of cases) {
    const a = await r.api.call('GET', `/api/tracking?${q}`, { as: me });
    assert.equal(a.status, 400, `${q}: ${a.text}`);
    assert.match(a.json.message, re, q);
  }
  assert.equal((await r.api.call('GET', '/api/tracking/bad%20id', { as: me })).status, 400);
});

test('a timeline: the message\'s entries, then its events in time order (decision with its rule, delivery with the reply, the DSN)', { skip }, async () => {
  const t = await must(r.api, me, `/api/tracking/${sent.dave}`);
  assert.deepEqual(t.entries.map((e: Entry) => [e.recipient, e.status, e.code]), [['nobody@example.com', 'bounced', 550]]);
  const events = t.events as { at: number; event: string; fields: Record<string, unknown> }[];
  const order = ['connect', 'rcpt', 'queued', 'delivery', 'dsn.queued'].map((name) => events.findIndex((e) => e.event === name));
  assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1]!)), `the life in order: ${events.map((e) => e.event).join(', ')}`);
  for (let i = 1; i < events.length; i++) assert.ok(events[i - 1]!.at <= events[i]!.at, 'in time order');
  const rcpt = events.find((e) => e.event === 'rcpt')!;
  assert.deepEqual([rcpt.fields.action, rcpt.fields.rule, rcpt.fields.code], ['accept', 'rule 3', 250]);
  const delivery = events.find((e) => e.event === 'delivery')!;
  assert.deepEqual([delivery.fields.status, delivery.fields.response], ['failed', '550 5.1.1 no such user here']);
  assert.equal(events.find((e) => e.event === 'dsn.queued')!.fields.id, sent.dsn);

  // A refused transaction has no queue id: its entry key opens it.
  const [refused] = (await search(`client=${STRANGER}`)).entries;
  const rt = await must(r.api, me, `/api/tracking/${encodeURIComponent(refused!.key)}`);
  assert.deepEqual(rt.entries.map((e: Entry) => e.key), [refused!.key]);
  const refusal = (rt.events as { event: string; fields: Record<string, unknown> }[]).find((e) => e.event === 'rcpt')!;
  assert.deepEqual([refusal.fields.action, refusal.fields.rule, refusal.fields.code], ['reject', 'rule 4', 554]);

  const unknown = await r.api.call('GET', '/api/tracking/zzzzzzzzzzzzzzzz', { as: me });
  assert.equal(unknown.status, 404);
  assert.match(unknown.json.message, /nothing is recorded for zzzzzzzzzzzzzzzz/);
});

test('who may read it: not without a login; a viewer (session or token) may', { skip }, async () => {
  for (const path of ['/api/tracking', `/api/tracking/${sent.dave}`, '/api/stats/top']) assert.equal((await r.api.call('GET', path)).status, 401, path);
  const made = await r.api.call('POST', '/api/admins', { body: { name: 'watcher', password: 'watcher-pw-1234', role: 'viewer' }, as: me });
  assert.equal(made.status, 201, made.text);
  const viewer = await r.api.login('watcher', 'watcher-pw-1234');
  assert.equal((await must(r.api, viewer, '/api/tracking?from=alice@example.net')).entries.length, 3);
  assert.equal((await must(r.api, viewer, `/api/tracking/${sent.dave}`)).entries.length, 1);
  const token = await r.api.call('POST', '/api/tokens', { body: { name: 'monitor', role: 'viewer' }, as: me });
  assert.equal(token.status, 201, token.text);
  assert.equal((await must(r.api, { cookie: null, csrf: null, token: token.json.token }, '/api/tracking?status=deferred')).entries.length, 1);
  const doc = await r.api.call('GET', '/api/openapi.json');
  for (const p of ['/api/tracking', '/api/tracking/{id}', '/api/stats/top']) assert.ok(p in doc.json.paths, p);
});

test('the dashboard: top refusal reasons and senders of the last hour and day; the oldest waiting message, held ones left out', { skip }, async () => {
  const top = await must(r.api, me, '/api/stats/top');
  assert.equal(top.tracking, 'on');
  for (const p of ['hour', 'day']) {
    assert.deepEqual(top[p].refusals, [{ key: 'rule 4', count: 1 }], p);
    assert.deepEqual(top[p].senders, [{ key: 'alice@example.net', count: 3 }, { key: 'carol@example.net', count: 1 }, { key: 'dave@example.com', count: 1 }], p);
  }
  assert.ok(Date.parse(top.day.since) < Date.parse(top.hour.since));
  const queue = (await must(r.api, me, '/api/stats')).queue;
  // carol's message waits for slow@ (deferred): it is the only one in the queue.
  assert.equal(queue.size, 1);
  const age = Math.floor((Date.now() - sent.started) / 1000) + 1;
  assert.ok(typeof queue.oldest_age_s === 'number' && queue.oldest_age_s >= 0 && queue.oldest_age_s <= age, JSON.stringify(queue));
  const held = await r.api.call('POST', `/api/queue/${sent.carol}/hold`, { as: me });
  assert.equal(held.status, 200, held.text);
  assert.deepEqual((await must(r.api, me, '/api/stats')).queue.oldest_age_s, null, 'a held message waits for an admin, not for delivery');
  // The hold is recorded too.
  assert.deepEqual((await found(`id=${sent.carol}&status=held`)), ['slow@example.com held']);
  assert.equal((await r.api.call('POST', `/api/queue/${sent.carol}/release`, { as: me })).status, 200);
});

test('tracking switched off: the search says so (503), the dashboard card says so, the rest of the dashboard works', { skip }, async () => {
  const settings = await must(r.api, me, '/api/settings');
  const put = async (enabled: boolean) => {
    const a = await r.api.call('PUT', '/api/settings', { body: { document: { ...settings.document, tracking: { ...settings.document.tracking, enabled } } }, as: me });
    assert.equal(a.status, 200, a.text);
  };
  await put(false);
  try {
    for (const path of ['/api/tracking', `/api/tracking/${sent.dave}`]) {
      const a = await r.api.call('GET', path, { as: me });
      assert.equal(a.status, 503, path);
      assert.match(a.json.message, /message tracking is off \(tracking\.enabled: false/);
    }
    const top = await must(r.api, me, '/api/stats/top');
    assert.deepEqual([top.tracking, top.hour, top.day], ['off', null, null]);
    assert.match(top.message, /tracking\.enabled: false/);
    const stats = await r.api.call('GET', '/api/stats', { as: me });
    assert.equal(stats.status, 200);
  } finally {
    await put(true);
  }
  assert.equal((await search('')).entries.length >= 8, true, 'on again, what was recorded is there');
});
