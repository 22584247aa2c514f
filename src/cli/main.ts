// The `mailwarden` command. Exit statuses: 0 done or accepted, 1 refused or
// failed, 2 bad arguments.

import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliExit, EXIT_REFUSED, EXIT_USAGE, setStoreOption } from './io.ts';
import { formatFinding } from '../config/issues.ts';
import { DEFAULT_DATA_DIR } from '../store/data-dir.ts';
import { registerConfigCommands } from './config-commands.ts';
import { registerObjectCommands } from './object-commands.ts';
import { registerPolicyCommands } from './policy-commands.ts';
import { registerInitCommand } from './init-command.ts';
import { registerStartCommand } from './start-command.ts';
import { registerQueueCommands } from './queue-commands.ts';
import { registerQuarantineCommands } from './quarantine-commands.ts';
import { registerAdminCommands } from './admin-commands.ts';
import { registerClusterCommands } from './cluster-commands.ts';
import { registerStoreCommands } from './store-commands.ts';

// `mailwarden … | head`: the reader went away. Nothing more can be shown, and
// nothing is wrong: stop quietly instead of printing a write EPIPE stack.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw err;
  });
}

const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };

const program = new Command();
program
  .name('mailwarden')
  .description('SMTP proxy and mail relay')
  .version(version, '-V, --version', 'print the version of mailwarden')
  .option('--data <dir>', `data directory (default: ${DEFAULT_DATA_DIR}); with a cluster store, only what is node-local (TLS key, control socket, lock)`)
  .option('--store <url>', 'the cluster store: postgresql://USER:PASSWORD@HOST:PORT/DATABASE (default: $MAILWARDEN_STORE, else the embedded store in the data directory)')
  .exitOverride()
  .showHelpAfterError(false)
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

const dataOption = (): string => program.opts<{ data?: string }>().data ?? DEFAULT_DATA_DIR;
setStoreOption(() => program.opts<{ store?: string }>().store);

registerInitCommand(program, dataOption);
registerConfigCommands(program, dataOption);
registerObjectCommands(program, dataOption);
registerPolicyCommands(program, dataOption);
registerStartCommand(program, dataOption);
registerQueueCommands(program, dataOption);
registerQuarantineCommands(program, dataOption);
registerAdminCommands(program, dataOption);
registerClusterCommands(program, dataOption);
registerStoreCommands(program, dataOption);

for (const cmd of program.commands) {
  cmd.exitOverride();
  for (const sub of cmd.commands) sub.exitOverride();
}

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      process.exitCode = ok ? 0 : EXIT_USAGE;
      return;
    }
    if (err instanceof CliExit) {
      for (const d of err.details) process.stderr.write(`error: ${formatFinding(d)}\n`);
      process.stderr.write(`mailwarden: ${err.message}\n`);
      process.exitCode = err.status;
      return;
    }
    // An administrator reads a sentence; the stack is for us (MAILWARDEN_DEBUG=1).
    const detail = err instanceof Error ? (process.env.MAILWARDEN_DEBUG ? (err.stack ?? err.message) : err.message) : String(err);
    process.stderr.write(`mailwarden: ${detail}\n`);
    process.exitCode = EXIT_REFUSED;
  }
}

await main();
