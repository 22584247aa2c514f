// The dashboard's counters (src/api/stats.ts) on a fake clock: AUTH attempts
// per minute and over the last hour, throttled attempts apart, the clients
// failing most often, and nothing older than an hour.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Stats } from '../../src/api/stats.ts';

describe('Stats: SMTP AUTH attempts', () => {
  it('counts failed, successful and throttled attempts per minute and over the hour', () => {
    let now = Date.UTC(2026, 0, 1, 12, 0, 30);
    const s = new Stats(() => now);
    s.observe('auth', { client: '192.0.2.1', user: 'x', action: 'reject' });
    s.observe('auth', { client: '192.0.2.1', user: 'x', action: 'reject' });
    s.observe('auth', { client: '192.0.2.2', user: 'alice', action: 'accept' });
    now += 60_000;
    s.observe('auth.blocked', { client: '192.0.2.1' });
    s.observe('auth', { client: '192.0.2.3', user: 'y', action: 'reject' });
    const last = s.series().slice(-2).map((m) => [m.auth_failed, m.auth_succeeded]);
    assert.deepEqual(last, [[2, 1], [2, 0]]);
    assert.deepEqual(s.auth(), { failed: 4, succeeded: 1, blocked: 1 });
    assert.deepEqual(s.topAuthFailed(), [{ client: '192.0.2.1', count: 3 }, { client: '192.0.2.3', count: 1 }]);
    assert.deepEqual(s.topRefused(), [], 'failed AUTH is not a refusal');
    assert.equal(s.series().reduce((n, m) => n + m.refused, 0), 0);

    // An hour later the minutes (and the throttled count) have left the window; the per-client table has not.
    now += 60 * 60_000;
    s.observe('auth', { client: '192.0.2.2', user: 'alice', action: 'accept' });
    assert.deepEqual(s.auth(), { failed: 0, succeeded: 1, blocked: 0 });
    assert.equal(s.topAuthFailed()[0]?.count, 3);
  });
});

describe('Stats: rate limit trips', () => {
  it('counts each rate.limited line in its minute, and nothing else as a trip', () => {
    let now = Date.UTC(2026, 0, 1, 12, 0, 30);
    const s = new Stats(() => now);
    s.observe('rate.limited', { limit: 0, action: 'defer' });
    s.observe('rate.limited', { limit: 1, action: 'hold' });
    s.observe('mail', { client: '192.0.2.1', action: 'tempfail' });
    now += 60_000;
    s.observe('rate.limited', { limit: 0, action: 'reject' });
    assert.deepEqual(s.series().slice(-2).map((m) => m.rate_limited), [2, 1]);
  });
});
