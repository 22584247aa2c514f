// TLS per destination and MTA-STS in the web admin, in a real browser
// against the real daemon: the Delivery page's delivery section edits
// delivery.tls_policy (add, change kind and level, remove) and the MTA-STS
// switch, applied with that section (the API shows it; a bad domain is
// refused with its path); the MTA-STS look-up card shows a domain's policy
// served by a node HTTPS server and published in a dnsmasq zone.
// Screenshots: delivery-tls-policy.png, delivery-mta-sts-lookup.png.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { browserSkip, openBrowser, type BrowserRig } from './browser-harness.ts';
import { dnsmasqMissing, startDns, type DnsServer } from '../delivery/dns-server.ts';
import { selfSignedCert } from '../delivery/sink.ts';

const skip = browserSkip || dnsmasqMissing();

let rig: BrowserRig;
let page: Page;
let dns: DnsServer;
let server: Server;
let dir: string;

before(async () => {
  if (skip) return;
  const pem = await selfSignedCert({ dns: ['mta-sts.web-sts.test'] });
  server = createServer({ key: pem.key, cert: pem.cert }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('version: STSv1\r\nmode: enforce\r\nmx: mx1.web-sts.test\r\nmx: *.backup.web-sts.test\r\nmax_age: 86400\r\n');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.90', done));
  dir = mkdtempSync(join(tmpdir(), 'mailwarden-web-sts-'));
  writeFileSync(join(dir, 'ca.pem'), pem.cert);
  dns = await startDns(null, { a: [{ name: 'mta-sts.web-sts.test', address: '127.0.0.90' }], txt: [{ name: '_mta-sts.web-sts.test', text: 'v=STSv1; id=web1;' }] });
  rig = await openBrowser({
    delivery: { enabled: false, mta_sts: { enabled: true, port: (server.address() as { port: number }).port, ca: join(dir, 'ca.pem') } },
    dns: { servers: [dns.server] },
  });
  ({ page } = rig);
  await rig.logIn();
});

after(async () => {
  await rig?.close();
  await dns?.stop();
  if (server) await new Promise<void>((done) => server.close(() => done()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const call = (method: string, path: string, body?: unknown, expect = 200): Promise<any> => rig.call(method, path, body, expect);

test('Delivery: TLS entries added, changed and removed, MTA-STS turned off, applied with the delivery section', { skip }, async () => {
  const before = (await call('GET', '/api/settings/delivery')).value;
  assert.deepEqual(before.tls_policy, []);
  assert.equal(before.mta_sts.enabled, true);

  await page.getByTestId('nav-delivery').click();
  const section = page.getByTestId('section-delivery');
  const table = section.getByTestId('tls-policy-table');
  await table.waitFor();
  for (let i = 0; i < 3; i++) await table.getByRole('button', { name: 'Add TLS entry' }).click();
  await table.getByLabel('Domain or next hop of TLS entry 1').fill('bank.test');
  await table.getByLabel('CA file of bank.test').fill('/dev/null');
  await table.getByLabel('Kind of TLS entry 2').selectOption('next_hop');
  await table.getByLabel('Domain or next hop of TLS entry 2').fill('mx.partner.test:2525');
  await table.getByLabel('TLS level of mx.partner.test:2525').selectOption('encrypt');
  await table.getByLabel('Domain or next hop of TLS entry 3').fill('gone.test');
  await table.getByRole('button', { name: 'Remove TLS entry gone.test' }).click();
  await section.getByLabel('Use MTA-STS for MX deliveries').uncheck();
  await section.getByRole('button', { name: 'Apply' }).click();
  await section.getByTestId('apply-result').filter({ hasText: /Applied as revision/ }).waitFor();
  await table.scrollIntoViewIfNeeded();
  await rig.shot('delivery-tls-policy');

  const now = (await call('GET', '/api/settings/delivery')).value;
  assert.deepEqual(now.tls_policy, [
    { domain: 'bank.test', level: 'verify', ca: '/dev/null' },
    { next_hop: 'mx.partner.test:2525', level: 'encrypt' },
  ]);
  assert.equal(now.mta_sts.enabled, false);
  assert.equal(now.mta_sts.port, before.mta_sts.port, 'the test-only keys are kept as they were');
  assert.equal(now.smarthost, null, 'the rest of the section is unchanged');
});

test('Delivery: a TLS entry with a bad domain is refused with its path, nothing changes', { skip }, async () => {
  const section = page.getByTestId('section-delivery');
  const table = section.getByTestId('tls-policy-table');
  await table.getByLabel('Domain or next hop of TLS entry 1').fill('not a domain');
  await section.getByRole('button', { name: 'Apply' }).click();
  await section.getByTestId('apply-result').filter({ hasText: /tls_policy\[0\]\.domain/ }).waitFor();
  const now = (await call('GET', '/api/settings/delivery')).value;
  assert.equal(now.tls_policy[0].domain, 'bank.test');
});

test('MTA-STS look-up: the record, mode, MX patterns and max_age of a published policy; a domain without one', { skip }, async () => {
  const card = page.getByTestId('section-mta-sts-lookup');
  await card.getByLabel('Domain').fill('web-sts.test');
  await card.getByRole('button', { name: 'Look up' }).click();
  const report = card.getByTestId('mta-sts-report');
  await report.waitFor();
  const text = (await report.textContent()) ?? '';
  assert.match(text, /id web1/);
  assert.match(text, /enforce/);
  assert.match(text, /mx1\.web-sts\.test, \*\.backup\.web-sts\.test/);
  assert.match(text, /86400 s/);
  await card.scrollIntoViewIfNeeded();
  await rig.shot('delivery-mta-sts-lookup');
  await card.getByLabel('Domain').fill('nothing.test');
  await card.getByRole('button', { name: 'Look up' }).click();
  await report.filter({ hasText: /no _mta-sts record/ }).waitFor();
});
