// PortalStore in PostgreSQL (migration 6): the personal sender lists and the
// portal sessions shared by every node. Saving lists is one transaction that
// also notifies (pg_notify, delivered at commit) each owner on the
// sender-lists channel, so that every node's cache drops that owner's lists;
// after a reconnect of the LISTEN connection subscribers hear null (changes
// may have been missed) and re-read. Sessions are stored under the SHA-256 of
// their id.

import { createHash } from 'node:crypto';
import { TOUCH_EVERY_MS, type PortalSession, type PortalStore } from '../../portal/portal-store.ts';
import type { SenderLists } from '../../portal/sender-lists.ts';
import type { Sql } from './connect.ts';
import { Channel, CHANNEL_SENDER_LISTS } from './notify.ts';

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

export class PgPortalStore implements PortalStore {
  private readonly sql: Sql;
  private readonly channel: Channel;
  private subscribers = 0;

  constructor(sql: Sql) {
    this.sql = sql;
    this.channel = new Channel(sql, CHANNEL_SENDER_LISTS);
  }

  async lists(owner: string): Promise<SenderLists> {
    const rows = await this.sql<{ kind: 'allow' | 'block'; entry: string }[]>`SELECT kind, entry FROM sender_list WHERE owner = ${owner} ORDER BY kind, entry`;
    const out: SenderLists = { allow: [], block: [] };
    for (const r of rows) out[r.kind].push(r.entry);
    return out;
  }

  async setLists(owners: readonly string[], lists: SenderLists): Promise<void> {
    const sorted = [...new Set(owners)].sort();
    await this.sql.begin(async (tx) => {
      await tx`DELETE FROM sender_list WHERE owner = ANY(${sorted}::text[])`;
      const o: string[] = [];
      const k: string[] = [];
      const e: string[] = [];
      for (const owner of sorted) {
        for (const [kind, list] of [['allow', lists.allow], ['block', lists.block]] as const) {
          for (const entry of list) {
            o.push(owner);
            k.push(kind);
            e.push(entry);
          }
        }
      }
      if (o.length) await tx`INSERT INTO sender_list (owner, kind, entry) SELECT * FROM unnest(${o}::text[], ${k}::text[], ${e}::text[]) ON CONFLICT DO NOTHING`;
      for (const owner of sorted) await tx`SELECT pg_notify(${CHANNEL_SENDER_LISTS}, ${owner})`;
    });
  }

  async owners(limit: number): Promise<string[]> {
    const rows = await this.sql<{ owner: string }[]>`SELECT DISTINCT owner FROM sender_list ORDER BY owner LIMIT ${limit}`;
    return rows.map((r) => r.owner);
  }

  subscribe(fn: (owner: string | null) => void): () => void {
    const off = this.channel.add((payload) => fn(payload));
    if (this.subscribers++ === 0) {
      // Not listening yet (the database away): the subscriber's own refresh covers the gap; a later (re)connect says null.
      void this.channel.start().catch(() => {});
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      off();
      if (--this.subscribers === 0) void this.channel.stop();
    };
  }

  /** Resolves once the LISTEN of a subscriber is in place (tests; a caller that must not miss the next change). */
  async listening(): Promise<void> {
    if (this.subscribers > 0) await this.channel.start();
  }

  async createSession(s: Omit<PortalSession, 'lastSeen'>, now: number, idleMs: number): Promise<void> {
    await this.sql`DELETE FROM portal_session WHERE last_seen < ${now - idleMs}`;
    await this.sql`INSERT INTO portal_session (digest, name, directory, csrf, stamp, last_seen) VALUES (${sha256(s.id)}, ${s.name}, ${s.directory}, ${s.csrf}, ${s.stamp}, ${now})`;
  }

  async touchSession(id: string, now: number, idleMs: number): Promise<PortalSession | null> {
    const digest = sha256(id);
    const [row] = await this.sql<{ name: string; directory: string | null; csrf: string; stamp: string; last_seen: string }[]>`
      SELECT name, directory, csrf, stamp, last_seen FROM portal_session WHERE digest = ${digest}`;
    if (!row) return null;
    const seen = Number(row.last_seen);
    if (now - seen > idleMs) {
      await this.sql`DELETE FROM portal_session WHERE digest = ${digest}`;
      return null;
    }
    if (now - seen >= TOUCH_EVERY_MS) await this.sql`UPDATE portal_session SET last_seen = ${now} WHERE digest = ${digest}`;
    return { id, name: row.name, directory: row.directory, csrf: row.csrf, stamp: row.stamp, lastSeen: seen };
  }

  async deleteSession(id: string): Promise<void> {
    await this.sql`DELETE FROM portal_session WHERE digest = ${sha256(id)}`;
  }

  async close(): Promise<void> {
    if (this.subscribers > 0) {
      this.subscribers = 0;
      await this.channel.stop();
    }
  }
}
