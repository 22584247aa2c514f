// A throw inside one delivery must not end the daemon (issue #13): the queue
// manager runs in this process with a real queue store and a real next hop (sink),
// and a route resolver that throws for one destination (the seam
// ManagerDeps.resolve). An unhandled rejection would end the daemon; here it
// is caught by a process listener and fails the test. The broken
// destination's message is deferred with a log line, and the other mail is
// delivered. Waits are on log lines and sink messages, never sleeps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedDefaults } from '../../src/config/document.ts';
import { compileSnapshot } from '../../src/config/snapshot.ts';
import { resolveTargets } from '../../src/delivery/routes.ts';
import type { LogFields, Logger } from '../../src/log/logger.ts';
import type { Envelope } from '../../src/queue/envelope.ts';
import { QueueManager } from '../../src/queue/manager.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import { FileQueueStore } from '../../src/queue/file-queue-store.ts';
import { startSink } from './sink.ts';

type Line = { event: string; fields: LogFields };

/** A logger whose lines can be waited for. */
function waitableLogger(): Logger & { lines: Line[]; wait(pred: (l: Line) => boolean, timeoutMs?: number): Promise<Line> } {
  const lines: Line[] = [];
  const waiters = new Set<() => void>();
  return {
    lines,
    log(event, fields = {}) {
      lines.push({ event, fields });
      for (const w of [...waiters]) w();
    },
    wait(pred, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = lines.find(pred);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no such log line within ${timeoutMs} ms; have: ${lines.map((l) => l.event).join(', ')}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

async function queueMessage(store: FileQueueStore, to: string): Promise<Envelope> {
  const id = newQueueId();
  const w = store.begin(id);
  await w.write(Buffer.from(`From: <s@sender.example>\r\nTo: <${to}>\r\nSubject: to ${to}\r\n\r\nhello\r\n`));
  const { envelope } = await w.commit({
    version: 1,
    received_at: new Date().toISOString(),
    sender: 's@sender.example',
    recipients: [{ address: to, kind: 'relay', rule: 'test', status: 'queued' }],
    client: { address: '127.0.0.1', helo: 'client.example', user: null, tls: false, listener: 'mx' },
    relayed: true,
    revision: 1,
    body: '7bit',
    smtputf8: false,
  });
  return envelope;
}

test('a delivery that throws is deferred with a log line; the process lives on and other mail is delivered', async (t) => {
  // In the daemon an unhandled rejection ends the process; here it fails the test at once.
  const unhandled: unknown[] = [];
  let crashed: (reason: unknown) => void = () => {};
  const crash = new Promise<never>((_, reject) => (crashed = reject));
  crash.catch(() => {});
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
    crashed(new Error(`unhandled rejection (the daemon would have ended): ${String(reason)}`));
  };
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  const until = <T>(p: Promise<T>): Promise<T> => Promise.race([p, crash]);

  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-fault-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const hop = await startSink({ address: '127.0.0.52' });
  t.after(() => hop.close());

  const settings = embeddedDefaults();
  settings.delivery.enabled = true;
  settings.domains = [
    { name: 'good.example', route: { hosts: [`127.0.0.52:${hop.port}`] } },
    { name: 'broken.example', route: { hosts: [`127.0.0.52:${hop.port}`] } },
  ];
  const snapshot = compileSnapshot(settings, 1);
  const logger = waitableLogger();
  const store = new FileQueueStore(dir, logger);
  await store.open();
  t.after(() => store.close());
  const manager = new QueueManager({
    store,
    snapshot: () => snapshot,
    logger,
    deliver: true,
    resolve: (plan, ...rest) => {
      if (plan.key === 'route:broken.example') throw new TypeError('a bug in the route resolver');
      return resolveTargets(plan, ...rest);
    },
  });
  t.after(() => manager.stop(1000));
  manager.load();

  // Committed without a claim: the store announces them and the scheduler claims them.
  const broken = await queueMessage(store, 'x@broken.example');
  const good = await queueMessage(store, 'y@good.example');

  const fault = await until(logger.wait((l) => l.event === 'delivery.error'));
  assert.equal(fault.fields.destination, 'route:broken.example');
  assert.match(String(fault.fields.error), /a bug in the route resolver/);
  assert.deepEqual(fault.fields.ids, [broken.id]);
  const deferred = await until(logger.wait((l) => l.event === 'delivery' && l.fields.id === broken.id));
  assert.equal(deferred.fields.status, 'deferred', 'the faulty delivery is deferred, not lost or bounced');
  assert.equal(deferred.fields.dsn, '4.3.0');
  assert.equal(typeof deferred.fields.next_attempt, 'string', 'and retried later');

  const delivered = await until(logger.wait((l) => l.event === 'delivery' && l.fields.id === good.id));
  assert.equal(delivered.fields.status, 'delivered', 'other mail goes on');
  const [m] = await hop.waitFor(1);
  assert.deepEqual(m?.to, ['y@good.example']);

  // The deferral is on disk once the worker has ended (stop() waits for it): queued, with its next attempt.
  await manager.stop(5000);
  const onDisk = await store.read(broken.id);
  assert.equal(onDisk?.recipients[0]?.status, 'deferred', 'the broken message is still in the queue, deferred');
  assert.match(onDisk?.recipients[0]?.last_error ?? '', /internal error while delivering: a bug in the route resolver/);
  assert.deepEqual(unhandled, [], 'no unhandled rejection (it would end the daemon)');
});
