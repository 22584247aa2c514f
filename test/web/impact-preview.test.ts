// The impact preview in the web admin, in real Chromium, over real recorded
// traffic (test/preview/recorded.ts): on the Relaying page, taking printer-2's
// network out of the relay hosts shows a caution beside the Apply button
// naming printer-2, its sender and the rule, with the details on request;
// Apply is still possible and applies, and the printer is then refused as
// the preview said. Taking alice out of the relay users does the same for
// her; putting her back leaves nothing pending and the caution goes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { browserSkip, CHROMIUM, SHOTS } from './browser-harness.ts';
import { RawClient } from '../smtp/harness.ts';
import { ALICE_CLIENT, PRINTER, startRecorded } from '../preview/recorded.ts';

test('Relaying: a change that would refuse recorded mail shows a caution on Apply; Apply still applies', { skip: browserSkip }, async (t) => {
  const { relay, api, password } = await startRecorded(t);
  const profile = mkdtempSync(join(tmpdir(), 'mailwarden-chromium-'));
  mkdirSync(SHOTS, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
  });
  t.after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `impact-${name}.png`), fullPage: true });

  await page.goto(`https://127.0.0.1:${relay.adminPort}/`);
  await page.getByLabel('Name').fill('admin');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('whoami').waitFor();
  await page.getByTestId('nav-relaying').click();

  // --- Host-based Relay: the application server alone, printer-2 (in "office") loses its right ---
  const host = page.getByTestId('section-hostrelay');
  await host.getByLabel('Add network to Allowed hosts/networks').selectOption('app-server');
  await host.getByRole('button', { name: 'Add', exact: true }).click();
  // With office still there nothing recorded changes: no caution.
  await host.getByTestId('impact-none').waitFor();
  assert.equal(await host.getByTestId('impact-flag').count(), 0);
  await host.getByRole('button', { name: 'Remove office from Allowed hosts/networks' }).click();
  const caution = host.getByTestId('impact-caution');
  await caution.waitFor();
  const said = (await caution.textContent()) ?? '';
  assert.match(said, /Caution: this change would refuse mail that is accepted now\./);
  assert.match(said, /Would now refuse: 3 recipients from 127\.0\.0\.11 \(printer-2, rule 4\) over 7 days/);
  await host.getByTestId('impact-flag').waitFor();
  const apply = host.getByRole('button', { name: 'Apply' });
  assert.equal(await apply.isEnabled(), true, 'Apply is still possible');
  assert.equal(await apply.getAttribute('aria-describedby'), 'impact-hostrelay');
  // The details: the client, its network object, its sender, the rule before and after.
  await caution.getByTestId('impact-details').locator('summary').click();
  const row = caution.getByTestId('impact-refuse').locator(`tr[data-client="${PRINTER}"]`);
  await row.waitFor();
  const rowText = (await row.textContent()) ?? '';
  assert.match(rowText, /printer-2/);
  assert.match(rowText, /printer@ours\.example \(3\)/);
  assert.match(rowText, /accepted \(relay\) by rule 4 → refused 554 by rule 4 at rcpt/);
  await shot('01-caution');

  await apply.click();
  await host.getByTestId('apply-result').filter({ hasText: /Applied as revision/ }).waitFor();
  await host.getByTestId('impact-caution').waitFor({ state: 'detached' });
  const me = await api.login('admin', password);
  assert.deepEqual((await api.call('GET', '/api/settings/relaying', { as: me })).json.value.allowed_hosts, ['app-server']);
  // What the preview said is what the wire now does: printer-2 may no longer relay.
  const c = await RawClient.connect(relay.ports.mx, PRINTER);
  try {
    await c.reply();
    await c.cmd('EHLO printer.example');
    assert.match((await c.cmd('MAIL FROM:<printer@ours.example>')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<scans@partner.example>')) ?? '', /^554 5\.7\.1 /);
  } finally {
    c.end();
  }

  // --- Authenticated Relay: alice out of the users -> caution naming her client; back in -> nothing pending ---
  const auth = page.getByTestId('section-authrelay');
  await auth.getByRole('button', { name: 'Remove alice from Users' }).click();
  const authCaution = auth.getByTestId('impact-caution');
  await authCaution.waitFor();
  assert.match((await authCaution.textContent()) ?? '', new RegExp(`Would now refuse: 2 recipients from ${ALICE_CLIENT.replace(/\./g, '\\.')} \\(rule 4\\) over 7 days`));
  await shot('02-auth-caution');
  await auth.getByLabel('Add user to Users').selectOption('alice');
  await auth.locator('fieldset.object-field', { has: page.getByTestId('field-authenticated_relay-users') }).getByRole('button', { name: 'Add', exact: true }).click();
  await authCaution.waitFor({ state: 'detached' });
  assert.equal(await auth.getByTestId('impact-flag').count(), 0);
});
