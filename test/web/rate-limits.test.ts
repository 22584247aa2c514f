// Rate limits in the web admin, in a real browser against the real daemon:
// the Relaying page lists limits.rate with each limit's current counter (a
// client that tripped its limit over SMTP), edits one, adds one, deletes one
// (each applied to the limits section, also after another section of the page
// made a revision: no 409), and the Dashboard counts the trip. Screenshots:
// relaying-rate-limits.png, dashboard-rate-limits.png.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserSkip as skip, openBrowser, type BrowserRig } from './browser-harness.ts';
import { RawClient } from '../smtp/harness.ts';

let rig: BrowserRig;
let page: Page;

before(async () => {
  if (skip) return;
  rig = await openBrowser({
    limits: { rate: [{ name: 'app daily', who: 'client', match: 'localhost', messages: 1, per: '1d', action: 'defer' }] },
  });
  ({ page } = rig);
  // Two messages from a relay host: the second trips the limit (a day's window: no boundary within the test).
  for (let i = 0; i < 2; i++) {
    const c = await RawClient.connect(rig.relay.ports.mx, '127.0.0.1');
    await c.reply();
    await c.cmd('EHLO app.example');
    const r = await c.cmd('MAIL FROM:<app@example.com>');
    if (i === 1) assert.equal(r, '450 4.7.1 Rate limit exceeded (messages per 1d), try again later');
    else {
      await c.cmd('RCPT TO:<ops@remote.example>');
      await c.cmd('DATA');
      assert.match((await c.cmd('Subject: x\r\n\r\nbody\r\n.')) ?? '', /^250 /);
    }
    c.end();
  }
  await rig.relay.waitLog((l) => l.event === 'rate.limited');
  await rig.logIn();
});

after(async () => {
  await rig?.close();
});

const call = (method: string, path: string, body?: unknown, expect = 200): Promise<any> => rig.call(method, path, body, expect);

test('Dashboard: the rate limit trip is counted', { skip }, async () => {
  const card = page.getByTestId('stat-rate-limited');
  await card.waitFor();
  assert.match((await card.textContent()) ?? '', /^1/);
  await card.scrollIntoViewIfNeeded();
  await rig.shot('dashboard-rate-limits');
});

test('Relaying: rate limits listed with their counters; edit, add and delete, applied to limits.rate', { skip }, async () => {
  await page.getByTestId('nav-relaying').click();
  const section = page.getByTestId('section-ratelimits');
  await section.getByTestId('ratelimit-0').waitFor();
  assert.match((await section.getByTestId('ratelimit-0').textContent()) ?? '', /app daily.*client: localhost/);
  await section.getByTestId('ratelimit-0-now').filter({ hasText: '127.0.0.1: 1/1 messages' }).waitFor();

  // Another section of the page applied first: its revision must not make the rate limits' Apply stale.
  const scan = page.getByTestId('section-scan');
  await scan.getByLabel('Scan relayed messages').uncheck();
  await scan.getByRole('button', { name: 'Apply' }).click();
  await scan.getByTestId('apply-result').filter({ hasText: /Applied as revision/ }).waitFor();

  await section.getByTestId('ratelimit-0-edit').click();
  await section.getByTestId('ratelimit-messages').fill('5');
  await section.getByTestId('ratelimit-done').click();
  await section.getByTestId('ratelimit-add').click();
  await section.getByTestId('ratelimit-name').fill('per user');
  await section.getByTestId('ratelimit-who').selectOption('user');
  await section.getByTestId('ratelimit-messages').fill('');
  await section.getByTestId('ratelimit-recipients').fill('200');
  await section.getByTestId('ratelimit-per').selectOption('1h');
  await section.getByTestId('ratelimit-action').selectOption('hold');
  await section.getByTestId('ratelimit-done').click();
  assert.match((await section.textContent()) ?? '', /Not applied yet/);
  await section.getByRole('button', { name: 'Apply' }).click();
  await section.getByTestId('apply-result').filter({ hasText: /Applied as revision/ }).waitFor();
  await section.getByTestId('ratelimit-0-now').filter({ hasText: '127.0.0.1: 1/5 messages' }).waitFor();
  await section.scrollIntoViewIfNeeded();
  await rig.shot('relaying-rate-limits');

  const limits = (await call('GET', '/api/settings/limits')).value;
  assert.deepEqual(limits.rate, [
    { name: 'app daily', who: 'client', match: 'localhost', messages: 5, per: '1d', action: 'defer' },
    { name: 'per user', who: 'user', recipients: 200, per: '1h', action: 'hold' },
  ]);
  assert.equal((await call('GET', '/api/settings/relaying')).value.scan_relayed, false, 'the other section stays applied');

  // A limit the server refuses (a network limit without its network) is not applied, and says where.
  await section.getByTestId('ratelimit-add').click();
  await section.getByTestId('ratelimit-who').selectOption('network');
  await section.getByTestId('ratelimit-done').click();
  await section.getByRole('button', { name: 'Apply' }).click();
  await section.getByTestId('apply-result').filter({ hasText: /is required for who: network/ }).waitFor();
  await section.getByTestId('ratelimit-2-delete').click();
  await section.getByTestId('ratelimit-0-delete').click();
  await section.getByRole('button', { name: 'Apply' }).click();
  await section.getByTestId('apply-result').filter({ hasText: /Applied as revision/ }).waitFor();
  assert.deepEqual((await call('GET', '/api/settings/limits')).value.rate, [{ name: 'per user', who: 'user', recipients: 200, per: '1h', action: 'hold' }]);
});
