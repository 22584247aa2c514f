// Applying a new revision (`mailwarden config import`) while the daemon runs:
// new connections get the new rights at once, without a restart; a connection
// that was already open keeps the snapshot it started with. The revision a
// connection pinned is in its 'connect' log line and in the spooled envelope.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { RawClient, relayDoc, startRelay, type LogLine, type Relay, runCli as run, queuedId, queueEnvelopes as envelopes } from './harness.ts';

const CLIENT = '127.0.0.3';
const AUTH_CLIENT = '127.0.0.7';
const ERIN = 'Erin-pw-4d1f0';

async function importDoc(relay: Relay, doc: Record<string, unknown>, name: string): Promise<void> {
  const file = join(relay.dataDir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  const r = await run(['config', 'import', file, '--data', relay.dataDir, '--comment', name]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
}

/** Greeting and EHLO on a new connection from `src`; the greeting must be 220. */
async function open(port: number, src: string): Promise<RawClient> {
  const c = await RawClient.connect(port, src);
  assert.match((await c.reply()) ?? '', /^220 /);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
  return c;
}

async function send(c: RawClient): Promise<string> {
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  const id = queuedId((await c.cmd('Subject: reload\r\n\r\nhi\r\n.')) ?? '');
  await c.cmd('QUIT');
  c.end();
  return id;
}

const connects = (relay: Relay, client: string): LogLine[] => relay.logs.filter((l) => l.event === 'connect' && l.client === client);

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

test('a new revision applies to new connections only', async (t) => {
  const base = {
    domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }],
    groups: [{ name: 'staff' }],
    limits: { auth_failure_delay: '50ms' },
  };
  const { doc: rev1, ports } = await relayDoc(base);
  const relay = await startRelay(t, rev1, ports);
  const networks = rev1.networks as Record<string, unknown>[];
  const rev2 = {
    ...rev1,
    networks: [...networks, { name: 'newhost', type: 'host', address: CLIENT }],
    relaying: { allowed_hosts: ['localhost', 'newhost'] },
  };
  const rev3 = {
    ...rev1,
    networks: [...networks, { name: 'newhost', type: 'host', address: CLIENT }],
    relaying: { allowed_hosts: ['localhost'], blacklist: ['newhost'] },
  };
  const rev4 = {
    ...rev3,
    users: [{ name: 'erin', password: ERIN, groups: ['staff'] }],
    relaying: { ...(rev3.relaying as Record<string, unknown>), authenticated_relay: { enabled: true, groups: ['staff'] } },
  };

  await t.test('a right given: the open connection keeps the old rights, a new connection has the new ones', async () => {
    const before = await open(ports.mx, CLIENT);
    await importDoc(relay, rev2, 'rev2');

    assert.match((await before.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.equal(await before.cmd('RCPT TO:<someone@example.org>'), '554 5.7.1 Relaying denied');
    assert.match((await before.cmd('RCPT TO:<info@example.com>')) ?? '', /^250 2\.1\.5/);
    const oldId = await send(before);

    const after = await open(ports.mx, CLIENT);
    assert.match((await after.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.match((await after.cmd('RCPT TO:<someone@example.org>')) ?? '', /^250 2\.1\.5/);
    const newId = await send(after);

    const lines = connects(relay, CLIENT);
    assert.deepEqual(lines.map((l) => [l.revision, l.action]), [[1, 'accept'], [2, 'accept']]);
    const all = await envelopes(relay);
    const oldE = all.find((e) => e.id === oldId);
    const newE = all.find((e) => e.id === newId);
    assert.deepEqual([oldE?.revision, oldE?.relayed, oldE?.recipients.map((r) => r.kind)], [1, false, ['inbound']]);
    assert.deepEqual([newE?.revision, newE?.relayed, newE?.recipients.map((r) => r.kind)], [2, true, ['relay']]);
    assert.ok(relay.logs.some((l) => l.event === 'config.active' && l.revision === 2));
    const q = relay.logs.filter((l) => l.event === 'queued' && l.client === CLIENT).map((l) => l.revision);
    assert.deepEqual(q, [1, 2]);
  });

  await t.test('a right taken away: the open connection still relays, a new one is refused at connect', async () => {
    const before = await open(ports.mx, CLIENT);
    await importDoc(relay, rev3, 'rev3');

    assert.match((await before.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.match((await before.cmd('RCPT TO:<someone@example.org>')) ?? '', /^250 2\.1\.5/);
    const id = await send(before);
    const e = (await envelopes(relay)).find((m) => m.id === id);
    assert.deepEqual([e?.revision, e?.relayed], [2, true]);

    const after = await RawClient.connect(ports.mx, CLIENT);
    assert.equal(await after.reply(), '554 5.7.1 Access denied');
    assert.equal(await after.closedByServer(), true);
    const last = connects(relay, CLIENT).at(-1);
    assert.deepEqual([last?.revision, last?.action, last?.rule], [3, 'reject', 'rule 1']);
    // The relay host of every revision is untouched.
    const local = await open(ports.mx, '127.0.0.1');
    const lastLocal = connects(relay, '127.0.0.1').at(-1);
    assert.equal(lastLocal?.revision, 3);
    local.end();
  });

  await t.test('a user added: unknown on a session opened before the import, logs in on a new one', async () => {
    const before = await RawClient.connectTls(ports.smtps, AUTH_CLIENT);
    assert.match((await before.reply()) ?? '', /^220 /);
    await before.cmd('EHLO client.example');
    await importDoc(relay, rev4, 'rev4');
    assert.equal(await before.cmd(`AUTH PLAIN ${plain('erin', ERIN)}`), '535 5.7.8 Authentication credentials invalid');
    before.end();

    const after = await RawClient.connectTls(ports.smtps, AUTH_CLIENT);
    assert.match((await after.reply()) ?? '', /^220 /);
    await after.cmd('EHLO client.example');
    assert.equal(await after.cmd(`AUTH PLAIN ${plain('erin', ERIN)}`), '235 2.7.0 Authentication successful');
    assert.match((await after.cmd('MAIL FROM:<erin@example.net>')) ?? '', /^250 /);
    assert.match((await after.cmd('RCPT TO:<someone@example.org>')) ?? '', /^250 2\.1\.5/);
    assert.match((await after.cmd('DATA')) ?? '', /^354/);
    const id = queuedId((await after.cmd('Subject: erin\r\n\r\nhi\r\n.')) ?? '');
    after.end();
    const e = (await envelopes(relay)).find((m) => m.id === id);
    assert.deepEqual([e?.revision, e?.client.user, e?.recipients[0]?.kind], [4, 'erin', 'relay']);
    assert.deepEqual(connects(relay, AUTH_CLIENT).map((l) => l.revision), [3, 4]);
  });

  await t.test('the daemon never restarted', async () => {
    assert.equal(relay.logs.filter((l) => l.event === 'started').length, 1);
    assert.equal(relay.child.exitCode, null);
  });
});
