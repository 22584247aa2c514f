// The test knob MAILWARDEN_TEST_CLOCK_OFFSET_MS (src/daemon-timing.ts): unset,
// empty, zero or not an integer, the node's clock is Date.now itself (the
// production path unchanged); set, it is shifted by that many milliseconds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeClock } from '../../src/daemon-timing.ts';

test('nodeClock: Date.now itself unless MAILWARDEN_TEST_CLOCK_OFFSET_MS is a non-zero integer', () => {
  for (const v of [undefined, '', '0', 'abc', '1.5']) {
    const c = nodeClock(v === undefined ? {} : { MAILWARDEN_TEST_CLOCK_OFFSET_MS: v });
    assert.equal(c.now, Date.now, `${JSON.stringify(v)}: Date.now itself`);
    assert.equal(c.offsetMs, 0);
  }
  for (const ms of [60_000, -60_000]) {
    const c = nodeClock({ MAILWARDEN_TEST_CLOCK_OFFSET_MS: String(ms) });
    assert.equal(c.offsetMs, ms);
    const before = Date.now();
    const got = c.now();
    const after = Date.now();
    assert.ok(got >= before + ms && got <= after + ms, `shifted by ${ms} ms`);
  }
});
