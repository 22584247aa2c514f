// `mailwarden cluster status [--json]`: every node of the cluster store with
// its last heartbeat, the revision it runs, its listeners, the messages it
// holds claims on, and whether it is healthy. Exit status 0 when every node
// is healthy (and at least one runs), 1 otherwise. The embedded store keeps
// its node registry in the daemon's memory: there the command says that it
// needs a cluster store (`mailwarden status` describes a single node).
// `cluster forget NAME` removes a node that is gone for good (its heartbeat
// stale), so that status is healthy again; a running node is never forgotten.

import type { Command } from 'commander';
import { formatClusterStatus } from '../cluster/cluster-status.ts';
import { readClusterStatus } from '../cluster/read-status.ts';
import { heartbeatMs, MISSED_HEARTBEATS } from '../daemon-timing.ts';
import { CliExit, EXIT_REFUSED, openCliStores, printJson, storeUrl } from './io.ts';

export function registerClusterCommands(program: Command, dataOption: () => string): void {
  const cluster = program.command('cluster').description('the nodes sharing a cluster store (--store)');
  cluster
    .command('status')
    .description('every node: last heartbeat, revision, listeners, claims, healthy or not (exit 1 when one is not)')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      if (storeUrl() === undefined) {
        throw new CliExit(EXIT_REFUSED, 'cluster status needs a cluster store: give --store postgresql://… (or set MAILWARDEN_STORE); a single node on the embedded store is described by `mailwarden status`');
      }
      const stores = await openCliStores(dataOption());
      let status;
      try {
        status = await readClusterStatus(stores);
      } finally {
        await stores.close();
      }
      if (opts.json) printJson(status);
      else process.stdout.write(formatClusterStatus(status));
      if (status.nodes.length === 0 || status.nodes.some((n) => !n.healthy)) process.exitCode = EXIT_REFUSED;
    });

  cluster
    .command('forget <name>')
    .description('remove a node that is gone for good (no heartbeat for three intervals) from the cluster; its claimed mail is taken by the others when the leases expire')
    .action(async (name: string) => {
      if (storeUrl() === undefined) throw new CliExit(EXIT_REFUSED, 'cluster forget needs a cluster store: give --store postgresql://… (or set MAILWARDEN_STORE)');
      const stores = await openCliStores(dataOption());
      try {
        const node = (await stores.nodes.list()).find((n) => n.name === name);
        if (!node) throw new CliExit(EXIT_REFUSED, `no node "${name}" is registered`);
        const age = Date.now() - node.heartbeat;
        if (age <= heartbeatMs() * MISSED_HEARTBEATS) throw new CliExit(EXIT_REFUSED, `node "${name}" is running (last heartbeat ${Math.round(age / 1000)} s ago): stop it first`);
        await stores.nodes.deregister(name);
        process.stdout.write(`forgot node "${name}" (last heartbeat ${Math.round(age / 1000)} s ago)\n`);
      } finally {
        await stores.close();
      }
    });
}
