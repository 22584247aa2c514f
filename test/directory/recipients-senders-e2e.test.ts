// The directory behind the other two parts of issue #18, on the wire: the
// real daemon and the real slapd (StartTLS, test CA). Recipient verification
// by directory (a local domain's recipients are the directory's mail
// attributes: known ones 250, unknown 550 5.1.1 at RCPT, slapd away 451 4.4.3
// for an address not in the cache, the cache answering for one that is), and
// senders bound to a directory user's login (its mail attributes are the
// addresses it may send as).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, relayDoc, startRelay } from '../smtp/harness.ts';
import { BASE_DN, PEOPLE, READER_DN, READER_PASSWORD, slapdMissing, startSlapd } from '../support/slapd.ts';

const skip = slapdMissing();
const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

function settings(slapdUrl: string, caFile: string) {
  return {
    directories: [{ name: 'corp', url: slapdUrl, ca: caFile, base_dn: BASE_DN, bind_dn: READER_DN, bind_password: READER_PASSWORD, cache: '5m' }],
    domains: [{ name: 'example.test', route: { hosts: ['127.0.0.1:9'] }, verify_recipients: 'directory', directory: 'corp' }],
    relaying: {
      allowed_hosts: [],
      authenticated_relay: { enabled: true, groups: ['corp:relay-users'] },
      sender_login: 'address',
    },
    limits: { auth_failure_delay: '0s', max_auth_failures: 100, max_errors: 100 },
  };
}

/** A client from outside on the MX listener, up to MAIL FROM. */
async function inbound(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port, '127.0.0.9');
  await c.reply();
  await c.cmd('EHLO outside.example');
  assert.match((await c.cmd('MAIL FROM:<someone@example.org>')) ?? '', /^250 /);
  return c;
}

test('directory recipients and directory senders on the wire', { skip }, async (t) => {
  const slapd = await startSlapd(t);
  const { doc, ports } = await relayDoc(settings(slapd.url, slapd.caFile));
  const relay = await startRelay(t, doc, ports);

  await t.test('recipients of a local domain are the directory mail attributes: known 250, unknown 550 5.1.1 at RCPT', async () => {
    const c = await inbound(ports.mx);
    assert.match((await c.cmd('RCPT TO:<alice@example.test>')) ?? '', /^250 /);
    // alice's second mail attribute is an address of hers too.
    assert.match((await c.cmd('RCPT TO:<A.Smith@example.test>')) ?? '', /^250 /);
    const unknown = (await c.cmd('RCPT TO:<nobody-here@example.test>')) ?? '';
    assert.match(unknown, /^550 5\.1\.1 /);
    // The reply names neither the directory nor its address.
    assert.doesNotMatch(unknown, /corp|ldap|127\.0\.0\.1|dc=/i);
    c.end();
    const line = await relay.waitLog((l) => l.event === 'rcpt' && l.recipient === 'nobody-here@example.test');
    assert.equal(line.action, 'reject');
  });

  await t.test('slapd away: an address the cache does not know gets 451 4.4.3; one it knows is still answered', async () => {
    await slapd.stop();
    try {
      const c = await inbound(ports.mx);
      assert.match((await c.cmd('RCPT TO:<never-asked@example.test>')) ?? '', /^451 4\.4\.3 /);
      assert.match((await c.cmd('RCPT TO:<alice@example.test>')) ?? '', /^250 /);
      assert.match((await c.cmd('RCPT TO:<nobody-here@example.test>')) ?? '', /^550 5\.1\.1 /);
      c.end();
    } finally {
      await slapd.start();
    }
  });

  await t.test('a directory user may send as its own mail attributes only: others 553 5.7.1 naming the login; <> allowed', async () => {
    const c = await RawClient.connect(ports.submission, '127.0.0.5');
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.starttls();
    await c.cmd('EHLO client.example');
    assert.equal(await c.cmd(`AUTH PLAIN ${plain('alice', PEOPLE.alice.password)}`), '235 2.7.0 Authentication successful');
    assert.match((await c.cmd('MAIL FROM:<a.smith@example.test>')) ?? '', /^250 /);
    assert.match((await c.cmd('RSET')) ?? '', /^250 /);
    assert.equal(await c.cmd('MAIL FROM:<bob@example.test>'), '553 5.7.1 Sender address not owned by user alice');
    assert.match((await c.cmd('MAIL FROM:<>')) ?? '', /^250 /);
    c.end();
  });
});
