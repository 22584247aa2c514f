// The user portal in Chromium (issue 21): the admin login page links to it;
// an admin session in the same browser does not open it; a local user signs
// in and sees only their own quarantine (another user's message is not
// listed, and its id is a 404 through the API with the user's own session),
// malware is shown as not self-releasable, a release reaches the next hop (a
// sink started here), and their allow/block lists are saved (a bad entry is
// shown with its reason); a directory user (slapd) signs in and sees the
// mail to their directory addresses. Real spamd (GTUBE) and clamd (EICAR)
// put the messages in quarantine.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserSkip, openBrowser, type BrowserRig } from './browser-harness.ts';
import { EICAR, engineAvailable, GTUBE, startClamd, startSpamd, type RunningClamd, type RunningSpamd } from '../scan/engines.ts';
import { message, quarantined, sendMessage } from '../scan/scan-helpers.ts';
import { startSink, type Sink } from '../delivery/sink.ts';
import { BASE_DN, PEOPLE, READER_DN, READER_PASSWORD, slapdMissing, startSlapd, type Slapd } from '../support/slapd.ts';

const OUTSIDE = '127.0.0.2';
const spamdAvail = engineAvailable('spamd');
const clamdAvail = engineAvailable('clamd');
const skip = browserSkip || (!spamdAvail.ok ? spamdAvail.reason : false) || (!clamdAvail.ok ? clamdAvail.reason : false) || slapdMissing();

let rig: BrowserRig;
let spamd: RunningSpamd;
let clamd: RunningClamd;
let sink: Sink;
const cleanups: (() => void | Promise<void>)[] = [];
let slapd: Slapd;

before(async () => {
  if (skip) return;
  [spamd, clamd, sink, slapd] = await Promise.all([startSpamd(), startClamd(), startSink(), startSlapd({ after: (fn) => void cleanups.push(fn) })]);
  rig = await openBrowser({
    domains: [
      { name: 'example.com', route: { hosts: [`127.0.0.1:${sink.port}`] } },
      { name: 'example.test', route: { hosts: [`127.0.0.1:${sink.port}`] } },
    ],
    delivery: { enabled: true },
    users: [
      { name: 'alice', password: 'alice-portal-pw-1', groups: [], enabled: true, addresses: ['alice@example.com', '@example.com'] },
      { name: 'bob', password: 'bob-portal-pw-12', groups: [], enabled: true, addresses: ['bob@example.com'] },
    ],
    directories: [{ name: 'corp', url: slapd.url, ca: slapd.caFile, base_dn: BASE_DN, bind_dn: READER_DN, bind_password: READER_PASSWORD }],
    antivirus: { enabled: true, clamd: clamd.address, action: 'quarantine' },
    antispam: { enabled: true, engine: 'spamassassin', spamd: spamd.address, timeout: '20s', reject_score: null, spam_action: 'quarantine' },
  });
});
after(async () => {
  await rig?.close();
  await Promise.all([spamd?.stop(), clamd?.stop(), sink?.close()]);
  for (const fn of cleanups.reverse()) await fn();
});

const gtube = (subject: string) => message(`Buy now.\r\n${GTUBE}\r\n`, { Subject: subject });

async function signIn(page: Page, name: string, password: string): Promise<void> {
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('portal-whoami').waitFor();
}

/** A call from the page with the portal session it holds (its CSRF token from /api/portal/me). */
function pageCall(page: Page, method: string, path: string): Promise<{ status: number; body: { message?: string } }> {
  return page.evaluate(
    async ([m, p]) => {
      const me = (await (await fetch('/api/portal/me')).json()) as { csrf: string };
      const r = await fetch(p as string, { method: m as string, headers: { 'x-csrf-token': me.csrf } });
      return { status: r.status, body: (await r.json()) as { message?: string } };
    },
    [method, path],
  );
}

