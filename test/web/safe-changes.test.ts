// Safe changes in the web admin (issue #17), in a real browser against the
// real daemon: Rollback shows what it would add, change and remove and
// applies only when confirmed; every delete asks first; leaving a page with
// unapplied changes asks (in-app links, Back, and the browser's
// beforeunload); saving a form with an empty comment sends no comment and
// records no revision. Screenshots: safe-changes-*.png.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserSkip as skip, openBrowser, type BrowserRig } from './browser-harness.ts';

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

const call = (method: string, path: string, body?: unknown, expect = 200): Promise<any> => rig.call(method, path, body, expect);

/** Whether the page's beforeunload handler asks the browser to confirm (it cancels the event). */
const beforeUnloadAsks = (p: Page): Promise<boolean> =>
  p.evaluate(`(() => { const e = new Event('beforeunload', { cancelable: true }); window.dispatchEvent(e); return e.defaultPrevented; })()`);

const revisions = async (): Promise<{ active: number; revisions: { number: number }[] }> => call('GET', '/api/revisions');
const names = async (list: string): Promise<string[]> => ((await call('GET', `/api/${list}`)) as { name: string }[]).map((o) => o.name);

test('Rollback shows what it would add, change and remove, applies nothing until confirmed; Cancel applies nothing', { skip }, async () => {
  const base = (await revisions()).active;
  await call('POST', '/api/users', { name: 'bob', password: 'bob-secret-1', groups: ['sales'] }, 201);
  await call('POST', '/api/domains', { name: 'example.org', route: { hosts: ['10.0.0.25:25'] } }, 201);
  await call('POST', '/api/networks', { name: 'office', type: 'network', address: '10.1.0.0/16' }, 201);
  const before = await revisions();
  assert.equal(before.active, base + 3);

  await page.getByTestId('nav-history').click();
  await page.getByTestId(`revision-${base}`).getByRole('button', { name: 'Rollback' }).click();
  const preview = page.getByTestId('rollback-preview');
  await preview.waitFor();
  assert.match((await preview.getByRole('heading').textContent()) ?? '', new RegExp(`Roll back to revision ${base}\\?`));
  const summary = (await preview.getByTestId('rollback-summary').getByRole('listitem').allTextContents()).sort();
  assert.deepEqual(summary, ['Removes domain example.org', 'Removes network object office', 'Removes user bob', 'Removes user group sales']);
  await rig.shot('safe-changes-rollback-preview');
  assert.deepEqual(await revisions(), before, 'the preview applied nothing');

  await preview.getByRole('button', { name: 'Cancel' }).click();
  await preview.waitFor({ state: 'detached' });
  assert.deepEqual(await revisions(), before, 'Cancel applied nothing');
  assert.deepEqual(await names('users'), ['bob']);

  await page.getByTestId(`revision-${base}`).getByRole('button', { name: 'Rollback' }).click();
  await preview.getByRole('button', { name: `Confirm rollback to revision ${base}` }).click();
  await page.getByTestId('apply-result').filter({ hasText: `Applied as revision ${before.active + 1}` }).waitFor();
  await page.getByTestId(`revision-${before.active + 1}`).waitFor();
  assert.equal((await revisions()).active, before.active + 1);
  assert.deepEqual(await names('users'), []);
  assert.deepEqual(await names('groups'), []);
  assert.deepEqual(await names('domains'), []);
  assert.equal((await names('networks')).includes('office'), false);
});

test('the preview says when a rollback would bring back an earlier password', { skip }, async () => {
  await call('POST', '/api/users', { name: 'erin', password: 'erin-secret-1', groups: [] }, 201);
  const before = (await revisions()).active;
  await call('PUT', '/api/users/erin', { password: 'erin-secret-2' });
  await page.getByTestId('nav-dashboard').click();
  await page.getByTestId('nav-history').click();
  await page.getByTestId(`revision-${before}`).getByRole('button', { name: 'Rollback' }).click();
  const summary = page.getByTestId('rollback-summary');
  await summary.waitFor();
  assert.deepEqual(await summary.getByRole('listitem').allTextContents(), ['Brings back the earlier password of user erin']);
  await page.getByTestId('rollback-preview').getByRole('button', { name: 'Cancel' }).click();
  await call('DELETE', '/api/users/erin');
});

