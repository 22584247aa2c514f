// The Directories page in a real browser against the real daemon and the
// real slapd (StartTLS, test CA): add a directory through the form, Test
// connection shows the user's groups (a nested one too) and the filter sent;
// the bind password is write-only (never in the page, kept on an edit that
// leaves it empty); a failure is shown in words. Screenshot: directories.png.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { ApiClient, Caller } from '../api/client.ts';
import { browserSkip, openBrowser, type BrowserRig } from './browser-harness.ts';
import { BASE_DN, READER_DN, READER_PASSWORD, slapdMissing, startSlapd, type Slapd } from '../support/slapd.ts';

const skip = browserSkip || slapdMissing();

let rig: BrowserRig;
let api: ApiClient;
let me: Caller;
let page: Page;
let slapd: Slapd;
const cleanups: (() => void | Promise<void>)[] = [];

before(async () => {
  if (skip) return;
  slapd = await startSlapd({ after: (fn) => cleanups.push(fn) });
  rig = await openBrowser();
  ({ api, me, page } = rig);
  await rig.logIn();
});

after(async () => {
  await rig?.close();
  for (const fn of cleanups.reverse()) await fn();
});

test('add a directory in the form; Test connection shows the user\'s groups; the password is write-only', { skip }, async () => {
  await page.getByTestId('nav-directories').click();
  await page.getByRole('heading', { name: 'Directories', level: 1 }).waitFor();
  await page.getByText('No directory: only the local users').waitFor();

  await page.getByTestId('directory-name').fill('corp');
  await page.getByTestId('directory-url').fill(slapd.url);
  await page.getByTestId('directory-ca').fill(slapd.caFile);
  await page.getByTestId('directory-bind-dn').fill(READER_DN);
  await page.getByTestId('directory-bind-password').fill(READER_PASSWORD);
  await page.getByTestId('directory-base-dn').fill(BASE_DN);

  // Tested before it is saved: the form as it is.
  await page.getByTestId('directory-test-login').fill('carol');
  await page.getByTestId('directory-test').click();
  const result = page.getByTestId('directory-test-result');
  await result.waitFor();
  assert.match((await page.getByTestId('directory-step-connect').textContent()) ?? '', /connected to 127\.0\.0\.1:\d+ \(StartTLS, certificate checked against/);
  assert.equal(await page.getByTestId('directory-step-bind').textContent(), `✓ bound as ${READER_DN}`);
  assert.equal(await page.getByTestId('directory-step-user').textContent(), `✓ found uid=carol,ou=people,${BASE_DN}`);
  const groups = ((await page.getByTestId('directory-groups').textContent()) ?? '').split(', ').sort();
  assert.deepEqual(groups, ['corp:devs', 'corp:relay-users']);
  assert.equal(await page.getByTestId('directory-user-filter').textContent(), '(&(objectClass=inetOrgPerson)(uid=carol))');
  assert.equal(await page.getByTestId('directory-addresses').textContent(), 'carol@example.test');
  await result.scrollIntoViewIfNeeded();
  await rig.shot('directories');

  await page.getByRole('button', { name: 'Save directory' }).click();
  await page.getByTestId('directory-row-corp').waitFor();
  const list = await api.call('GET', '/api/directories', { as: me });
  assert.equal(list.json[0]?.has_bind_password, true);
  assert.equal((await page.content()).includes(READER_PASSWORD), false, 'the password is not in the page');

  // Edit without typing the password: kept; the saved directory still binds.
  await page.getByTestId('directory-row-corp').getByRole('button', { name: 'Edit corp' }).click();
  assert.equal(await page.getByTestId('directory-bind-password').inputValue(), '');
  assert.equal(await page.getByTestId('directory-bind-password').getAttribute('placeholder'), 'unchanged');
  await page.getByTestId('directory-test-login').fill('alice');
  await page.getByTestId('directory-test').click();
  await page.getByTestId('directory-groups').filter({ hasText: 'corp:relay-users' }).waitFor();
  assert.equal(await page.getByTestId('directory-step-user').textContent(), `✓ found uid=alice,ou=people,${BASE_DN}`);
});

test('a directory group is allowed to relay from the Directories page', { skip }, async () => {
  await page.getByTestId('nav-directories').click();
  await page.getByTestId('directory-relay-groups').filter({ hasText: 'None.' }).waitFor();
  await page.getByTestId('directory-relay-group').fill('relay-users');
  await page.getByTestId('directory-relay-add').click();
  await page.getByTestId('directory-relay-groups').filter({ hasText: 'corp:relay-users' }).waitFor();
  const relaying = await api.call('GET', '/api/settings/relaying', { as: me });
  assert.deepEqual(relaying.json.value.authenticated_relay.groups, ['corp:relay-users']);
  await page.getByRole('button', { name: 'Remove corp:relay-users' }).click();
  await page.getByTestId('directory-relay-groups').filter({ hasText: 'None.' }).waitFor();
  assert.deepEqual((await api.call('GET', '/api/settings/relaying', { as: me })).json.value.authenticated_relay.groups, []);
});

test('a failure is shown in words: a wrong bind password', { skip }, async () => {
  await page.getByTestId('nav-directories').click();
  await page.getByTestId('directory-row-corp').getByRole('button', { name: 'Edit corp' }).click();
  await page.getByTestId('directory-bind-password').fill('not-the-password');
  await page.getByTestId('directory-test').click();
  await page.getByTestId('directory-step-bind').waitFor();
  assert.match((await page.getByTestId('directory-step-bind').textContent()) ?? '', /^✗ the directory refused bind_dn "cn=reader,dc=example,dc=test" and its password/);
  assert.match((await page.getByTestId('directory-test-result').textContent()) ?? '', /The test failed\./);
  // The typed password is an unsaved change: leaving asks, and Leave keeps the saved directory as it was.
  await page.getByTestId('nav-dashboard').click();
  const prompt = page.getByRole('dialog', { name: 'Leave without applying?' });
  await prompt.waitFor();
  await prompt.getByRole('button', { name: 'Leave and discard changes' }).click();
  await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
  const list = await api.call('GET', '/api/directories', { as: me });
  assert.equal(list.json[0]?.has_bind_password, true);
});
