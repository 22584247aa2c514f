// `mailwarden store migrate`: moves a single node into a cluster store. The
// source (the data directory's SQLite files and spool, read through the
// embedded adapters) is copied into an empty PostgreSQL store through the
// ports and their migration parts (src/store/migration.ts): revisions with
// their numbers and the active pointer (users and groups are in the
// settings), admin accounts with their password hashes, API tokens with
// their digests, greylisting records, then queued and quarantined mail under
// the same queue ids and envelopes, each body streamed through begin/write/
// commit so that a large queue keeps memory flat.
//
// The source's daemon must not run (its lock is held for the whole copy) and
// the source is only read: the administrator removes it once the cluster
// runs. Before copying anything the target records which source is being
// migrated (MigrationMarker); a run killed anywhere leaves that record, and a
// re-run from the same source completes the job, skipping what is there
// already (each import is idempotent, a message is committed whole or not at
// all). A target that holds anything without that record is refused.

import { hostname } from 'node:os';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '../log/logger.ts';
import type { Envelope } from '../queue/envelope.ts';
import type { QueueArea, QueueStore } from '../queue/queue-store.ts';
import { DataDirInUse, lockDataDir } from './data-dir-lock.ts';
import { openEmbeddedStores } from './embedded-stores.ts';
import { isMigratableAccounts, isMigratableConfig, isMigratableGreylist, isMigrationMarker, type MigratableConfig, type MigrationMarker } from './migration.ts';
import { openPgStores } from './pg/stores.ts';
import type { Stores } from './stores.ts';

/** The migration cannot start (or go on): the daemon runs, the target holds other data, the source is no data directory. */
export class MigrationRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationRefused';
  }
}

export interface MigrateOptions {
  dataDir: string;
  /** The cluster store's URL (postgresql://…). */
  url: string;
  logger: Logger;
}

export interface Counts {
  /** Written by this run. */
  copied: number;
  /** There already (a run before this one copied them). */
  skipped: number;
}

export interface MigrationSummary {
  source: string;
  /** A run before this one had started the migration. */
  resumed: boolean;
  /** The active revision number, or null when the source had none. */
  active: number | null;
  revisions: Counts;
  admins: Counts;
  tokens: Counts;
  greylist: Counts;
  queued: Counts;
  quarantined: Counts;
}

/** What the target tells about itself before the copy. */
export interface TargetState {
  /** The source of a migration under way, or null. */
  marker: string | null;
  /** What makes it not empty (e.g. "2 revisions"), or none. */
  contents: string[];
}

/** Pure: start afresh, resume, or refuse (with the reason). */
export function decideStart(source: string, target: TargetState): { go: 'fresh' | 'resume' } | { go: 'refuse'; reason: string } {
  if (target.marker !== null) {
    if (target.marker === source) return { go: 'resume' };
    return { go: 'refuse', reason: `a migration from ${target.marker} into this store is under way; only that source may complete it` };
  }
  if (target.contents.length > 0) return { go: 'refuse', reason: `the target store is not empty (${target.contents.join(', ')}); store migrate only fills an empty store` };
  return { go: 'fresh' };
}

/** The name a migration is recorded under in the target: this host and the data directory. */
export function sourceName(dataDir: string): string {
  return `${hostname()}:${resolve(dataDir)}`;
}

export async function migrateStore(o: MigrateOptions): Promise<MigrationSummary> {
  const dir = resolve(o.dataDir);
  if (!existsSync(join(dir, 'mailwarden.db'))) throw new MigrationRefused(`${dir} is not a mailwarden data directory (no mailwarden.db)`);
  let lock;
  try {
    lock = lockDataDir(dir);
  } catch (err) {
    if (err instanceof DataDirInUse) throw new MigrationRefused(`${err.message}; stop it before migrating`);
    throw err;
  }
  let source: Stores | null = null;
  let target: Stores | null = null;
  try {
    source = await openEmbeddedStores(dir, o.logger);
    target = await openPgStores(o.url, { node: `migrate@${hostname()}`, logger: o.logger });
    // A store the node never used has no file: it is not opened, so that none is created in the source.
    const present = { accounts: existsSync(join(dir, 'admin.db')), greylist: existsSync(join(dir, 'greylist.db')) };
    return await copy(source, target, sourceName(dir), present, o.logger);
  } finally {
    await target?.close();
    await source?.close();
    lock.release();
  }
}

async function targetState(target: Stores, marker: MigrationMarker): Promise<TargetState> {
  const contents: string[] = [];
  const revisions = (await target.config.history(1)).length;
  if (revisions > 0 || (await target.config.activeNumber()) !== null) contents.push('revisions');
  const admins = await target.accounts.count();
  if (admins > 0) contents.push(`${admins} admin account${admins === 1 ? '' : 's'}`);
  for (const area of ['queue', 'quarantine'] as const) {
    const n = (await target.queue.list(area)).length;
    if (n > 0) contents.push(`${n} ${area === 'queue' ? 'queued' : 'quarantined'} message${n === 1 ? '' : 's'}`);
  }
  return { marker: await marker.migrationSource(), contents };
}

