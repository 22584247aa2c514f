// QuarantineStateStore on the embedded SQLite file DATA/quarantine.db: the
// signing secret and the digest slots sent. The file is made 0600 before
// SQLite opens it (its -wal and -shm files take the same mode): the secret
// lets whoever reads it release quarantined mail.

import { chmodSync, closeSync, openSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { openSqlite } from '../store/sqlite.ts';
import { SECRET_BYTES, type QuarantineStateStore } from './quarantine-state-store.ts';

export class SqliteQuarantineStateStore implements QuarantineStateStore {
  private readonly db: DatabaseSync;

  constructor(file: string) {
    closeSync(openSync(file, 'a', 0o600));
    chmodSync(file, 0o600);
    this.db = openSqlite(file, true);
    this.db.exec(`CREATE TABLE IF NOT EXISTS secret (name TEXT PRIMARY KEY, value BLOB NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS digest_slot (slot TEXT PRIMARY KEY, node TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS digest_slot_at ON digest_slot (at);`);
  }

  async signingSecret(): Promise<Buffer> {
    // INSERT OR IGNORE then read: two processes creating it at once both read the one that won.
    this.db.prepare('INSERT INTO secret (name, value, created) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING').run('link', randomBytes(SECRET_BYTES), Date.now());
    const row = this.db.prepare('SELECT value FROM secret WHERE name = ?').get('link') as { value: Uint8Array } | undefined;
    if (!row || row.value.length !== SECRET_BYTES) throw new Error('the quarantine signing secret could not be read');
    return Buffer.from(row.value);
  }

  async claimDigestSlot(slot: string, node: string, at: number): Promise<boolean> {
    return Number(this.db.prepare('INSERT INTO digest_slot (slot, node, at) VALUES (?, ?, ?) ON CONFLICT (slot) DO NOTHING').run(slot, node, at).changes) === 1;
  }

  async lastDigestSlot(before: number): Promise<number | null> {
    const row = this.db.prepare('SELECT max(at) AS at FROM digest_slot WHERE at < ?').get(before) as { at: number | null } | undefined;
    return row?.at == null ? null : Number(row.at);
  }

  async pruneDigestSlots(before: number): Promise<number> {
    return Number(this.db.prepare('DELETE FROM digest_slot WHERE at < ?').run(before).changes);
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}
