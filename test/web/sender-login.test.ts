// Senders bound to their login in the web admin, in a real browser against
// the real daemon: the Relaying page's Authenticated Relay section sets
// relaying.sender_login and header_from_login (applied with that section,
// the API shows it; a user who may relay without addresses is warned
// about), and the Users page gives a user their addresses. Screenshot:
// relaying-sender-login.png.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserSkip as skip, openBrowser, type BrowserRig } from './browser-harness.ts';

let rig: BrowserRig;
let page: Page;

before(async () => {
  if (skip) return;
  rig = await openBrowser({
    users: [{ name: 'kai', password: 'kai-secret-1', groups: [] }],
    relaying: { allowed_hosts: ['localhost'], authenticated_relay: { enabled: true, users: ['kai'], groups: [] } },
  });
  ({ page } = rig);
  await rig.logIn();
});

after(async () => {
  await rig?.close();
});

const call = (method: string, path: string, body?: unknown, expect = 200): Promise<any> => rig.call(method, path, body, expect);

test('Relaying: sender_login set to domain and header From: off, applied with the Authenticated Relay section', { skip }, async () => {
  const before = (await call('GET', '/api/settings/relaying')).value;
  assert.equal(before.sender_login, 'off', 'a document without the key reads as off');
  assert.equal(before.header_from_login, true);

  await page.getByTestId('nav-relaying').click();
  const section = page.getByTestId('section-authrelay');
  const select = section.getByTestId('field-sender_login');
  await select.waitFor();
  assert.equal(await select.inputValue(), 'off');
  assert.equal(await section.getByTestId('field-header_from_login').isDisabled(), true, 'nothing to check while the binding is off');
  await section.getByLabel('Logged-in users may send as').selectOption('domain');
  assert.equal(await section.getByTestId('field-header_from_login').isDisabled(), false);
  await section.getByLabel('Check the header From: too').uncheck();
  await section.getByRole('button', { name: 'Apply' }).click();
  const result = section.getByTestId('apply-result');
  await result.filter({ hasText: /Applied as revision/ }).waitFor();
  // kai may relay but owns no address: the server's warning is shown with the result.
  assert.match((await result.textContent()) ?? '', /has no addresses/);
  await section.scrollIntoViewIfNeeded();
  await rig.shot('relaying-sender-login');

  const now = (await call('GET', '/api/settings/relaying')).value;
  assert.equal(now.sender_login, 'domain');
  assert.equal(now.header_from_login, false);
  assert.deepEqual(now.authenticated_relay, before.authenticated_relay, 'the rest of the section is unchanged');
});

test('Users: an address given to a user is stored and shown', { skip }, async () => {
  await page.getByTestId('nav-users').click();
  const row = page.getByTestId('user-row-kai');
  await row.getByRole('button', { name: 'Edit kai' }).click();
  const field = page.getByTestId('field-user-addresses');
  assert.equal(await field.inputValue(), '');
  await field.fill('kai@example.com, @example.org');
  await page.getByRole('button', { name: 'Save user' }).click();
  await page.getByTestId('user-addresses-kai').waitFor();
  assert.equal(await page.getByTestId('user-addresses-kai').textContent(), 'kai@example.com, @example.org');
  const users = (await call('GET', '/api/users')) as { name: string; addresses?: string[] }[];
  assert.deepEqual(users.find((u) => u.name === 'kai')?.addresses, ['kai@example.com', '@example.org']);

  // A bad address is refused with its path, and nothing changes.
  await row.getByRole('button', { name: 'Edit kai' }).click();
  assert.equal(await field.inputValue(), 'kai@example.com, @example.org');
  await field.fill('kai@example.com, not-an-address');
  await page.getByRole('button', { name: 'Save user' }).click();
  await page.getByTestId('apply-result').filter({ hasText: /addresses/ }).first().waitFor();
  const again = (await call('GET', '/api/users')) as { name: string; addresses?: string[] }[];
  assert.deepEqual(again.find((u) => u.name === 'kai')?.addresses, ['kai@example.com', '@example.org']);
});
