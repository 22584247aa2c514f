import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, RawClient, relayDoc, startRelay } from '../smtp/harness.ts';
import { startSink } from './sink.ts';

test('local route: first host refuses connections, second takes the message', async (t) => {
  const sink = await startSink({ address: '127.0.0.22' });
  t.after(() => sink.close());
  const dead = await freePort();
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'example.com', route: { hosts: [`127.0.0.21:${dead}`, `127.0.0.22:${sink.port}`] } }],
    delivery: { enabled: true },
  });
  const relay = await startRelay(t, doc, ports);
  const c = await RawClient.connect(ports.mx);
  await c.reply();
  await c.cmd('EHLO client.example');
  assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250/);
  assert.match((await c.cmd('RCPT TO:<bob@example.com>')) ?? '', /^250/);
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  const ok = (await c.cmd('Subject: hi\r\n\r\nhello\r\n.')) ?? '';
  assert.match(ok, /^250 /);
  c.end();
  const [m] = await sink.waitFor(1);
  assert.deepEqual(m?.to, ['bob@example.com']);
  const line = await relay.waitLog((l) => l.event === 'queue.removed');
  assert.equal(line.id, ok.slice(-16));
});
