// Directory users on the wire: the real daemon (bin/mailwarden start) and the
// real slapd over StartTLS with a test CA. A user in the allowed directory
// group (directly or through a nested group) relays, and the sink receives
// the message; a user of another group and a wrong password get 535; with
// slapd stopped AUTH gets 454 4.7.0 and nothing is relayed, while a local
// user still logs in; slapd back, directory users log in again. And
// `policy explain --user` shows what the directory says.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { RawClient, relayDoc, runCli, startRelay, queuedId, queuedIds, swaks, swaksMissing, tempDataDir } from '../smtp/harness.ts';
import { startSink } from '../delivery/sink.ts';
import { BASE_DN, PEOPLE, READER_DN, READER_PASSWORD, slapdMissing, startSlapd } from '../support/slapd.ts';

const skip = slapdMissing() || swaksMissing();
const LOCAL_PASSWORD = 'Local-pw-8c1f2';
const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

function settings(slapdUrl: string, caFile: string, sinkPort: number) {
  return {
    users: [{ name: 'local', password: LOCAL_PASSWORD, groups: [] }],
    directories: [{ name: 'corp', url: slapdUrl, ca: caFile, base_dn: BASE_DN, bind_dn: READER_DN, bind_password: READER_PASSWORD }],
    relaying: {
      // No relay host: only a login relays.
      allowed_hosts: [],
      authenticated_relay: { enabled: true, users: ['local'], groups: ['corp:relay-users'] },
    },
    delivery: { enabled: true, smarthost: { host: '127.0.0.1', port: sinkPort, tls: 'opportunistic' } },
    limits: { auth_failure_delay: '0s', max_auth_failures: 100 },
  };
}

/** AUTH PLAIN on submission after STARTTLS; the reply. */
async function auth(port: number, user: string, password: string): Promise<{ c: RawClient; reply: string }> {
  const c = await RawClient.connect(port, '127.0.0.5');
  await c.reply();
  await c.cmd('EHLO client.example');
  await c.starttls();
  await c.cmd('EHLO client.example');
  return { c, reply: (await c.cmd(`AUTH PLAIN ${plain(user, password)}`)) ?? '(closed)' };
}

