// A real DNS server for the delivery tests: Debian's dnsmasq (package
// dnsmasq-base, /usr/sbin/dnsmasq) as a foreground child process on
// 127.0.0.1 at a free port (UDP and TCP), answering from the test's records
// only. Point node's resolver at it with `resolver.setServers([dns.server])`.
//
// What it answers (checked by test/delivery/test-helpers.test.ts):
// - resolveMx: `[{ exchange, priority, type: 'MX' }]` (node 24 adds `type`),
//   in no particular order: sort by priority.
// - a null MX (RFC 7505: one MX, preference 0, exchange ".") comes back from
//   resolveMx as `[{ exchange: '', priority: 0, type: 'MX' }]`: node renders
//   the root name as the empty string. A/AAAA of that domain answer NODATA.
// - a name with no record of the asked type but some other record: NODATA,
//   node's ENODATA. A name with no record at all, inside or outside the test
//   names: NXDOMAIN, node's ENOTFOUND. Both at once, never a timeout.
// - TTLs are 0 (dnsmasq's default for local records).
//
// dnsmasq flags, and why:
//   --keep-in-foreground        a child we can wait on and kill (not -d: that is debug mode)
//   --conf-file=/dev/null       no /etc/dnsmasq.conf (nor the conf-dir it may name)
//   --no-resolv --no-hosts --no-poll   no upstream servers, no /etc/hosts, no resolv.conf
//   --local=/#/                 every name not configured here is answered locally
//                               (NXDOMAIN/NODATA), never forwarded; without it dnsmasq
//                               answers REFUSED (node: EREFUSED) for unknown names
//   --listen-address=127.0.0.1 --bind-interfaces   bind 127.0.0.1:PORT only (without
//                               --bind-interfaces dnsmasq binds the wildcard address)
//   --pid-file=                 no pid file (the default /var/run/dnsmasq.pid is not
//                               writable when not root, and would clash between tests)
//   --log-facility=- --log-queries   log to stderr, queries included (see queries())
//   --mx-host=D,H,P / --mx-host=D,.,0   MX records; "." gives the root exchange of a
//                               null MX (rdata 00 00 00), unlike --dns-rr=D,15,000000,
//                               which leaves A/AAAA of D answering NXDOMAIN
//   --host-record=N,ADDR        A or AAAA (and the matching PTR)
// As root dnsmasq drops to user nobody after binding, which works here; it runs
// as any other user as well (no privileged port, no pid file), so no --user.
//
// TCP: dnsmasq forks a child per TCP connection. At SIGTERM it signals those
// children and exits without waiting, so a child still serving an open TCP
// connection outlives it briefly and is reaped by PID 1 (a short-lived zombie
// here). Close TCP connections before stop() to avoid that. Not --no-daemon,
// which handles TCP without forking: there one idle TCP connection (c-ares
// keeps them open) would stall the whole server.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer, isIP } from 'node:net';
import { Resolver } from 'node:dns/promises';
import { missingComponent } from '../support/requires.ts';

export const DNSMASQ = '/usr/sbin/dnsmasq';

export interface DnsRecords {
  mx?: { domain: string; exchange: string; preference: number }[];
  /** Domains with an RFC 7505 null MX (one MX, preference 0, exchange "."). */
  nullMx?: string[];
  a?: { name: string; address: string }[];
  aaaa?: { name: string; address: string }[];
  txt?: { name: string; text: string }[];
}

export interface DnsQuery {
  /** A, AAAA, MX, TXT... as dnsmasq logs it. */
  type: string;
  name: string;
}

export interface DnsServer {
  /** "127.0.0.1:PORT", for Resolver.setServers. */
  server: string;
  port: number;
  /** Queries received so far (the readiness probe left out), oldest first. */
  queries(): DnsQuery[];
  /** dnsmasq's stderr so far. */
  log(): string;
  stop(): Promise<void>;
}

/** Answers the readiness probe; never one of the test's names. */
const SENTINEL = 'ready.mailwarden-dns-helper.invalid';

/** A reason to skip, when dnsmasq is not installed; false when it is. */
export function dnsmasqMissing(): string | false {
  try {
    accessSync(DNSMASQ, constants.X_OK);
    return false;
  } catch {
    return missingComponent('dnsmasq', `${DNSMASQ} is not installed (make test installs Debian's dnsmasq-base when run as root)`);
  }
}

function name(n: string): string {
  const s = n.endsWith('.') ? n.slice(0, -1) : n;
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(s)) throw new Error(`startDns: bad DNS name ${JSON.stringify(n)}`);
  return s;
}

