// A real HAProxy (Debian's /usr/sbin/haproxy) on loopback in front of test
// nodes, configured from examples/haproxy/haproxy.cfg as an administrator
// would use it: its defaults, frontend and backend sections are kept, the
// `global` section is replaced by a test one (no chroot, no user, logs on
// stdout, a stats socket in a temporary directory), and the backend's
// `server` lines are written for the test's nodes with the example's options
// (send-proxy-v2, check, inter, fall, rise), varied only where asked.
//
// The frontend's port. HAProxy cannot bind port 0 and report the port it got,
// and guessing a free port races with every other process. So this file binds
// the listening socket itself, in Node, on 127.0.0.1 port 0 (and [::1] port 0
// when asked), reads the port the kernel chose, and hands the bound socket to
// HAProxy as an inherited file descriptor (`bind fd@3`, documented under
// "bind" in HAProxy's configuration manual). Node's own server is closed right
// after the spawn, before anyone knows the port, so HAProxy is the only one
// that accepts on it. Nothing is guessed and nothing is re-bound.
//
// Readiness is read, never slept for: `waitUp(n)` asks the stats socket
// (`show stat`) until n servers are UP with a passed health check.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { missingComponent } from './requires.ts';

export const HAPROXY = '/usr/sbin/haproxy';
export const EXAMPLE_CONFIG = resolve(import.meta.dirname, '../../examples/haproxy/haproxy.cfg');

type T = { after: (fn: () => void | Promise<void>) => void };

export interface Backend {
  host: string;
  port: number;
  /** The server's name in HAProxy (stats, logs); node1, node2, … by default. */
  name?: string;
}

export interface HaproxyOptions {
  backends: Backend[];
  /** The PROXY header to the nodes: 'v2' (the example's send-proxy-v2), 'v1' (send-proxy) or none. */
  sendProxy?: 'v2' | 'v1' | false;
  /** Health checks: true or 'smtp' as in the example (option smtpchk), 'tcp' (connect only), false (none). */
  check?: boolean | 'smtp' | 'tcp';
  /** The checks' interval (the example's `inter`), so that a test sees many of them. */
  checkInterMs?: number;
  /** The source address of HAProxy's connections to the nodes (the address to trust), e.g. 127.0.0.2. */
  source?: string;
  /** Also a frontend on [::1] (port6). */
  ipv6?: boolean;
  /** The configuration to start from (the example by default). */
  configFile?: string;
}

export interface ServerState {
  name: string;
  /** UP, DOWN, MAINT, "no check", … as `show stat` says. */
  status: string;
  /** The last check's result (L4OK, L7OK, L4CON, …); '' before the first. */
  check: string;
  /** Failed checks since the start (`chkfail`). */
  failedChecks: number;
}

export interface Haproxy {
  host: string;
  port: number;
  /** The IPv6 frontend's port ([::1]) when `ipv6` was asked, else null. */
  port6: number | null;
  /** The configuration HAProxy runs with. */
  config: string;
  /** HAProxy's log lines (option tcplog) so far. */
  logs: string[];
  child: ChildProcess;
  /** The backend servers as the stats socket reports them now. */
  servers(): Promise<ServerState[]>;
  /** Resolves once at least `n` servers are UP with a passed check (or, without checks, UP at all). */
  waitUp(n: number, timeoutMs?: number): Promise<void>;
  /** Resolves once server `name` is reported in `status` (UP, DOWN, …). */
  waitState(name: string, status: string, timeoutMs?: number): Promise<void>;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
}

/** A reason to skip (through missingComponent), or null when HAProxy can run here. */
export function haproxyMissing(): string | null {
  try {
    execFileSync(HAPROXY, ['-v'], { stdio: 'ignore' });
    return null;
  } catch {
    return missingComponent('haproxy', `${HAPROXY} is not installed (make test installs Debian's haproxy when run as root)`);
  }
}

interface RenderOptions extends Omit<HaproxyOptions, 'configFile'> {
  statsSocket: string;
  /** File descriptors of the bound frontend sockets, in bind order. */
  fds: number[];
}

/**
 * The test's configuration from the example's text (pure, so that what is
 * kept and what is replaced can be read and tested): see the file header.
 */