test('directory users on the wire', { skip }, async (t) => {
  const slapd = await startSlapd(t);
  const sink = await startSink();
  t.after(() => sink.close());
  const { doc, ports } = await relayDoc(settings(slapd.url, slapd.caFile, sink.port));
  const relay = await startRelay(t, doc, ports);

  await t.test('a user in the allowed group relays (swaks, STARTTLS); the sink receives it', async () => {
    const r = await swaks(['--server', '127.0.0.1', '--port', String(ports.submission), '--local-interface', '127.0.0.5', '--tls', '--ehlo', 'client.example', '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', PEOPLE.alice.password, '--from', 'alice@example.test', '--to', 'someone@example.org', '--header', 'Subject: from alice']);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /<~ +235 2\.7\.0 Authentication successful/);
    const id = queuedId(r.out);
    const [m] = await sink.waitFor(1);
    assert.deepEqual(m?.to, ['someone@example.org']);
    const line = await relay.waitLog((l) => l.event === 'auth' && l.user === 'alice');
    assert.equal(line.action, 'accept');
    assert.equal(line.directory, 'corp');
    assert.ok(id);
  });

  await t.test('a user in a nested group of the allowed one relays too', async () => {
    const { c, reply } = await auth(ports.submission, 'carol', PEOPLE.carol.password);
    assert.equal(reply, '235 2.7.0 Authentication successful');
    assert.match((await c.cmd('MAIL FROM:<carol@example.test>')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<other@example.org>')) ?? '', /^250 /);
    assert.match((await c.cmd('DATA')) ?? '', /^354/);
    assert.match((await c.cmd('Subject: from carol\r\n\r\nhi\r\n.')) ?? '', /^250 /);
    c.end();
    const got = await sink.waitFor(2);
    assert.deepEqual(got[1]?.to, ['other@example.org']);
  });

  await t.test('a user of another group: 535; a wrong password: 535; an unknown login: 535', async () => {
    for (const [user, pass] of [['bob', PEOPLE.bob.password], ['alice', 'wrong-password'], ['nobody', 'whatever'], ['*)(uid=*', PEOPLE.alice.password]] as const) {
      const { c, reply } = await auth(ports.submission, user, pass);
      assert.match(reply, /^535 5\.7\.8 /, `${user}: ${reply}`);
      c.end();
    }
    const bob = await relay.waitLog((l) => l.event === 'auth' && l.user === 'bob');
    assert.equal(bob.action, 'reject');
    assert.match(String(bob.reason), /neither the user nor any of its groups/);
  });

  await t.test('slapd stopped: AUTH gets 454 4.7.0, nothing is relayed; a local user still logs in and relays', async () => {
    const queuedBefore = queuedIds(relay).length;
    const delivered = sink.messages.length;
    await slapd.stop();
    const { c, reply } = await auth(ports.submission, 'alice', PEOPLE.alice.password);
    assert.equal(reply, '454 4.7.0 Temporary authentication failure');
    // Not logged in: submission refuses MAIL, so nothing can be relayed in this session.
    assert.match((await c.cmd('MAIL FROM:<alice@example.test>')) ?? '', /^530 5\.7\.0 /);
    c.end();
    const line = await relay.waitLog((l) => l.event === 'auth' && l.user === 'alice' && l.action === 'tempfail');
    assert.match(String(line.reason), /^directory "corp": /);
    const r = await swaks(['--server', '127.0.0.1', '--port', String(ports.submission), '--local-interface', '127.0.0.5', '--tls', '--ehlo', 'client.example', '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', PEOPLE.alice.password, '--from', 'alice@example.test', '--to', 'someone@example.org']);
    assert.notEqual(r.status, 0);
    assert.match(r.out, /<~\*? +454 4\.7\.0 Temporary authentication failure/);
    assert.equal(queuedIds(relay).length, queuedBefore);

    const local = await auth(ports.submission, 'local', LOCAL_PASSWORD);
    assert.equal(local.reply, '235 2.7.0 Authentication successful');
    assert.match((await local.c.cmd('MAIL FROM:<local@example.test>')) ?? '', /^250 /);
    assert.match((await local.c.cmd('RCPT TO:<third@example.org>')) ?? '', /^250 /);
    assert.match((await local.c.cmd('DATA')) ?? '', /^354/);
    assert.match((await local.c.cmd('Subject: local\r\n\r\nhi\r\n.')) ?? '', /^250 /);
    local.c.end();
    const got = await sink.waitFor(delivered + 1);
    assert.deepEqual(got.map((m) => m.to[0]), ['someone@example.org', 'other@example.org', 'third@example.org']);
  });

  await t.test('slapd back: the directory user logs in again (a new connection, no restart)', async () => {
    await slapd.start();
    const { c, reply } = await auth(ports.submission, 'alice', PEOPLE.alice.password);
    assert.equal(reply, '235 2.7.0 Authentication successful');
    c.end();
  });

  await t.test('policy explain --user shows the directory groups and decides with them', async () => {
    const dir = tempDataDir(t);
    const file = join(dir, 'settings.yaml');
    writeFileSync(file, stringify({ ...doc, listeners: [{ name: 'submission', address: '127.0.0.1', port: 0, mode: 'submission' }] }));
    const carol = await runCli(['policy', 'explain', '--config', file, '--client', '127.0.0.5', '--user', 'carol', '--from', 'carol@example.test', '--to', 'x@example.org']);
    assert.equal(carol.status, 0, carol.stderr + carol.stdout);
    assert.match(carol.stdout, /^accept: 250 /);
    assert.match(carol.stdout, /user "carol" found in directory "corp": groups "corp:devs", "corp:relay-users"|user "carol" found in directory "corp": groups "corp:relay-users", "corp:devs"/);
    assert.match(carol.stdout, /member of group "corp:relay-users" named in relaying\.authenticated_relay\.groups/);
    const bob = await runCli(['policy', 'explain', '--config', file, '--client', '127.0.0.5', '--user', 'bob', '--to', 'x@example.org', '--json']);
    assert.equal(bob.status, 1, bob.stderr);
    const j = JSON.parse(bob.stdout) as { action: string; trail: string[] };
    assert.equal(j.action, 'reject');
    assert.match(j.trail.join('\n'), /user "bob" found in directory "corp": groups "corp:others"; addresses bob@example\.test/);
    const nobody = await runCli(['policy', 'explain', '--config', file, '--client', '127.0.0.5', '--user', 'nobody', '--to', 'x@example.org']);
    assert.equal(nobody.status, 1);
    assert.match(nobody.stdout, /user "nobody" is neither a local user nor found in the directories \("corp"\)/);
    await slapd.stop();
    try {
      const down = await runCli(['policy', 'explain', '--config', file, '--client', '127.0.0.5', '--user', 'carol', '--to', 'x@example.org']);
      assert.equal(down.status, 1);
      assert.match(down.stderr, /directory "corp": .*: the user cannot be looked up \(AUTH would answer 454 4\.7\.0\)/);
    } finally {
      await slapd.start();
    }
  });
});
