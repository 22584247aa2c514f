// `mailwarden queue list|show`: read the spool (delivery comes with issue #4).

import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CliExit, EXIT_REFUSED, printJson } from './io.ts';
import { Spool } from '../queue/spool.ts';
import { jsonLogger } from '../log/logger.ts';

function openSpool(dataDir: string): Spool {
  // Corrupt files found while reading are moved aside; say so on stderr.
  const spool = new Spool(resolve(dataDir), jsonLogger((l) => process.stderr.write(l)));
  return spool;
}

export function registerQueueCommands(program: Command, dataOption: () => string): void {
  const queue = program.command('queue').description('messages in the spool');
  queue
    .command('list')
    .description('one line per message (--json: an array of envelopes)')
    .option('--json', 'print a JSON array, one object per message')
    .action((opts: { json?: boolean }) => {
      const messages = openSpool(dataOption()).list();
      if (opts.json) return printJson(messages.map((m) => m.envelope));
      for (const { envelope: e } of messages) {
        const statuses = e.recipients.map((r) => `${r.address} (${r.kind}, ${r.status})`).join(', ');
        process.stdout.write(`${e.id}  ${e.received_at}  ${String(e.size).padStart(8)}  <${e.sender}>  ${statuses}\n`);
      }
      if (messages.length === 0 && !opts.json) process.stdout.write('the queue is empty\n');
    });
  queue
    .command('show')
    .description('the envelope and the message')
    .argument('<id>', 'queue id')
    .option('--json', 'the envelope as JSON only')
    .action((id: string, opts: { json?: boolean }) => {
      const m = openSpool(dataOption()).read(id);
      if (!m) throw new CliExit(EXIT_REFUSED, `no message ${id} in the queue`);
      if (opts.json) return printJson(m.envelope);
      process.stdout.write(JSON.stringify(m.envelope, null, 2) + '\n\n');
      process.stdout.write(readFileSync(m.messagePath));
    });
}
