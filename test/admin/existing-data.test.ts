// A data directory written before the stores were asynchronous keeps
// working: the embedded bundle opens the same files and tables
// (mailwarden.db, admin.db, greylist.db), adds only the web_session table,
// and finds the revisions, accounts, tokens and greylist triplets already there.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { embeddedDefaults } from '../../src/config/document.ts';
import { jsonLogger } from '../../src/log/logger.ts';
import { hashPassword } from '../../src/objects/password.ts';
import { openEmbeddedStores } from '../../src/store/embedded-stores.ts';
import { sha256 } from '../../src/admin/account-rules.ts';
import { tempDir } from '../cli/helpers.ts';

test('the embedded stores open a data directory of the previous version as it is', async (t) => {
  const dir = tempDir(t);
  // The files as the synchronous stores left them (their schema, verbatim).
  const cfg = new DatabaseSync(join(dir, 'mailwarden.db'));
  cfg.exec(`CREATE TABLE config_revision (number INTEGER PRIMARY KEY, created TEXT NOT NULL, author TEXT NOT NULL, comment TEXT NOT NULL, document TEXT NOT NULL);
    CREATE TABLE config_active (id INTEGER PRIMARY KEY CHECK (id = 1), number INTEGER NOT NULL REFERENCES config_revision(number));`);
  cfg.prepare('INSERT INTO config_revision VALUES (1, ?, ?, ?, ?)').run('2026-01-01T00:00:00.000Z', 'old', 'first', JSON.stringify({ ...embeddedDefaults(), hostname: 'old.example' }));
  cfg.exec('INSERT INTO config_active VALUES (1, 1)');
  cfg.close();
  const adm = new DatabaseSync(join(dir, 'admin.db'));
  adm.exec(`CREATE TABLE admin (name TEXT PRIMARY KEY, hash TEXT NOT NULL, role TEXT NOT NULL, created TEXT NOT NULL);
    CREATE TABLE api_token (id TEXT PRIMARY KEY, name TEXT NOT NULL, digest TEXT NOT NULL UNIQUE, role TEXT NOT NULL, owner TEXT NOT NULL, created TEXT NOT NULL, revoked TEXT);`);
  adm.prepare('INSERT INTO admin VALUES (?, ?, ?, ?)').run('ada', hashPassword('ada-password'), 'admin', '2026-01-01T00:00:00.000Z');
  const secret = `mwt_0123456789ab_${'A'.repeat(32)}`;
  adm.prepare('INSERT INTO api_token VALUES (?, ?, ?, ?, ?, ?, NULL)').run('0123456789ab', 'ci', sha256(secret), 'admin', 'ada', '2026-01-01T00:00:00.000Z');
  adm.close();
  const grey = new DatabaseSync(join(dir, 'greylist.db'));
  grey.exec('CREATE TABLE greylist (triplet TEXT PRIMARY KEY, first INTEGER NOT NULL, last INTEGER NOT NULL, passed INTEGER NOT NULL)');
  grey.prepare('INSERT INTO greylist VALUES (?, ?, ?, 1)').run('v4:c00002/24 a@example.net info@example.com', 1000, 5000);
  grey.close();

  const stores = await openEmbeddedStores(dir, jsonLogger(() => {}));
  t.after(() => stores.close());
  assert.equal(stores.kind, 'embedded');
  assert.equal((await stores.config.active())?.settings.hostname, 'old.example');
  assert.equal(await stores.config.activeNumber(), 1);
  assert.deepEqual(await stores.accounts.verify('ada', 'ada-password'), { name: 'ada', role: 'admin', created: '2026-01-01T00:00:00.000Z' });
  assert.equal((await stores.accounts.checkToken(secret))?.owner, 'ada');
  const t2 = { delayMs: 60_000, expiryMs: 3_600_000, lifetimeMs: 86_400_000 };
  assert.deepEqual(await stores.greylist.check('v4:c00002/24 a@example.net info@example.com', 6000, t2), { pass: true, known: true });
  // And the new table is there for sessions.
  await stores.accounts.createSession({ id: 'sid', name: 'ada', role: 'admin', csrf: 'c', stamp: 's' }, 10_000);
  assert.equal((await stores.accounts.touchSession('sid', 10_001, 60_000))?.name, 'ada');
});
