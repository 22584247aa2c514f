// Unit tests of web/src/trackingQuery.ts (the Tracking page's search as the
// API's and the page's query string) and of the dashboard's age format.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_FORM, formFromSearch, formParams, searchPath, toApiTime } from '../../web/src/trackingQuery.ts';
import { fmtAge } from '../../web/src/format.ts';

test('a time typed without a zone is the browser\'s local time, sent as UTC; anything else goes as typed', () => {
  assert.equal(toApiTime('2026-06-15T10:30'), new Date(2026, 5, 15, 10, 30).toISOString());
  assert.equal(toApiTime(' 2026-06-15 '), new Date(2026, 5, 15).toISOString());
  assert.equal(toApiTime('2026-06-15 10:30:05'), new Date(2026, 5, 15, 10, 30, 5).toISOString());
  for (const asTyped of ['24h', '7d', '2026-06-15T10:30:00Z', '2026-06-15T10:30+02:00', '2026-02-30', 'soon']) assert.equal(toApiTime(asTyped), asTyped);
});

test('the form as query parameters: empty fields left out, statuses comma-separated, times converted for the API only', () => {
  const f = { ...EMPTY_FORM, from: ' alice@example.net ', status: ['deferred', 'bounced'] as const, since: '2026-06-15T10:30', until: '1h' };
  const api = formParams({ ...f, status: [...f.status] }, true);
  assert.deepEqual([...api.entries()], [
    ['from', 'alice@example.net'],
    ['since', new Date(2026, 5, 15, 10, 30).toISOString()],
    ['until', '1h'],
    ['status', 'deferred,bounced'],
  ]);
  assert.equal(formParams({ ...f, status: [...f.status] }, false).get('since'), '2026-06-15T10:30');
  assert.equal(searchPath(EMPTY_FORM, null, 50), '/api/tracking?limit=50');
  assert.equal(searchPath({ ...EMPTY_FORM, to: '@example.org' }, 'WzEsImsiXQ', 25), '/api/tracking?to=%40example.org&limit=25&cursor=WzEsImsiXQ');
});

test('a page address gives the form back; unknown parameters and statuses are dropped', () => {
  const f = formFromSearch('?from=%3C%3E&status=refused,lost&status=deferred&until=2h&bogus=1');
  assert.deepEqual(f, { ...EMPTY_FORM, from: '<>', status: ['refused', 'deferred'], until: '2h' });
  assert.deepEqual(formFromSearch(''), EMPTY_FORM);
});

test('ages in their two largest units', () => {
  assert.deepEqual([0, 59, 60, 3599, 3600, 3660, 86_399, 86_400, 93_600].map(fmtAge), ['0 s', '59 s', '1 min', '59 min', '1 h', '1 h 1 min', '23 h 59 min', '1 d', '1 d 2 h']);
});
