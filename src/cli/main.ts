// The `mailwarden` command. Exit statuses: 0 done or accepted, 1 refused or
// failed, 2 bad arguments.

import { CommanderError } from 'commander';
import { CliExit, EXIT_REFUSED, EXIT_USAGE } from './io.ts';
import { formatFinding } from '../config/issues.ts';
import { buildProgram } from './program.ts';

// `mailwarden … | head`: the reader went away. Nothing more can be shown, and
// nothing is wrong: stop quietly instead of printing a write EPIPE stack.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw err;
  });
}

const program = buildProgram();

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
