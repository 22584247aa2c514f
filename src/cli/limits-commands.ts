// `mailwarden limits show`: the rate limits' current counters (who, limit,
// count, window, resets at), read from the store, so that it answers with the
// daemon stopped too (a running daemon hands its counts to the store every
// second).

import type { Command } from 'commander';
import { compileSnapshot } from '../config/snapshot.ts';
import { parseIp } from '../objects/ip.ts';
import { rateCounterViews, type RateCounterView } from '../limits/rate-view.ts';
import { openCliStores, printJson } from './io.ts';
import { ConfigService } from '../admin/config-service.ts';
import { inlineChecker } from '../admin/checker.ts';

export function registerLimitsCommands(program: Command, dataOption: () => string): void {
  const limits = program.command('limits').description('rate limits (limits.rate)');
  limits
    .command('show')
    .description('list the rate limits\' current counters: who, limit, count, window and when it resets')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const stores = await openCliStores(dataOption());
      try {
        const settings = await new ConfigService(stores.config, inlineChecker).settings();
        const snap = compileSnapshot(settings, 0);
        const now = Date.now();
        // Without a limit there is no counter, and the embedded store's file is not made for nothing.
        const rows = settings.limits.rate.length > 0 ? await stores.rate.current(now) : [];
        const views = rateCounterViews(settings.limits.rate, rows, (network, address) => {
          const ip = parseIp(address);
          return ip.ok && snap.networks.match(network, ip.value) !== null;
        });
        if (opts.json) printJson(views);
        else process.stdout.write(formatTable(views, settings.limits.rate.length));
      } finally {
        await stores.close();
      }
    });
}

function formatTable(views: readonly RateCounterView[], configured: number): string {
  if (configured === 0) return 'no rate limits are configured (limits.rate)\n';
  if (views.length === 0) return 'no counters in the current windows\n';
  const rows = views.map((v) => [v.name ?? '(no limit now)', v.who, v.value, v.unit, v.max === null ? `${v.count}` : `${v.count}/${v.max}`, v.per, v.action ?? '-', v.resets_at]);
  const head = ['LIMIT', 'WHO', 'VALUE', 'UNIT', 'COUNT', 'PER', 'ACTION', 'RESETS AT'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd() + '\n';
  return line(head) + rows.map(line).join('');
}
