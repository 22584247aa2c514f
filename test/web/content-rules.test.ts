// The Content rules page (Email protection) in a real browser against the
// real daemon: the default executables rule listed; a rule added, edited,
// moved up and deleted, and the list applied to the `content` section (as
// the API then reads it); a slow-looking expression refused with the rule's
// name and the field's label; the archive limits applied; and a test upload
// of an .eml showing each part, the names in its zip, and the rule that
// matched. Screenshots: content-rules.png, content-rules-test.png.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserSkip as skip, openBrowser, type BrowserRig } from './browser-harness.ts';
import { composed, pyZip } from '../content/messages.ts';

let rig: BrowserRig;
let page: Page;

before(async () => {
  if (skip) return;
  rig = await openBrowser();
  ({ page } = rig);
  await rig.logIn();
});

after(async () => {
  await rig?.close();
});

const content = async () => (await rig.call('GET', '/api/settings/content')).value;

test('Content rules: add, edit, move, delete and apply; a bad expression is refused in the screen\'s words', { skip }, async () => {
  await page.getByTestId('nav-content').click();
  const section = page.getByTestId('section-content');
  await section.getByTestId('content-rule-0').waitFor();
  assert.match((await section.getByTestId('content-rule-0').textContent()) ?? '', /executables.*extension exe, scr, com.*also inside zip archives.*both.*quarantine/);

  // Add a tag rule for invoices.
  await section.getByTestId('content-rule-add').click();
  await section.getByTestId('rule-name').fill('invoices');
  await section.getByTestId('rule-filename').fill('^invoice');
  await section.getByTestId('rule-mime-types').fill('application/pdf');
  await section.getByTestId('rule-direction').selectOption('inbound');
  await section.getByTestId('rule-action').selectOption('tag');
  await section.getByTestId('rule-done').click();
  // And a reject rule, then moved above the first.
  await section.getByTestId('content-rule-add').click();
  await section.getByTestId('rule-name').fill('no-docm');
  await section.getByTestId('rule-extensions').fill('.DOCM, xlsm');
  await section.getByTestId('rule-action').selectOption('reject');
  await section.getByTestId('rule-done').click();
  await section.getByTestId('content-rule-2-up').click();
  // Edit the invoices rule (now third): a subject tag too.
  await section.getByTestId('content-rule-2-edit').click();
  await section.getByTestId('rule-comment').fill('tagged for accounting');
  await section.getByTestId('rule-done').click();
  await section.getByTestId('content-subject-tag').fill('[invoice]');
  await section.getByTestId('content-archive-max_depth').fill('2');
  await section.getByTestId('content-archive-on_error').selectOption('quarantine');
  assert.match((await section.textContent()) ?? '', /Not applied yet/);
  await rig.shot('content-rules');
  await section.getByRole('button', { name: 'Apply' }).click();
  await section.getByTestId('apply-result').filter({ hasText: /Applied as revision/ }).waitFor();

  const v = await content();
  assert.deepEqual(v.rules.map((r: { name: string }) => r.name), ['executables', 'no-docm', 'invoices']);
  assert.deepEqual(v.rules[1], { name: 'no-docm', match: { extension: ['docm', 'xlsm'] }, direction: 'both', action: 'reject' });
  assert.deepEqual(v.rules[2], { name: 'invoices', match: { mime_type: ['application/pdf'], filename: '^invoice' }, direction: 'inbound', action: 'tag', comment: 'tagged for accounting' });
  assert.equal(v.subject_tag, '[invoice]');
  assert.equal(v.archive.max_depth, 2);
  assert.equal(v.archive.on_error, 'quarantine');

  // Delete, and a slow-looking expression: refused, named as on screen.
  await section.getByTestId('content-rule-1-delete').click();
  await section.getByTestId('content-rule-1-edit').click();
  await section.getByTestId('rule-filename').fill('(a+)+$');
  await section.getByTestId('rule-done').click();
  await section.getByRole('button', { name: 'Apply' }).click();
  // Named as on screen (the rule deleted before it does not shift the name).
  await section.getByTestId('apply-result').filter({ hasText: /Content rule "invoices": File name expression: looks slow/ }).waitFor();
  assert.equal((await content()).rules.length, 3, 'nothing applied');
  await section.getByTestId('content-rule-1-edit').click();
  await section.getByTestId('rule-filename').fill('^invoice');
  await section.getByTestId('rule-done').click();
  await section.getByRole('button', { name: 'Apply' }).click();
  await section.getByTestId('apply-result').filter({ hasText: /Applied as revision/ }).waitFor();
  assert.deepEqual((await content()).rules.map((r: { name: string }) => r.name), ['executables', 'invoices']);
});

test('Content rules: a test upload shows each part, the names in its zip and the rule that matched', { skip }, async () => {
  await page.getByTestId('nav-content').click();
  const box = page.getByTestId('section-content-test');
  const eml = await composed({ attachments: [{ filename: 'Invoice-7.pdf', content: '%PDF', contentType: 'application/pdf' }, { filename: 'tools.zip', content: pyZip({ entries: [{ name: 'bin/setup.exe', text: 'MZ' }] }) }] });
  await box.getByTestId('content-test-file').setInputFiles({ name: 'test.eml', mimeType: 'message/rfc822', buffer: eml });
  await box.getByTestId('content-test-run').click();
  const verdict = box.getByTestId('content-test-verdict');
  await verdict.waitFor();
  assert.match((await verdict.textContent()) ?? '', /quarantine by rule executables — extension exe of bin\/setup\.exe \(inside tools\.zip\)/);
  assert.match((await box.getByTestId('content-test-part-3').textContent()) ?? '', /application\/pdf.*Invoice-7\.pdf.*invoices \(tag\): type application\/pdf of Invoice-7\.pdf/);
  assert.match((await box.getByTestId('content-test-part-4-entry-0').textContent()) ?? '', /in tools\.zip.*bin\/setup\.exe.*executables \(quarantine\)/);
  await box.getByTestId('content-test-parts').scrollIntoViewIfNeeded();
  await rig.shot('content-rules-test');
  // As relayed mail the inbound-only invoices rule does not apply.
  await box.getByTestId('content-test-direction').selectOption('relayed');
  await box.getByTestId('content-test-run').click();
  await box.getByTestId('content-test-part-3').filter({ hasNotText: /invoices/ }).waitFor();
  assert.match((await verdict.textContent()) ?? '', /quarantine by rule executables/);
});
