// Real recorded traffic for the impact preview's end-to-end tests: the
// daemon (with its admin API) receives mail from several loopback clients —
// two relay hosts (printer-2 and an application server), a user relaying
// after AUTH on the submission listener, an Internet client sending to our
// domain, and a stranger whose relay attempt is refused — each over real
// SMTP with every reply asserted. The daemon is then stopped (a clean stop
// writes what tracking still holds) and started again on the same data
// directory, so that what it recorded is in the store: no waiting on a timer.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RawClient, relayDoc, restartRelay, startRelay, type Relay } from '../smtp/harness.ts';
import { ApiClient, onStderr } from '../api/client.ts';

export const PRINTER = '127.0.0.11';
export const APP = '127.0.0.12';
export const ALICE_CLIENT = '127.0.0.30';
export const INTERNET = '127.0.0.20';
export const STRANGER = '127.0.0.21';
export const ALICE_PASSWORD = 'alice-password-1234';

/** The installation as the traffic was recorded under it. */
export function settings(): Record<string, unknown> {
  return {
    networks: [
      { name: 'localhost', type: 'host', address: '127.0.0.1' },
      { name: 'office', type: 'network', address: '127.0.0.8/29' },
      { name: 'printer-2', type: 'host', address: PRINTER },
      { name: 'app-server', type: 'host', address: APP },
      { name: 'partner', type: 'host', address: STRANGER },
    ],
    users: [{ name: 'alice', password: ALICE_PASSWORD, groups: [], addresses: ['alice@ours.example'] }],
    domains: [{ name: 'ours.example', route: { hosts: ['127.0.0.1:1'] } }],
    relaying: { allowed_hosts: ['office'], authenticated_relay: { enabled: true, users: ['alice'], groups: [] }, sender_login: 'address' },
  };
}

/** The recorded relaying changed: printer-2 and alice lose their relay right, the stranger ("partner") gains one. */
export function riskyRelaying(): Record<string, unknown> {
  return { ...(settings().relaying as Record<string, unknown>), allowed_hosts: ['app-server', 'partner'], authenticated_relay: { enabled: true, users: [], groups: [] } };
}

export interface Recorded {
  relay: Relay;
  api: ApiClient;
  password: string;
}

async function transaction(c: RawClient, from: string, to: string, expect: RegExp): Promise<void> {
  assert.match((await c.cmd(`MAIL FROM:<${from}>`)) ?? '', /^250 /);
  const rcpt = (await c.cmd(`RCPT TO:<${to}>`)) ?? '';
  assert.match(rcpt, expect);
  if (!rcpt.startsWith('250 ')) {
    assert.match((await c.cmd('RSET')) ?? '', /^250 /);
    return;
  }
  assert.match((await c.cmd('DATA')) ?? '', /^354 /);
  c.write(`From: <${from}>\r\nTo: <${to}>\r\nSubject: recorded\r\n\r\nrecorded traffic\r\n.\r\n`);
  assert.match((await c.reply()) ?? '', /^250 2\.0\.0 Ok: queued as /);
}

/** `n` messages from `client` on `port`, after STARTTLS and AUTH when `auth` is given. */
async function send(port: number, client: string, n: number, from: string, to: string, expect: RegExp, auth?: { user: string; password: string }): Promise<void> {
  const c = await RawClient.connect(port, client);
  try {
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250/);
    if (auth) {
      await c.starttls();
      assert.match((await c.cmd('EHLO client.example')) ?? '', /^250/);
      assert.equal(await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${auth.user}\0${auth.password}`).toString('base64')}`), '235 2.7.0 Authentication successful');
    }
    for (let i = 0; i < n; i++) await transaction(c, from, to, expect);
    await c.cmd('QUIT');
  } finally {
    c.end();
  }
}

/** Starts the daemon, sends the traffic, and restarts it with the recordings in its store. */
export async function startRecorded(t: { after: (fn: () => void | Promise<void>) => void }, extra: Record<string, unknown> = {}): Promise<Recorded> {
  const { doc, ports } = await relayDoc({ admin: { enabled: true, address: '127.0.0.1', port: 0 }, ...settings(), ...extra });
  const first = await startRelay(t, doc, ports);
  await first.waitLog((l) => l.event === 'admin.created');
  const password = await onStderr(first, () => /with the password\n\n {4}(\S+)\n/.exec(first.stderr())?.[1] ?? null);
  const ok = /^250 /;
  await send(ports.mx, PRINTER, 3, 'printer@ours.example', 'scans@partner.example', ok);
  await send(ports.mx, APP, 2, 'app@ours.example', 'customer@remote.example', ok);
  await send(ports.submission, ALICE_CLIENT, 2, 'alice@ours.example', 'friend@remote.example', ok, { user: 'alice', password: ALICE_PASSWORD });
  await send(ports.mx, INTERNET, 2, 'news@lists.example', 'info@ours.example', ok);
  await send(ports.mx, STRANGER, 1, 'spam@bad.example', 'victim@remote.example', /^554 5\.7\.1 /);
  assert.equal(await first.stop(), 0);
  const relay = await restartRelay(t, first.dataDir, ports);
  const ca = readFileSync(join(relay.dataDir, 'tls', 'cert.pem'));
  return { relay, api: new ApiClient(relay.adminPort ?? 0, ca), password };
}
