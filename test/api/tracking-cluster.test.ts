// Message tracking on a cluster store (issue #20): two real nodes on one
// private PostgreSQL, each taking mail (swaks) for the sink behind
// example.com; one node's API and the CLI with --store find both nodes'
// entries (each with the node that received it), and the dashboard's top
// lists count the traffic of both: the store is shared.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { postgresMissing, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { deliveryOf, relayDoc, runCli, startNode, swaksMissing, tempDataDir, type Relay } from '../smtp/harness.ts';
import { ApiClient, onStderr } from './client.ts';
import { must, send, startTrackingSink, STRANGER, trackedSettings } from './tracking-traffic.ts';

const skip = postgresMissing() ?? swaksMissing();
let server: TestPostgres | null = null;

before(async () => {
  if (!skip) server = await startPostgres();
});
after(async () => {
  await server?.destroy();
});

test('two nodes, one store: the search and the top lists see both nodes\' traffic', { skip }, async (t) => {
  assert.ok(server);
  const url = await server.createDatabase();
  const sink = await startTrackingSink(t);
  const { doc } = await relayDoc({ admin: { enabled: true, address: '127.0.0.1', port: 0 }, ...trackedSettings(sink) });
  const start = (name: string, withConfig: boolean): Promise<Relay> => {
    const dataDir = tempDataDir(t);
    const file = join(dataDir, 'settings.yaml');
    writeFileSync(file, stringify(doc));
    return startNode(t, { args: ['start', '--data', dataDir, '--store', url, '--node', name, ...(withConfig ? ['--config', file] : [])], dataDir, startTimeoutMs: 45_000 });
  };
  const alpha = await start('alpha', true);
  const beta = await start('beta', false);
  const password = await onStderr(alpha, () => /with the password\n\n {4}(\S+)\n/.exec(alpha.stderr())?.[1] ?? null);

  const viaAlpha = await send(alpha, 'alice@example.net', ['bob@example.com'], 'From alpha', 'alpha-1@tracking.test');
  const viaBeta = await send(beta, 'carol@example.net', ['bob@example.com'], 'From beta', 'beta-1@tracking.test');
  const refused = await send(beta, 'mallory@example.net', ['victim@elsewhere.test'], 'Relay?', 'beta-2@tracking.test', STRANGER);
  assert.match(refused, /554 5\.7\.1/);
  await deliveryOf(alpha, viaAlpha, 'bob@example.com');
  await deliveryOf(beta, viaBeta, 'bob@example.com');

  const apiOf = (n: Relay) => new ApiClient(n.adminPort ?? 0, readFileSync(join(n.dataDir, 'tls', 'cert.pem')));
  const [a, b] = [apiOf(alpha), apiOf(beta)];
  const [asA, asB] = [await a.login('admin', password), await b.login('admin', password)];
  // Each node writes what its recorder holds when asked: beta first, then alpha answers for both.
  await must(b, asB, '/api/tracking');
  const page = await must(a, asA, `/api/tracking?from=${encodeURIComponent('@example.net')}`);
  assert.deepEqual(
    page.entries.map((e: { node: string; sender: string; status: string }) => `${e.node} ${e.sender} ${e.status}`),
    ['beta mallory@example.net refused', 'beta carol@example.net delivered', 'alpha alice@example.net delivered'],
  );
  assert.equal((await must(a, asA, `/api/tracking/${viaBeta}`)).entries[0].node, 'beta', 'a timeline of the other node\'s message');

  const top = await must(a, asA, '/api/stats/top');
  assert.equal(top.tracking, 'on');
  assert.deepEqual(top.hour.refusals, [{ key: 'rule 4', count: 1 }]);
  assert.deepEqual(top.day.senders.map((r: { key: string }) => r.key).sort(), ['alice@example.net', 'carol@example.net']);

  const cli = await runCli(['track', '--store', url, '--data', tempDataDir(t), '--to', 'bob@example.com', '--json']);
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual(JSON.parse(cli.stdout).entries.map((e: { queue_id: string }) => e.queue_id), [viaBeta, viaAlpha]);
});
