// GreylistStore in PostgreSQL: one table of triplets shared by every node, so
// that a sender's retry is accepted by whichever node it reaches. A check is
// one short transaction: the first attempt is a plain insert; a known triplet
// is read under its row lock, decided (decideGreylist, pure) and written, so
// that two nodes deciding for one triplet at once are serialised.

import type { GreylistStore } from '../../antispam/greylist-store.ts';
import { decideGreylist, type GreylistTimes, type GreylistVerdict, type TripletRecord } from '../../antispam/greylist.ts';
import type { Sql } from './connect.ts';
import type { GreylistRecord, MigratableGreylist } from '../migration.ts';

export class PgGreylistStore implements GreylistStore, MigratableGreylist {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async check(key: string, now: number, t: GreylistTimes): Promise<GreylistVerdict> {
    return this.sql.begin(async (tx) => {
      // Several rounds only when the row vanishes (a prune) between the insert and the read.
      for (;;) {
        const first = decideGreylist(null, now, t);
        const inserted = await tx`INSERT INTO greylist (triplet, first, last, passed) VALUES (${key}, ${first.store.first}, ${first.store.last}, ${first.store.passed}) ON CONFLICT (triplet) DO NOTHING RETURNING triplet`;
        if (inserted.length > 0) return first.verdict;
        const [row] = await tx<TripletRecord[]>`SELECT first, last, passed FROM greylist WHERE triplet = ${key} FOR UPDATE`;
        if (!row) continue;
        const rec: TripletRecord = { first: Number(row.first), last: Number(row.last), passed: row.passed };
        const { verdict, store } = decideGreylist(rec, now, t);
        if (rec.first !== store.first || rec.last !== store.last || rec.passed !== store.passed) {
          await tx`UPDATE greylist SET first = ${store.first}, last = ${store.last}, passed = ${store.passed} WHERE triplet = ${key}`;
        }
        return verdict;
      }
    });
  }

  async prune(now: number, t: GreylistTimes): Promise<number> {
    const r = await this.sql`DELETE FROM greylist WHERE (passed AND last < ${now - t.lifetimeMs}) OR (NOT passed AND first < ${now - t.expiryMs})`;
    return r.count;
  }

  /** By triplet, a page at a time. */
  async *exportRecords(batch = 1000): AsyncIterable<GreylistRecord[]> {
    let after = '';
    for (;;) {
      const rows = await this.sql<GreylistRecord[]>`SELECT triplet, first, last, passed FROM greylist WHERE triplet > ${after} ORDER BY triplet LIMIT ${batch}`;
      if (rows.length === 0) return;
      yield rows.map((r) => ({ triplet: r.triplet, first: Number(r.first), last: Number(r.last), passed: r.passed }));
      after = rows.at(-1)!.triplet;
    }
  }

  async importRecords(records: readonly GreylistRecord[]): Promise<number> {
    if (records.length === 0) return 0;
    const r = await this.sql`
      INSERT INTO greylist (triplet, first, last, passed)
      SELECT * FROM unnest(${records.map((x) => x.triplet)}::text[], ${records.map((x) => x.first)}::bigint[], ${records.map((x) => x.last)}::bigint[], ${records.map((x) => x.passed)}::boolean[])
      ON CONFLICT (triplet) DO NOTHING`;
    return r.count;
  }

  async close(): Promise<void> {}
}
