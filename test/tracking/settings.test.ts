// The tracking settings: defaults when absent (on, 30 days, no subject),
// each key read, and what validation refuses (a bad or out-of-range
// retention, an unknown key, a wrong type).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate.ts';
import { defaultTracking, embeddedDefaults } from '../../src/config/document.ts';

const doc = (tracking: unknown) => ({ ...structuredClone(embeddedDefaults()), tracking });
const errorsOf = (tracking: unknown) => validate(doc(tracking)).errors.map((e) => `${e.path}: ${e.message}`);

test('tracking: defaults when absent, each key read', () => {
  const { tracking: _absent, ...without } = structuredClone(embeddedDefaults());
  assert.deepEqual(validate(without).settings.tracking, { enabled: true, retention: '30d', subject: false });
  assert.deepEqual(defaultTracking(), { enabled: true, retention: '30d', subject: false });
  const v = validate(doc({ enabled: false, retention: '7d', subject: true }));
  assert.deepEqual(v.errors, []);
  assert.deepEqual(v.settings.tracking, { enabled: false, retention: '7d', subject: true });
  assert.deepEqual(validate(doc({ retention: '90m' })).settings.tracking, { enabled: true, retention: '90m', subject: false }, 'the others keep their defaults');
});

test('tracking: a bad retention, an unknown key or a wrong type is refused with its path', () => {
  assert.match(errorsOf({ retention: 'forever' }).join('\n'), /^tracking\.retention: .*not a duration/m);
  assert.match(errorsOf({ retention: '10s' }).join('\n'), /^tracking\.retention: must be between/m);
  assert.match(errorsOf({ retention: '4000d' }).join('\n'), /^tracking\.retention: must be between/m);
  assert.match(errorsOf({ subjects: true }).join('\n'), /tracking\.subjects/);
  assert.match(errorsOf({ enabled: 'yes' }).join('\n'), /^tracking\.enabled: /m);
  assert.match(errorsOf('on').join('\n'), /^tracking: /m);
});
