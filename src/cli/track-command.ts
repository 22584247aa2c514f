// `mailwarden track [--from A] [--to A] [--client IP] [--id QUEUE-ID]
// [--message-id ID] [--subject TEXT] [--status S] [--since T] [--until T]
// [--limit N] [--cursor C] [--json]`: searches the message tracking in the
// store the daemon writes (the data directory's, or the cluster store with
// --store), so that it answers with the daemon stopped too. A page is a
// table, newest first, with the command for the next page; --id shows one
// message's timeline. Exit status 0 when the search ran (even with nothing
// found, as `queue list`), 1 when --id is unknown or the store cannot be
// read, 2 for bad arguments.

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigService } from '../admin/config-service.ts';
import { inlineChecker } from '../admin/checker.ts';
import { TRACKING_OFF } from '../tracking/tracking-access.ts';
import { CliExit, EXIT_REFUSED, EXIT_USAGE, openCliStores, printJson, storeUrl } from './io.ts';
import { trackQueryFrom, type SearchArgs } from '../tracking/search-args.ts';
import { formatEntries, formatTimeline } from '../tracking/track-format.ts';
import { TrackQueryError } from '../tracking/track-query.ts';
import type { TrackingStore, TrackPage, TrackQuery } from '../tracking/tracking-store.ts';

interface TrackOptions {
  from?: string;
  to?: string;
  client?: string;
  id?: string;
  messageId?: string;
  subject?: string;
  status?: string[];
  since?: string;
  until?: string;
  limit?: string;
  cursor?: string;
  json?: boolean;
}

/** A queue id, or an entry key from --json (QUEUEID:n, CID:t:n). */
const TIMELINE_ID = /^[A-Za-z0-9][A-Za-z0-9:._-]{0,199}$/;

/** The embedded store's file (src/store/embedded-stores.ts). */
const TRACKING_FILE = 'tracking.db';

const flagOf = (name: string): string => `--${name.replace(/_/g, '-')}`;

