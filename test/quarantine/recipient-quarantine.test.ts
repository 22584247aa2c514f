// RecipientQuarantine over both QueueStore adapters (the spool, PostgreSQL):
// a recipient sees only their own share (matched case-insensitively on the
// whole address, Subject decoded); releasing a subset makes a new queue entry
// with only those recipients (announced to the scheduler, same body, a history
// line naming the quarantined id and the actor) while the quarantine keeps
// the others; the last share moves the whole message; delete likewise;
// malware (and content rules) are refused to a link, allowed to an
// administrator; concurrent shares (two nodes) never undo each other.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileQueueStore } from '../../src/queue/file-queue-store.ts';
import type { QueueStore } from '../../src/queue/queue-store.ts';
import type { Envelope } from '../../src/queue/envelope.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { StoreRecipientQuarantine } from '../../src/quarantine/recipient-quarantine.ts';
import { QuarantineDenied } from '../../src/quarantine/quarantine-access.ts';
import { defaultQuarantine } from '../../src/config/quarantine-settings.ts';
import { Quarantine } from '../../src/queue/quarantine.ts';
import { connectPg, type Sql } from '../../src/store/pg/connect.ts';
import { migrate } from '../../src/store/pg/schema.ts';
import { PgQueueStore } from '../../src/store/pg/queue-store.ts';
import { postgresMissing, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { envelopeFields } from '../support/envelope.ts';

interface Made {
  store: QueueStore;
  /** Another node's store on the same data (PostgreSQL), or the same store (the spool: one process). */
  second(): Promise<QueueStore>;
  cleanup(): Promise<void>;
}

const RCPTS = ['alice@example.org', 'Bob@Example.org', 'carol@example.org'];

async function quarantined(store: QueueStore, rule: string, opts: { recipients?: string[]; subject?: string; at?: number } = {}): Promise<{ id: string; body: Buffer }> {
  const id = newQueueId(opts.at ?? Date.now());
  const body = Buffer.from(`Received: from x\r\nFrom: <spammer@example.net>\r\nSubject: ${opts.subject ?? '=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= and\r\n more'}\r\n\r\nhello\r\n` + 'x'.repeat(300_000) + '\r\n');
  const w = store.begin(id);
  await w.write(body);
  const recipients = (opts.recipients ?? RCPTS).map((address) => ({ address, kind: 'inbound' as const, rule: 'rule 4', status: 'queued' as const }));
  await w.commit(envelopeFields({ recipients, relayed: false, quarantine: { at: new Date().toISOString(), rule, reason: 'because' } }), { area: 'quarantine' });
  return { id, body };
}

function recipientQuarantine(store: QueueStore, logger = memoryLogger()) {
  const rq = new StoreRecipientQuarantine({ store, selfRelease: () => defaultQuarantine().self_release, logger });
  return { rq, logger };
}

const link = (address: string) => ({ kind: 'link' as const, address });
const admin = { kind: 'administrator' as const, name: 'root' };
const addrs = (e: Envelope | null) => (e ? e.recipients.map((r) => r.address) : null);

function contract(name: string, make: () => Promise<Made>, skip: string | null = null): void {
  describe(name, { skip: skip ?? false }, () => {
    test('listFor: only the viewer\'s own share, case-insensitive on the whole address, Subject decoded, newest first', async () => {
      const m = await make();
      try {
        const { rq } = recipientQuarantine(m.store);
        const a = await quarantined(m.store, 'antispam.spam_action', { at: Date.now() - 1000 });
        const b = await quarantined(m.store, 'antivirus.action', { recipients: ['bob@example.org', 'dave@example.org'] });
        await quarantined(m.store, 'antispam.spam_action', { recipients: ['xbob@example.org', 'bob@example.org.evil'] });
        const list = await rq.listFor(['BOB@example.ORG']);
        assert.deepEqual(list.map((e) => e.id), [b.id, a.id]);
        assert.deepEqual(list[0]?.recipients, ['bob@example.org']);
        assert.deepEqual(list[1]?.recipients, ['Bob@Example.org'], 'never the other recipients');
        assert.equal(list[1]?.subject, 'Grüße and more');
        assert.equal(list[0]?.category, 'malware');
        assert.equal(list[0]?.releasable, false);
        assert.equal(list[1]?.category, 'spam');
        assert.equal(list[1]?.releasable, true);
        assert.deepEqual(await rq.listFor(['nobody@example.org']), []);
        assert.equal((await rq.listFor(['bob@example.org'], 1)).length, 1);
      } finally {
        await m.cleanup();
      }
    });

    test('releasing a share: a new queue entry with only those recipients, the rest stays; the last share moves the message', async () => {
      const m = await make();
      try {
        const { rq, logger } = recipientQuarantine(m.store);
        const { id, body } = await quarantined(m.store, 'antispam.spam_action');
        // The scheduler is told (the cluster store's NOTIFY arrives a moment later): waited for, bounded.
        let off = () => {};
        let timer: NodeJS.Timeout | undefined;
        const told = new Promise<void>((resolve, reject) => {
          off = m.store.onWork(() => resolve());
          timer = setTimeout(() => reject(new Error('the release was not announced within 10 s')), 10_000);
        });
        const r = await rq.releaseFor(id, ['bob@EXAMPLE.org'], link('bob@example.org'));
        await told.finally(() => {
          off();
          clearTimeout(timer);
        });
        assert.deepEqual(r.recipients, ['Bob@Example.org']);
        assert.ok(r.queued && r.queued !== id);
        const copy = await m.store.read(r.queued, 'queue');
        assert.deepEqual(addrs(copy), ['Bob@Example.org']);
        assert.equal(copy?.quarantine, undefined);
        assert.match(copy?.history?.at(-1)?.detail ?? '', new RegExp(`share of quarantined ${id} .*bob@example.org \\(digest link\\)`));
        assert.deepEqual(await (await m.store.body(r.queued, 'queue'))?.whole(), body);
        assert.deepEqual(addrs(await m.store.read(id, 'quarantine')), ['alice@example.org', 'carol@example.org']);
        assert.deepEqual(await (await m.store.body(id, 'quarantine'))?.whole(), body, 'the quarantined body is intact');
        const line = logger.lines.find((l) => l.event === 'quarantine.released');
        assert.deepEqual(line?.fields, { id, queued: r.queued, recipients: ['Bob@Example.org'], by: { kind: 'link', address: 'bob@example.org' }, rule: 'antispam.spam_action', category: 'spam' });
        // Bob again: his share is no longer there.
        await assert.rejects(rq.releaseFor(id, ['bob@example.org'], link('bob@example.org')), QuarantineDenied);
        // The last share (both remaining recipients): the whole message moves, under its own id.
        const last = await rq.releaseFor(id, ['alice@example.org', 'carol@example.org'], { kind: 'user', name: 'alice' });
        assert.equal(last.queued, id);
        assert.equal(await m.store.read(id, 'quarantine'), null);
        assert.deepEqual(addrs(await m.store.read(id, 'queue')), ['alice@example.org', 'carol@example.org']);
        assert.deepEqual(await (await m.store.body(r.queued, 'queue'))?.whole(), body, 'the first copy is untouched');
      } finally {
        await m.cleanup();
      }
    });

    test('deleting a share keeps the others; the last share removes the message', async () => {
      const m = await make();
      try {
        const { rq, logger } = recipientQuarantine(m.store);
        const { id } = await quarantined(m.store, 'antivirus.action', { recipients: ['a@example.org', 'b@example.org'] });
        // Malware: a recipient may delete their share (never release it).
        const r = await rq.deleteFor(id, ['a@example.org'], link('a@example.org'));
        assert.deepEqual(r, { recipients: ['a@example.org'] });
        assert.deepEqual(addrs(await m.store.read(id, 'quarantine')), ['b@example.org']);
        assert.equal((await m.store.list('queue')).length, 0, 'nothing is queued by a delete');
        await rq.deleteFor(id, ['b@example.org'], link('b@example.org'));
        assert.equal(await m.store.read(id, 'quarantine'), null);
        assert.equal(await m.store.body(id, 'quarantine'), null);
        assert.deepEqual(logger.lines.filter((l) => l.event === 'quarantine.deleted').map((l) => [l.fields.recipients, l.fields.category]), [[['a@example.org'], 'malware'], [['b@example.org'], 'malware']]);
        await assert.rejects(rq.deleteFor(id, ['b@example.org'], link('b@example.org')), /no message/);
      } finally {
        await m.cleanup();
      }
    });

    test('malware and content quarantines are refused to a link and a user, allowed to an administrator', async () => {
      const m = await make();
      try {
        const { rq } = recipientQuarantine(m.store);
        const virus = await quarantined(m.store, 'antivirus.action');
        const content = await quarantined(m.store, 'content:executables');
        const other = await quarantined(m.store, 'something.else');
        await assert.rejects(rq.releaseFor(virus.id, ['alice@example.org'], link('alice@example.org')), (e: Error) => e instanceof QuarantineDenied && /malware/.test(e.message));
        await assert.rejects(rq.releaseFor(virus.id, ['alice@example.org'], { kind: 'user', name: 'alice' }), QuarantineDenied);
        await assert.rejects(rq.releaseFor(content.id, ['alice@example.org'], link('alice@example.org')), QuarantineDenied);
        await assert.rejects(rq.releaseFor(other.id, ['alice@example.org'], link('alice@example.org')), QuarantineDenied);
        await assert.rejects(rq.releaseFor(virus.id, ['mallory@example.org'], link('mallory@example.org')), QuarantineDenied);
        assert.equal((await m.store.read(virus.id, 'quarantine'))?.recipients.length, 3, 'nothing changed');
        const r = await rq.releaseFor(virus.id, ['carol@example.org'], admin);
        assert.deepEqual(addrs(await m.store.read(r.queued ?? '', 'queue')), ['carol@example.org']);
        // With self_release.malware on, a link may.
        const lenient = new StoreRecipientQuarantine({ store: m.store, selfRelease: () => ({ malware: true, spam: true, content: true }), logger: memoryLogger() });
        assert.ok((await lenient.releaseFor(virus.id, ['alice@example.org'], link('alice@example.org'))).queued);
      } finally {
        await m.cleanup();
      }
    });

    test('shares released at once (two nodes) never undo each other', async () => {
      const m = await make();
      try {
        const recipients = Array.from({ length: 6 }, (_, i) => `r${i}@example.org`);
        const { id } = await quarantined(m.store, 'antispam.spam_action', { recipients });
        const a = recipientQuarantine(m.store).rq;
        const b = recipientQuarantine(await m.second()).rq;
        const outcomes = await Promise.all(recipients.slice(0, 5).map((r, i) => (i % 2 ? a : b).releaseFor(id, [r], link(r))));
        assert.equal(new Set(outcomes.map((o) => o.queued)).size, 5);
        assert.deepEqual(addrs(await m.store.read(id, 'quarantine')), ['r5@example.org']);
        const queued = (await m.store.list('queue')).flatMap((e) => e.recipients.map((r) => r.address)).sort();
        assert.deepEqual(queued, recipients.slice(0, 5), 'each share queued once');
      } finally {
        await m.cleanup();
      }
    });

    test("the administrator's whole-message release and delete log the same events", async () => {
      const m = await make();
      try {
        const logger = memoryLogger();
        const q = new Quarantine(m.store, logger);
        const one = await quarantined(m.store, 'antivirus.action');
        const two = await quarantined(m.store, 'antispam.spam_action');
        await q.release(one.id, 'root');
        await q.delete(two.id, 'token:ops (root)');
        assert.deepEqual(logger.lines.map((l) => [l.event, l.fields.id, l.fields.by, l.fields.category]), [
          ['quarantine.released', one.id, { kind: 'administrator', name: 'root' }, 'malware'],
          ['quarantine.deleted', two.id, { kind: 'administrator', name: 'token:ops (root)' }, 'spam'],
        ]);
        assert.deepEqual(logger.lines[0]?.fields.recipients, RCPTS);
      } finally {
        await m.cleanup();
      }
    });
  });
}

contract('on the spool (FileQueueStore)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-rq-'));
  const store = new FileQueueStore(dir, memoryLogger());
  await store.open();
  return {
    store,
    second: async () => store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

const missing = postgresMissing();
let server: TestPostgres | null = null;
before(async () => {
  if (!missing) server = await startPostgres();
});
after(async () => {
  await server?.destroy();
});

contract(
  'on PostgreSQL (PgQueueStore)',
  async () => {
    assert.ok(server);
    const url = await server.createDatabase();
    const pools: Sql[] = [];
    const stores: PgQueueStore[] = [];
    const open = async () => {
      const sql = connectPg(url, { connectTimeout: 3, queryTimeout: 10 });
      pools.push(sql);
      if (pools.length === 1) await migrate(sql);
      const s = new PgQueueStore(sql);
      await s.open();
      stores.push(s);
      return s;
    };
    const store = await open();
    return {
      store,
      second: open,
      async cleanup() {
        await Promise.all(stores.map((s) => s.close()));
        await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
      },
    };
  },
  missing,
);
