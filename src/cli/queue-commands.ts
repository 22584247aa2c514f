// `mailwarden queue list|show|retry|hold|release|delete|bounce`. Reading goes
// straight to the spool files (an envelope is always rewritten atomically);
// changes go to the running daemon over its control socket, so they never
// race a delivery in flight, or, with no daemon running, are made here under
// the data-directory lock.

import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CliExit, EXIT_REFUSED, EXIT_USAGE, printJson } from './io.ts';
import { Spool } from '../queue/spool.ts';
import { jsonLogger } from '../log/logger.ts';
import { QUEUE_STATES, stateOf } from '../queue/envelope.ts';
import { recipientDomain } from '../delivery/routes.ts';
import { domainKey } from '../address/path.ts';
import { askDaemon, perform, type ControlAnswer, type ControlOp } from '../queue/control.ts';
import { QueueManager } from '../queue/manager.ts';
import { Quarantine } from '../queue/quarantine.ts';
import { lockDataDir, DataDirInUse } from '../store/data-dir-lock.ts';
import { openConfigStore } from '../store/data-dir.ts';
import { SnapshotSource } from '../config/snapshot-source.ts';

const STATES = QUEUE_STATES;

export function openSpool(dataDir: string): Spool {
  // A mistyped --data must not read as "the queue is empty".
  if (!existsSync(resolve(dataDir))) {
    throw new CliExit(EXIT_REFUSED, `there is no data directory ${resolve(dataDir)}: check --data`);
  }
  // Read-only users of the spool (list, show): they never move files; the logger is for the rest.
  return new Spool(resolve(dataDir), jsonLogger((l) => process.stderr.write(l)));
}

/** With no daemon running: the same operation on the files, under the lock. */
async function offline(dataDir: string, op: ControlOp, id: string | null): Promise<ControlAnswer> {
  let lock;
  try {
    lock = lockDataDir(dataDir);
  } catch (err) {
    if (err instanceof DataDirInUse) throw new CliExit(EXIT_REFUSED, `${err.message}; its control socket does not answer`);
    throw err;
  }
  const store = openConfigStore(dataDir);
  try {
    if (!(await store.active())) throw new CliExit(EXIT_REFUSED, `${dataDir} holds no configuration yet: run \`mailwarden init\` or \`mailwarden start\` first`);
    const source = await SnapshotSource.open(store);
    const spool = new Spool(dataDir, jsonLogger((l) => process.stderr.write(l)));
    spool.open();
    const manager = new QueueManager({ spool, snapshot: () => source.get(), logger: jsonLogger((l) => process.stderr.write(l)), deliver: false });
    manager.load();
    return await perform(manager, new Quarantine(spool), { op, id });
  } finally {
    await store.close();
    lock.release();
  }
}

export async function change(dataDir: string, op: ControlOp, id: string | null): Promise<number> {
  const dir = resolve(dataDir);
  const answer = (await askDaemon(dir, { op, id })) ?? (await offline(dir, op, id));
  if (!answer.ok) throw new CliExit(EXIT_REFUSED, answer.error);
  return answer.count;
}

export function registerQueueCommands(program: Command, dataOption: () => string): void {
  const queue = program.command('queue').description('messages in the queue');
  queue
    .command('list')
    .description('one line per message (--json: an array of envelopes, each with its state)')
    .option('--json', 'print a JSON array, one object per message')
    .option('--state <state>', `only messages in this state (${STATES.join(', ')})`)
    .option('--to <domain>', 'only messages with a recipient in this domain')
    .action((opts: { json?: boolean; state?: string; to?: string }) => {
      if (opts.state !== undefined && !(STATES as readonly string[]).includes(opts.state)) throw new CliExit(EXIT_USAGE, `--state must be one of ${STATES.join(', ')}`);
      const to = opts.to === undefined ? null : domainKey(opts.to);
      const messages = openSpool(dataOption())
        .list()
        .map((m) => ({ ...m.envelope, state: stateOf(m.envelope) }))
        .filter((e) => (opts.state === undefined || e.state === opts.state) && (to === null || e.recipients.some((r) => recipientDomain(r.address) === to)));
      if (opts.json) return printJson(messages);
      for (const e of messages) {
        const statuses = e.recipients.map((r) => `${r.address} (${r.kind}, ${r.status})`).join(', ');
        process.stdout.write(`${e.id}  ${e.received_at}  ${String(e.size).padStart(8)}  ${e.state.padEnd(8)}  <${e.sender}>  ${statuses}\n`);
      }
      if (messages.length === 0) process.stdout.write('the queue is empty\n');
    });
  queue
    .command('show')
    .description('the envelope (per-recipient status, last error, next attempt, history) and the message')
    .argument('<id>', 'queue id')
    .option('--json', 'the envelope as JSON only')
    .action((id: string, opts: { json?: boolean }) => {
      const m = openSpool(dataOption()).read(id);
      if (!m) throw new CliExit(EXIT_REFUSED, `no message ${id} in the queue`);
      const env = { ...m.envelope, state: stateOf(m.envelope) };
      if (opts.json) return printJson(env);
      process.stdout.write(JSON.stringify(env, null, 2) + '\n\n');
      process.stdout.write(readFileSync(m.messagePath));
    });
  queue
    .command('retry')
    .description('try deferred recipients now')
    .argument('[id]', 'queue id')
    .option('--all', 'every deferred message')
    .action(async (id: string | undefined, opts: { all?: boolean }) => {
      if ((id === undefined) === !opts.all) throw new CliExit(EXIT_USAGE, 'give a queue id or --all');
      const n = await change(dataOption(), 'retry', id ?? null);
      process.stdout.write(`${n} message${n === 1 ? '' : 's'} to be retried now\n`);
    });
  const simple: [ControlOp, string, string][] = [
    ['hold', 'keep a message from being delivered until released', 'held'],
    ['release', 'deliver a held message again (now)', 'released'],
    ['delete', 'remove a message from the queue without notice', 'deleted'],
    ['bounce', 'fail every pending recipient now and tell the sender', 'bounced'],
  ];
  for (const [op, description, done] of simple) {
    queue
      .command(op)
      .description(description)
      .argument('<id>', 'queue id')
      .action(async (id: string) => {
        await change(dataOption(), op, id);
        process.stdout.write(`${id} ${done}\n`);
      });
  }
}
