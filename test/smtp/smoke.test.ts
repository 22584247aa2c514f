// The daemon starts, relays for a relay host, refuses a stranger, and stops
// with exit status 0 on SIGTERM.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, relayDoc, startRelay } from './harness.ts';

test('relay host relays, stranger is refused, SIGTERM exits 0', async (t) => {
  const { doc, ports } = await relayDoc();
  const relay = await startRelay(t, doc, ports);
  const c = await RawClient.connect(ports.mx);
  assert.match((await c.reply()) ?? '', /^220 mx\.test\.example ESMTP/);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250-/);
  assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 2\.1\.0/);
  assert.match((await c.cmd('RCPT TO:<b@example.org>')) ?? '', /^250 2\.1\.5/);
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  const queued = (await c.cmd('Subject: hi\r\n\r\nhello\r\n.')) ?? '';
  assert.match(queued, /^250 2\.0\.0 Ok: queued as [0-9a-z]{16}$/);
  await c.cmd('QUIT');

  const s = await RawClient.connect(ports.mx, '127.0.0.2');
  await s.reply();
  await s.cmd('EHLO stranger.example');
  await s.cmd('MAIL FROM:<a@example.net>');
  assert.equal(await s.cmd('RCPT TO:<b@example.org>'), '554 5.7.1 Relaying denied');
  s.end();

  assert.equal(await relay.stop(), 0);
  const q = relay.logs.find((l) => l.event === 'queued');
  assert.ok(q && typeof q.id === 'string' && queued.endsWith(q.id));
  // Session ids (patched in src/smtp/smtp-server-patches.ts): the library's form, one per connection.
  const cids = relay.logs.filter((l) => l.event === 'connect').map((l) => l.cid);
  assert.equal(cids.length, 2);
  for (const cid of cids) assert.match(String(cid), /^[0-9a-v]{16}$/);
  assert.notEqual(cids[0], cids[1]);
});
