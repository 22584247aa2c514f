// quarantine.* in the settings document (issue 21): defaults when absent,
// the schedule's grammar, base_url required when the digest is enabled and
// warned about in http, from and link_lifetime checked, self_release and
// portal read; every error with its path.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate.ts';
import { formatFinding } from '../../src/config/issues.ts';
import { embeddedDefaults } from '../../src/config/document.ts';
import { defaultQuarantine } from '../../src/config/quarantine-settings.ts';
import { nextSlot, parseSchedule, slotKey } from '../../src/quarantine/digest-schedule.ts';

function check(quarantine: unknown, admin = true) {
  const base = embeddedDefaults() as unknown as Record<string, unknown>;
  const doc = { ...base, admin: { ...(base.admin as object), enabled: admin }, quarantine } as Record<string, unknown>;
  const v = validate(doc);
  return { errors: v.errors.map(formatFinding), warnings: v.warnings.map(formatFinding), q: v.settings.quarantine };
}

test('absent: the defaults, no finding', () => {
  const { errors, warnings, q } = check(undefined);
  assert.deepEqual(errors, []);
  assert.ok(!warnings.some((w) => w.includes('quarantine')));
  assert.deepEqual(q, defaultQuarantine());
  assert.deepEqual(q.self_release, { malware: false, spam: true, content: false });
});

test('a full section as written', () => {
  const { errors, warnings, q } = check({
    digest: { enabled: true, schedule: 'weekdays 07:30, 16:00', from: 'quarantine@example.com', base_url: 'https://mail.example.com:8443/', link_lifetime: '3d' },
    self_release: { malware: true, content: true, spam: false },
    portal: { enabled: false },
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(warnings.filter((w) => w.includes('quarantine')), []);
  assert.deepEqual(q, {
    digest: { enabled: true, schedule: 'weekdays 07:30, 16:00', from: 'quarantine@example.com', base_url: 'https://mail.example.com:8443', link_lifetime: '3d' },
    self_release: { malware: true, spam: false, content: true },
    portal: { enabled: false },
  });
});

test('errors, each with its path; http warned about', () => {
  const { errors } = check({ digest: { enabled: true, schedule: 'daily 25:00', from: 'not an address', link_lifetime: '5m', colour: 'red' }, self_release: { malware: 'yes' } });
  assert.ok(errors.some((e) => e.startsWith('quarantine.digest.schedule') && e.includes('25:00')), errors.join('\n'));
  assert.ok(errors.some((e) => e.startsWith('quarantine.digest.from')));
  assert.ok(errors.some((e) => e.startsWith('quarantine.digest.base_url') && e.includes('required')));
  assert.ok(errors.some((e) => e.startsWith('quarantine.digest.link_lifetime') && e.includes('1h')));
  assert.ok(errors.some((e) => e.startsWith('quarantine.digest.colour') || e.includes('"colour"')));
  assert.ok(errors.some((e) => e.startsWith('quarantine.self_release.malware')));
  for (const bad of ['ftp://x.example', 'https://x.example/?a=1', 'https://u:p@x.example', 'not a url']) {
    assert.ok(check({ digest: { base_url: bad } }).errors.some((e) => e.startsWith('quarantine.digest.base_url')), bad);
  }
  const http = check({ digest: { enabled: true, base_url: 'http://mail.example.com:8080' } });
  assert.deepEqual(http.errors, []);
  assert.ok(http.warnings.some((w) => w.startsWith('quarantine.digest.base_url') && w.includes('clear')));
  assert.ok(check({ digest: { enabled: true, base_url: 'https://m.example' } }, false).errors.some((e) => e.startsWith('quarantine.digest.enabled') && e.includes('admin.enabled')));
});

test('the schedule grammar and its slots (local time)', () => {
  assert.deepEqual(parseSchedule('hourly'), { ok: true, schedule: { kind: 'hourly' } });
  assert.deepEqual(parseSchedule('Daily  8:05'), { ok: true, schedule: { kind: 'daily', times: [485] } });
  assert.deepEqual(parseSchedule('daily 13:00,08:00,08:00'), { ok: true, schedule: { kind: 'daily', times: [480, 780] } });
  for (const bad of ['daily', 'daily 24:00', 'daily 8', 'weekly 08:00', 'every 5 minutes', 'daily 08:00;rm']) assert.equal(parseSchedule(bad).ok, false, bad);
  const local = (y: number, mo: number, d: number, h: number, mi: number) => new Date(y, mo - 1, d, h, mi).getTime();
  const daily = parseSchedule('daily 08:00,13:00');
  assert.ok(daily.ok);
  assert.equal(nextSlot(daily.schedule, local(2026, 12, 4, 7, 59)), local(2026, 12, 4, 8, 0));
  assert.equal(nextSlot(daily.schedule, local(2026, 12, 4, 8, 0)), local(2026, 12, 4, 13, 0), 'strictly after');
  assert.equal(nextSlot(daily.schedule, local(2026, 12, 4, 13, 30)), local(2026, 12, 5, 8, 0));
  const wd = parseSchedule('weekdays 08:00');
  assert.ok(wd.ok);
  // Friday 2026-12-04 after 08:00 → Monday 2026-12-07.
  assert.equal(nextSlot(wd.schedule, local(2026, 12, 4, 9, 0)), local(2026, 12, 7, 8, 0));
  const hourly = parseSchedule('hourly');
  assert.ok(hourly.ok);
  assert.equal(nextSlot(hourly.schedule, local(2026, 12, 4, 9, 59)), local(2026, 12, 4, 10, 0));
  assert.equal(slotKey(' Daily 08:00 ', Date.UTC(2026, 11, 5, 8)), 'daily 08:00@2026-12-05T08:00:00.000Z');
});