test('a rollback confirmed after a colleague changed the settings is refused, not applied over the change', { skip }, async () => {
  const base = (await revisions()).active;
  await call('POST', '/api/networks', { name: 'first', type: 'host', address: '10.0.0.1' }, 201);
  await page.getByTestId('nav-dashboard').click();
  await page.getByTestId('nav-history').click();
  await page.getByTestId(`revision-${base}`).getByRole('button', { name: 'Rollback' }).click();
  await page.getByTestId('rollback-summary').filter({ hasText: 'Removes network object first' }).waitFor();
  // A colleague's change lands while the preview is on screen.
  await call('POST', '/api/networks', { name: 'second', type: 'host', address: '10.0.0.2' }, 201);
  await page.getByRole('button', { name: `Confirm rollback to revision ${base}` }).click();
  await page.getByTestId('apply-result').filter({ hasText: /changed since revision/ }).waitFor();
  assert.equal(await page.getByTestId('apply-result').getAttribute('data-ok'), 'false');
  assert.deepEqual((await names('networks')).filter((n) => n === 'first' || n === 'second'), ['first', 'second'], 'nothing rolled back');
});

test('deleting a network object, user, group or domain asks first; Cancel keeps it', { skip }, async () => {
  await call('POST', '/api/networks', { name: 'lab', type: 'host', address: '10.9.9.9' }, 201);
  await call('POST', '/api/users', { name: 'carol', password: 'carol-secret-1', groups: [] }, 201);
  await call('POST', '/api/groups', { name: 'temps' }, 201);
  await call('POST', '/api/domains', { name: 'test.example', route: { hosts: ['10.0.0.25:25'] } }, 201);
  const cases: [nav: string, row: string, list: string, name: string, what: string][] = [
    ['nav-networks', 'network-row-lab', 'networks', 'lab', 'lab'],
    ['nav-users', 'user-row-carol', 'users', 'carol', 'carol'],
    ['nav-users', 'group-row-temps', 'groups', 'temps', 'group temps'],
    ['nav-domains', 'domain-row-test.example', 'domains', 'test.example', 'test.example'],
  ];
  for (const [nav, rowId, list, name, what] of cases) {
    await page.getByTestId(nav).click();
    const row = page.getByTestId(rowId);
    await row.getByRole('button', { name: `Delete ${what}` }).click();
    const asking = row.getByRole('group', { name: `Delete ${what}?` });
    await asking.waitFor();
    assert.equal((await names(list)).includes(name), true, `${name}: the first press deletes nothing`);
    await asking.getByRole('button', { name: 'Cancel' }).click();
    await asking.waitFor({ state: 'detached' });
    assert.equal((await names(list)).includes(name), true, `${name}: Cancel deletes nothing`);
    await row.getByRole('button', { name: `Delete ${what}` }).click();
    await row.getByRole('button', { name: 'Confirm delete' }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal((await names(list)).includes(name), false, `${name}: deleted once confirmed`);
  }
});

test('leaving a page with unapplied changes asks: Stay keeps the draft, Back asks too, Leave drops it; the browser asks before unload', { skip }, async () => {
  await page.getByTestId('nav-relaying').click();
  const field = page.getByTestId('field-allowed_hosts');
  await field.waitFor();
  const allowed = (await call('GET', '/api/settings/relaying')).value.allowed_hosts as string[];
  await page.getByLabel('Add network to Allowed hosts/networks').selectOption('Any');
  await page.getByTestId('section-hostrelay').getByRole('button', { name: 'Add', exact: true }).click();
  await field.filter({ hasText: 'Any' }).waitFor();

  // An in-app link: the prompt, and the page stays.
  await page.getByTestId('nav-dashboard').click();
  const prompt = page.getByRole('dialog', { name: 'Leave without applying?' });
  await prompt.waitFor();
  assert.match((await prompt.textContent()) ?? '', /If you open Dashboard now, they are lost/);
  await rig.shot('safe-changes-unsaved-prompt');
  assert.equal(new URL(page.url()).pathname, '/relaying');
  await prompt.getByRole('button', { name: 'Stay on this page' }).click();
  await prompt.waitFor({ state: 'hidden' });
  assert.match((await field.textContent()) ?? '', /Any/, 'Stay keeps the draft');

  // Back: the address is put back and the same question asked.
  await page.goBack();
  await prompt.waitFor();
  assert.equal(new URL(page.url()).pathname, '/relaying');
  await page.keyboard.press('Escape');
  await prompt.waitFor({ state: 'hidden' });
  assert.match((await field.textContent()) ?? '', /Any/, 'Esc means stay');

  // Closing or reloading the tab: the page asks the browser to confirm.
  assert.equal(await beforeUnloadAsks(page), true);

  // Leave: the draft is dropped, nothing was applied, and coming back shows the applied settings.
  await page.getByTestId('nav-dashboard').click();
  await prompt.getByRole('button', { name: 'Leave and discard changes' }).click();
  await page.getByTestId('stat-auth-failed').waitFor();
  assert.equal(new URL(page.url()).pathname, '/');
  assert.deepEqual((await call('GET', '/api/settings/relaying')).value.allowed_hosts, allowed, 'nothing applied');
  await page.getByTestId('nav-relaying').click();
  await field.waitFor();
  assert.doesNotMatch((await field.getAttribute('aria-label')) ?? '', /Any/);
  assert.equal(await beforeUnloadAsks(page), false, 'nothing unapplied: the browser is not asked');
});

test('a section page (useSection) asks while its draft differs, and not once it is applied', { skip }, async () => {
  await page.getByTestId('nav-dashboard').click();
  await page.getByTestId('nav-malware').click();
  const action = page.getByLabel('Action on malware');
  await action.waitFor();
  const now = await action.inputValue();
  await action.selectOption(now === 'quarantine' ? 'reject' : 'quarantine');
  await page.getByTestId('nav-history').click();
  const prompt = page.getByRole('dialog', { name: 'Leave without applying?' });
  await prompt.waitFor();
  await prompt.getByRole('button', { name: 'Stay on this page' }).click();
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByTestId('apply-result').filter({ hasText: /Applied as revision/ }).waitFor();
  await page.getByTestId('nav-history').click();
  await page.getByRole('heading', { name: 'History' }).waitFor();
  assert.equal(await prompt.isVisible(), false, 'applied: leaving does not ask');
});

test('saving a user with an empty comment sends no comment and records nothing; clearing a comment removes it', { skip }, async () => {
  await call('POST', '/api/users', { name: 'dave', password: 'dave-secret-1', groups: [] }, 201);
  const before = await revisions();
  await page.getByTestId('nav-users').click();
  const row = page.getByTestId('user-row-dave');
  const form = page.locator('#user-form');
  const save = async (): Promise<Record<string, unknown>> => {
    const sent = page.waitForRequest((r) => r.method() === 'PUT' && new URL(r.url()).pathname === '/api/users/dave');
    await form.getByRole('button', { name: 'Save user' }).click();
    return (await sent).postDataJSON() as Record<string, unknown>;
  };

  await row.getByRole('button', { name: 'Edit dave' }).click();
  const body = await save();
  assert.equal('comment' in body, false, `an empty comment is not sent: ${JSON.stringify(body)}`);
  await form.getByTestId('apply-result').filter({ hasText: 'Nothing to change' }).waitFor();
  assert.deepEqual(await revisions(), before, 'no revision recorded');

  await row.getByRole('button', { name: 'Edit dave' }).click();
  await form.getByLabel('Comment').fill('night shift');
  assert.equal((await save()).comment, 'night shift');
  await row.filter({ hasText: 'night shift' }).waitFor();

  await row.getByRole('button', { name: 'Edit dave' }).click();
  await form.getByLabel('Comment').fill('');
  assert.equal((await save()).comment, '', 'clearing a comment the user has is sent');
  await page.getByTestId('user-row-dave').filter({ hasNotText: 'night shift' }).waitFor();
  const revs = await revisions();
  assert.equal(revs.active, before.active + 2);
  assert.equal('comment' in (await call('GET', '/api/users/dave')), false);
});
