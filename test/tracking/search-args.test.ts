// Unit tests of src/tracking/search-args.ts: the words of a tracking search
// (API query parameters and `mailwarden track` flags) read into a TrackQuery:
// time ranges, status lists, addresses, and the refusals of bad input.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddressArg, parseStatuses, parseWhen, trackQueryFrom } from '../../src/tracking/search-args.ts';

const NOW = Date.UTC(2026, 5, 15, 12, 0, 0);

test('a time ago: 90s, 30m, 24h, 7d before now', () => {
  assert.deepEqual(parseWhen('90s', NOW), { ok: true, value: NOW - 90_000 });
  assert.deepEqual(parseWhen('30m', NOW), { ok: true, value: NOW - 1_800_000 });
  assert.deepEqual(parseWhen('24h', NOW), { ok: true, value: NOW - 86_400_000 });
  assert.deepEqual(parseWhen(' 7d ', NOW), { ok: true, value: NOW - 7 * 86_400_000 });
});

test('an ISO time: with Z or an offset exactly; without one in local time; a date alone is its midnight', () => {
  assert.deepEqual(parseWhen('2026-06-15T10:30:00Z', NOW), { ok: true, value: Date.UTC(2026, 5, 15, 10, 30) });
  assert.deepEqual(parseWhen('2026-06-15T10:30:05.25Z', NOW), { ok: true, value: Date.UTC(2026, 5, 15, 10, 30, 5, 250) });
  assert.deepEqual(parseWhen('2026-06-15T10:30+02:00', NOW), { ok: true, value: Date.UTC(2026, 5, 15, 8, 30) });
  assert.deepEqual(parseWhen('2026-06-15 10:30-0130', NOW), { ok: true, value: Date.UTC(2026, 5, 15, 12, 0) });
  assert.deepEqual(parseWhen('2026-06-15T10:30', NOW), { ok: true, value: new Date(2026, 5, 15, 10, 30).getTime() });
  assert.deepEqual(parseWhen('2026-06-15', NOW), { ok: true, value: new Date(2026, 5, 15).getTime() });
  assert.deepEqual(parseWhen('2026-06-15Z', NOW), { ok: true, value: Date.UTC(2026, 5, 15) });
});

test('a time that is not one is refused, saying what would do', () => {
  for (const bad of ['', 'yesterday', '7 days', '7w', '-1h', '1.5h', '2026-13-01', '2026-02-30', '2026-06-15T24:00', '2026-06-15T10:60', '2026-06-15T10:30+25:00', '15/06/2026', '1718445600000']) {
    const r = parseWhen(bad, NOW);
    assert.equal(r.ok, false, bad);
  }
  const r = parseWhen('yesterday', NOW);
  assert.ok(!r.ok && /2026-06-15T10:30/.test(r.error) && /7d/.test(r.error), JSON.stringify(r));
});

test('statuses: comma-separated or repeated, deduplicated, case-insensitive; an unknown one names the list', () => {
  assert.deepEqual(parseStatuses('deferred'), { ok: true, value: ['deferred'] });
  assert.deepEqual(parseStatuses('deferred, Bounced,deferred'), { ok: true, value: ['deferred', 'bounced'] });
  assert.deepEqual(parseStatuses(['refused', 'tempfailed,queued']), { ok: true, value: ['refused', 'tempfailed', 'queued'] });
  const bad = parseStatuses('delivered,sent');
  assert.ok(!bad.ok && /"sent" is not a status/.test(bad.error) && /refused, tempfailed, queued, deferred, delivered/.test(bad.error), JSON.stringify(bad));
  assert.equal(parseStatuses(',').ok, false);
  assert.equal(parseStatuses([]).ok, false);
});

test('addresses: whole, @domain, <> for the null sender only; bracketed and upper case read as the same', () => {
  assert.deepEqual(parseAddressArg('<Alice@Example.NET>', true), { ok: true, value: 'alice@example.net' });
  assert.deepEqual(parseAddressArg('@example.org', false), { ok: true, value: '@example.org' });
  assert.deepEqual(parseAddressArg('postmaster', false), { ok: true, value: 'postmaster' });
  assert.deepEqual(parseAddressArg('<>', true), { ok: true, value: '' });
  assert.equal(parseAddressArg('<>', false).ok, false);
  for (const bad of ['', 'a b@example.org', 'alice@', '@', 'x\u0000@y']) assert.equal(parseAddressArg(bad, true).ok, false, JSON.stringify(bad));
});

test('a whole search: every filter read, the client as the listeners log it', () => {
  const r = trackQueryFrom(
    { from: 'A@Example.net', to: '@example.org', client: '::ffff:10.1.2.3', id: '0123456789abcdef', message_id: '<m1@x>', subject: ' invoice ', status: 'deferred,bounced', since: '24h', until: '2026-06-15T11:00:00Z', limit: '20', cursor: 'WzE3MTg0NDU2MDAwMDAsImsiXQ' },
    NOW,
  );
  assert.deepEqual(r, {
    ok: true,
    value: { from: 'a@example.net', to: '@example.org', client: '10.1.2.3', id: '0123456789abcdef', message_id: '<m1@x>', subject: 'invoice', status: ['deferred', 'bounced'], since: NOW - 86_400_000, until: Date.UTC(2026, 5, 15, 11), limit: 20, cursor: 'WzE3MTg0NDU2MDAwMDAsImsiXQ' },
  });
  assert.deepEqual(trackQueryFrom({}, NOW), { ok: true, value: {} });
  assert.deepEqual(trackQueryFrom({ client: '2001:DB8:0:0::1' }, NOW), { ok: true, value: { client: '2001:db8::1' } });
});

test('bad words are refused with the name the caller used (the parameter, or the flag)', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ client: '10.1.2' }, /^client: "10\.1\.2" is not a dotted-quad/],
    [{ client: 'mail.example' }, /^client: "mail\.example" is not an IP address/],
    [{ id: 'ABC' }, /^id: "ABC" is not a queue id/],
    [{ limit: '0' }, /^limit: "0" is not a number from 1 to 500/],
    [{ limit: '501' }, /^limit: "501" is not a number from 1 to 500/],
    [{ limit: 'ten' }, /^limit: /],
    [{ since: '1h', until: '2h' }, /^since: is not before until/],
    [{ since: 'soon' }, /^since: "soon" is neither a time/],
    [{ cursor: 'not a cursor!' }, /^cursor: is not a cursor of a previous page/],
    [{ subject: 'x'.repeat(201) }, /^subject: is longer than 200 characters/],
    [{ message_id: '   ' }, /^message_id: is empty/],
    [{ to: '<>' }, /^to: cannot be the null address/],
    [{ status: 'lost' }, /^status: "lost" is not a status/],
  ];
  for (const [args, re] of cases) {
    const r = trackQueryFrom(args, NOW);
    assert.ok(!r.ok && re.test(r.error), `${JSON.stringify(args)} → ${JSON.stringify(r)}`);
  }
  const flagged = trackQueryFrom({ message_id: '' }, NOW, (n) => `--${n.replace(/_/g, '-')}`);
  assert.ok(!flagged.ok && flagged.error.startsWith('--message-id: '), JSON.stringify(flagged));
  const range = trackQueryFrom({ since: '1h', until: '2h' }, NOW, (n) => `--${n}`);
  assert.ok(!range.ok && range.error === '--since: is not before --until (nothing can match)', JSON.stringify(range));
});
