// The `mailwarden` command tree (commander), built apart from running it so
// that a test can walk every command (each must say what it is for).
// Exit statuses: 0 done or accepted, 1 refused or failed, 2 bad arguments.

import { Command } from 'commander';
import { setStoreOption } from './io.ts';
import { VERSION } from '../core/version.ts';
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
import { registerDkimCommands } from './dkim-commands.ts';
import { registerLimitsCommands } from './limits-commands.ts';
import { registerTrackCommand } from './track-command.ts';
import { registerContentCommands } from './content-commands.ts';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('mailwarden')
    .description('SMTP proxy and mail relay')
    .version(VERSION, '-V, --version', 'print the version of mailwarden')
    .option('--data <dir>', `data directory (default: ${DEFAULT_DATA_DIR}); with a cluster store, only what is node-local (TLS key, control socket, lock)`)
    .option('--store <url>', 'the cluster store: postgresql://USER:PASSWORD@HOST:PORT/DATABASE (default: $MAILWARDEN_STORE, else the embedded store in the data directory)')
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
  registerDkimCommands(program, dataOption);
  registerLimitsCommands(program, dataOption);
  registerTrackCommand(program, dataOption);
  registerContentCommands(program, dataOption);

  // Every level (`admin token create` is three deep): a usage error must end
  // in main's handler (exit 2), never in commander's own process.exit(1).
  const override = (cmd: Command): void => {
    cmd.exitOverride();
    for (const sub of cmd.commands) override(sub);
  };
  override(program);
  return program;
}

/** Every command under `cmd`, with its full name (`admin token list`). */
export function walkCommands(cmd: Command, prefix: string[] = []): { name: string; command: Command }[] {
  return cmd.commands.flatMap((sub) => {
    const path = [...prefix, sub.name()];
    return [{ name: path.join(' '), command: sub }, ...walkCommands(sub, path)];
  });
}
