// `mailwarden quarantine digest` with no daemon running: the digest is queued
// in the data directory under its lock (one per local recipient, only local
// ones), --dry-run queues nothing, --to narrows to one recipient; refused
// (exit 1) without quarantine.digest.base_url or for a recipient with nothing
// quarantined; a bad --to is a usage error (2).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { mailwarden, tempDir } from './helpers.ts';
import { Spool } from '../../src/queue/spool.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import { envelopeFields } from '../support/envelope.ts';
import { embeddedDefaults } from '../../src/config/document.ts';

async function setUp(t: Parameters<typeof tempDir>[0], quarantine: Record<string, unknown>) {
  const data = tempDir(t);
  const base = embeddedDefaults() as unknown as Record<string, unknown>;
  const doc = { ...base, hostname: 'mx.test.example', admin: { ...(base.admin as object), enabled: true, port: 0 }, domains: [{ name: 'example.com', route: { hosts: ['127.0.0.1:25'] } }], quarantine };
  const file = join(data, 'settings.yaml');
  writeFileSync(file, stringify(doc));
  const imp = await mailwarden(['config', 'import', file, '--data', data]);
  assert.equal(imp.status, 0, imp.stderr);
  const spool = new Spool(data, memoryLogger());
  spool.open();
  const w = spool.begin(newQueueId());
  await w.write(Buffer.from('Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n\r\nspam\r\n'));
  await w.commit(envelopeFields({ recipients: ['alice@example.com', 'bob@example.com', 'carol@elsewhere.example'].map((address) => ({ address, kind: 'inbound' as const, rule: 'rule 5', status: 'queued' as const })), quarantine: { at: new Date().toISOString(), rule: 'antispam.spam_action', reason: 'spam score 9' } }), { area: 'quarantine' });
  await spool.close();
  return { data, queued: () => new Spool(data, memoryLogger()).list('queue').map((m) => m.envelope) };
}

test('offline: queued under the lock, one per local recipient; --dry-run and --to', async (t) => {
  const { data, queued } = await setUp(t, { digest: { base_url: 'https://mail.example.com' } });
  const dry = await mailwarden(['quarantine', 'digest', '--data', data, '--dry-run', '--json']);
  assert.equal(dry.status, 0, dry.stderr);
  assert.deepEqual(JSON.parse(dry.stdout), { sent: [{ to: 'alice@example.com', entries: 1 }, { to: 'bob@example.com', entries: 1 }], skipped: 0 });
  assert.equal(queued().length, 0, 'a dry run queues nothing');

  const one = await mailwarden(['quarantine', 'digest', '--data', data, '--to', 'BOB@example.com']);
  assert.equal(one.status, 0, one.stderr);
  assert.match(one.stdout, /^sent bob@example\.com: 1 message \(queue id [0-9a-z]{16}\)\n$/);
  const q = queued();
  assert.deepEqual(q.map((e) => [e.sender, e.recipients.map((r) => r.address)]), [['', ['bob@example.com']]]);
  assert.match(one.stderr, /"event":"quarantine\.digest\.sent"/);

  assert.equal((await mailwarden(['quarantine', 'digest', '--data', data, '--to', 'carol@elsewhere.example'])).status, 1, 'not a local recipient');
  assert.equal((await mailwarden(['quarantine', 'digest', '--data', data, '--to', 'nobody'])).status, 2);
});

test('refused without a base URL', async (t) => {
  const { data } = await setUp(t, {});
  const r = await mailwarden(['quarantine', 'digest', '--data', data]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /base_url/);
});
