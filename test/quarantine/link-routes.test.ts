// The link pages on their own (fastify's inject, a real spool): a malware
// release link shows the message without a button and says to ask the
// administrator, and its POST is refused (403) with the message kept; a
// delete link's GET changes nothing and its POST deletes that share only; a
// token for one message cannot act on another; the per-client limit answers
// 429 before the store is asked; every value on the page is escaped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { FileQueueStore } from '../../src/queue/file-queue-store.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import { StoreRecipientQuarantine } from '../../src/quarantine/recipient-quarantine.ts';
import { defaultQuarantine } from '../../src/config/quarantine-settings.ts';
import { LinkSigner } from '../../src/quarantine/link-token.ts';
import { LinkLimiter } from '../../src/quarantine/link-limiter.ts';
import { registerLinkRoutes } from '../../src/quarantine/link-routes.ts';
import { envelopeFields } from '../support/envelope.ts';

async function rig(t: { after: (fn: () => Promise<void>) => void }, limiter?: LinkLimiter) {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-links-'));
  const store = new FileQueueStore(dir, memoryLogger());
  await store.open();
  const logger = memoryLogger();
  const quarantine = new StoreRecipientQuarantine({ store, selfRelease: () => defaultQuarantine().self_release, logger });
  const signer = new LinkSigner(randomBytes(32));
  const app = Fastify();
  registerLinkRoutes(app, { quarantine, signer: async () => signer, logger, ...(limiter ? { limiter } : {}) });
  await app.ready();
  t.after(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const put = async (rule: string, subject: string) => {
    const id = newQueueId();
    const w = store.begin(id);
    await w.write(Buffer.from(`Subject: ${subject}\r\n\r\nx\r\n`));
    await w.commit(envelopeFields({ sender: 'evil"<b>@outside.example', recipients: ['a@example.com', 'b@example.com'].map((address) => ({ address, kind: 'inbound' as const, rule: 'r', status: 'queued' as const })), quarantine: { at: new Date().toISOString(), rule, reason: 'Eicar <script>' } }), { area: 'quarantine' });
    return id;
  };
  const token = (action: 'release' | 'delete' | 'view', id: string, address = 'a@example.com') => signer.sign({ action, id, address, exp: Date.now() + 3_600_000 });
  const get = (t: string) => app.inject({ method: 'GET', url: `/quarantine/link?t=${t}` });
  const post = (t: string) => app.inject({ method: 'POST', url: '/quarantine/link', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `t=${t}` });
  return { store, logger, put, token, get, post };
}

test('malware: the page has no button and says to ask the administrator; the POST is refused', async (t) => {
  const r = await rig(t);
  const id = await r.put('antivirus.action', '<img src=x onerror=alert(1)>');
  const page = await r.get(r.token('release', id));
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /Ask your administrator/);
  assert.match(page.body, /malware/);
  assert.doesNotMatch(page.body, /<form/);
  assert.doesNotMatch(page.body, /<img|<script|<b>/, 'every value escaped');
  assert.match(page.body, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.equal(page.headers['content-security-policy']?.toString().includes("default-src 'none'"), true);
  const p = await r.post(r.token('release', id));
  assert.equal(p.statusCode, 403);
  assert.match(p.body, /administrator/);
  assert.equal((await r.store.read(id, 'quarantine'))?.recipients.length, 2, 'kept');
});

test('a delete link: GET changes nothing, POST deletes that share only; a token acts on its own message only', async (t) => {
  const r = await rig(t);
  const id = await r.put('antispam.spam_action', 'offer');
  const other = await r.put('antispam.spam_action', 'other');
  const del = r.token('delete', id);
  for (let i = 0; i < 3; i++) assert.equal((await r.get(del)).statusCode, 200);
  assert.equal((await r.store.read(id, 'quarantine'))?.recipients.length, 2, 'a GET never changes anything');
  assert.equal((await r.post(del)).statusCode, 200);
  assert.deepEqual((await r.store.read(id, 'quarantine'))?.recipients.map((x) => x.address), ['b@example.com']);
  assert.equal((await r.store.read(other, 'quarantine'))?.recipients.length, 2, 'the other message untouched');
  assert.equal((await r.post(del)).statusCode, 410, 'used');
  // A view token does nothing; a token of b's for another message is b's for that message only.
  assert.equal((await r.post(r.token('view', other))).statusCode, 403);
  assert.equal((await r.post(r.token('release', other, 'b@example.com'))).statusCode, 200);
  assert.deepEqual((await r.store.read(other, 'quarantine'))?.recipients.map((x) => x.address), ['a@example.com']);
  assert.deepEqual((await r.store.read(id, 'quarantine'))?.recipients.map((x) => x.address), ['b@example.com']);
  // A token for a recipient who never had a share: gone (nothing to show).
  assert.equal((await r.get(r.token('release', id, 'mallory@example.com'))).statusCode, 410);
  assert.equal((await r.post(r.token('release', id, 'mallory@example.com'))).statusCode, 410);
  assert.equal((await r.get('garbage')).statusCode, 403);
  assert.ok(r.logger.lines.some((l) => l.event === 'quarantine.link_refused' && l.fields.why === 'malformed'));
});

test('the per-client limit answers 429 before the store is asked', async (t) => {
  const r = await rig(t, new LinkLimiter({ perWindow: 3, windowMs: 60_000 }));
  const id = await r.put('antispam.spam_action', 'offer');
  const tok = r.token('release', id);
  for (let i = 0; i < 3; i++) assert.equal((await r.get(tok)).statusCode, 200);
  const limited = await r.post(tok);
  assert.equal(limited.statusCode, 429);
  assert.equal((await r.store.read(id, 'quarantine'))?.recipients.length, 2);
  // The limiter's table is bounded.
  const l = new LinkLimiter({ maxClients: 2, perWindow: 1 });
  assert.ok(l.admit('a', 0) && l.admit('b', 0) && l.admit('c', 0));
  assert.ok(l.admit('a', 1), 'a was dropped to make room, so starts a new window');
  assert.equal(l.admit('a', 2), false);
});
