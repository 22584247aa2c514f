// mailwarden in cluster mode as one relay under test: N nodes (1, 2 or 3) on
// one private PostgreSQL (lib/postgres.ts, Unix socket), behind HAProxy on
// 127.0.0.1 (lib/haproxy.ts) which hands each connection to a node with the
// PROXY protocol. The first node brings the settings (`start --config FILE`,
// once, as docs/cluster.md says), the others start with none. On one machine
// this is a simulation: the nodes, HAProxy and the database share its cores.
// Its process tree is the nodes', HAProxy's and the database's together;
// parts() splits it for the table.

import { settings } from './mailwarden.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchPostgres, serverConf, hasStatements, PG_BIN } from '../lib/postgres.ts';
import { startHaproxy, haproxyConfig, haproxyVersion, SEND_PROXY } from '../lib/haproxy.ts';
import { startClusterNode, type ClusterNode } from '../lib/nodes.ts';
import { REPO, sourceState } from './mailwarden.ts';
import type { Relay, RelayInstance } from './types.ts';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** The shared settings: one mx listener (moved by --listen per node), PROXY from loopback, the sink as smarthost. */
export function clusterSettings(sinkPort: number | string, extra: string[] = []): string {
  // HAProxy's address is a trusted proxy: the client address the rules see is the one in the PROXY header
  return settings(0, sinkPort, [...extra, ''].join('\n'), ', trusted_proxies: [loop]');
}

export interface ClusterInstance extends RelayInstance {
  pg: BenchPostgres;
  nodes: ClusterNode[];
}

/** A private database server, one database, and `n` nodes on it (no HAProxy). */
export async function startNodes(dir: string, n: number, settingsYaml: string, env?: Record<string, string>): Promise<{ pg: BenchPostgres; url: string; nodes: ClusterNode[]; settingsFile: string; stop(): Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  const pg = await BenchPostgres.start(join(dir, 'pg'));
  const nodes: ClusterNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((x) => x.stop().catch(() => {})));
    await pg.stop().catch(() => {});
  };
  try {
    const url = await pg.createDatabase('mailwarden');
    const settingsFile = join(dir, 'settings.yaml');
    writeFileSync(settingsFile, settingsYaml);
    // the first node creates the schema and brings the settings; the others join it
    nodes.push(await startClusterNode(join(dir, 'n1'), url, 'n1', { config: settingsFile, ...(env ? { env } : {}) }));
    const rest = await Promise.all(Array.from({ length: n - 1 }, (_, i) => startClusterNode(join(dir, `n${i + 2}`), url, `n${i + 2}`, env ? { env } : {})));
    nodes.push(...rest);
    return { pg, url, nodes, settingsFile, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

export function cluster(n: number): Relay {
  return {
    id: `cluster${n}`,
    label: `mailwarden cluster, ${n} node${n > 1 ? 's' : ''} + HAProxy + PostgreSQL`,
    isMailwarden: false,

    version(): string {
      const v = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
      let pgv = 'PostgreSQL (unknown version)';
      try { pgv = execFileSync(join(PG_BIN, 'postgres'), ['--version']).toString().trim(); } catch { /* keep */ }
      return `mailwarden ${v} (${sourceState()}) cluster mode; ${pgv}; ${haproxyVersion()}`;
    },

    describe(): string[] {
      return [
        `mailwarden cluster, ${n} node(s): a private PostgreSQL 15 (\`initdb\` as postgres into \`DIR/pg\`, \`postgres -D DIR/pg/data\` in the foreground, Unix socket only), its \`postgresql.auto.conf\`:`,
        '```',
        ...serverConf('DIR/pg', hasStatements()),
        '```',
        `one database \`mailwarden\`; node 1 started with \`bin/mailwarden start --store 'postgresql://postgres@/mailwarden?host=DIR/pg' --node n1 --listen mx=127.0.0.1:0 --data DIR/n1/data --config DIR/settings.yaml\`, the others the same without \`--config\` (each node's port read from its \`started\` line); \`DIR/settings.yaml\`:`,
        '```yaml',
        clusterSettings('<sink port>').trimEnd(),
        '```',
        `HAProxy \`${'/usr/sbin/haproxy'} -db -f DIR/haproxy.cfg\` (PROXY protocol: \`${SEND_PROXY}\`):`,
        '```',
        haproxyConfig('<port>', Array.from({ length: n }, (_, i) => ({ name: `n${i + 1}`, port: `<n${i + 1} port>` }))).trimEnd(),
        '```',
      ];
    },

    async start(dir: string, sinkPort: number): Promise<ClusterInstance> {
      const c = await startNodes(dir, n, clusterSettings(sinkPort));
      let hp: Awaited<ReturnType<typeof startHaproxy>>;
      try {
        hp = await startHaproxy(dir, c.nodes.map((x) => ({ name: x.name, port: x.port })));
      } catch (e) {
        await c.stop();
        throw e;
      }
      return {
        port: hp.port,
        logFile: c.nodes[0]!.logFile,
        pg: c.pg,
        nodes: c.nodes,
        roots: () => [...c.nodes.map((x) => x.pid), hp.pid, c.pg.pid],
        parts: () => [
          { name: 'nodes', roots: c.nodes.map((x) => x.pid) },
          { name: 'haproxy', roots: [hp.pid] },
          { name: 'postgres', roots: [c.pg.pid] },
        ],
        db: c.pg,
        stop: async () => {
          await c.pg.dumpStatements(join(dir, 'statements.txt')).catch(() => {});
          await hp.stop().catch(() => {});
          await c.stop();
        },
      };
    },
  };
}
