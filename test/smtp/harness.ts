// Starts the real daemon (`bin/mailwarden start`) in a child process, its
// listeners on port 0 (the kernel picks free ones, so no test can lose a race
// for a guessed port), waits for its "started" log line (no sleeps) and reads
// the bound ports from it; offers small raw-socket and swaks helpers. Every
// server listens on 127.0.0.1 only.

import assert from 'node:assert/strict';
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Envelope } from '../../src/queue/envelope.ts';
import { createServer, connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { committedIds } from '../support/spool-files.ts';
import { missingComponent } from '../support/requires.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/mailwarden');

const handedOut = new Set<number>();

/**
 * For a port where nothing listens (a dead next hop, a dead DNS server):
 * never for a server of the test's own, which binds port 0 and reports.
 * A port free on 127.0.0.1 now, chosen at random below the kernel's ephemeral
 * range (32768 and up on Linux): every outbound connection of the tests and of
 * the relays takes its local port from that range, and one of them grabbing a
 * port handed out here before the daemon binds it made tests fail at random.
 * Never a port this process handed out before.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(port)) continue;
    const free = await new Promise<boolean>((done) => {
      const s = createServer();
      s.once('error', () => done(false));
      s.listen(port, '127.0.0.1', () => s.close(() => done(true)));
    });
    if (free) {
      handedOut.add(port);
      return port;
    }
  }
}

export interface LogLine {
  event: string;
  [k: string]: unknown;
}

export interface Relay {
  dataDir: string;
  /**
   * The ports bound, by listener name, from the "started" line (also written
   * into the object passed to startRelay/restartRelay, so that a test's
   * `ports` from relayDoc holds them once the relay runs, and after each restart).
   */
  ports: { mx: number; submission: number; smtps: number };
  /** The admin listener's bound port, or null when it is off. */
  adminPort: number | null;
  logs: LogLine[];
  child: ChildProcess;
  /** Resolves with the first log line (already seen or future) that matches. */
  waitLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /**
   * Resolves once `count` lines (already seen or future) match: a log line
   * travels over stdout while the reply it goes with travels over TCP, so a
   * test that counts lines right after a reply must wait for them.
   */
  waitLogs(pred: (l: LogLine) => boolean, count: number, timeoutMs?: number): Promise<void>;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
  stderr(): string;
}

/**
 * A settings document with three listeners on port 0; `extra` is merged over
 * it. `ports` is all zeros until startRelay fills in the bound ports.
 */
export async function relayDoc(extra: Record<string, unknown> = {}): Promise<{ doc: Record<string, unknown>; ports: Relay['ports'] }> {
  const ports = { mx: 0, submission: 0, smtps: 0 };
  const doc: Record<string, unknown> = {
    hostname: 'mx.test.example',
    listeners: [
      { name: 'mx', address: '127.0.0.1', port: ports.mx, mode: 'mx' },
      { name: 'submission', address: '127.0.0.1', port: ports.submission, mode: 'submission' },
      { name: 'smtps', address: '127.0.0.1', port: ports.smtps, mode: 'smtps' },
    ],
    networks: [{ name: 'localhost', type: 'host', address: '127.0.0.1' }],
    relaying: { allowed_hosts: ['localhost'] },
    // The front-end suites only queue: nothing leaves, so no route or MX of a
    // test document is ever contacted. Delivery suites turn it on.
    delivery: { enabled: false },
    // The admin listener's default port (8025) would clash between tests run side by side.
    admin: { enabled: false },
    ...extra,
  };
  return { doc, ports };
}

/** Daemons started on each data directory and not yet known to be gone: killed before their directory is removed. */
const liveOn = new Map<string, Set<() => Promise<void>>>();

