// `mailwarden queue list|show|retry|hold|release|delete|bounce`. Reading goes
// straight to the queue store (the spool's envelopes are always rewritten
// atomically, so reading beside a running daemon is safe). On the embedded
// store, changes go to the running daemon over its control socket, so they
// never race a delivery in flight, or, with no daemon running, are made here
// under the data-directory lock. On the cluster store (--store) they are made
// here through claims (claim, change, settle), as any node would: a message a
// node is delivering is refused with that node's name.

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { StoredBody } from '../queue/queue-store.ts';
import { resolve } from 'node:path';
import { CliExit, cliNodeName, EXIT_REFUSED, EXIT_USAGE, openCliStores, printJson, storeUrl } from './io.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import { FileQueueStore } from '../queue/file-queue-store.ts';
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

export function openQueue(dataDir: string): FileQueueStore {
  // A mistyped --data must not read as "the queue is empty".
  if (!existsSync(resolve(dataDir))) {
    throw new CliExit(EXIT_REFUSED, `there is no data directory ${resolve(dataDir)}: check --data`);
  }
  // Read-only users (list, show): without open() the store never moves files; the logger is for the rest.
  return new FileQueueStore(resolve(dataDir), jsonLogger((l) => process.stderr.write(l)));
}

/** Reads the queue of this installation: the cluster store's with --store, else the data directory's spool. */
export async function withQueue<T>(dataDir: string, fn: (queue: QueueStore) => Promise<T>): Promise<T> {
  if (storeUrl() === undefined) return fn(openQueue(dataDir));
  const stores = await openCliStores(dataDir);
  try {
    return await fn(stores.queue);
  } finally {
    await stores.close();
  }
}

/** On the cluster store: the change made here, through claims under this command's own node name. */
async function inCluster(dataDir: string, op: ControlOp, id: string | null): Promise<ControlAnswer> {
  const stores = await openCliStores(dataDir);
  try {
    if (!(await stores.config.active())) throw new CliExit(EXIT_REFUSED, 'the cluster store holds no configuration yet: run `mailwarden init --store URL` or start a node first');
    const source = await SnapshotSource.open(stores.config);
    try {
      const logger = jsonLogger((l) => process.stderr.write(l));
      const manager = new QueueManager({ store: stores.queue, node: cliNodeName(), snapshot: () => source.get(), logger, deliver: false });
      return await perform(manager, new Quarantine(stores.queue, logger), { op, id });
    } finally {
      source.close();
    }
  } finally {
    await stores.close();
  }
}

/** Writes a stored message to stdout as it is read. */
export async function printBody(body: StoredBody | null): Promise<void> {
  if (body) await pipeline(body.stream(), process.stdout, { end: false });
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
    const queue = new FileQueueStore(dataDir, jsonLogger((l) => process.stderr.write(l)));
    await queue.open();
    try {
      const logger = jsonLogger((l) => process.stderr.write(l));
      const manager = new QueueManager({ store: queue, snapshot: () => source.get(), logger, deliver: false });
      return await perform(manager, new Quarantine(queue, logger), { op, id });
    } finally {
      await queue.close();
    }
  } finally {
    await store.close();
    lock.release();
  }
}

export async function change(dataDir: string, op: ControlOp, id: string | null): Promise<number> {
  const dir = resolve(dataDir);
  if (storeUrl() !== undefined) {
    const answer = await inCluster(dir, op, id);
    if (!answer.ok) throw new CliExit(EXIT_REFUSED, answer.error);
    return answer.count;
  }
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
    .action(async (opts: { json?: boolean; state?: string; to?: string }) => {
      if (opts.state !== undefined && !(STATES as readonly string[]).includes(opts.state)) throw new CliExit(EXIT_USAGE, `--state must be one of ${STATES.join(', ')}`);
      const to = opts.to === undefined ? null : domainKey(opts.to);
      const messages = (await withQueue(dataOption(), (q) => q.list()))
        .map((e) => ({ ...e, state: stateOf(e) }))
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
    .action(async (id: string, opts: { json?: boolean }) => {
      await withQueue(dataOption(), async (queue) => {
        const m = await queue.read(id);
        if (!m) throw new CliExit(EXIT_REFUSED, `no message ${id} in the queue`);
        const env = { ...m, state: stateOf(m) };
        if (opts.json) return printJson(env);
        process.stdout.write(JSON.stringify(env, null, 2) + '\n\n');
        await printBody(await queue.body(id));
      });
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
