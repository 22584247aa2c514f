// `mailwarden quarantine list|show|release|delete`: messages a scanner put
// aside (src/scan). Reading goes to the queue store; a release or a delete goes to
// the running daemon over its control socket (a released message is
// delivered at once), or, with no daemon, is made here under the lock.

import type { Command } from 'commander';
import { CliExit, EXIT_REFUSED, printJson } from './io.ts';
import { change, printBody, withQueue } from './queue-commands.ts';
import { Quarantine } from '../queue/quarantine.ts';
import { digestCommand } from './digest-command.ts';

export function registerQuarantineCommands(program: Command, dataOption: () => string): void {
  const q = program.command('quarantine').description('messages held back by the malware or spam scan');
  const open = <T>(fn: (q: Quarantine) => Promise<T>): Promise<T> => withQueue(dataOption(), (queue) => fn(new Quarantine(queue)));
  q.command('list')
    .description('one line per quarantined message (--json: an array of envelopes with the reason)')
    .option('--json', 'print a JSON array, one object per message')
    .action(async (opts: { json?: boolean }) => {
      const messages = await open((q) => q.list());
      if (opts.json) return printJson(messages);
      for (const e of messages) {
        const to = e.recipients.map((r) => r.address).join(', ');
        process.stdout.write(`${e.id}  ${e.received_at}  ${String(e.size).padStart(8)}  <${e.sender}>  ${to}  ${e.quarantine?.rule ?? ''}: ${e.quarantine?.reason ?? ''}\n`);
      }
      if (messages.length === 0) process.stdout.write('the quarantine is empty\n');
    });
  q.command('show')
    .description('the envelope with the reason, and the message')
    .argument('<id>', 'queue id')
    .option('--json', 'the envelope as JSON only')
    .action(async (id: string, opts: { json?: boolean }) => {
      await open(async (q) => {
        const m = await q.read(id);
        if (!m) throw new CliExit(EXIT_REFUSED, `no message ${id} in quarantine`);
        if (opts.json) return printJson(m);
        process.stdout.write(JSON.stringify(m, null, 2) + '\n\n');
        await printBody(await q.body(id));
      });
    });
  const ops: ['release' | 'delete', string, string][] = [
    ['release', 'deliver a quarantined message as if it had passed the scan', 'released'],
    ['delete', 'remove a quarantined message without notice', 'deleted'],
  ];
  for (const [op, description, done] of ops) {
    q.command(op)
      .description(description)
      .argument('<id>', 'queue id')
      .action(async (id: string) => {
        await change(dataOption(), `quarantine-${op}`, id);
        process.stdout.write(`${id} ${done}\n`);
      });
  }
  q.command('digest')
    .description('send the quarantine digest now: one message per local recipient with quarantined mail (docs/quarantine.md)')
    .option('--to <address>', 'only this recipient')
    .option('--dry-run', 'compose and count, queue nothing')
    .option('--json', 'print {sent: [{to, entries, id}], skipped}')
    .action(async (opts: { to?: string; dryRun?: boolean; json?: boolean }) => digestCommand(dataOption(), opts));
}
