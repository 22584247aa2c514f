// Message tracking in the web admin, in a real browser against the real
// daemon (issue #20): after real traffic (swaks: delivered, deferred,
// bounced with its DSN, refused by rule 4, and one message to six
// recipients), the Tracking page searches by sender, opens a message's
// timeline from its row, pages forward and back, and keeps the search in
// its address; the Dashboard shows the top refusal reasons and senders of
// the last hour and day and the oldest waiting message, and a sender there
// opens its search. Screenshots: tracking-search.png, tracking-timeline.png,
// tracking-page-2.png, dashboard-tracking.png.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserSkip, openBrowser, type BrowserRig } from './browser-harness.ts';
import { deliveryOf, swaksMissing } from '../smtp/harness.ts';
import { send, sendTraffic, startTrackingSink, trackedSettings, type Sent } from '../api/tracking-traffic.ts';

const skip = browserSkip || swaksMissing();
const hooks: (() => void | Promise<void>)[] = [];
let rig: BrowserRig;
let page: Page;
let sent: Sent;
let bulk: string;
const BULK = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'].map((n) => `${n}@example.com`);

before(async () => {
  if (skip) return;
  const sink = await startTrackingSink({ after: (fn) => void hooks.push(fn) });
  rig = await openBrowser(trackedSettings(sink));
  ({ page } = rig);
  sent = await sendTraffic(rig.relay);
  bulk = await send(rig.relay, 'alice@example.net', BULK, 'Newsletter', 'alice-bulk@tracking.test');
  for (const to of BULK) await deliveryOf(rig.relay, bulk, to);
  await rig.logIn();
});

after(async () => {
  await rig?.close();
  for (const fn of hooks.reverse()) await fn();
});

/** A bar list's rows as [name, value]. */
const bars = (list: ReturnType<Page['getByRole']>) => list.locator('li').evaluateAll((lis) => lis.map((li) => [li.querySelector('.bar-name')?.textContent ?? '', li.querySelector('.bar-value')?.textContent ?? '']));
const rows = () => page.getByTestId('track-results').locator('tbody tr[data-testid^="track-row-"]');
const count = () => page.getByTestId('track-count');

async function searchFor(fill: Record<string, string>, perPage?: string): Promise<void> {
  await page.getByTestId('nav-tracking').click();
  const form = page.getByTestId('track-form');
  await form.waitFor();
  for (const [testid, value] of Object.entries(fill)) await page.getByTestId(testid).fill(value);
  if (perPage) await page.getByLabel('Per page').selectOption(perPage);
  await page.getByTestId('track-search').click();
}

test('search by sender: one row per recipient, with status, rule and reply', { skip }, async () => {
  await searchFor({ 'track-from': 'alice@example.net' });
  await count().filter({ hasText: 'Page 1: 9 entries' }).waitFor();
  const texts = await rows().allTextContents();
  assert.equal(texts.length, 9);
  for (const t of texts) assert.match(t, /alice@example\.net/);
  assert.equal(texts.filter((t) => /bob@example\.com/.test(t)).length, 3);
  for (const to of BULK) assert.equal(texts.filter((t) => t.includes(to)).length, 1, to);
  for (const t of texts) assert.match(t, /delivered.*delivery.*250 Ok: queued as sink-\d+/);
  // The search is in the page's address: a reload shows it again.
  assert.equal(new URL(page.url()).search, '?from=alice%40example.net');
  await page.reload();
  await count().filter({ hasText: 'Page 1: 9 entries' }).waitFor();
  assert.equal(await page.getByTestId('track-from').inputValue(), 'alice@example.net');
  await rig.shot('tracking-search');

  // Statuses ticked narrow the search; another sender's refusal shows its rule and our reply.
  await page.getByTestId('track-from').fill('');
  await page.getByTestId('track-status').getByLabel('refused').check();
  await page.getByTestId('track-search').click();
  await count().filter({ hasText: 'Page 1: 1 entry' }).waitFor();
  assert.match((await rows().first().textContent()) ?? '', /mallory@example\.net.*victim@elsewhere\.test.*127\.0\.0\.9.*rule 4.*554 Relaying denied/);
  await page.getByTestId('track-status').getByLabel('refused').uncheck();
});

