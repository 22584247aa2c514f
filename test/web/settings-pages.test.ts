// The settings pages of issue #17 in a real browser against the real
// daemon: Limits (a refused value named by its label on screen, then an
// applied recipient limit that a real SMTP client meets), System (the host
// name applied; a listener's port recorded and the page saying
// a restart is needed), TLS certificate (the one in use, an upload from PEM
// files, back to self-signed) and My account (own password: refused, then
// changed, the session kept). A screenshot of each page.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { generate } from 'selfsigned';
import { RawClient, freePort } from '../smtp/harness.ts';
import { browserSkip as skip, openBrowser, type BrowserRig } from './browser-harness.ts';

let rig: BrowserRig;
let page: Page;

before(async () => {
  if (skip) return;
  rig = await openBrowser();
  page = rig.page;
  await rig.logIn();
});

after(async () => {
  await rig?.close();
});

async function section(name: string): Promise<any> {
  return (await rig.api.call('GET', `/api/settings/${name}`, { as: rig.me })).json.value;
}

/** Applies the section on screen and waits for the answer of that very Apply to be shown. */
async function applyIn(testid: string): Promise<{ ok: boolean; text: string }> {
  const card = page.getByTestId(testid);
  const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().includes('/api/settings/')), card.getByRole('button', { name: 'Apply' }).click()]);
  const ok = res.status() === 200;
  const result = card.locator(`[data-testid="apply-result"][data-ok="${ok}"]`);
  await result.waitFor();
  return { ok, text: (await result.textContent()) ?? '' };
}

test('Limits: a value out of range is refused under its label; an applied recipient limit is what a real SMTP client meets', { skip }, async () => {
  await page.getByTestId('nav-limits').click();
  const field = page.getByTestId('field-limits-max_recipients');
  await field.waitFor();
  assert.equal(await field.inputValue(), '100');
  await field.fill('0');
  const refused = await applyIn('section-limits');
  assert.equal(refused.ok, false);
  assert.match(refused.text, /Recipients per message: must be between 1 and 100000, got 0/);
  assert.doesNotMatch(refused.text, /limits\.max_recipients/);
  assert.equal((await section('limits')).max_recipients, 100, 'nothing changed');

  await field.fill('2');
  await page.getByTestId('field-limits-idle_timeout').fill('2m');
  const applied = await applyIn('section-limits');
  assert.equal(applied.ok, true, applied.text);
  const limits = await section('limits');
  assert.equal(limits.max_recipients, 2);
  assert.equal(limits.idle_timeout, '2m');
  await page.evaluate('window.scrollTo(0, 0)');
  await rig.shot('settings-limits');

  // A new connection uses the new revision: the third recipient is one too many.
  const c = await RawClient.connect(rig.relay.ports.mx);
  try {
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO client.test')) ?? '', /^250/);
    assert.match((await c.cmd('MAIL FROM:<a@client.test>')) ?? '', /^250/);
    assert.match((await c.cmd('RCPT TO:<one@remote.test>')) ?? '', /^250/);
    assert.match((await c.cmd('RCPT TO:<two@remote.test>')) ?? '', /^250/);
    assert.match((await c.cmd('RCPT TO:<three@remote.test>')) ?? '', /^452 4\.5\.3 /);
  } finally {
    c.socket.destroy();
  }
});

test('System: the host name is applied (the greeting keeps the old one until the next start, as the page says); a listener port change is recorded, and the page says a restart is needed', { skip }, async () => {
  await page.getByTestId('nav-system').click();
  const host = page.getByTestId('field-hostname');
  await host.waitFor();
  assert.equal(await host.inputValue(), 'mx.test.example');
  await host.fill('relay.renamed.example');
  assert.equal((await applyIn('section-hostname')).ok, true);
  assert.equal(await section('hostname'), 'relay.renamed.example');
  // The listeners were given their greeting name at start, as the page says: the new one comes with the next start.
  assert.match((await page.getByText(/the greeting \(220\) and the EHLO reply of the SMTP listeners use it from the next start/).textContent()) ?? '', /next start/);
  const c = await RawClient.connect(rig.relay.ports.mx);
  try {
    assert.equal(await c.reply(), '220 mx.test.example ESMTP mailwarden');
  } finally {
    c.socket.destroy();
  }

  // The listeners of the test daemon are on port 0 (any port): no restart is pending yet.
  await page.getByTestId('listener-0').waitFor();
  assert.equal(await page.getByTestId('restart-needed').count(), 0);
  const port = page.getByTestId('field-listener-0-port');
  await port.fill('70000');
  const refused = await applyIn('section-listeners');
  assert.equal(refused.ok, false);
  assert.match(refused.text, /Listener "mx", Port: must be between 0 and 65535, got 70000/);

  const wanted = await freePort();
  await port.fill(String(wanted));
  await page.getByTestId('field-listener-0-mode').selectOption('submission');
  const applied = await applyIn('section-listeners');
  assert.equal(applied.ok, true, applied.text);
  const listeners = await section('listeners');
  assert.deepEqual({ port: listeners[0].port, mode: listeners[0].mode }, { port: wanted, mode: 'submission' });
  const notice = page.getByTestId('restart-needed');
  await notice.waitFor();
  assert.match((await notice.textContent()) ?? '', new RegExp(`"mx" runs on 127\\.0\\.0\\.1 port ${rig.relay.ports.mx} \\(mx\\); the settings say 127\\.0\\.0\\.1 port ${wanted} \\(submission\\)`));
  // The daemon binds listeners at start only: the running one still answers as mx on its old port.
  const still = await RawClient.connect(rig.relay.ports.mx);
  try {
    assert.match((await still.reply()) ?? '', /^220 /);
    assert.doesNotMatch((await still.cmd('EHLO client.test')) ?? '', /AUTH/);
  } finally {
    still.socket.destroy();
  }
  await page.evaluate("document.querySelector('[data-testid=section-listeners]').scrollIntoView()");
  await rig.shot('settings-system');
  // Back as it was, so that nothing later depends on this.
  await port.fill('0');
  await page.getByTestId('field-listener-0-mode').selectOption('mx');
  assert.equal((await applyIn('section-listeners')).ok, true);
  await page.getByTestId('restart-needed').waitFor({ state: 'detached' });
});

