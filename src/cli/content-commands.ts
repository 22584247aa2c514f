// `mailwarden content test FILE.eml`: which content rule matches which part
// of a message, and what the daemon would do with it (docs/content.md), from
// the installation's active settings (--data) or a settings file (--config).
// Exit status: 0 no rule matched, 1 a rule matched, 2 an error (the file
// cannot be read, bad arguments, the settings cannot be had).

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'node:fs/promises';
import { CliExit, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, printJson, readSettingsFile, storeUrl, withService } from './io.ts';
import { validate } from '../config/validate.ts';
import { labelFindings } from './finding-labels.ts';
import type { ContentSettings } from '../config/content-settings.ts';
import { evaluateMessage } from '../content/evaluate.ts';
import { contentReport, reportText } from '../content/report.ts';

interface TestOpts {
  json?: boolean;
  direction: string;
  config?: string;
}

async function activeContent(opts: TestOpts, data: string): Promise<{ content: ContentSettings; revision: number | null }> {
  if (opts.config !== undefined) {
    const raw = readSettingsFile(opts.config, EXIT_USAGE);
    const v = validate(raw);
    if (v.errors.length > 0) throw new CliExit(EXIT_USAGE, `${opts.config} is not a valid settings document`, labelFindings(v.errors, raw));
    return { content: v.settings.content, revision: null };
  }
  // A mistyped --data must not read as the embedded defaults.
  if (storeUrl() === undefined && !existsSync(join(data, 'mailwarden.db'))) throw new CliExit(EXIT_USAGE, `${data} holds no configuration: check --data (\`mailwarden init\` or \`start\` makes one), or give --config`);
  try {
    return await withService(data, async (svc) => {
      const snap = await svc.snapshot();
      return { content: snap.settings.content, revision: snap.revision };
    });
  } catch (err) {
    // An error here is 2 (the contract of this command), not the 1 of a matched rule.
    if (err instanceof CliExit) throw new CliExit(EXIT_USAGE, err.message, err.details);
    throw err;
  }
}

/** The message's octets as a stream (and its size when known): FILE, or stdin for "-". */
async function messageStream(file: string): Promise<{ source: AsyncIterable<Buffer>; size?: number }> {
  if (file === '-') return { source: process.stdin };
  try {
    // Opened first, so that a missing file is a clear error before any work. The stream holds the
    // FileHandle and closes it at its end: a bare fd would be closed again when the handle is collected.
    const fh = await open(file, 'r');
    const { size } = await fh.stat();
    return { source: fh.createReadStream({ highWaterMark: 64 * 1024 }), size };
  } catch (err) {
    throw new CliExit(EXIT_USAGE, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export function registerContentCommands(program: Command, dataOption: () => string): void {
  const content = program.command('content').description('the content rules: attachment and content filters (docs/content.md)');

  content
    .command('test')
    .description('which content rule matches which part of a message, and the action; exit 0 nothing matched, 1 a rule matched, 2 error')
    .argument('<file>', 'the message (.eml, as it would arrive); - reads stdin')
    .option('--direction <d>', 'judge it as inbound (a client without a relay right) or relayed mail', 'inbound')
    .option('--config <file>', 'use this settings file instead of the installation')
    .option('--json', 'print one JSON object')
    .action(async (file: string, opts: TestOpts, cmd: Command) => {
      if (opts.direction !== 'inbound' && opts.direction !== 'relayed') throw new CliExit(EXIT_USAGE, '--direction must be inbound or relayed');
      const { content: settings, revision } = await activeContent(opts, cmd.optsWithGlobals<{ data?: string }>().data ?? dataOption());
      const relayed = opts.direction === 'relayed';
      const { source, size } = await messageStream(file);
      let report;
      try {
        const e = await evaluateMessage(settings, source, { relayed, always: true, ...(size !== undefined ? { knownSize: size } : {}) });
        report = contentReport(e!, relayed);
      } catch (err) {
        throw new CliExit(EXIT_USAGE, `cannot read ${file === '-' ? 'stdin' : file}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (!settings.enabled) report = { ...report, rules: [] };
      if (opts.json) printJson({ ...report, enabled: settings.enabled, revision });
      else process.stdout.write((settings.enabled ? '' : 'content rules are off (content.enabled: false): nothing would be done\n') + reportText(report));
      process.exitCode = report.action === 'accept' && report.message_hits.length === 0 && report.parts.every((p) => p.hits.length === 0) ? EXIT_OK : EXIT_REFUSED;
    });
}
