// Debian's HAProxy in front of the cluster's nodes: TCP mode, round robin over
// the nodes, each connection announced to its node with the PROXY protocol.
// HAProxy refuses `bind 127.0.0.1:0` ("invalid port '0'"), so its frontend
// port is picked the way this benchmark picks every relay's and the sink's
// port (lib/net.ts freePort: bind 0, read, close, hand to the server). Runs
// in the foreground (-db) under our process registry.

import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { start, stopGroup, alive } from './procs.ts';
import { freePort, waitForGreeting } from './net.ts';
import { logTail } from '../relays/types.ts';

export const HAPROXY = '/usr/sbin/haproxy';

/**
 * The PROXY protocol version HAProxy sends: `send-proxy` (v1, text) is what
 * mailwarden reads today; switch to `send-proxy-v2` here once PROXY v2 is
 * merged (issue #15, branch wip/proxy2).
 */
export const SEND_PROXY = 'send-proxy';

export function haproxyConfig(port: number | string, nodes: { name: string; port: number | string }[]): string {
  return [
    'global',
    '  maxconn 4096',
    '  log stderr format short local0 warning',
    'defaults',
    '  mode tcp',
    '  log global',
    '  timeout connect 5s',
    '  timeout client 120s',
    '  timeout server 120s',
    'frontend smtp',
    `  bind 127.0.0.1:${port}`,
    '  default_backend nodes',
    'backend nodes',
    '  balance roundrobin',
    // no health checks: a check without the PROXY header would be a client the nodes refuse
    ...nodes.map((n) => `  server ${n.name} 127.0.0.1:${n.port} ${SEND_PROXY}`),
    '',
  ].join('\n');
}

export function haproxyVersion(): string {
  try {
    return execFileSync(HAPROXY, ['-v']).toString().split('\n')[0]!.trim();
  } catch {
    return 'HAProxy (unknown version)';
  }
}

export async function startHaproxy(dir: string, nodes: { name: string; port: number }[]): Promise<{ port: number; pid: number; logFile: string; stop(): Promise<void> }> {
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig(port, nodes));
  const logFile = join(dir, 'haproxy.log');
  execFileSync(HAPROXY, ['-c', '-q', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = start('haproxy', HAPROXY, ['-db', '-f', cfg], { logFile });
  try {
    // a 220 through HAProxy: it listens, and a node took the PROXY header
    await waitForGreeting(port, 20_000, () => alive(p.pid));
  } catch (e) {
    await stopGroup(p.pid, 1000);
    throw new Error(`haproxy: ${(e as Error).message}\n${await logTail(logFile)}`);
  }
  return { port, pid: p.pid, logFile, stop: () => stopGroup(p.pid, 5000) };
}
