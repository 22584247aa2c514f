// The web admin in a real browser (issue #8): Debian's Chromium driven by
// playwright-core, headless with a fresh profile, against a running daemon.
// Logs in; creates a network object, drags it into Allowed hosts/networks,
// applies, and then a real SMTP client from that address relays through the
// daemon; chooses Any and sees the caution and the refused Apply; finds a
// deferred message in the Mail Manager and retries it; rolls back a
// revision. Each test saves a screenshot (test-output/screenshots/).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import type { Page } from 'playwright-core';
import { RawClient, type Relay } from '../smtp/harness.ts';
import { startSink, type Sink } from '../delivery/sink.ts';
import { message, sendMessage } from '../scan/scan-helpers.ts';
import type { ApiClient, Caller } from '../api/client.ts';
import { browserSkip as skip, openBrowser, type BrowserRig } from './browser-harness.ts';

let rig: BrowserRig;
let relay: Relay;
let api: ApiClient;
let password: string;
let me: Caller;
let base: string;
let sink: Sink;
let page: Page;
/** The sink defers every recipient until a test lets it accept. */
let accepting = false;

before(async () => {
  if (skip) return;
  sink = await startSink({ behaviour: { rcpt: () => (accepting ? undefined : { code: 451, text: '4.3.0 try again later' }) } });
  rig = await openBrowser({
    domains: [{ name: 'example.com', route: { hosts: [`127.0.0.1:${sink.port}`] } }],
    delivery: { enabled: true },
    queue: { retry: { first: '1h', max: '2h' } },
  });
  ({ relay, api, password, me, base, page } = rig);
});

after(async () => {
  await rig?.close();
  await sink?.close();
});

async function shot(name: string): Promise<void> {
  await rig.shot(name);
}

async function relaying(): Promise<{ allowed_hosts: string[] }> {
  return (await api.call('GET', '/api/settings/relaying', { as: me })).json.value;
}

test('log in', { skip }, async () => {
  await page.goto(base);
  await page.getByLabel('Name').fill('admin');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').first().waitFor();
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('whoami').waitFor();
  assert.match((await page.getByTestId('whoami').textContent()) ?? '', /admin/);
  // The dashboard counts SMTP AUTH attempts (issue #13); none were made yet.
  await page.getByTestId('stat-auth-failed').waitFor();
  assert.match((await page.getByTestId('stat-auth-failed').textContent()) ?? '', /^0Failed AUTH \(last hour\)$/);
  // The Nodes panel: this node, healthy, on the embedded store.
  await page.getByTestId(`node-${hostname()}`).waitFor();
  assert.match((await page.getByTestId('nodes').textContent()) ?? '', /Nodes \(embedded store\)/);
  assert.match((await page.getByTestId(`node-${hostname()}`).textContent()) ?? '', /healthy/);
  await shot('01-logged-in');
});

test('create a network object, drag it into Allowed hosts/networks, Apply: then a real SMTP client from there relays', { skip }, async () => {
  const lab = '127.0.0.77';
  // Before: that address may not relay.
  const refused = await tryRelay(lab);
  assert.match(refused, /^554 5\.7\.1 /);

  await page.getByTestId('nav-networks').click();
  await page.getByLabel('Name').fill('lab');
  await page.getByLabel('Type').selectOption('host');
  await page.getByLabel('Address').fill(lab);
  await page.getByRole('button', { name: 'Save network' }).click();
  await page.getByTestId('network-row-lab').waitFor();

  await page.getByTestId('nav-relaying').click();
  const field = page.getByTestId('field-allowed_hosts');
  // The object panel is sticky: with the field in view, the drag does not scroll another object under the pointer.
  await field.scrollIntoViewIfNeeded();
  await page.getByTestId('object-network-lab').dragTo(field);
  await field.getByText('lab', { exact: true }).waitFor();
  const section = page.getByTestId('section-hostrelay');
  await section.getByRole('button', { name: 'Apply' }).click();
  await section.getByTestId('apply-result').filter({ hasText: /Applied as revision/ }).waitFor();
  assert.doesNotMatch((await section.getByTestId('apply-result').textContent()) ?? '', /refused|error/i);
  await shot('02-relaying-applied');
  assert.deepEqual((await relaying()).allowed_hosts, ['localhost', 'lab']);

  // The daemon takes the new revision for new connections: a real client relays.
  assert.match(await tryRelay(lab), /^250 /);
});

test('choose Any: the open-relay caution shows at once and Apply is refused', { skip }, async () => {
  await page.getByTestId('nav-relaying').click();
  const section = page.getByTestId('section-hostrelay');
  const field = page.getByTestId('field-allowed_hosts');
  await field.scrollIntoViewIfNeeded();
  await page.getByTestId('object-network-Any').dragTo(field);
  await page.getByTestId('open-relay-caution').waitFor();
  assert.match((await page.getByTestId('open-relay-caution').textContent()) ?? '', /OPEN RELAY/);
  await section.getByRole('button', { name: 'Apply' }).click();
  // The result of the earlier Apply is on screen until the new one replaces it.
  await section.getByTestId('apply-result').filter({ hasText: /open relay/i }).waitFor();
  assert.doesNotMatch((await section.getByTestId('apply-result').textContent()) ?? '', /Applied as revision/);
  await shot('03-open-relay-refused');
  assert.deepEqual((await relaying()).allowed_hosts, ['localhost', 'lab'], 'nothing changed');
  // Leave the page clean for the next tests: with Any taken out again there is nothing unapplied, so leaving does not ask.
  await page.getByRole('button', { name: 'Remove Any from Allowed hosts/networks' }).click();
  await page.reload();
});