async function copy(source: Stores, target: Stores, name: string, present: { accounts: boolean; greylist: boolean }, logger: Logger): Promise<MigrationSummary> {
  const sc = source.config;
  const tc = target.config;
  const ta = target.accounts;
  const tg = target.greylist;
  const sa = present.accounts ? source.accounts : null;
  const sg = present.greylist ? source.greylist : null;
  if (!isMigratableConfig(sc) || !isMigratableConfig(tc) || !isMigrationMarker(tc)) throw new Error('the settings stores cannot be migrated');
  if ((sa && !isMigratableAccounts(sa)) || !isMigratableAccounts(ta)) throw new Error('the account stores cannot be migrated');
  if ((sg && !isMigratableGreylist(sg)) || !isMigratableGreylist(tg)) throw new Error('the greylist stores cannot be migrated');

  const start = decideStart(name, await targetState(target, tc));
  if (start.go === 'refuse') throw new MigrationRefused(start.reason);
  if (start.go === 'fresh') {
    const got = await tc.markMigration(name);
    // Another run marked the store between our look and our mark.
    if (got !== name) throw new MigrationRefused(`a migration from ${got} into this store is under way; only that source may complete it`);
  }
  logger.log('migrate.started', { source: name, resumed: start.go === 'resume' });

  const summary: MigrationSummary = {
    source: name,
    resumed: start.go === 'resume',
    active: null,
    revisions: counts(),
    admins: counts(),
    tokens: counts(),
    greylist: counts(),
    queued: counts(),
    quarantined: counts(),
  };

  summary.active = await copyRevisions(sc, tc, summary.revisions, await sc.activeNumber());
  if (sa) {
    for (const a of await sa.exportAdmins()) tally(summary.admins, await ta.importAdmin(a));
    for (const t of await sa.exportTokens()) tally(summary.tokens, await ta.importToken(t));
  }
  if (sg) {
    for await (const batch of sg.exportRecords(1000)) {
      const n = await tg.importRecords(batch);
      summary.greylist.copied += n;
      summary.greylist.skipped += batch.length - n;
    }
  }
  logger.log('migrate.settings', { revisions: summary.revisions.copied, active: summary.active, admins: summary.admins.copied, tokens: summary.tokens.copied, greylist: summary.greylist.copied });

  await copyArea(source.queue, target.queue, 'queue', summary.queued, logger);
  await copyArea(source.queue, target.queue, 'quarantine', summary.quarantined, logger);

  await tc.clearMigration(name);
  logger.log('migrate.done', { source: name, queued: summary.queued.copied, quarantined: summary.quarantined.copied });
  return summary;
}

const counts = (): Counts => ({ copied: 0, skipped: 0 });
const tally = (c: Counts, copied: boolean): void => void (copied ? c.copied++ : c.skipped++);

async function copyRevisions(from: MigratableConfig, to: MigratableConfig, c: Counts, active: number | null): Promise<number | null> {
  for await (const rev of from.exportRevisions()) tally(c, await to.importRevision(rev));
  // The pointer last: a target whose revisions are all in but whose pointer is not is completed by a re-run.
  if (active !== null) await to.importActive(active);
  return active;
}

/** Copies every message of one area the target does not hold yet, one at a time, the body streamed. */
async function copyArea(from: QueueStore, to: QueueStore, area: QueueArea, c: Counts, logger: Logger): Promise<void> {
  for (const env of await from.list(area)) {
    if ((await to.read(env.id, 'queue')) || (await to.read(env.id, 'quarantine'))) {
      c.skipped++;
      continue;
    }
    const body = await from.body(env.id, area);
    // Gone between the listing and now: nothing runs on the source, so only a damaged spool does this.
    if (!body) throw new Error(`message ${env.id} is listed in the ${area} but has no body`);
    const w = to.begin(env.id);
    try {
      for await (const chunk of body.stream()) await w.write(chunk as Buffer);
      // Checked before the commit point: a short copy must never become a committed message that a re-run skips.
      if (w.size !== env.size) throw new Error(`message ${env.id}: ${w.size} octets read, ${env.size} in its envelope`);
      const { id: _id, size: _size, ...fields } = env;
      await w.commit(fields as Omit<Envelope, 'id' | 'size'>, { area });
    } catch (err) {
      await w.abort();
      throw err;
    }
    c.copied++;
    logger.log('migrate.message', { id: env.id, area, size: env.size });
  }
}