export function tempDataDir(t: { after: (fn: () => void | Promise<void>) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-e2e-'));
  // Hooks run in the order they were registered, so this one runs before the kill of a daemon started on the
  // directory later: kill it first, or it may create files (its tracking database) while the directory goes, and a
  // removal that throws would leave the daemon, and the test file, running for ever.
  t.after(async () => {
    for (const kill of liveOn.get(dir) ?? []) await kill();
    liveOn.delete(dir);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });
  return dir;
}

/** Starts the daemon with `doc` as its settings; resolves once it listens. */
export async function startRelay(t: { after: (fn: () => void | Promise<void>) => void }, doc: Record<string, unknown>, ports: Relay['ports'], dataDir = tempDataDir(t)): Promise<Relay> {
  const file = join(dataDir, 'settings.yaml');
  writeFileSync(file, stringify(doc));
  return launch(t, ['start', '--data', dataDir, '--config', file], dataDir, ports);
}

/** Starts the daemon on an existing data directory (after a crash, say). */
export async function restartRelay(t: { after: (fn: () => void | Promise<void>) => void }, dataDir: string, ports: Relay['ports']): Promise<Relay> {
  return launch(t, ['start', '--data', dataDir], dataDir, ports);
}

/**
 * Starts `bin/mailwarden` with any arguments (a cluster node: `--store URL --node NAME --listen …`),
 * `env` added to the environment; resolves once it logs "started", with its bound ports by listener name.
 */
export async function startNode(t: { after: (fn: () => void | Promise<void>) => void }, o: { args: string[]; dataDir: string; env?: Record<string, string>; startTimeoutMs?: number }): Promise<Relay> {
  return launch(t, o.args, o.dataDir, { mx: 0, submission: 0, smtps: 0 }, o.env, o.startTimeoutMs);
}

/** How long stop() lets a daemon shut down before it is killed (its shutdown_grace in tests is short). */
const STOP_BOUND_MS = 30_000;

async function launch(t: { after: (fn: () => void | Promise<void>) => void }, args: string[], dataDir: string, ports: Relay['ports'], env?: Record<string, string>, startTimeoutMs?: number): Promise<Relay> {
  const child = spawn(BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
  const logs: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; done: (l: LogLine) => void }[] = [];
  let err = '';
  let buf = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        continue;
      }
      logs.push(parsed);
      for (const w of [...waiters]) {
        if (w.pred(parsed)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.done(parsed);
        }
      }
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));

  const waitLog = (pred: (l: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> => {
    const seen = logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
      waiters.push({ pred, done: (l) => (clearTimeout(timer), done(l)) });
      void exited.then((code) => fail(new Error(`daemon exited (${code}) before the log line; stderr: ${err}`)));
    });
  };

  const relay: Relay = {
    dataDir,
    ports,
    adminPort: null,
    logs,
    child,
    waitLog,
    async waitLogs(pred, count, timeoutMs) {
      let n = 0;
      await waitLog((l) => pred(l) && ++n >= count, timeoutMs);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      // A daemon that does not stop within a bound is killed: a test file must never wait forever on one.
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_BOUND_MS);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    stderr: () => err,
  };
  t.after(() => relay.kill());
  const kills = liveOn.get(dataDir) ?? new Set<() => Promise<void>>();
  kills.add(() => relay.kill());
  liveOn.set(dataDir, kills);
  let started: LogLine;
  try {
    started = await waitLog((l) => l.event === 'started', startTimeoutMs);
  } catch (err) {
    // Not started in time: killed now, not only at the test's end, so that it cannot outlive its data directory.
    await relay.kill();
    throw err;
  }
  const named = ports as Record<string, number>;
  for (const l of started.listeners as { name: string; port: number }[]) named[l.name] = l.port;
  relay.adminPort = typeof started.admin === 'string' ? Number(new URL(started.admin).port) : null;
  return relay;
}

/** A raw SMTP conversation: send lines, read replies; plain, STARTTLS or implicit TLS. */
export class RawClient {
  socket: Socket;
  private buffer = '';
  private waiting: (() => void) | null = null;
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.attach(socket);
  }

  private attach(socket: Socket): void {
    this.socket = socket;
    socket.on('data', (d: Buffer | string) => {
      this.buffer += typeof d === 'string' ? d : d.toString('latin1');
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    socket.on('error', () => {});
  }

  /** From `localAddress`; to 127.0.0.1, or to [::1] when `localAddress` is IPv6. */
  static connect(port: number, localAddress = '127.0.0.1'): Promise<RawClient> {
    return new Promise((done, fail) => {
      const s = connect({ port, host: localAddress.includes(':') ? '::1' : '127.0.0.1', localAddress });
      s.once('connect', () => done(new RawClient(s)));
      s.once('error', fail);
    });
  }

  /** Implicit TLS (smtps), certificate not checked (the relay's is self-signed). */
  static connectTls(port: number, localAddress = '127.0.0.1'): Promise<RawClient> {
    return new Promise((done, fail) => {
      const s = tlsConnect({ socket: connect({ port, host: '127.0.0.1', localAddress }), rejectUnauthorized: false, servername: 'mx.test.example' });
      const c = new RawClient(s);
      s.once('secureConnect', () => done(c));
      s.once('error', fail);
    });
  }

  /** STARTTLS and the TLS handshake on the same connection; rejects unless the reply is 220. */
  async starttls(): Promise<void> {
    const r = (await this.cmd('STARTTLS')) ?? '(closed)';
    if (!r.startsWith('220 ')) throw new Error(`STARTTLS answered ${r}`);
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    await new Promise<void>((done, fail) => {
      const s = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'mx.test.example' }, () => done());
      s.once('error', fail);
      this.attach(s);
    });
  }

  /** The next complete reply (all its lines), or null when the connection closed first. */
  async reply(timeoutMs = 10_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buffer);
      if (m) {
        this.buffer = this.buffer.slice(m[0].length);
        return m[0].trimEnd();
      }
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms; have: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((done) => {
        const timer = setTimeout(done, left);
        this.waiting = () => {
          clearTimeout(timer);
          this.waiting = null;
          done();
        };
      });
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Sends one command line and returns its reply. */
  async cmd(line: string): Promise<string | null> {
    this.write(line + '\r\n');
    return this.reply();
  }

  /** Resolves when the server has closed the connection. */
  async closedByServer(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((done) => {
        const timer = setTimeout(done, deadline - Date.now());
        this.waiting = () => {
          clearTimeout(timer);
          this.waiting = null;
          done();
        };
      });
      this.buffer = '';
    }
    return this.closed;
  }

  end(): void {
    this.socket.destroy();
  }
}