export function renderConfig(example: string, o: RenderOptions): string {
  const sections: { head: string; body: string[] }[] = [];
  for (const raw of example.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').replace(/^\s*#.*$/, '').trimEnd();
    if (line.trim() === '') continue;
    if (/^\S/.test(line)) sections.push({ head: line, body: [] });
    else sections.at(-1)?.body.push(line.trim());
  }
  const out: string[] = ['global', `    stats socket ${o.statsSocket} mode 600 level admin`, '    log stdout format raw local0', '    maxconn 4096', ''];
  for (const s of sections) {
    const kind = s.head.split(/\s+/)[0];
    if (kind === 'global') continue;
    out.push(s.head);
    let bound = false;
    let serversWritten = false;
    for (const line of s.body) {
      const words = line.split(/\s+/);
      if (words[0] === 'bind') {
        // Every bind of the example becomes the sockets this file bound.
        if (!bound) for (const fd of o.fds) out.push(`    bind fd@${fd}`);
        bound = true;
        continue;
      }
      if (words[0] === 'option' && words[1] === 'smtpchk' && (o.check === false || o.check === 'tcp')) continue;
      if (words[0] === 'server') {
        if (!serversWritten) {
          const opts = serverOptions(words.slice(3), o);
          o.backends.forEach((b, i) => out.push(`    server ${b.name ?? `node${i + 1}`} ${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}${opts ? ` ${opts}` : ''}`));
        }
        serversWritten = true;
        continue;
      }
      out.push(`    ${line}`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** The example's per-server options, with the PROXY version, checks and source asked for. */
function serverOptions(words: string[], o: RenderOptions): string {
  const kept: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? '';
    if (w === 'send-proxy' || w === 'send-proxy-v2' || w === 'check') continue;
    if (w === 'inter' || w === 'fall' || w === 'rise' || w === 'source') {
      const value = words[++i] ?? '';
      if (o.check === false && w !== 'source') continue;
      if (w === 'inter' && o.checkInterMs !== undefined) kept.push(`inter ${o.checkInterMs}`);
      else if (w !== 'source') kept.push(`${w} ${value}`);
      continue;
    }
    kept.push(w);
  }
  const proxy = o.sendProxy === undefined || o.sendProxy === 'v2' ? ['send-proxy-v2'] : o.sendProxy === 'v1' ? ['send-proxy'] : [];
  const check = o.check === false ? [] : ['check'];
  if (o.check !== false && o.checkInterMs !== undefined && !kept.some((k) => k.startsWith('inter '))) kept.push(`inter ${o.checkInterMs}`);
  const source = o.source ? [`source ${o.source}`] : [];
  return [...proxy, ...check, ...kept, ...source].join(' ');
}

async function bound(host: string): Promise<{ server: Server; port: number; fd: number }> {
  const server = createServer();
  await new Promise<void>((done, fail) => server.once('error', fail).listen(0, host, done));
  const addr = server.address();
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (!addr || typeof addr === 'string' || typeof fd !== 'number' || fd < 0) throw new Error(`cannot bind a frontend socket on ${host}`);
  return { server, port: addr.port, fd };
}

/** One stats-socket command; resolves with its whole answer. */
function statsCommand(path: string, command: string): Promise<string> {
  return new Promise((done, fail) => {
    const s = connect(path);
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.once('error', fail);
    s.once('close', () => done(out));
    s.once('connect', () => s.write(`${command}\n`));
  });
}

function parseStat(csv: string): ServerState[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const head = (lines[0] ?? '').replace(/^#\s*/, '').split(',');
  const col = (name: string) => head.indexOf(name);
  const out: ServerState[] = [];
  for (const l of lines.slice(1)) {
    const f = l.split(',');
    const sv = f[col('svname')] ?? '';
    if (sv === 'FRONTEND' || sv === 'BACKEND') continue;
    out.push({ name: sv, status: f[col('status')] ?? '', check: (f[col('check_status')] ?? '').replace(/^\* /, ''), failedChecks: Number(f[col('chkfail')] ?? 0) || 0 });
  }
  return out;
}

export async function startHaproxy(t: T, opts: HaproxyOptions): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-haproxy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const v4 = await bound('127.0.0.1');
  const v6 = opts.ipv6 ? await bound('::1') : null;
  const statsSocket = join(dir, 'stats.sock');
  // Inherited descriptors are numbered from 3 in the order of the stdio array.
  const fds = v6 ? [3, 4] : [3];
  const config = renderConfig(readFileSync(opts.configFile ?? EXAMPLE_CONFIG, 'utf8'), { ...opts, statsSocket, fds });
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  const child = spawn(HAPROXY, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe', v4.fd, ...(v6 ? [v6.fd] : [])] });
  // HAProxy holds its own copies now; nobody has been told the ports yet, so nothing was accepted here.
  v4.server.close();
  v6?.server.close();
  const logs: string[] = [];
  let err = '';
  let buf = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    logs.push(...lines.filter((l) => l !== ''));
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  t.after(stop);

  const servers = async (): Promise<ServerState[]> => parseStat(await statsCommand(statsSocket, 'show stat'));
  /** Asks the stats socket until `pred` holds; HAProxy has no push interface for server states. */
  const until = async (pred: (s: ServerState[]) => boolean, what: string, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let last: ServerState[] = [];
    for (;;) {
      if (gone) throw new Error(`haproxy exited (${child.exitCode}) while waiting for ${what}: ${err}\n${config}`);
      if (existsSync(statsSocket)) {
        last = await servers().catch(() => last);
        if (pred(last)) return;
      }
      if (Date.now() > deadline) throw new Error(`haproxy: no ${what} within ${timeoutMs} ms; servers: ${JSON.stringify(last)}; stderr: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const passed = (s: ServerState) => s.status === 'UP' && (opts.check === false || /^L[467]OK/.test(s.check));
  const h: Haproxy = {
    host: '127.0.0.1',
    port: v4.port,
    port6: v6?.port ?? null,
    config,
    logs,
    child,
    servers,
    waitUp: (n, timeoutMs = 20_000) => until((s) => s.filter(passed).length >= n, `${n} servers UP`, timeoutMs),
    waitState: (name, status, timeoutMs = 20_000) => until((s) => s.some((x) => x.name === name && x.status.startsWith(status)), `${name} ${status}`, timeoutMs),
    stop,
  };
  // Started (or failed to): the stats socket answers once the configuration is loaded.
  await until(() => true, 'stats socket', 10_000);
  return h;
}
