// `mailwarden store migrate --to URL`: copies this single node (--data DIR)
// into an empty cluster store (src/store/migrate.ts) and prints what it
// copied. The URL's password is never printed, in the summary or in an error.

import type { Command } from 'commander';
import { resolve } from 'node:path';
import { redactUrl } from '../store/pg/errors.ts';
import { redactIn, storeUrlProblem } from '../store/open-stores.ts';
import type { Counts, MigrationSummary } from '../store/migrate.ts';
import { cliLogger, CliExit, EXIT_REFUSED, EXIT_USAGE, printJson } from './io.ts';

export function registerStoreCommands(program: Command, dataOption: () => string): void {
  const store = program.command('store').description('the store of an installation: moving a single node into a cluster store');
  store
    .command('migrate')
    .description('copy this node (--data DIR) into an empty PostgreSQL cluster store; a re-run completes an interrupted migration')
    .requiredOption('--to <url>', 'the cluster store: postgresql://user:password@host:port/database')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: { to: string; json?: boolean }) => {
      if (!/^postgres(ql)?:\/\//.test(opts.to)) throw new CliExit(EXIT_USAGE, `--to must be a postgresql:// URL, not ${redactUrl(opts.to)}`);
      const problem = storeUrlProblem(opts.to);
      if (problem) throw new CliExit(EXIT_USAGE, problem);
      const hide = scrubber(opts.to);
      // Loaded only here: every other command of a single node runs without the PostgreSQL client.
      const { migrateStore, MigrationRefused } = await import('../store/migrate.ts');
      let summary: MigrationSummary;
      try {
        summary = await migrateStore({ dataDir: resolve(dataOption()), url: opts.to, logger: cliLogger() });
      } catch (err) {
        const message = hide(err instanceof Error ? err.message : String(err));
        if (err instanceof MigrationRefused) throw new CliExit(EXIT_REFUSED, `store migrate refused: ${message}`);
        throw new CliExit(EXIT_REFUSED, `store migrate failed: ${message} (run it again to complete the migration)`);
      }
      if (opts.json) return printJson({ ...summary, target: redactUrl(opts.to) });
      process.stdout.write(formatSummary(summary, redactUrl(opts.to)));
    });
}

/** Removes the URL's password from a text (the same rule as every other store message: redactIn). */
export function scrubber(url: string): (text: string) => string {
  return (text) => redactIn(text, url);
}
export function formatSummary(s: MigrationSummary, target: string): string {
  const line = (what: string, c: Counts) => `  ${what.padEnd(22)} ${String(c.copied).padStart(7)} copied${c.skipped > 0 ? `, ${c.skipped} there already` : ''}\n`;
  return (
    `migrated ${s.source} into ${target}${s.resumed ? ' (an interrupted migration completed)' : ''}\n` +
    line('revisions', s.revisions) +
    `  ${'active revision'.padEnd(22)} ${String(s.active ?? 'none').padStart(7)}\n` +
    line('admin accounts', s.admins) +
    line('API tokens', s.tokens) +
    line('greylist records', s.greylist) +
    line('queued messages', s.queued) +
    line('quarantined messages', s.quarantined) +
    'the data directory is untouched: remove it once the cluster runs\n'
  );
}
