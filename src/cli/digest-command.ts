// `mailwarden quarantine digest [--to ADDR] [--dry-run] [--json]`: sends the
// quarantine digest now (src/quarantine/digest-sender.ts), outside the
// schedule. On the embedded store it asks the running daemon over its
// control socket (the digests are delivered at once), or, with no daemon,
// queues them here under the data directory's lock (delivered when the
// daemon starts). On the cluster store (--store) it queues them here; the
// nodes are told by the store. Exit 0: done (also when nobody had
// quarantined mail); 1: refused (no base_url, admin listener off, --to not a
// local recipient with quarantined mail, the store not reachable); 2: usage.

import { resolve } from 'node:path';
import { CliExit, EXIT_REFUSED, EXIT_USAGE, openCliStores, printJson, storeUrl } from './io.ts';
import { askDaemon } from '../queue/control.ts';
import { jsonLogger } from '../log/logger.ts';
import { DataDirInUse, lockDataDir } from '../store/data-dir-lock.ts';
import { openConfigStore } from '../store/data-dir.ts';
import { openEmbeddedStores } from '../store/embedded-stores.ts';
import { SnapshotSource } from '../config/snapshot-source.ts';
import type { Snapshot } from '../config/snapshot.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import type { QuarantineStateStore } from '../quarantine/quarantine-state-store.ts';
import { DigestSender, digestProblem, type DigestRun } from '../quarantine/digest-sender.ts';
import { LinkSigner } from '../quarantine/link-token.ts';

export interface DigestCliOptions {
  to?: string;
  dryRun?: boolean;
  json?: boolean;
}

async function runHere(queue: QueueStore, state: QuarantineStateStore, snapshot: Snapshot, o: DigestCliOptions): Promise<DigestRun> {
  const problem = digestProblem(snapshot.settings);
  if (problem) throw new CliExit(EXIT_REFUSED, problem);
  const logger = jsonLogger((l) => process.stderr.write(l));
  const sender = new DigestSender({ store: queue, snapshot: () => snapshot, signer: async () => new LinkSigner(await state.signingSecret()), logger });
  return sender.run({ ...(o.to !== undefined ? { to: o.to } : {}), dryRun: o.dryRun === true });
}

async function inCluster(dataDir: string, o: DigestCliOptions): Promise<DigestRun> {
  const stores = await openCliStores(dataDir);
  try {
    if (!(await stores.config.active())) throw new CliExit(EXIT_REFUSED, 'the cluster store holds no configuration yet');
    const source = await SnapshotSource.open(stores.config);
    try {
      return await runHere(stores.queue, stores.quarantine, source.get(), o);
    } finally {
      source.close();
    }
  } finally {
    await stores.close();
  }
}

async function offline(dataDir: string, o: DigestCliOptions): Promise<DigestRun> {
  let lock;
  try {
    lock = lockDataDir(dataDir);
  } catch (err) {
    if (err instanceof DataDirInUse) throw new CliExit(EXIT_REFUSED, `${err.message}; its control socket does not answer`);
    throw err;
  }
  const config = openConfigStore(dataDir);
  const logger = jsonLogger((l) => process.stderr.write(l));
  try {
    if (!(await config.active())) throw new CliExit(EXIT_REFUSED, `${dataDir} holds no configuration yet: run \`mailwarden init\` or \`mailwarden start\` first`);
    const source = await SnapshotSource.open(config);
    const stores = await openEmbeddedStores(dataDir, logger);
    try {
      await stores.queue.open();
      return await runHere(stores.queue, stores.quarantine, source.get(), o);
    } finally {
      await stores.close();
      source.close();
    }
  } finally {
    await config.close();
    lock.release();
  }
}

export async function digestCommand(dataDirOption: string, o: DigestCliOptions): Promise<void> {
  if (o.to !== undefined && !/^[^\s@]+@[^\s@]+$/.test(o.to)) throw new CliExit(EXIT_USAGE, `--to "${o.to}" is not an address`);
  const dir = resolve(dataDirOption);
  let run: DigestRun;
  if (storeUrl() !== undefined) run = await inCluster(dir, o);
  else {
    const answer = await askDaemon(dir, { op: 'quarantine-digest', id: null, ...(o.to !== undefined ? { to: o.to } : {}), dry_run: o.dryRun === true }, 300_000);
    if (answer && !answer.ok) throw new CliExit(EXIT_REFUSED, answer.error);
    run = answer?.ok && answer.digest ? answer.digest : await offline(dir, o);
  }
  if (o.to !== undefined && run.sent.length === 0) throw new CliExit(EXIT_REFUSED, `${o.to} is not a local recipient with quarantined mail: no digest`);
  if (o.json) return printJson(run);
  for (const d of run.sent) process.stdout.write(`${o.dryRun ? 'would send' : 'sent'} ${d.to}: ${d.entries} message${d.entries === 1 ? '' : 's'}${d.id ? ` (queue id ${d.id})` : ''}\n`);
  if (run.sent.length === 0) process.stdout.write('no local recipient has quarantined mail: no digest\n');
  if (run.skipped > 0) process.stdout.write(`${run.skipped} recipients left for the next run (at most ${run.sent.length} per run)\n`);
}
