// `mailwarden config preview FILE [--days 7] [--json]`: what FILE would do
// to last week's real mail before it is imported — the recorded RCPT
// decisions replayed under the active revision and under FILE
// (src/preview/), printed by client in the issue's words ("would now refuse:
// 132 recipients from 10.1.2.3 (printer-2, rule 4) over 7 days"), or with
// --json as POST /api/settings/preview answers. FILE is read and validated as
// `config check` does (an invalid one: its errors, exit status 1). Exit
// status 3 when the change would refuse mail the active revision accepts,
// so that a script can stop before `config import`.

import type { Command } from 'commander';
import { resolve } from 'node:path';
import { ConfigService, ServiceError } from '../admin/config-service.ts';
import { inlineChecker } from '../admin/checker.ts';
import { LazyDirectories } from '../directory/lazy-directories.ts';
import { acceptVerb, describeGroup, type ClientImpact, type ImpactPreview, type Transition } from '../preview/impact.ts';
import { checkDays, DEFAULT_DAYS, previewImpact, TrackingUnavailable } from '../preview/preview.ts';
import { CliExit, EXIT_REFUSED, EXIT_USAGE, openCliStores, printFindings, printJson, readSettingsFile } from './io.ts';

/** The change would refuse mail that the active revision accepts. */
export const EXIT_WOULD_REFUSE = 3;

export function registerConfigPreview(config: Command, dataOption: () => string): void {
  config
    .command('preview')
    .description('replay the recorded mail of the last days under FILE and the active revision: what FILE would now refuse, accept or relay (exit 3 when it would refuse mail accepted now)')
    .argument('<file>', 'YAML or JSON settings document')
    .option('--days <n>', `how many days of recorded decisions (1-90, default ${DEFAULT_DAYS})`)
    .option('--json', 'print the preview as JSON (as POST /api/settings/preview answers)')
    .action(async (file: string, opts: { days?: string; json?: boolean }) => {
      const days = parseDays(opts.days);
      const raw = readSettingsFile(file);
      const p = await preview(dataOption(), raw, days);
      if (opts.json) printJson(p);
      else process.stdout.write(formatImpact(p, file));
      if (p.caution) throw new CliExit(EXIT_WOULD_REFUSE, `caution: ${file} would refuse mail that the active revision accepts`);
    });
}

function parseDays(text: string | undefined): number {
  if (text === undefined) return DEFAULT_DAYS;
  const n = /^[0-9]{1,3}$/.test(text) ? Number(text) : Number.NaN;
  const bad = checkDays(n);
  if (bad) throw new CliExit(EXIT_USAGE, `--days "${text}": ${bad}`);
  return n;
}

/** Validates `raw` against the active revision and replays the recorded decisions under both. */
async function preview(dataDir: string, raw: unknown, days: number): Promise<ImpactPreview> {
  const stores = await openCliStores(resolve(dataDir));
  let directories: LazyDirectories | null = null;
  try {
    const svc = new ConfigService(stores.config, inlineChecker);
    const c = await svc.candidate({ document: raw });
    printFindings(c.check.errors, c.check.warnings, raw);
    if (!c.candidate) throw new CliExit(EXIT_REFUSED, `invalid: ${c.check.errors.length} error${c.check.errors.length === 1 ? '' : 's'}`);
    if (!c.active.settings.tracking.enabled) process.stderr.write('note: message tracking is off (tracking.enabled: false): only what was recorded while it was on is replayed\n');
    if (c.active.settings.directories.length > 0 || c.candidate.settings.directories.length > 0) directories = new LazyDirectories();
    return await previewImpact(c.active, c.candidate, days, { tracking: () => stores.tracking, directories });
  } catch (err) {
    if (err instanceof ServiceError || err instanceof TrackingUnavailable) throw new CliExit(EXIT_REFUSED, err.message);
    throw err;
  } finally {
    await directories?.close();
    await stores.close();
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const when = (iso: string) => iso.slice(0, 16).replace('T', ' ');

function answer(r: Transition['before']): string {
  return r.action === 'accept' ? `accept (${r.rule}${r.kind ? `, ${r.kind}` : ''})` : `${r.action} ${r.code ?? '-'} (${r.rule} at ${r.stage})`;
}

function counted(list: { value: string; rcpts: number }[], more: number): string {
  return list.map((c) => `${c.value} (${c.rcpts})`).join(', ') + (more > 0 ? `, and ${more} more` : '');
}

function block(head: string, g: ClientImpact, days: number): string[] {
  const lines = [`${head}: ${describeGroup(g)} over ${plural(days, 'day')}`];
  for (const r of g.rules) lines.push(`  ${r.rcpts}: ${answer(r.before)} -> ${answer(r.after)}${r.after.why ? `: ${r.after.why}` : ''}`);
  lines.push(`  senders: ${counted(g.senders, g.more_senders)}`);
  lines.push(`  recipients: ${counted(g.recipients, g.more_recipients)}`);
  if (g.users.length) lines.push(`  users: ${g.users.join(', ')}`);
  if (g.listeners.length) lines.push(`  listeners: ${g.listeners.join(', ')}`);
  lines.push(`  seen ${when(g.first)} to ${when(g.last)} UTC`);
  return lines;
}

/** The preview as text: one block per client and change, then what was not replayed, then the summary. */
export function formatImpact(p: ImpactPreview, file: string): string {
  const out: string[] = [];
  const r = p.recorded;
  out.push(`impact preview of ${file} against revision ${p.active_revision}: ${plural(r.rcpts, 'recorded recipient')} (${plural(r.tuples, 'distinct decision')}) from ${when(p.since)} to ${when(p.until)} UTC`);
  if (r.truncated) out.push(`note: only the ${r.tuples} most frequent decisions were read (the limit); rarer ones are not in this preview`);
  for (const g of p.would_now_refuse) out.push(...block('would now refuse', g, p.days));
  for (const g of p.would_now_accept) out.push(...block(`would now ${acceptVerb([g])}`, g, p.days));
  for (const g of p.rule_changes) out.push(...block('another rule would decide', g, p.days));
  for (const n of p.not_replayed) out.push(`not replayed: ${plural(n.rcpts, 'recipient')}: ${n.reason} (${n.clients.join(', ')}${n.more_clients ? `, and ${n.more_clients} more` : ''})`);
  out.push(`${p.caution ? 'CAUTION: ' : ''}${p.summary}`);
  return out.join('\n') + '\n';
}
