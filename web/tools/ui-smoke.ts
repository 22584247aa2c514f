// A by-hand check of the built UI against a running mailwarden, in headless
// Chromium (Debian's `chromium`, driven by playwright-core): logs in, opens
// every page, collects console errors and CSP violations, and saves
// screenshots. Not part of `make test`.
//
//   node web/tools/ui-smoke.ts https://127.0.0.1:PORT admin PASSWORD OUTDIR

import { chromium, type Page } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base = '', user = 'admin', password = '', out = '/tmp/mw-shots'] = process.argv.slice(2);
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const problems: string[] = [];

async function session(width: number, height: number): Promise<Page> {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width, height } });
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto(`${base}/`);
  await page.getByLabel('Name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('whoami').waitFor();
  return page;
}

const desk = await session(1280, 800);
for (const id of ['dashboard', 'relaying', 'networks', 'users', 'domains', 'malware', 'antispam', 'delivery', 'mail', 'log', 'history', 'explain', 'admins']) {
  await desk.getByTestId(`nav-${id}`).click();
  await desk.locator('main h1').first().waitFor();
  await desk.waitForTimeout(400);
  await desk.screenshot({ path: `${out}/${id}.png`, fullPage: true });
}

// The README's picture: the Relaying page as a 1280×800 window shows it.
await desk.getByTestId('nav-relaying').click();
await desk.getByTestId('section-scan').waitFor();
await desk.evaluate(() => window.scrollTo(0, 0));
await desk.waitForTimeout(300);
await desk.screenshot({ path: `${out}/relaying-screenshot.png` });

const phone = await session(390, 844);
await phone.getByRole('button', { name: 'Menu' }).click();
await phone.getByTestId('nav-relaying').click();
await phone.getByTestId('section-upstream').waitFor();
await phone.screenshot({ path: `${out}/phone-relaying.png` });
await phone.getByRole('button', { name: 'Menu' }).click();
await phone.screenshot({ path: `${out}/phone-nav.png` });
for (const id of ['dashboard', 'mail', 'networks']) {
  await phone.getByTestId(`nav-${id}`).click();
  await phone.locator('main h1').first().waitFor();
  await phone.waitForTimeout(400);
  await phone.screenshot({ path: `${out}/phone-${id}.png`, fullPage: true });
  await phone.getByRole('button', { name: 'Menu' }).click();
}

await browser.close();
console.log(problems.length ? `problems:\n${problems.join('\n')}` : 'no console errors');