test('find a deferred message in the Mail Manager and retry it', { skip }, async () => {
  const sent = await sendMessage(relay.ports.mx, { client: '127.0.0.2', from: 'late@outside.example', message: message('for the mail manager') });
  const id = sent.id!;
  await relay.waitLog((l) => l.event === 'delivery' && l.id === id && l.status === 'deferred');
  await page.getByTestId('nav-mail').click();
  const row = page.getByTestId(`queue-row-${id}`);
  await row.waitFor();
  assert.match((await row.textContent()) ?? '', /4\.3\.0 try again later/);
  await shot('04-deferred');
  accepting = true;
  await row.getByRole('button', { name: 'Retry' }).click();
  const [got] = await sink.waitFor(1, 20_000);
  assert.equal(got?.from, 'late@outside.example');
  await relay.waitLog((l) => l.event === 'delivery' && l.id === id && l.status === 'delivered');
  await row.waitFor({ state: 'detached', timeout: 20_000 }).catch(async () => {
    await page.reload();
    await page.getByTestId(`queue-row-${id}`).waitFor({ state: 'detached' });
  });
  await shot('05-retried');
});

test('roll back a revision', { skip }, async () => {
  const before = (await api.call('GET', '/api/revisions', { as: me })).json as { active: number; revisions: { number: number }[] };
  // The revision before the one that added "lab" to the allowed hosts.
  const target = before.active - 1;
  await page.getByTestId('nav-history').click();
  const row = page.getByTestId(`revision-${target}`);
  await row.waitFor();
  await row.getByRole('button', { name: /Roll ?back/i }).click();
  // The rollback asks first, showing what it would change (test/web/safe-changes.test.ts checks the preview itself).
  await page.getByRole('button', { name: `Confirm rollback to revision ${target}` }).click();
  await page.getByTestId(`revision-${before.active + 1}`).waitFor();
  await shot('06-rolled-back');
  const afterRevs = (await api.call('GET', '/api/revisions', { as: me })).json as { active: number; revisions: { number: number; author: string; comment: string }[] };
  assert.equal(afterRevs.active, before.active + 1);
  assert.equal(afterRevs.revisions[0]?.author, 'admin:admin');
  assert.deepEqual((await relaying()).allowed_hosts, ['localhost'], 'the relay right of lab is gone again');
  assert.match(await tryRelay('127.0.0.77'), /^554 5\.7\.1 /);
});

test("Relaying: an Apply is made against the revision the page was loaded with, so a colleague's change since is refused (409), not overwritten", { skip }, async () => {
  assert.equal((await api.call('POST', '/api/networks', { body: { name: 'colleague-net', type: 'host', address: '127.0.0.88' }, as: me })).status, 201);
  await page.getByTestId('nav-relaying').click();
  const section = page.getByTestId('section-upstream');
  await section.waitFor();
  // A colleague changes this section's fields after the page was loaded.
  const loaded = (await api.call('GET', '/api/settings/relaying', { as: me })).json;
  const colleague = await api.call('PUT', '/api/settings/relaying', { body: { value: { ...loaded.value, upstream_hosts: ['colleague-net'] }, revision: loaded.revision }, as: me });
  assert.equal(colleague.status, 200, colleague.text);

  await page.getByTestId('field-upstream_only').check();
  await section.getByRole('button', { name: 'Apply' }).click();
  await section.getByTestId('apply-result').filter({ hasText: /changed since revision/ }).waitFor();
  assert.equal(await section.getByTestId('apply-result').getAttribute('data-ok'), 'false');
  await shot('07-relaying-conflict');
  const after = (await api.call('GET', '/api/settings/relaying', { as: me })).json;
  assert.deepEqual([after.revision, after.value.upstream_hosts, after.value.upstream_only], [loaded.revision + 1, ['colleague-net'], false], "the colleague's change stands");

  // Reloaded, the page shows the colleague's change and the same edit applies on top of it.
  await page.reload();
  await page.getByTestId('nav-relaying').click();
  await section.getByText('colleague-net', { exact: true }).waitFor();
  await page.getByTestId('field-upstream_only').check();
  await section.getByRole('button', { name: 'Apply' }).click();
  await section.getByTestId('apply-result').filter({ hasText: /Applied as revision/ }).waitFor();
  const last = (await api.call('GET', '/api/settings/relaying', { as: me })).json.value;
  assert.deepEqual([last.upstream_hosts, last.upstream_only], [['colleague-net'], true]);
});

test('Users: a password shorter than limits.min_password_length is refused and the form says why', { skip }, async () => {
  await page.getByTestId('nav-users').click();
  const form = page.locator('#user-form');
  await form.getByText('At least 8 characters.').waitFor();
  await form.getByLabel('User name').fill('shorty');
  await form.getByLabel('Password').fill('x');
  await form.getByRole('button', { name: 'Save user' }).click();
  await form.getByTestId('apply-result').filter({ hasText: /too short: 1 character, at least 8 needed/ }).waitFor();
  await shot('08-user-password-too-short');
  assert.equal((await api.call('GET', '/api/users/shorty', { as: me })).status, 404, 'no user was added');
  await form.getByLabel('Password').fill('long-enough-1');
  await form.getByRole('button', { name: 'Save user' }).click();
  await page.getByText('shorty', { exact: true }).first().waitFor();
  assert.equal((await api.call('GET', '/api/users/shorty', { as: me })).status, 200);
});

/** MAIL and RCPT to a domain that is not ours: the RCPT reply says whether the client may relay. */
async function tryRelay(client: string): Promise<string> {
  const c = await RawClient.connect(relay.ports.mx, client);
  try {
    await c.reply();
    await c.cmd('EHLO lab.test.example');
    await c.cmd('MAIL FROM:<app@lab.test.example>');
    return (await c.cmd('RCPT TO:<someone@elsewhere.example>')) ?? '(closed)';
  } finally {
    c.end();
  }
}