function argsFor(records: DnsRecords): string[] {
  const args: string[] = [];
  for (const m of records.mx ?? []) {
    if (!Number.isInteger(m.preference) || m.preference < 0 || m.preference > 65535) throw new Error(`startDns: bad MX preference ${m.preference}`);
    const exchange = m.exchange === '.' || m.exchange === '' ? '.' : name(m.exchange);
    args.push(`--mx-host=${name(m.domain)},${exchange},${m.preference}`);
  }
  for (const d of records.nullMx ?? []) args.push(`--mx-host=${name(d)},.,0`);
  for (const r of records.a ?? []) {
    if (isIP(r.address) !== 4) throw new Error(`startDns: not an IPv4 address: ${r.address}`);
    args.push(`--host-record=${name(r.name)},${r.address}`);
  }
  for (const r of records.aaaa ?? []) {
    if (isIP(r.address) !== 6) throw new Error(`startDns: not an IPv6 address: ${r.address}`);
    args.push(`--host-record=${name(r.name)},${r.address}`);
  }
  for (const r of records.txt ?? []) {
    if (/[,"\\\r\n]/.test(r.text)) throw new Error(`startDns: TXT text with a comma, quote, backslash or line break: ${JSON.stringify(r.text)}`);
    // dnsmasq makes each comma-separated piece one string (quotes are not
    // read on its command line), and a string holds at most 255 bytes: a DKIM
    // key is longer, so it goes in pieces. resolveTxt(name) gives them back
    // as one array per record: join('') makes the text whole.
    const parts = r.text.match(/[\s\S]{1,255}/g) ?? [''];
    args.push(`--txt-record=${name(r.name)},${parts.join(',')}`);
  }
  return args;
}

/** A port free for both UDP and TCP on 127.0.0.1 (dnsmasq binds both). */
async function freeUdpTcpPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const udp = createSocket('udp4');
    const port = await new Promise<number>((done, fail) => {
      udp.once('error', fail);
      udp.bind(0, '127.0.0.1', () => done(udp.address().port));
    });
    const tcp = createServer();
    const ok = await new Promise<boolean>((done) => {
      tcp.once('error', () => done(false));
      tcp.listen(port, '127.0.0.1', () => done(true));
    });
    if (ok) await new Promise<void>((done) => tcp.close(() => done()));
    await new Promise<void>((done) => udp.close(() => done()));
    if (ok) return port;
  }
  throw new Error('startDns: no port free for both UDP and TCP after 20 tries');
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  stderr: () => string;
}

/** Spawns dnsmasq; resolves once it logged "started" (it binds before that), rejects if it exits first. */
function launch(port: number, recordArgs: string[]): Promise<Running> {
  const args = [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--no-poll',
    '--local=/#/',
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    `--port=${port}`,
    '--pid-file=',
    '--log-facility=-',
    '--log-queries',
    `--txt-record=${SENTINEL},ok`,
    ...recordArgs,
  ];
  const child = spawn(DNSMASQ, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`dnsmasq did not start within 5 s; stderr: ${err}`));
    }, 5000);
    child.once('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      err += d;
      if (/\]: started, version /.test(err)) {
        clearTimeout(timer);
        done({ child, exited, stderr: () => err });
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      fail(new Error(`dnsmasq exited (${child.exitCode ?? child.signalCode}) before it started; stderr: ${err}`));
    });
  });
}

/**
 * Starts dnsmasq serving `records`; with `t`, stops it when the test ends.
 * Resolves once the server answers a query.
 */
export async function startDns(t: { after(fn: () => unknown): void } | null, records: DnsRecords): Promise<DnsServer> {
  const missing = dnsmasqMissing();
  if (missing) throw new Error(missing);
  const recordArgs = argsFor(records);

  // A port can be taken between our check and dnsmasq's bind: try a few.
  let running: Running | null = null;
  let port = 0;
  let lastError: unknown = null;
  for (let i = 0; i < 5 && !running; i++) {
    port = await freeUdpTcpPort();
    try {
      running = await launch(port, recordArgs);
    } catch (e) {
      lastError = e;
      if (!/Address already in use/i.test(String(e))) throw e;
    }
  }
  if (!running) throw lastError instanceof Error ? lastError : new Error(String(lastError));
  const { child, exited, stderr } = running;

  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };
  t?.after(stop);

  const server = `127.0.0.1:${port}`;
  // Readiness: the sentinel answers (bounded; each query times out after 200 ms).
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([server]);
  let ready = false;
  for (let i = 0; i < 25 && !ready; i++) {
    try {
      const txt = await resolver.resolveTxt(SENTINEL);
      ready = txt.flat().join('') === 'ok';
    } catch {
      if (child.exitCode !== null || child.signalCode !== null) break;
    }
  }
  if (!ready) {
    await stop();
    throw new Error(`dnsmasq on ${server} did not answer; stderr: ${stderr()}`);
  }

  return {
    server,
    port,
    queries(): DnsQuery[] {
      const out: DnsQuery[] = [];
      for (const m of stderr().matchAll(/\]: query\[([A-Za-z0-9]+)\] (\S+) from /g)) {
        if (m[1] && m[2] && m[2] !== SENTINEL) out.push({ type: m[1], name: m[2] });
      }
      return out;
    },
    log: stderr,
    stop,
  };
}