test('a row opens the timeline: connection, the RCPT decision with its rule, the delivery attempt with the remote reply, the DSN', { skip }, async () => {
  await searchFor({ 'track-from': 'dave@example.com' });
  await count().filter({ hasText: 'Page 1: 1 entry' }).waitFor();
  await rows().first().click();
  const tl = page.getByTestId('track-timeline');
  await tl.waitFor();
  assert.match((await tl.locator('h3').textContent()) ?? '', new RegExp(`Message ${sent.dave} from dave@example\\.com`));
  assert.match((await tl.textContent()) ?? '', /Client127\.0\.0\.1 \(HELO client\.example\), listener mx/);
  const entry = tl.getByTestId(`timeline-entry-${sent.dave}:0`);
  assert.match((await entry.textContent()) ?? '', /nobody@example\.com.*bounced.*delivery.*550 5\.1\.1 no such user here/);
  const events = tl.getByTestId('timeline-events');
  const names = await events.locator('li .ev').allTextContents();
  for (const e of ['connect', 'rcpt', 'queued', 'delivery', 'dsn.queued']) assert.ok(names.includes(e), `${e} in ${names.join(', ')}`);
  assert.ok(names.indexOf('rcpt') < names.indexOf('queued') && names.indexOf('queued') < names.indexOf('delivery') && names.indexOf('delivery') < names.indexOf('dsn.queued'), names.join(', '));
  const rcpt = events.locator('li[data-event="rcpt"]');
  assert.equal(await rcpt.locator('[data-field="rule"] .ev-value').textContent(), 'rule 3');
  assert.equal(await rcpt.locator('[data-field="action"] .ev-value').textContent(), 'accept');
  const delivery = events.locator('li[data-event="delivery"]');
  assert.equal(await delivery.locator('[data-field="response"] .ev-value').textContent(), '550 5.1.1 no such user here');
  assert.match((await delivery.getAttribute('class')) ?? '', /\bbad\b/);
  assert.equal(await events.locator('li[data-event="dsn.queued"] [data-field="id"] .ev-value').textContent(), sent.dsn);
  await tl.scrollIntoViewIfNeeded();
  await rig.shot('tracking-timeline');
  // The row's button closes it again.
  await rows().first().getByRole('button').click();
  await tl.waitFor({ state: 'detached' });
});

test('paging: Older follows the cursor to the next page, Newer comes back', { skip }, async () => {
  // @example.net sent 12 entries: alice 3 + 6, carol 2, mallory 1.
  await searchFor({ 'track-from': '@example.net' }, '10');
  await count().filter({ hasText: 'Page 1: 10 entries, more older ones' }).waitFor();
  const first = await rows().evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-testid')));
  assert.equal(await page.getByTestId('track-newer').isDisabled(), true);
  await page.getByTestId('track-older').click();
  await count().filter({ hasText: 'Page 2: 2 entries, the oldest' }).waitFor();
  const second = await rows().evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-testid')));
  assert.equal(second.length, 2);
  assert.deepEqual(second.filter((k) => first.includes(k)), [], 'no entry on both pages');
  assert.equal(await page.getByTestId('track-older').isDisabled(), true);
  // The oldest of all: alice's first invoice.
  assert.match((await rows().last().textContent()) ?? '', new RegExp(sent.alice[0]!));
  await rig.shot('tracking-page-2');
  await page.getByTestId('track-newer').click();
  await count().filter({ hasText: 'Page 1: 10 entries' }).waitFor();
  assert.deepEqual(await rows().evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-testid'))), first);
});

test('a bad search is said, not shown as nothing found', { skip }, async () => {
  await searchFor({ 'track-from': '', 'track-since': 'yesterday' });
  await page.getByRole('alert').filter({ hasText: /since: "yesterday" is neither a time/ }).waitFor();
  await page.getByTestId('track-since').fill('');
});

test('Dashboard: top refusal reasons and senders of the last hour and day, the oldest waiting message; a sender opens its search', { skip }, async () => {
  await page.getByTestId('nav-dashboard').click();
  const refusals = page.getByTestId('top-refusals');
  const senders = page.getByTestId('top-senders');
  for (const p of ['hour', 'day']) {
    const r = refusals.getByRole('list', { name: `Top refusal reasons, last ${p}` });
    await r.waitFor();
    assert.deepEqual(await bars(r), [['rule 4', '1']], p);
    const s = senders.getByRole('list', { name: `Top senders, last ${p}` });
    assert.deepEqual(await bars(s), [['alice@example.net', '4'], ['carol@example.net', '1'], ['dave@example.com', '1']], p);
  }
  // carol's message waits for slow@ (deferred by the sink).
  assert.match((await page.getByTestId('stat-queue-oldest').textContent()) ?? '', /^\d+ (s|min)Oldest waiting/);
  await refusals.scrollIntoViewIfNeeded();
  await rig.shot('dashboard-tracking');
  await senders.getByRole('list', { name: 'Top senders, last hour' }).getByRole('link', { name: 'carol@example.net' }).click();
  await count().filter({ hasText: 'Page 1: 2 entries' }).waitFor();
  assert.equal(await page.getByTestId('track-from').inputValue(), 'carol@example.net');
  assert.equal(await page.getByTestId('track-since').inputValue(), '1h');
});
