// The digest in a cluster: two nodes (each its own connection pool, queue
// store and scheduler) on one PostgreSQL. When a slot comes, both schedulers
// fire it at the same moment and exactly one digest per recipient is queued
// (the slot row inserted ON CONFLICT DO NOTHING decides); the next slot sends
// again. Also: the digest lists only local recipients, every message still
// quarantined for them, at most DIGEST_MAX with the rest counted; the links
// signed with the store's one secret verify on the other node.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectPg, type Sql } from '../../src/store/pg/connect.ts';
import { migrate } from '../../src/store/pg/schema.ts';
import { PgQueueStore } from '../../src/store/pg/queue-store.ts';
import { PgQuarantineStateStore } from '../../src/store/pg/quarantine-state-store.ts';
import { compileSnapshot } from '../../src/config/snapshot.ts';
import { validate } from '../../src/config/validate.ts';
import { embeddedDefaults } from '../../src/config/document.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import type { QueueStore } from '../../src/queue/queue-store.ts';
import { DigestSender } from '../../src/quarantine/digest-sender.ts';
import { DigestScheduler } from '../../src/quarantine/digest-scheduler.ts';
import { DIGEST_MAX } from '../../src/quarantine/digest-compose.ts';
import { LinkSigner } from '../../src/quarantine/link-token.ts';
import { postgresMissing, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { envelopeFields } from '../support/envelope.ts';

const missing = postgresMissing();
let server: TestPostgres | null = null;
before(async () => {
  if (!missing) server = await startPostgres();
});
after(async () => {
  await server?.destroy();
});

function snapshot() {
  const base = embeddedDefaults() as unknown as Record<string, unknown>;
  const v = validate({
    ...base,
    admin: { ...(base.admin as object), enabled: true },
    domains: [{ name: 'example.com', route: { hosts: ['127.0.0.1:25'] } }],
    quarantine: { digest: { enabled: true, schedule: 'hourly', base_url: 'https://mail.example.com:8443', link_lifetime: '2d' } },
  });
  assert.deepEqual(v.errors, []);
  return compileSnapshot(v.settings, 1, v.networks);
}

async function quarantine(store: QueueStore, recipients: string[], at: number, subject = 'offer'): Promise<string> {
  const id = newQueueId(at);
  const w = store.begin(id);
  await w.write(Buffer.from(`From: <x@outside.example>\r\nSubject: ${subject}\r\n\r\nbuy\r\n`));
  await w.commit(envelopeFields({ recipients: recipients.map((address) => ({ address, kind: 'inbound' as const, rule: 'rule 5', status: 'queued' as const })), relayed: false, quarantine: { at: new Date(at).toISOString(), rule: 'antispam.spam_action', reason: 'spam score 9' } }), { area: 'quarantine' });
  return id;
}

describe('the digest on a two-node cluster', { skip: missing ?? false }, () => {
  test('each slot is sent by one node: one digest per local recipient', async () => {
    assert.ok(server);
    const url = await server.createDatabase();
    const pools: Sql[] = [];
    const stores: PgQueueStore[] = [];
    try {
      let clock = new Date(2026, 11, 5, 7, 59, 30).getTime();
      const snap = snapshot();
      const node = async (name: string) => {
        const sql = connectPg(url, { connectTimeout: 3, queryTimeout: 10 });
        pools.push(sql);
        await migrate(sql);
        const queue = new PgQueueStore(sql);
        await queue.open();
        stores.push(queue);
        const state = new PgQuarantineStateStore(sql);
        const logger = memoryLogger();
        const signer = async () => new LinkSigner(await state.signingSecret());
        const sender = new DigestSender({ store: queue, snapshot: () => snap, signer, logger, now: () => clock });
        const scheduler = new DigestScheduler({ state: () => state, sender, settings: () => snap.settings.quarantine, node: name, logger, now: () => clock });
        return { queue, scheduler, logger, signer, name };
      };
      const [a, b] = await Promise.all([node('node-a'), node('node-b')]);
      assert.ok(a && b);
      await quarantine(a.queue, ['Alice@Example.com', 'bob@example.com', 'stranger@elsewhere.example'], clock - 60_000, 'first');
      for (let i = 0; i < DIGEST_MAX + 3; i++) await quarantine(b.queue, ['alice@example.com'], clock - 50_000 + i, `bulk ${i}`);

      // The first tick plans the next slot (08:00); nothing is sent before it.
      await Promise.all([a.scheduler.tick(), b.scheduler.tick()]);
      await Promise.all([a.scheduler.tick(), b.scheduler.tick()]);
      assert.equal((await a.queue.list('queue')).length, 0);

      // 08:00:01 on both nodes at once.
      clock = new Date(2026, 11, 5, 8, 0, 1).getTime();
      await Promise.all([a.scheduler.tick(), b.scheduler.tick()]);
      const digests = await a.queue.list('queue');
      assert.deepEqual(digests.map((e) => e.recipients.map((r) => r.address)).flat().sort(), ['alice@example.com', 'bob@example.com'], 'one each (whatever the case of the address), local recipients only');
      const sentBy = [a, b].filter((n) => n.logger.lines.some((l) => l.event === 'quarantine.digest.slot'));
      assert.equal(sentBy.length, 1, 'one node sent the slot');
      const other = [a, b].find((n) => n !== sentBy[0]);
      assert.ok(other?.logger.lines.some((l) => l.event === 'quarantine.digest.slot_taken'));
      const sentLines = sentBy[0]?.logger.lines.filter((l) => l.event === 'quarantine.digest.sent') ?? [];
      assert.deepEqual(sentLines.map((l) => [l.fields.to, l.fields.entries]).sort(), [['alice@example.com', DIGEST_MAX + 4], ['bob@example.com', 1]]);

      // Alice's digest: DIGEST_MAX listed, the rest counted; its links verify on the other node (one secret).
      const aliceId = digests.find((e) => e.recipients[0]?.address === 'alice@example.com')?.id ?? '';
      const text = (await (await a.queue.body(aliceId, 'queue'))?.whole())?.toString('latin1') ?? '';
      assert.match(text, /and 4 more not listed here/);
      assert.equal(digests.find((e) => e.id === aliceId)?.sender, '');
      const token = /quarantine\/link\?t=([A-Za-z0-9_-]+)/.exec(text.replace(/=\r\n/g, '').replace(/=3D/g, '='))?.[1];
      assert.ok(token);
      const checked = (await other!.signer()).verify(token, clock);
      assert.ok(checked.ok, 'the other node verifies the link');
      assert.equal(checked.ok && checked.claims.address, 'alice@example.com');
      assert.equal(checked.ok && checked.claims.exp, clock - (clock % 1000) + 2 * 86_400_000);
      // Newest first: the oldest message is among the ones counted, not listed.
      assert.match(text, /Subject: bulk 52/);
      assert.doesNotMatch(text, /Subject: first/);

      // The same slot again (a late tick): nothing more. The next slot (09:00) sends again, once.
      await Promise.all([a.scheduler.fire('hourly', new Date(2026, 11, 5, 8, 0, 0).getTime()), b.scheduler.fire('hourly', new Date(2026, 11, 5, 8, 0, 0).getTime())]);
      assert.equal((await a.queue.list('queue')).length, 2);
      clock = new Date(2026, 11, 5, 9, 0, 0).getTime();
      await Promise.all([a.scheduler.tick(), b.scheduler.tick()]);
      assert.equal((await b.queue.list('queue')).length, 4);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
    }
  });
});
