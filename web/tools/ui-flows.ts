// By-hand walk through the main flows of the built UI against a running
// mailwarden started with web/tools/flows-settings.yaml on a scratch data
// directory (it changes settings and rolls them back, queues one message,
// and adds a viewer account and a token). Prints each step; throws on the
// first failure. With a message in the quarantine, it also releases it.
// Not part of `make test`.
//
//   ./bin/mailwarden start --data /tmp/scratch --config web/tools/flows-settings.yaml
//   node web/tools/ui-flows.ts https://127.0.0.1:24443 admin PASSWORD 24025 /tmp/flows

import { chromium, type Locator, type Page } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import nodemailer from 'nodemailer';

const [base = '', user = 'admin', password = '', smtpPort = '2525', out = '/tmp/mw-flows'] = process.argv.slice(2);
mkdirSync(out, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const step = (s: string) => console.log(`- ${s}`);
/** Polls until the check holds (5 s), else fails with the line that waited. */
async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting: ${new Error().stack?.split('\n')[2]?.trim()}`);
}

async function login(name: string, pw: string, width = 1280, height = 800): Promise<Page> {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width, height } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log(`  page error: ${e.message}`));
  await page.goto(`${base}/relaying`);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill(pw);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('whoami').waitFor();
  return page;
}
const result = (scope: Locator) => scope.getByTestId('apply-result');
/** Drags a panel object into a field. The field is scrolled into view first: the
 * panel is sticky, so scrolling during the drag would move another object under the pointer. */
async function drag(p: Page, object: string, field: string): Promise<void> {
  await p.getByTestId(field).scrollIntoViewIfNeeded();
  await p.getByTestId(object).dragTo(p.getByTestId(field));
}

const page = await login(user, password);
step('logged in, landed on /relaying');
const host = page.getByTestId('section-hostrelay');
await until(async () => (await page.getByTestId('open-relay-caution').count()) === 0);

await drag(page, 'object-network-Any', 'field-allowed_hosts');
await until(async () => ((await page.getByTestId('field-allowed_hosts').first().textContent()) ?? '').includes('Any'));
await page.getByTestId('open-relay-caution').first().waitFor();
step('dragged Any into Allowed hosts: caution shown');
await host.getByRole('button', { name: 'Apply' }).click();
await until(async () => (await result(host).first().getAttribute('data-ok')) === 'false');
await until(async () => ((await result(host).first().textContent()) ?? '').includes('open relay'));
await page.screenshot({ path: `${out}/relaying-refused.png`, fullPage: true });
step('Apply refused: open relay without acknowledgement');

await host.getByRole('button', { name: 'Remove Any from Allowed hosts/networks' }).click();
await until(async () => (await page.getByTestId('open-relay-caution').count()) === 0);
step('removed Any: caution gone');

const up = page.getByTestId('section-upstream');
await up.getByLabel('Add network to Upstream hosts').selectOption('dmz');
await up.getByRole('button', { name: 'Add', exact: true }).click();
await until(async () => ((await page.getByTestId('field-upstream_hosts').first().textContent()) ?? '').includes('dmz'));
await up.getByRole('button', { name: 'Apply' }).click();
await until(async () => (await result(up).first().getAttribute('data-ok')) === 'true');
await until(async () => ((await result(up).first().textContent()) ?? '').includes('upstream_hosts'));
step(`keyboard add of dmz to Upstream hosts applied: ${(await result(up).locator('.summary').textContent()) ?? ''}`);

await drag(page, 'object-network-everything', 'field-allowed_hosts');
await page.getByTestId('open-relay-caution').first().waitFor();
await host.getByLabel('I understand: allow an open relay anyway').check();
await host.getByRole('button', { name: 'Apply' }).click();
await until(async () => (await result(host).first().getAttribute('data-ok')) === 'true');
await until(async () => ((await result(host).locator('.warnings').first().textContent()) ?? '').includes('OPEN RELAY'));
step('0.0.0.0/0 object with acknowledgement: applied with the warning');

await page.getByTestId('nav-dashboard').click();
await page.getByTestId('open-relay-banner').first().waitFor();
await page.screenshot({ path: `${out}/dashboard-open-relay.png` });
step('dashboard shows the open relay banner');

await page.getByTestId('nav-history').click();
const revs = page.locator('[data-testid^="revision-"]');
await revs.first().first().waitFor();
const numbers = (await revs.evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-testid')?.slice(9))))).sort((a, b) => b - a);
const back = numbers[1] ?? 1;
await page.getByRole('button', { name: 'Show diff' }).click();
await until(async () => ((await page.getByTestId('revision-diff').first().textContent()) ?? '').includes('allowed_hosts'));
await page.getByTestId(`revision-${back}`).getByRole('button', { name: 'Rollback' }).click();
await page.getByTestId('rollback-preview').getByRole('button', { name: /^Confirm rollback/ }).click();
await until(async () => (await page.getByTestId('apply-result').first().getAttribute('data-ok')) === 'true');
await page.screenshot({ path: `${out}/history.png`, fullPage: true });
step(`diff shown; rolled back to revision ${back}`);
await page.getByTestId('nav-dashboard').click();
await page.getByTestId('stat-queue-size').first().waitFor();
await until(async () => (await page.getByTestId('open-relay-banner').count()) === 0);
step('banner gone after the rollback');

await page.getByTestId('nav-networks').click();
const form = page.locator('#network-form');
await form.getByLabel('Name').fill('lab');
await form.getByLabel('Type').selectOption('network');
await form.getByLabel('Network (address/prefix)').fill('10.9.0.0/24');
await form.getByRole('button', { name: 'Save network' }).click();
await page.getByTestId('network-row-lab').first().waitFor();
await page.getByTestId('network-row-office').getByRole('button', { name: 'Delete' }).click();
await page.getByTestId('network-row-office').getByRole('button', { name: 'Confirm delete' }).click();
await until(async () => (await page.getByTestId('network-list').getByTestId('apply-result').first().getAttribute('data-ok')) === 'false');
step(`delete office refused: ${(await page.getByTestId('network-list').getByTestId('apply-result').textContent())?.slice(0, 160)}`);
await page.getByTestId('network-row-lab').getByRole('button', { name: 'Delete' }).click();
await page.getByTestId('network-row-lab').getByRole('button', { name: 'Confirm delete' }).click();
await until(async () => (await page.getByTestId('network-row-lab').count()) === 0);
step('network lab added and deleted');

await page.getByTestId('nav-users').click();
await page.getByLabel('User name').fill('carol');
await page.locator('#user-form').getByLabel('Password').fill('carol-pass-1');
await page.getByLabel('Add group to Groups').selectOption('sales');
await page.locator('#user-form').getByRole('button', { name: 'Add', exact: true }).click();
await page.getByRole('button', { name: 'Save user' }).click();
await until(async () => ((await page.getByTestId('user-row-carol').first().textContent()) ?? '').includes('sales'));
await page.getByTestId('user-row-carol').getByRole('button', { name: 'Edit' }).click();
await page.locator('#user-form').getByLabel('Comment').fill('temp');
await page.getByRole('button', { name: 'Save user' }).click();
await until(async () => ((await page.getByTestId('user-row-carol').first().textContent()) ?? '').includes('temp'));
await page.getByTestId('user-row-carol').getByRole('button', { name: 'Delete' }).click();
await page.getByTestId('user-row-carol').getByRole('button', { name: 'Confirm delete' }).click();
await until(async () => (await page.getByTestId('user-row-carol').count()) === 0);
step('user carol added, edited, deleted');

await page.getByTestId('nav-domains').click();
await page.getByLabel('Domain', { exact: true }).fill('test.example');
await page.getByLabel('Route hosts (one per line, in order)').fill('127.0.0.1:24098\n[::1]:25');
await page.getByRole('button', { name: 'Save domain' }).click();
await until(async () => ((await page.getByTestId('domain-row-test.example').first().textContent()) ?? '').includes('[::1]:25'));
await page.getByTestId('domain-row-test.example').getByRole('button', { name: 'Delete' }).click();
await page.getByTestId('domain-row-test.example').getByRole('button', { name: 'Confirm delete' }).click();
await until(async () => (await page.getByTestId('domain-row-test.example').count()) === 0);
step('domain added and deleted');

await page.getByTestId('nav-malware').click();
await page.getByLabel('Action on malware').selectOption('quarantine');
await page.getByRole('button', { name: 'Apply' }).click();
await until(async () => (await page.getByTestId('apply-result').getAttribute('data-ok')) === 'true');
step(`malware: ${(await page.getByTestId('apply-result').textContent())?.slice(0, 120)}`);

await page.getByTestId('nav-antispam').click();
await page.getByRole('button', { name: 'Add blocklist' }).click();
await page.getByLabel('Zone of blocklist 1').fill('not a zone!');
await page.getByRole('button', { name: 'Apply' }).click();
await until(async () => ((await page.getByTestId('apply-result').textContent()) ?? '').includes('DNS blocklist "not a zone!": Zone'));
await page.getByLabel('Zone of blocklist 1').fill('zen.example.org');
await page.getByLabel('Subject tag').fill('[SPAM]');
await page.getByRole('button', { name: 'Apply' }).click();
await until(async () => (await page.getByTestId('apply-result').getAttribute('data-ok')) === 'true');
step(`antispam: a bad zone named by the screen; then ${(await page.getByTestId('apply-result').textContent())?.slice(0, 160)}`);

await page.getByTestId('nav-delivery').click();
const deliv = page.getByTestId('section-delivery');
await deliv.getByLabel('Send everything through a smarthost').check();
await deliv.getByLabel('Smarthost host').fill('smtp.example.net');
await deliv.getByLabel('Smarthost port').fill('587');
await deliv.getByRole('button', { name: 'Apply' }).click();
await until(async () => (await deliv.getByTestId('apply-result').getAttribute('data-ok')) === 'true');
const queueSec = page.getByTestId('section-queue');
await queueSec.getByLabel('Delay warning after').fill('4h');
await queueSec.getByRole('button', { name: 'Apply' }).click();
await until(async () => (await queueSec.getByTestId('apply-result').getAttribute('data-ok')) === 'true');
const pm = page.getByTestId('section-postmaster');
await pm.getByLabel('Postmaster address').fill('not an address');
await pm.getByRole('button', { name: 'Apply' }).click();
await until(async () => (await pm.getByTestId('apply-result').getAttribute('data-ok')) === 'false');
step(`delivery: smarthost and delay warning applied; bad postmaster refused: ${(await pm.getByTestId('apply-result').textContent())?.slice(0, 120)}`);

// Keyboard only: the blacklist's select and Add button, then Enter on Apply.
await page.getByTestId('nav-relaying').click();
const bl = page.getByTestId('section-blacklist');
await bl.getByLabel('Add network to Blocked hosts/networks').focus();
await page.keyboard.press('ArrowDown');
await page.keyboard.press('Tab');
await page.keyboard.press('Enter');
await until(async () => (await page.getByTestId('field-blacklist').locator('li.chip').count()) === 2);
await page.keyboard.press('Tab');
await page.keyboard.press('Enter');
await until(async () => (await bl.getByTestId('apply-result').getAttribute('data-ok')) !== null);
step(`keyboard: added ${(await page.getByTestId('field-blacklist').textContent())} to the blacklist; ${(await bl.getByTestId('apply-result').textContent())?.slice(0, 200)}`);

await page.getByTestId('nav-explain').click();
await page.getByLabel('Client address').fill('203.0.113.9');
await page.getByLabel('Recipient (RCPT TO)').fill('user@victim.example');
await page.getByRole('button', { name: 'Explain', exact: true }).click();
await until(async () => ((await page.getByTestId('explain-result').first().textContent()) ?? '').includes('REJECT'));
await page.getByLabel('Client to test').fill('203.0.113.9');
await page.getByRole('button', { name: 'Run open-relay test' }).click();
await until(async () => ((await page.getByTestId('open-relay-result').first().textContent()) ?? '').includes('Not an open relay'));
await page.screenshot({ path: `${out}/explain.png`, fullPage: true });
step('explain and open-relay test answered');

// One message into the queue (delivery is off), seen live in the log.
await page.getByTestId('nav-log').click();
await until(async () => ((await page.getByTestId('log-status').first().textContent()) ?? '').trim() === 'Live');
const tx = nodemailer.createTransport({ host: '127.0.0.1', port: Number(smtpPort), secure: false, tls: { rejectUnauthorized: false } });
const sent = await tx.sendMail({ from: 'alice@example.com', to: 'someone@elsewhere.example', subject: 'ui test', text: 'hello' });
step(`sent a message: ${sent.response}`);
await until(async () => ((await page.getByTestId('log-lines').first().textContent()) ?? '').includes('queued'));
await page.getByTestId('log-pause').click();
await until(async () => ((await page.getByTestId('log-status').first().textContent()) ?? '').trim() === 'Paused');
await page.screenshot({ path: `${out}/log.png` });
step('live log shows it; paused');

await page.getByTestId('nav-mail').click();
const row = page.locator('[data-testid^="queue-row-"]').first();
await until(async () => ((await row.first().textContent()) ?? '').includes('someone@elsewhere.example'));
await row.getByRole('button', { name: 'Hold' }).click();
await until(async () => ((await row.first().textContent()) ?? '').includes('held'));
await page.getByLabel('State').selectOption('held');
await row.first().waitFor();
await row.getByRole('button', { name: 'Release' }).click();
await until(async () => ((await page.getByTestId('mail-outcome').first().textContent()) ?? '').includes('released'));
await page.getByLabel('State').selectOption('');
await row.getByRole('button', { name: 'Retry' }).click();
await until(async () => ((await page.getByTestId('mail-outcome').first().textContent()) ?? '').includes('retry'));
await page.screenshot({ path: `${out}/mail.png`, fullPage: true });
await row.getByRole('button', { name: 'Delete' }).click();
await row.getByRole('button', { name: 'Confirm delete' }).click();
await until(async () => (await page.locator('[data-testid^="queue-row-"]').count()) === 0);
step('queue: hold, filter, release, retry, delete');

const held = page.locator('[data-testid^="quarantine-row-"]');
if ((await held.count()) > 0) {
  await until(async () => ((await held.first().textContent()) ?? '').length > 0);
  const text = (await held.first().textContent()) ?? '';
  await held.first().getByRole('button', { name: 'Release' }).click();
  await until(async () => (await held.count()) === 0);
  await page.locator('[data-testid^="queue-row-"]').first().waitFor();
  step(`quarantine: released "${text.slice(0, 60)}…" into the queue`);
} else step('quarantine empty: release not tried');

await page.getByTestId('nav-admins').click();
await page.getByLabel('Token name').fill('ci');
await page.getByRole('button', { name: 'Create token' }).click();
await page.getByTestId('new-token').first().waitFor();
await page.getByLabel('Admin name').fill('viewer1');
await page.getByLabel('Admin password').fill('viewer-pass-1');
await page.getByLabel('Role', { exact: true }).selectOption('viewer');
await page.getByRole('button', { name: 'Add admin' }).click();
await page.getByTestId('admin-row-viewer1').first().waitFor();
step('token created (shown once); viewer admin added');

const viewer = await login('viewer1', 'viewer-pass-1');
await viewer.getByTestId('section-scan').waitFor();
await until(async () => (await viewer.getByRole('button', { name: 'Apply' }).count()) === 0);
await viewer.screenshot({ path: `${out}/viewer-relaying.png`, fullPage: true });
step('viewer sees Relaying without Apply buttons');

await browser.close();
console.log('all flows passed');
