// `mailwarden config ...`: import, check, export, history, diff, rollback.

import type { Command } from 'commander';
import { CliExit, EXIT_REFUSED, meta, parseRevisionNumber, printFindings, printJson, readSettingsFile, withService } from './io.ts';
import { formatChange } from '../config/diff.ts';
import { formatSettings } from '../config/text.ts';
import type { ApplyResult } from '../admin/config-service.ts';

/** `doc`: the document that was checked, to name the objects the findings are about. */
function report(r: ApplyResult, json: boolean, doc: unknown): void {
  if (json) printJson(r);
  else {
    printFindings(r.errors, r.warnings, doc);
    if (r.ok && r.revision) {
      for (const c of r.changes) process.stdout.write(`${formatChange(c)}\n`);
      process.stdout.write(`applied: revision ${r.revision.number} is active (${r.changes.length} change${r.changes.length === 1 ? '' : 's'})\n`);
    } else if (r.ok) process.stdout.write('nothing changed\n');
  }
  if (!r.ok) throw new CliExit(EXIT_REFUSED, `refused: ${r.errors.length} error${r.errors.length === 1 ? '' : 's'}; the active revision is unchanged`);
}

export function registerConfigCommands(program: Command, dataOption: () => string): void {
  const config = program.command('config').description('the settings document and its revisions');

  config
    .command('import')
    .description('validate FILE and make it the active revision')
    .argument('<file>', 'YAML or JSON settings document')
    .option('--comment <text>', 'why this change')
    .option('--author <name>', 'who made it (default: cli:<login>)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts: { comment?: string; author?: string; json?: boolean }) => {
      const raw = readSettingsFile(file);
      await withService(dataOption(), async (svc) => report(await svc.applyDocument(raw, meta(opts, `import ${file}`)), opts.json === true, raw));
    });

  config
    .command('check')
    .description('validate FILE without applying it; show what would change')
    .argument('<file>', 'YAML or JSON settings document')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const raw = readSettingsFile(file);
      await withService(dataOption(), async (svc) => {
        const r = await svc.check(raw);
        if (opts.json) printJson(r);
        else {
          printFindings(r.errors, r.warnings, raw);
          if (r.ok) {
            for (const c of r.changes) process.stdout.write(`${formatChange(c)}\n`);
            process.stdout.write(`valid (${r.warnings.length} warning${r.warnings.length === 1 ? '' : 's'}, ${r.changes.length} change${r.changes.length === 1 ? '' : 's'} against the active revision)\n`);
          }
        }
        if (!r.ok) throw new CliExit(EXIT_REFUSED, `invalid: ${r.errors.length} error${r.errors.length === 1 ? '' : 's'}`);
      });
    });

  config
    .command('export')
    .description('print the active settings (password hashes left out unless --with-secrets)')
    .option('--with-secrets', 'include password hashes and the smarthost password')
    .option('--revision <n>', 'a past revision instead of the active one')
    .option('--json', 'JSON instead of YAML')
    .action(async (opts: { withSecrets?: boolean; revision?: string; json?: boolean }) => {
      await withService(dataOption(), async (svc) => {
        const s = await svc.export({ withSecrets: opts.withSecrets === true, ...(opts.revision ? { revision: parseRevisionNumber(opts.revision) } : {}) });
        process.stdout.write(formatSettings(s, opts.json ? 'json' : 'yaml'));
      });
    });

  config
    .command('history')
    .description('list the applied revisions, newest first')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withService(dataOption(), async (svc) => {
        const active = await svc.activeRevision();
        const h = await svc.history();
        if (opts.json) return printJson(h.map((r) => ({ ...r, active: r.number === active })));
        for (const r of h) process.stdout.write(`${r.number === active ? '*' : ' '} ${String(r.number).padStart(4)}  ${r.created}  ${r.author}  ${r.comment}\n`);
      });
    });

  config
    .command('diff')
    .description('what changed from revision A to revision B (default: the active one)')
    .argument('<a>', 'revision number')
    .argument('[b]', 'revision number')
    .option('--json', 'print as JSON')
    .action(async (a: string, b: string | undefined, opts: { json?: boolean }) => {
      await withService(dataOption(), async (svc) => {
        const from = parseRevisionNumber(a);
        const to = b === undefined ? ((await svc.activeRevision()) ?? 0) : parseRevisionNumber(b);
        const changes = await svc.diff(from, to);
        if (opts.json) return printJson(changes);
        for (const c of changes) process.stdout.write(`${formatChange(c)}\n`);
        if (changes.length === 0) process.stdout.write('no differences\n');
      });
    });

  config
    .command('rollback')
    .description('make the settings of revision N active again (as a new revision)')
    .argument('<n>', 'revision number')
    .option('--comment <text>', 'why')
    .option('--author <name>', 'who')
    .option('--json', 'print the result as JSON')
    .action(async (n: string, opts: { comment?: string; author?: string; json?: boolean }) => {
      const num = parseRevisionNumber(n);
      await withService(dataOption(), async (svc) => {
        const doc = await svc.export({ revision: num });
        report(await svc.rollback(num, meta(opts, `rollback to revision ${num}`)), opts.json === true, doc);
      });
    });
}
