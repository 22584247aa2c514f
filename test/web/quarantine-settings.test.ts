// The Quarantine page (Email protection), in real Chromium against the real
// daemon: the defaults (digest off, spam self-releasable, malware and content
// not), the digest refused without a base URL (the server's error shown),
// then applied with one and read back as quarantine.* after a reload; "Send
// now" answers with what was sent.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserSkip as skip, openBrowser, type BrowserRig } from './browser-harness.ts';

let rig: BrowserRig;
let page: Page;

before(async () => {
  if (skip) return;
  rig = await openBrowser({ domains: [{ name: 'example.com', route: { hosts: ['127.0.0.1:25'] } }] });
  page = rig.page;
  await rig.logIn();
});

after(async () => {
  await rig?.close();
});

test('Quarantine page: digest settings and self-release applied as quarantine.*', { skip }, async () => {
  await page.getByTestId('nav-quarantine').click();
  const section = page.getByTestId('section-quarantine');
  await section.getByLabel('Send a quarantine digest').waitFor();
  assert.equal(await section.getByLabel('Send a quarantine digest').isChecked(), false);
  assert.equal(await section.getByLabel('Schedule').inputValue(), 'daily 08:00');
  assert.equal(await section.getByLabel('Spam').isChecked(), true);
  assert.equal(await section.getByLabel('Malware').isChecked(), false);
  assert.equal(await section.getByLabel('Content rules').isChecked(), false);

  // On without a base URL: refused, and the page says why.
  await section.getByLabel('Send a quarantine digest').check();
  await section.getByRole('button', { name: 'Apply' }).click();
  await section.getByTestId('apply-result').filter({ hasText: /base_url/ }).waitFor();
  assert.equal((await rig.call('GET', '/api/settings/quarantine')).value.digest.enabled, false, 'nothing applied');

  await section.getByLabel('Links point to (base URL)').fill('https://mail.example.com:8443');
  await section.getByLabel('Schedule').fill('weekdays 07:30');
  await section.getByLabel('Links work for').fill('3d');
  await section.getByLabel('Content rules').check();
  await section.getByRole('button', { name: 'Apply' }).click();
  await section.getByTestId('apply-result').filter({ hasText: /Applied as revision/ }).waitFor();
  await rig.shot('quarantine-01-settings');
  const q = (await rig.call('GET', '/api/settings/quarantine')).value;
  assert.deepEqual(q, {
    digest: { enabled: true, schedule: 'weekdays 07:30', from: null, base_url: 'https://mail.example.com:8443', link_lifetime: '3d' },
    self_release: { malware: false, spam: true, content: true },
    portal: { enabled: true },
  });

  await page.reload();
  await section.getByLabel('Schedule').waitFor();
  assert.equal(await section.getByLabel('Schedule').inputValue(), 'weekdays 07:30');
  assert.equal(await section.getByLabel('Send a quarantine digest').isChecked(), true);

  // Nothing is quarantined: "Send now" says so.
  await page.getByTestId('digest-send-now').click();
  assert.match(await page.getByTestId('digest-sent').innerText(), /No local recipient has quarantined mail/);
});
