// A message that cannot be read because the queue store's database was lost
// mid-read (a failover) is no delivery attempt, even when the store is back
// by the time the courier asks (the clean-clone run's failover test caught
// one such read counted as an attempt and retried 5 minutes later). The real
// courier and queue manager, a real next hop; the store is the file store,
// whose body() fails once with the error a lost PostgreSQL connection gives,
// and which, like the cluster store, says which errors are outages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedDefaults } from '../../src/config/document.ts';
import { compileSnapshot } from '../../src/config/snapshot.ts';
import type { LogFields, Logger } from '../../src/log/logger.ts';
import { QueueManager } from '../../src/queue/manager.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import { FileQueueStore } from '../../src/queue/file-queue-store.ts';
import { isUnreachable } from '../../src/store/pg/errors.ts';
import { startSink } from './sink.ts';
import { conditions } from '../support/conditions.ts';

/** The file store, with body() failing once as a lost database connection fails it. */
class FailingOnce extends FileQueueStore {
  failures = 0;
  outageAware = true;
  override async body(id: string) {
    if (this.failures++ === 0) throw Object.assign(new Error('write CONNECTION_CLOSED 127.0.0.1:5432'), { code: 'CONNECTION_CLOSED' });
    return super.body(id);
  }
  isOutage(err: unknown): boolean {
    return this.outageAware && isUnreachable(err);
  }
}

async function run(t: { after: (fn: () => unknown) => void }, outageAware: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-outage-read-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const hop = await startSink({ address: '127.0.0.53' });
  t.after(() => hop.close());
  const settings = embeddedDefaults();
  settings.delivery.enabled = true;
  settings.domains = [{ name: 'good.example', route: { hosts: [`127.0.0.53:${hop.port}`] } }];
  const snapshot = compileSnapshot(settings, 1);
  const lines: { event: string; fields: LogFields }[] = [];
  const cond = conditions('store-outage-read');
  const logger: Logger = { log: (event, fields = {}) => void (lines.push({ event, fields }), cond.changed()) };
  const store = new FailingOnce(dir, logger);
  store.outageAware = outageAware;
  await store.open();
  t.after(() => store.close());
  const manager = new QueueManager({ store, snapshot: () => snapshot, logger, deliver: true });
  t.after(() => manager.stop(1000));
  manager.load();
  const id = newQueueId();
  const w = store.begin(id);
  await w.write(Buffer.from('From: <s@sender.example>\r\nTo: <y@good.example>\r\nSubject: t\r\n\r\nhello\r\n'));
  await w.commit({ version: 1, received_at: new Date().toISOString(), sender: 's@sender.example', recipients: [{ address: 'y@good.example', kind: 'relay', rule: 'test', status: 'queued' }], client: { address: '127.0.0.1', helo: 'c.example', user: null, tls: false, listener: 'mx' }, relayed: true, revision: 1, body: '7bit', smtputf8: false });
  return { id, hop, lines, cond, manager, store };
}

test('a read lost to a database outage is not an attempt: the message is taken again at once and delivered', async (t) => {
  const { id, hop, lines, cond, store } = await run(t, true);
  const [m] = await hop.waitFor(1);
  await cond.waitFor(() => lines.some((l) => l.event === 'delivery' && l.fields.id === id), 'the delivery line', 10_000);
  assert.deepEqual(m?.to, ['y@good.example']);
  assert.equal(store.failures, 2, 'read twice: the lost read, then the one that was sent');
  assert.ok(lines.some((l) => l.event === 'queue.error' && l.fields.id === id && String(l.fields.error).startsWith('not attempted: cannot read the spooled message')));
  const deliveries = lines.filter((l) => l.event === 'delivery' && l.fields.id === id);
  assert.deepEqual(deliveries.map((l) => l.fields.status), ['delivered'], 'no deferred attempt recorded');
});

test('the same error from a store that does not call it an outage is an attempt, deferred to a later retry', async (t) => {
  const { id, lines, cond } = await run(t, false);
  await cond.waitFor(() => lines.some((l) => l.event === 'delivery' && l.fields.id === id), 'the delivery line', 10_000);
  const d = lines.find((l) => l.event === 'delivery' && l.fields.id === id);
  assert.equal(d?.fields.status, 'deferred');
  assert.equal(typeof d?.fields.next_attempt, 'string');
});
