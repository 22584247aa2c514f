// `mailwarden config ...`: import, check, export, history, diff, rollback
// (and preview, in preview-command.ts).
// A rollback shows what it would change against the active revision and asks
// on a terminal (--yes skips the question, --dry-run only shows); what was
// shown is what is applied: a change landed meanwhile refuses it.

import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { CliExit, EXIT_REFUSED, EXIT_USAGE, meta, parseRevisionNumber, printFindings, printJson, readSettingsFile, withService } from './io.ts';
import { formatChange, secretChanges, type Change } from '../config/diff.ts';
import { formatSettings } from '../config/text.ts';
import type { Finding } from '../config/issues.ts';
import type { ApplyResult, ConfigService } from '../admin/config-service.ts';
import { registerConfigPreview } from './preview-command.ts';

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
    .description('make the settings of revision N active again (as a new revision): shows the changes against the active revision and asks first')
    .argument('<n>', 'revision number')
    .option('--comment <text>', 'why')
    .option('--author <name>', 'who')
    .option('--yes', 'apply without asking (needed when stdin is not a terminal, and with --json)')
    .option('--dry-run', 'only show what the rollback would change; apply nothing')
    .option('--json', 'print the result (with --dry-run: the preview) as JSON')
    .action(async (n: string, opts: RollbackOptions) => {
      const num = parseRevisionNumber(n);
      const dryRun = opts.dryRun === true;
      // Refused before anything is read: a script must not hang on a question, nor roll back unasked.
      if (!dryRun && opts.yes !== true) {
        if (opts.json) throw new CliExit(EXIT_USAGE, 'config rollback --json asks no question: add --yes to apply, or --dry-run to see the changes');
        if (!process.stdin.isTTY) throw new CliExit(EXIT_USAGE, 'config rollback asks for confirmation and stdin is not a terminal: add --yes to apply without asking, or --dry-run to see the changes');
      }
      await withService(dataOption(), (svc) => rollback(svc, num, opts));
    });

  registerConfigPreview(config, dataOption);
}

interface RollbackOptions {
  comment?: string;
  author?: string;
  yes?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

/** What a rollback to `n` would do against the active revision, as GET /api/revisions/{n}/rollback answers it. */
interface RollbackPreview {
  revision: number;
  active: number | null;
  ok: boolean;
  errors: Finding[];
  warnings: Finding[];
  changes: Change[];
  /** Passwords it would bring back, by path (never their values). */
  secrets: string[];
}

async function previewRollback(svc: ConfigService, n: number): Promise<RollbackPreview> {
  const active = await svc.activeRevision();
  const [current, document] = [await svc.export({ withSecrets: true }), await svc.export({ revision: n, withSecrets: true })];
  const r = await svc.check(document);
  if ((await svc.activeRevision()) !== active) throw new CliExit(EXIT_REFUSED, 'the settings changed while the rollback was previewed: run it again');
  return { revision: n, active, ok: r.ok, errors: r.errors, warnings: r.warnings, changes: r.changes, secrets: secretChanges(current, document) };
}

function printPreview(p: RollbackPreview, doc: unknown): void {
  printFindings(p.errors, p.warnings, doc);
  if (!p.ok) return;
  const count = `${p.changes.length} change${p.changes.length === 1 ? '' : 's'}`;
  process.stdout.write(`rollback to revision ${p.revision}: ${count} against the active revision ${p.active ?? 0}\n`);
  for (const c of p.changes) process.stdout.write(`${formatChange(c)}\n`);
  for (const s of p.secrets) process.stdout.write(`! ${s}: an older password comes back\n`);
}

/** y or yes (any case) on the terminal; anything else, or the end of input, is no. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.once('close', () => resolve(''));
      rl.question(question).then(resolve, () => resolve(''));
    });
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}

async function rollback(svc: ConfigService, n: number, opts: RollbackOptions): Promise<void> {
  const m = meta(opts, `rollback to revision ${n}`);
  const preview = await previewRollback(svc, n);
  const doc = await svc.export({ revision: n });
  if (opts.dryRun) {
    if (opts.json) printJson(preview);
    else {
      printPreview(preview, doc);
      if (preview.ok) process.stdout.write(preview.changes.length === 0 && preview.secrets.length === 0 ? 'nothing would change (dry run)\n' : 'dry run: nothing applied\n');
    }
    if (!preview.ok) throw new CliExit(EXIT_REFUSED, `the rollback would be refused: ${preview.errors.length} error${preview.errors.length === 1 ? '' : 's'}`);
    return;
  }
  // Applied only against the revision the preview was made against: a change that landed meanwhile refuses it (stale revision).
  const against = { revision: preview.active ?? 0 };
  if (opts.yes) return report(await svc.rollback(n, m, against), opts.json === true, doc);
  printPreview(preview, doc);
  if (!preview.ok) throw new CliExit(EXIT_REFUSED, `refused: ${preview.errors.length} error${preview.errors.length === 1 ? '' : 's'}; the active revision is unchanged`);
  if (preview.changes.length === 0 && preview.secrets.length === 0) {
    process.stdout.write('nothing changed\n');
    return;
  }
  if (!(await confirm(`Roll back to revision ${n}? [y/N] `))) throw new CliExit(EXIT_REFUSED, 'not confirmed: nothing applied');
  const r = await svc.rollback(n, m, against);
  printFindings(r.errors, [], doc);
  if (!r.ok) throw new CliExit(EXIT_REFUSED, `refused: ${r.errors.length} error${r.errors.length === 1 ? '' : 's'}; the active revision is unchanged`);
  process.stdout.write(r.revision ? `applied: revision ${r.revision.number} is active (${r.changes.length} change${r.changes.length === 1 ? '' : 's'})\n` : 'nothing changed\n');
}
