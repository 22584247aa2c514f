// The DMARC settings on the Antispam page (issue #19), in real Chromium
// against the real daemon (test/web/browser-harness.ts): the switch, the
// action and the score are applied as antispam.dmarc, an exception can skip
// DMARC, and the page shows what is stored after a reload.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserSkip as skip, openBrowser, type BrowserRig } from './browser-harness.ts';

let rig: BrowserRig;
let page: Page;

before(async () => {
  if (skip) return;
  rig = await openBrowser({ dns: { servers: ['127.0.0.1:53'] } });
  page = rig.page;
  await rig.logIn();
});

after(async () => {
  await rig?.close();
});

test('Antispam page: DMARC on, its action and score, and an exception that skips it', { skip }, async () => {
  const before = (await rig.call('GET', '/api/settings/antispam')).value;
  assert.deepEqual(before.dmarc, { enabled: false, action: 'reject', score: 0 }, 'the defaults');
  await page.getByTestId('nav-antispam').click();
  const box = page.getByTestId('dmarc-settings');
  await box.getByLabel('Verify DKIM, DMARC and ARC').waitFor();
  assert.equal(await box.getByLabel('Verify DKIM, DMARC and ARC').isChecked(), false);
  assert.equal(await box.getByLabel('On DMARC fail').inputValue(), 'reject');

  await box.getByLabel('Verify DKIM, DMARC and ARC').check();
  await box.getByLabel('On DMARC fail').selectOption('tag');
  await box.getByLabel('DMARC_FAIL score').fill('2.5');
  const ex = page.getByTestId('exceptions-table');
  await ex.getByRole('button', { name: 'Add exception' }).click();
  const row = ex.getByTestId('exception-row-0');
  await row.getByLabel('Senders of exception 1').fill('*@lists.example.org');
  await row.getByLabel('DMARC').check();
  const section = page.getByTestId('section-antispam');
  await section.getByRole('button', { name: 'Apply' }).click();
  await section.getByTestId('apply-result').filter({ hasText: /Applied as revision/ }).waitFor();
  await rig.shot('dmarc-01-antispam-settings');

  const after = (await rig.call('GET', '/api/settings/antispam')).value;
  assert.deepEqual(after.dmarc, { enabled: true, action: 'tag', score: 2.5 });
  assert.deepEqual(after.exceptions.map((e: { senders: string[]; skip: string[] }) => [e.senders, e.skip]), [[['*@lists.example.org'], ['dmarc']]]);

  await page.reload();
  await box.getByLabel('Verify DKIM, DMARC and ARC').waitFor();
  assert.equal(await box.getByLabel('Verify DKIM, DMARC and ARC').isChecked(), true);
  assert.equal(await box.getByLabel('On DMARC fail').inputValue(), 'tag');
  assert.equal(await box.getByLabel('DMARC_FAIL score').inputValue(), '2.5');
  await box.scrollIntoViewIfNeeded();
  await rig.shot('dmarc-02-after-reload');
});