export function registerTrackCommand(program: Command, dataOption: () => string): void {
  program
    .command('track')
    .description('search the message tracking: where a message is, why it was refused (newest first, a page at a time); --id: one message\'s timeline')
    .option('--from <address>', 'envelope sender: an address, @domain for a whole domain, or <> for the null sender')
    .option('--to <address>', 'recipient: an address, or @domain for a whole domain')
    .option('--client <ip>', 'client address')
    .option('--id <queue-id>', 'one message\'s timeline: its connection, each decision with its rule, scan verdicts, delivery attempts with the remote reply, DSNs (a queue id, or an entry key from --json)')
    .option('--message-id <id>', 'the Message-ID header, with or without <>')
    .option('--subject <text>', 'words of the Subject (recorded only with tracking.subject: true)')
    .option('--status <status>', 'only these statuses, comma-separated or the flag repeated: refused, tempfailed, queued, deferred, delivered, bounced, quarantined, held, discarded, removed', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--since <time>', 'from this time: 2026-06-15, 2026-06-15T10:30 (local time; Z or +02:00 to be exact), or a time ago: 30m, 24h, 7d')
    .option('--until <time>', 'before this time (as --since)')
    .option('--limit <n>', 'entries per page, 1 to 500 (default 50)')
    .option('--cursor <cursor>', 'the next page: the cursor the previous page printed')
    .option('--json', 'print the page ({entries, next}) or, with --id, the timeline ({entries, events}) as JSON')
    .action(async (opts: TrackOptions) => {
      if (opts.id !== undefined) return timeline(dataOption(), opts);
      const args: SearchArgs = {
        from: opts.from,
        to: opts.to,
        client: opts.client,
        message_id: opts.messageId,
        subject: opts.subject,
        status: opts.status,
        since: opts.since,
        until: opts.until,
        limit: opts.limit,
        cursor: opts.cursor,
      };
      const parsed = trackQueryFrom(args, Date.now(), flagOf);
      if (!parsed.ok) throw new CliExit(EXIT_USAGE, parsed.error);
      const page = await withTracking(dataOption(), async (t) => (t ? search(t, parsed.value) : { entries: [], next: null }));
      if (opts.json) return printJson(page);
      process.stdout.write(page.entries.length === 0 ? (opts.cursor ? 'no more entries\n' : 'no entry matches\n') : formatEntries(page.entries));
      if (page.next !== null) process.stdout.write(`\n${page.entries.length} entries (newest first); the next page: ${nextCommand(process.argv.slice(2), page.next)}\n`);
      else if (page.entries.length > 0) process.stdout.write(`\n${page.entries.length} entr${page.entries.length === 1 ? 'y' : 'ies'}; this is the last page\n`);
    });
}

async function timeline(dataDir: string, opts: TrackOptions): Promise<void> {
  const id = (opts.id ?? '').trim();
  const others = (['from', 'to', 'client', 'messageId', 'subject', 'since', 'until', 'limit', 'cursor'] as const).filter((k) => opts[k] !== undefined);
  if (others.length > 0 || opts.status !== undefined) {
    const names = [...others.map((k) => flagOf(k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`))), ...(opts.status !== undefined ? ['--status'] : [])];
    throw new CliExit(EXIT_USAGE, `--id shows one message's timeline and takes no search option (${names.join(', ')}); leave --id out to search`);
  }
  if (!TIMELINE_ID.test(id)) throw new CliExit(EXIT_USAGE, `--id: "${id.slice(0, 80)}" is neither a queue id nor an entry key`);
  const t = await withTracking(dataDir, async (s) => (s ? s.timeline(id) : null));
  if (!t) throw new CliExit(EXIT_REFUSED, `nothing is recorded for ${id} (an unknown queue id or entry key, or one older than tracking.retention)`);
  if (opts.json) return printJson(t);
  process.stdout.write(formatTimeline(id, t));
}

async function search(t: TrackingStore, q: TrackQuery): Promise<TrackPage> {
  try {
    return await t.search(q);
  } catch (err) {
    // A cursor the store did not make (mistyped, cut short).
    if (err instanceof TrackQueryError) throw new CliExit(EXIT_USAGE, /cursor/.test(err.message) ? `--cursor: ${err.message}` : err.message);
    throw err;
  }
}

/**
 * Runs `fn` on the installation's tracking store (embedded, or the cluster
 * store with --store), or on none (null) when nothing was ever recorded in
 * the data directory: the command does not make DATA/tracking.db (as
 * another user than the daemon's, it would stand in the daemon's way). Off
 * in the settings, or a store that fails: exit status 1.
 */
async function withTracking<T>(dataDir: string, fn: (t: TrackingStore | null) => Promise<T>): Promise<T> {
  const embedded = storeUrl() === undefined;
  // A mistyped --data must not read as "nothing was recorded" (nor make a directory there).
  if (embedded && !existsSync(resolve(dataDir))) throw new CliExit(EXIT_REFUSED, `there is no data directory ${resolve(dataDir)}: check --data`);
  const stores = await openCliStores(dataDir);
  try {
    const settings = await new ConfigService(stores.config, inlineChecker).settings();
    if (!settings.tracking.enabled) throw new CliExit(EXIT_REFUSED, TRACKING_OFF);
    if (embedded && !existsSync(join(resolve(dataDir), TRACKING_FILE))) return await fn(null);
    return await fn(stores.tracking);
  } catch (err) {
    if (err instanceof CliExit) throw err;
    throw new CliExit(EXIT_REFUSED, `the tracking store cannot be read: ${(err as Error).message}`);
  } finally {
    await stores.close();
  }
}

/** The same command line with the next page's cursor (the old one dropped), quoted for a POSIX shell. */
export function nextCommand(argv: readonly string[], cursor: string): string {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--cursor') {
      i++;
      continue;
    }
    if (a.startsWith('--cursor=')) continue;
    out.push(a);
  }
  return ['mailwarden', ...out, '--cursor', cursor].map(shellQuote).join(' ');
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