test('TLS certificate: the one in use; an upload from PEM files (a wrong key refused); used from the next start; back to self-signed', { skip }, async () => {
  const make = async () => {
    const p = await generate([{ name: 'commonName', value: 'uploaded.test.example' }], { keySize: 2048, algorithm: 'sha256', notBeforeDate: new Date(Date.now() - 86_400_000), notAfterDate: new Date(Date.now() + 60 * 86_400_000) });
    return { cert: p.cert, key: p.private };
  };
  const good = await make();
  const other = await make();
  await page.getByTestId('nav-tls').click();
  await page.getByTestId('cert-in-use').waitFor();
  assert.match((await page.getByTestId('cert-in-use-subject').textContent()) ?? '', /CN=mx\.test\.example/);
  assert.equal(await page.getByTestId('cert-in-use-self-signed').count(), 1);

  const upload = async (key: string) => {
    await page.getByTestId('field-tls-cert-file').setInputFiles({ name: 'cert.pem', mimeType: 'application/x-pem-file', buffer: Buffer.from(good.cert) });
    await page.getByTestId('field-tls-key-file').setInputFiles({ name: 'key.pem', mimeType: 'application/x-pem-file', buffer: Buffer.from(key) });
    const button = page.getByRole('button', { name: 'Upload and use from the next start' });
    // The files are read into the text boxes (asynchronously): wait for this key's text before the upload.
    const tail = key.trim().split('\n').at(-2) ?? '';
    // Polled from here: a predicate evaluated in the page is refused by the admin UI's CSP (no eval).
    const keyBox = page.getByTestId('field-tls-key');
    const until = Date.now() + 10_000;
    while (!(await keyBox.inputValue()).includes(tail)) {
      assert.ok(Date.now() < until, 'the key file was read into the key box within 10 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith('/api/tls')), button.click()]);
    const r = page.locator(`[data-testid="apply-result"][data-ok="${res.status() === 200}"]`);
    await r.waitFor();
    return r;
  };
  const refused = await upload(other.key);
  assert.equal(await refused.getAttribute('data-ok'), 'false');
  assert.match((await refused.textContent()) ?? '', /Upload: Private key: it does not belong to this certificate/);
  assert.equal((await rig.api.call('GET', '/api/tls', { as: rig.me })).json.configured, null);

  const ok = await upload(good.key);
  assert.equal(await ok.getAttribute('data-ok'), 'true');
  await page.getByTestId('cert-restart-needed').waitFor();
  assert.equal((await page.getByTestId('cert-next-subject').textContent()) ?? '', 'CN=uploaded.test.example');
  assert.match((await page.getByTestId('cert-in-use-subject').textContent()) ?? '', /CN=mx\.test\.example/, 'in use until the next start');
  const tls = (await rig.api.call('GET', '/api/tls', { as: rig.me })).json;
  assert.match(tls.configured.cert, /tls\/uploaded\//);
  assert.equal(tls.next_start.subject, 'CN=uploaded.test.example');
  await page.evaluate('window.scrollTo(0, 0)');
  await rig.shot('settings-tls');

  await page.getByRole('button', { name: 'Use the self-signed certificate' }).click();
  await page.getByRole('button', { name: 'Yes, go back to the self-signed certificate' }).click();
  await page.getByTestId('cert-restart-needed').waitFor({ state: 'detached' });
  assert.match((await page.getByTestId('cert-source').textContent()) ?? '', /self-signed/);
  assert.equal((await rig.api.call('GET', '/api/tls', { as: rig.me })).json.configured, null);
});

test('My account: a wrong current password and a short new one are refused; the change keeps this session', { skip }, async () => {
  // Reached from the header, beside Log out.
  await page.getByTestId('my-account').click();
  await page.getByTestId('field-current-password').waitFor();
  const fill = async (current: string, next: string, again = next) => {
    await page.getByTestId('field-current-password').fill(current);
    await page.getByTestId('field-new-password').fill(next);
    await page.getByTestId('field-repeat-password').fill(again);
    await page.getByRole('button', { name: 'Change password' }).click();
  };
  await fill(rig.password, 'short');
  await page.getByRole('alert').filter({ hasText: 'New password: at least 8 characters' }).waitFor();
  await fill('not the password', 'a-brand-new-password');
  await page.getByRole('alert').filter({ hasText: 'Current password: wrong password' }).waitFor();
  assert.equal((await rig.api.login('admin', rig.password)).answer.status, 200, 'nothing changed yet');
  await rig.shot('settings-account');

  await fill(rig.password, 'a-brand-new-password');
  await page.getByTestId('password-changed').waitFor();
  assert.equal((await rig.api.login('admin', rig.password)).answer.status, 401, 'the old password no longer works');
  assert.equal((await rig.api.login('admin', 'a-brand-new-password')).answer.status, 200);
  // The browser's session goes on: a reload still shows the logged-in app, not the login form.
  await page.reload();
  await page.getByTestId('whoami').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Log in' }).count(), 0);
});