test('a user signs in and sees only their own quarantine; a release reaches the next hop; lists are saved', { skip }, async () => {
  const { page, relay } = rig;
  const forAlice = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'promo@outside.example', to: ['alice@example.com'], message: gtube('Offer for alice') });
  const forBob = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'promo@outside.example', to: ['bob@example.com'], message: gtube('Offer for bob') });
  const virus = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'bad@outside.example', to: ['alice@example.com'], message: message(`${EICAR}\r\n`, { Subject: 'Invoice' }) });
  assert.deepEqual(quarantined(relay).sort(), [forAlice.id, forBob.id, virus.id].sort());

  // The admin is logged in in this browser: the portal still asks the user to sign in.
  await rig.logIn();
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByTestId('portal-link').click();
  await page.getByRole('heading', { name: 'mailwarden quarantine' }).waitFor();
  await rig.logIn();
  await page.goto(`${rig.base}#/portal`);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.equal(await page.getByTestId('nav-dashboard').count(), 0, 'no admin navigation');

  await signIn(page, 'alice', 'alice-portal-pw-1');
  const table = page.getByTestId('portal-quarantine');
  await table.waitFor();
  assert.equal(await table.locator('tbody tr').count(), 2);
  assert.equal(await table.locator(`tr[data-id="${forBob.id}"]`).count(), 0, "bob's message is not listed");
  const spamRow = table.locator(`tr[data-id="${forAlice.id}"]`);
  assert.match(await spamRow.innerText(), /promo@outside\.example[\s\S]*Offer for alice[\s\S]*Spam/);
  const virusRow = table.locator(`tr[data-id="${virus.id}"]`);
  assert.match(await virusRow.getByTestId('not-releasable').innerText(), /Malware: only your administrator can release it/);
  assert.equal(await virusRow.getByRole('button', { name: 'Release' }).count(), 0);
  await rig.shot('portal-quarantine');

  // Bob's id through the API with alice's session: not found, as an unknown id.
  const probe = await pageCall(page, 'POST', `/api/portal/quarantine/${forBob.id}/release`);
  assert.equal(probe.status, 404);
  assert.equal(probe.body.message, `no quarantined message ${forBob.id}`);
  assert.equal((await pageCall(page, 'POST', `/api/portal/quarantine/${virus.id}/release`)).status, 403, 'malware is not self-released');

  await spamRow.getByRole('button', { name: 'Release' }).click();
  await page.getByRole('status').filter({ hasText: 'Released: "Offer for alice"' }).waitFor();
  const [m] = await sink.waitFor(1, 20_000);
  assert.deepEqual(m?.to, ['alice@example.com']);
  assert.match(m?.raw.toString('latin1') ?? '', /^Subject: Offer for alice\r$/m);
  await table.locator(`tr[data-id="${forAlice.id}"]`).waitFor({ state: 'detached' });
  assert.deepEqual(quarantined(relay).sort(), [forBob.id, virus.id].sort());

  // Lists: a bad entry is refused with its reason; good ones are saved, normalised.
  await page.getByLabel('Allow').fill('Friend@Outside.example\nnot an address');
  await page.getByLabel('Block').fill('@spam.example');
  await page.getByRole('button', { name: 'Save lists' }).click();
  assert.match(await page.getByTestId('portal-list-errors').innerText(), /allow\[1\]/);
  await page.getByLabel('Allow').fill('Friend@Outside.example');
  await page.getByRole('button', { name: 'Save lists' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  assert.equal(await page.getByLabel('Allow').inputValue(), 'friend@outside.example');
  const stored = await rig.api.call('GET', '/api/portal/senders', { as: { cookie: await portalCookie(rig) } });
  assert.deepEqual(stored.json, { allow: ['friend@outside.example'], block: ['@spam.example'] });
  await rig.shot('portal-lists');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
});

test('a directory user (slapd) signs in and sees the mail to their directory address', { skip }, async () => {
  const { page, relay } = rig;
  const forDave = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'promo@outside.example', to: ['dave@example.test'], message: gtube('Offer for dave') });
  await page.goto(`${rig.base}#/portal`);
  await signIn(page, 'dave', PEOPLE.dave.password);
  assert.equal(await page.getByTestId('portal-addresses').innerText(), 'Mail to dave@example.test', 'the mail attribute of his entry');
  const row = page.getByTestId('portal-quarantine').locator(`tr[data-id="${forDave.id}"]`);
  await row.waitFor();
  assert.equal(await page.getByTestId('portal-quarantine').locator('tbody tr').count(), 1, 'only his own');
  const line = await relay.waitLog((l) => l.event === 'portal.login' && l.name === 'dave' && l.ok === true);
  assert.equal(line.directory, 'corp');
  await page.getByRole('button', { name: 'Sign out' }).click();
});

/** A fresh portal session for alice over the API (the browser's cookie is HttpOnly). */
async function portalCookie(r: BrowserRig): Promise<string> {
  const a = await r.api.call('POST', '/api/portal/login', { body: { name: 'alice', password: 'alice-portal-pw-1' } });
  return String((a.headers['set-cookie'] as string[])[0]).split(';')[0] ?? '';
}
