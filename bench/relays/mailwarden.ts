// mailwarden from this work tree, with its embedded defaults except what the
// benchmark needs: one mx listener on 127.0.0.1:<port>, host-based relay for
// 127.0.0.0/8, and the sink as smarthost. `bin/mailwarden start --data DIR/mw
// --config DIR/settings.yaml`, JSON log lines to DIR/mailwarden.log; one node
// process (bin/mailwarden execs node). SIGTERM stops it gracefully.

import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { start, stopGroup, alive } from '../lib/procs.ts';
import { freePort, waitForGreeting } from '../lib/net.ts';
import { logTail, type Relay, type RelayInstance, type StartOptions } from './types.ts';

export const REPO = resolve(import.meta.dirname, '..', '..');
const BIN = join(REPO, 'bin', 'mailwarden');

/** `listener`: more keys of the mx listener (the cluster's trusted_proxies). */
export function settings(port: number | string, sinkPort: number | string, extra = '', listener = ''): string {
  return [
    'hostname: mailwarden.bench.invalid',
    'listeners:',
    `  - { name: mx, address: 127.0.0.1, port: ${port}, mode: mx${listener} }`,
    'networks:',
    '  - { name: loop, type: network, address: 127.0.0.0/8 }',
    'relaying:',
    '  allowed_hosts: [loop]',
    'delivery:',
    `  smarthost: { host: 127.0.0.1, port: ${sinkPort} }`,
    // The web admin listener (on by default at a fixed port, 8025) is not part of
    // what is measured: off, so that runs side by side cannot clash on its port.
    // When on, fastify and its schemas add about 20 MB of RSS at rest.
    'admin: { enabled: false }',
    extra,
  ].join('\n');
}

/** The commit of the work tree and whether src/ differs from it (read-only git). */
export function sourceState(): string {
  try {
    const head = execFileSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']).toString().trim();
    const dirty = execFileSync('git', ['-C', REPO, '--no-optional-locks', 'status', '--porcelain', '--', 'src', 'bin', 'package.json']).toString().trim();
    return dirty ? `${head} + uncommitted changes in src/ (${dirty.split('\n').length} files)` : head;
  } catch {
    return 'unknown commit';
  }
}

export const mailwarden: Relay = mailwardenWith('mailwarden', 'mailwarden', '');

/**
 * mailwarden with more settings (`extra`, YAML lines appended to the
 * document), e.g. `--dkim`'s signing key: a cell of its own next to the plain one.
 */
export function mailwardenWith(id: string, label: string, extra: string): Relay {
  return {
    id,
    label,
    isMailwarden: true,

    version(): string {
      const v = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
      return `mailwarden ${v} (${sourceState()}) on Node ${process.versions.node}`;
    },

    describe(): string[] {
      return [
        'mailwarden: `bin/mailwarden start --data DIR/mw --config DIR/settings.yaml > DIR/mailwarden.log`, stopped with SIGTERM; `DIR/settings.yaml`:',
        '```yaml',
        settings('<port>', '<sink port>', extra).trimEnd(),
        '```',
      ];
    },

    async start(dir: string, sinkPort: number, opts: StartOptions = {}): Promise<RelayInstance> {
      const port = await freePort();
      mkdirSync(dir, { recursive: true });
      const file = join(dir, 'settings.yaml');
      writeFileSync(file, settings(port, sinkPort, extra));
      const logFile = join(dir, 'mailwarden.log');
      const p = start('mailwarden', BIN, ['start', '--data', join(dir, 'mw'), '--config', file], { cwd: REPO, logFile, ...(opts.env ? { env: opts.env } : {}) });
      try {
        await waitForGreeting(port, 30_000, () => alive(p.pid));
      } catch (e) {
        await stopGroup(p.pid, 1000);
        throw new Error(`mailwarden: ${(e as Error).message}\n${await logTail(logFile)}`);
      }
      return {
        port,
        logFile,
        roots: () => [p.pid],
        stop: () => stopGroup(p.pid, 10_000),
      };
    },
  };
}
