// QuarantineStateStore in PostgreSQL (migration 5): one signing secret for
// every node (inserted ON CONFLICT DO NOTHING, then read: the first node's
// wins), and one row per digest slot, inserted ON CONFLICT DO NOTHING, so
// that exactly one node sends each slot.

import { randomBytes } from 'node:crypto';
import { SECRET_BYTES, type QuarantineStateStore } from '../../quarantine/quarantine-state-store.ts';
import type { Sql } from './connect.ts';

export class PgQuarantineStateStore implements QuarantineStateStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async signingSecret(): Promise<Buffer> {
    await this.sql`INSERT INTO quarantine_secret (name, value, created) VALUES ('link', ${randomBytes(SECRET_BYTES)}, ${Date.now()}) ON CONFLICT (name) DO NOTHING`;
    const [row] = await this.sql<{ value: Buffer }[]>`SELECT value FROM quarantine_secret WHERE name = 'link'`;
    if (!row || row.value.length !== SECRET_BYTES) throw new Error('the quarantine signing secret could not be read');
    return Buffer.from(row.value);
  }

  async claimDigestSlot(slot: string, node: string, at: number): Promise<boolean> {
    const r = await this.sql`INSERT INTO digest_slot (slot, node, at) VALUES (${slot}, ${node}, ${at}) ON CONFLICT (slot) DO NOTHING`;
    return r.count === 1;
  }

  async lastDigestSlot(before: number): Promise<number | null> {
    const [row] = await this.sql<{ at: string | number | null }[]>`SELECT max(at) AS at FROM digest_slot WHERE at < ${before}`;
    return row?.at == null ? null : Number(row.at);
  }

  async pruneDigestSlots(before: number): Promise<number> {
    return (await this.sql`DELETE FROM digest_slot WHERE at < ${before}`).count;
  }

  async close(): Promise<void> {}
}