/** Runs swaks (Debian's package) and returns its exit code and transcript. */
export function swaks(args: string[]): Promise<{ status: number; out: string }> {
  return new Promise((done) => {
    execFile('swaks', ['--timeout', '20', ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      done({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout + stderr });
    });
  });
}

/** swaks is installed by `make test` when it runs as root; otherwise tests that need it say they are skipped. */
export function swaksMissing(): string | false {
  try {
    execFileSync('sh', ['-c', 'command -v swaks'], { stdio: 'ignore' });
    return false;
  } catch {
    return missingComponent('swaks', 'swaks is not installed (make test installs Debian\'s swaks when run as root)');
  }
}

/** Runs the mailwarden CLI; never rejects. */
export function runCli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(BIN, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      done({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** One message to one recipient over a new connection, each reply asserted: its queue id. */
export async function submitTo(port: number, to: string, subject: string, from = 'alice@example.net'): Promise<string> {
  const c = await RawClient.connect(port);
  try {
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250/);
    assert.match((await c.cmd(`MAIL FROM:<${from}>`)) ?? '', /^250 /);
    assert.match((await c.cmd(`RCPT TO:<${to}>`)) ?? '', /^250 /);
    assert.match((await c.cmd('DATA')) ?? '', /^354 /);
    c.write(`From: <${from}>\r\nTo: <${to}>\r\nSubject: ${subject}\r\n\r\nbody of ${subject}\r\n.\r\n`);
    const r = (await c.reply()) ?? '(closed)';
    await c.cmd('QUIT');
    return queuedId(r);
  } finally {
    c.end();
  }
}

/** The delivery line of one recipient of one message. */
export const deliveryOf = (relay: Relay, id: string, recipient: string): Promise<LogLine> =>
  relay.waitLog((l) => l.event === 'delivery' && l.id === id && l.recipient === recipient);

/** The queue id in a "250 2.0.0 Ok: queued as ID" reply somewhere in `text`. */
export function queuedId(text: string): string {
  const m = /250 2\.0\.0 Ok: queued as ([0-9a-z]{16})\b/.exec(text);
  if (!m?.[1]) throw new Error(`no "queued as" reply in:\n${text}`);
  return m[1];
}

/** `mailwarden queue list --json`: what an operator sees. */
export async function queueEnvelopes(relay: Relay): Promise<Envelope[]> {
  const r = await runCli(['queue', 'list', '--json', '--data', relay.dataDir]);
  if (r.status !== 0) throw new Error(`queue list failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Envelope[];
}

/**
 * The file names in spool/queue and spool/tmp, sorted. Left out: empty
 * `.msg` files whose id no log line names, which the spool made ahead while
 * messages came close together (src/queue/spool-pool.ts) and which hold
 * nothing. A file of a message the relay logged (refused, aborted) is always
 * listed, empty or not.
 */
export function spoolFiles(relay: Relay): { queue: string[]; tmp: string[] } {
  const queueDir = join(relay.dataDir, 'spool', 'queue');
  const logged = new Set(relay.logs.map((l) => l.id).filter((id): id is string => typeof id === 'string'));
  const madeAhead = (n: string): boolean => {
    if (!n.endsWith('.msg') || logged.has(n.slice(0, 16))) return false;
    try {
      return statSync(join(queueDir, n)).size === 0;
    } catch {
      return true; // removed since the listing (a file made ahead, unused)
    }
  };
  return {
    queue: readdirSync(queueDir)
      .filter((n) => !madeAhead(n))
      .sort(),
    tmp: readdirSync(join(relay.dataDir, 'spool', 'tmp')).sort(),
  };
}

/** Ids of committed messages (a `.msg` with a whole trailer). */
export function queuedIds(relay: Relay): string[] {
  return committedIds(join(relay.dataDir, 'spool', 'queue'));
}
