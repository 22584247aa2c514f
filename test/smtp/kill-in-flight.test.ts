// SIGKILL with many messages in flight, one file per message: some messages
// acknowledged (and kept in the queue: the next hop defers them until the
// kill), some cut off mid-DATA (small ones still in memory, large ones with
// data already in their queue/<id>.msg), some whose final dot was sent just
// before the kill. After the restart the queue drains to the next hop, and
// every acknowledged message arrives byte for byte, while nothing cut off
// mid-DATA ever arrives, whole or truncated.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync, watch } from 'node:fs';
import { join } from 'node:path';
import { queuedIds, RawClient, relayDoc, restartRelay, startRelay, type Relay } from './harness.ts';
import { startSink } from '../delivery/sink.ts';
import { conditions } from '../support/conditions.ts';

const ACKED = 30;
const CUT = 30;
const RACING = 10;

function message(marker: string, big: boolean): { content: Buffer; wire: Buffer } {
  const lines = [`Subject: in flight ${marker}`, `X-Marker: ${marker}`, '', `Body of ${marker}.`, '.dotted'];
  for (let i = 0; i < (big ? 1500 : 5); i++) lines.push(`${marker} line ${i} ${'abcdefghij'.repeat(8)}`);
  lines.push(`end of ${marker}`);
  const text = lines.join('\r\n') + '\r\n';
  const stuffed = lines.map((l) => (l.startsWith('.') ? '.' + l : l)).join('\r\n') + '\r\n.\r\n';
  return { content: Buffer.from(text, 'latin1'), wire: Buffer.from(stuffed, 'latin1') };
}

async function upToData(c: RawClient, n: number): Promise<void> {
  assert.match((await c.reply()) ?? '', /^220 /);
  assert.match((await c.cmd(`EHLO c${n}.kill.test`)) ?? '', /^250[ -]/);
  assert.match((await c.cmd(`MAIL FROM:<s${n}@example.com>`)) ?? '', /^250 /);
  assert.match((await c.cmd(`RCPT TO:<r${n}@example.com>`)) ?? '', /^250 /);
  assert.match((await c.cmd('DATA')) ?? '', /^354 /);
}

test('SIGKILL with messages acknowledged, mid-DATA and at their final dot: every acknowledged one is delivered, no cut one ever', { timeout: 90_000 }, async (t) => {
  const { changed, waitFor } = conditions('kill in flight');
  let accepting = false;
  const sink = await startSink({
    address: '127.0.0.22',
    behaviour: {
      data: () => {
        setImmediate(changed); // after the sink has recorded it
        return accepting ? undefined : { code: 451, text: '4.3.0 not yet' };
      },
    },
  });
  t.after(() => sink.close());
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'example.com', route: { hosts: [`127.0.0.22:${sink.port}`] } }],
    delivery: { enabled: true },
    queue: { retry: { first: '1s', max: '1s' } },
  });
  let relay: Relay = await startRelay(t, doc, ports);
  const queueDir = join(relay.dataDir, 'spool', 'queue');
  const sent = new Map<string, Buffer>();
  // The waits below look at queue/: every change there wakes them.
  const watcher = watch(queueDir, () => changed());
  t.after(() => watcher.close());

  // Acknowledged before the kill (the next hop defers them: they wait in the queue, with a later envelope beside them).
  const acked = new Set<string>();
  await Promise.all(
    Array.from({ length: ACKED }, async (_, i) => {
      const marker = `acked-${i}`;
      const m = message(marker, i % 3 === 0);
      sent.set(marker, m.content);
      const c = await RawClient.connect(ports.mx);
      await upToData(c, i);
      c.write(m.wire);
      assert.match((await c.reply()) ?? '', /^250 2\.0\.0 Ok: queued as [0-9a-z]{16}$/);
      acked.add(marker);
      c.end();
    }),
  );
  await waitFor(() => sink.events.filter((e) => e.command === 'DATA' && e.code === 451).length >= ACKED, 'a deferral of each acknowledged message', 30_000);

  // Cut off mid-DATA: every message without its final dot; the large ones reach their files.
  const cut = await Promise.all(
    Array.from({ length: CUT }, async (_, i) => {
      const marker = `cut-${i}`;
      const m = message(marker, i % 2 === 0);
      sent.set(marker, m.content);
      const c = await RawClient.connect(ports.mx);
      await upToData(c, 100 + i);
      c.write(m.wire.subarray(0, m.wire.length - 3 - (i % 7))); // never the final ".\r\n", sometimes less
      return { c, big: i % 2 === 0 };
    }),
  );
  const partials = (): number =>
    readdirSync(queueDir).filter((n) => {
      try {
        return n.endsWith('.msg') && statSync(join(queueDir, n)).size > 64 * 1024 && !queuedIds(relay).includes(n.slice(0, 16));
      } catch {
        return false;
      }
    }).length;
  const bigCut = cut.filter((x) => x.big).length;
  await waitFor(() => partials() >= bigCut, `${bigCut} large partial messages in queue/`, 30_000);

  // Racing the kill: the final dot sent, the kill right after; a 250 that gets out counts as acknowledged.
  const racing = await Promise.all(
    Array.from({ length: RACING }, async (_, i) => {
      const marker = `racing-${i}`;
      const m = message(marker, i % 2 === 1);
      sent.set(marker, m.content);
      const c = await RawClient.connect(ports.mx);
      await upToData(c, 200 + i);
      return { c, m, marker };
    }),
  );
  const racingReplies = racing.map(({ c, m, marker }) => {
    c.write(m.wire);
    return c.reply().then((r) => {
      if (r && /^250 /.test(r)) acked.add(marker);
      changed();
    });
  });
  await relay.kill();
  assert.equal(relay.child.signalCode, 'SIGKILL');
  await Promise.all(racingReplies);
  for (const x of [...cut, ...racing]) x.c.end();
  t.diagnostic(`acknowledged before the kill: ${acked.size - ACKED} of ${RACING} racing, ${ACKED} earlier`);

  // Restart: the next hop now accepts; the queue drains.
  accepting = true;
  relay = await restartRelay(t, relay.dataDir, ports);
  assert.deepEqual(relay.logs.filter((l) => l.event === 'spool.corrupt'), [], 'nothing unreadable after the kill');
  const removed = relay.logs.filter((l) => l.event === 'spool.orphan_removed').length;
  assert.ok(removed >= bigCut, `the partial files were removed at start (${removed})`);
  const delivered = (): Set<string> => new Set(sink.messages.map((m) => /^X-Marker: (\S+)\r$/m.exec(m.raw.toString('latin1'))?.[1] ?? '?'));
  await waitFor(() => [...acked].every((m) => delivered().has(m)) && queuedIds(relay).length === 0, 'every acknowledged message delivered and the queue empty', 40_000);

  for (const m of sink.messages) {
    const raw = m.raw.toString('latin1');
    const marker = /^X-Marker: (\S+)\r$/m.exec(raw)?.[1] ?? '?';
    assert.ok(!marker.startsWith('cut-'), `${marker} was never completed by its client but was delivered`);
    const want = sent.get(marker);
    assert.ok(want, `unknown message delivered: ${raw.slice(0, 200)}`);
    const body = m.raw.subarray(m.raw.indexOf('\r\nSubject: ') + 2);
    assert.ok(body.equals(want), `${marker} arrived different from what was sent (${body.length} of ${want.length} octets)`);
  }
  for (const marker of acked) assert.ok(delivered().has(marker), `${marker} was acknowledged but never delivered`);
  assert.equal(await relay.stop(), 0);
});
