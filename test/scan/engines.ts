// Real content-scanning daemons for the scan tests: Debian's clamd
// (clamav-daemon), spamd (SpamAssassin) and rspamd, each started as a child
// process on 127.0.0.1 (clamd optionally on a Unix socket) with a
// configuration, data directory and log of its own under a fresh mkdtemp
// directory, and stopped (process gone, directory removed) by stop().
// Nothing here contacts a host off the machine: see each start function for
// how (no signature downloads, no DNS, no network rules or maps).
//
// API
//   EICAR, GTUBE                 the test strings (built from pieces so that this
//                                file is not itself flagged by a virus or spam scanner)
//   CLAMD_EICAR_NAME             what clamd calls EICAR with our signature
//                                ("Eicar-Test-Signature.UNOFFICIAL")
//   engineAvailable(name)        { ok: true } or { ok: false, reason } (binary
//                                missing: the packages are installed only when
//                                `make system-deps` runs as root on Debian)
//   startClamd({ unixSocket?, streamMaxLength? })  + scans(), sizeLimitHits()
//   startSpamd()                 + checks()
//   startRspamd({ hsCacheDir? }) + url, checks()
//   zipStored(name, data), zipDeflated(name, data)   one-entry zip archives
// Every start function resolves once the daemon answers its protocol's ping
// (clamd zPING, spamd PING, rspamd GET /ping), polling until 60 s, and
// rejects at once, with the daemon's output and log, if it exits first. A
// port taken between freePort() and the daemon's bind is retried on another.
//
// What each engine logs per request is parsed from its own log file, so tests
// can assert on what the engine actually received (see scans()/checks()).
//
// Startup, spawn to first answered ping, on a 2-core machine (engines.test.ts
// prints it as a diagnostic): clamd 0.1 s, spamd 0.9 s, rspamd 0.4-0.7 s with
// a warm hyperscan cache and 10 s cold (see startRspamd).
//
// Quirks of the engines, found by trying them (clamd 1.4.6, spamd 4.0.1, rspamd 3.4):
// - clamd answers "stream: OK\0", "stream: <name> FOUND\0"; a stream longer than
//   StreamMaxLength gets "INSTREAM size limit exceeded. ERROR\0" (no "stream: "
//   prefix), after which clamd closes the connection. A client still writing a
//   much larger stream usually sees EPIPE/ECONNRESET instead of that reply: the
//   reply is lost with the reset. Such a stream is not in scans() (clamd logs a
//   WARNING, counted by sizeLimitHits()).
// - spamd accepts a request without Content-length: it reads the message to EOF,
//   so the client must half-close (socket.end()) after the message; without the
//   half-close it waits (until --timeout-child, 300 s by default) and still logs
//   the check once the client gives up. A Content-length that does not match
//   the data gets "SPAMD/1.0 76 Bad header line: (Content-Length mismatch:
//   Expected 5 bytes, got 12 bytes)", an unknown verb "SPAMD/1.0 76 Bad header
//   line: ...". SPAMC/1.5 SYMBOLS replies carry a Content-length and no CRLF
//   after the symbol list; to SPAMC/1.2 requests the reply has no Content-length
//   and the list ends in CRLF.
// - rspamd answers GTUBE with action "reject", score = required_score (15) and
//   "is_skipped": true (no other rule runs); rspamd looks for GTUBE only in text
//   parts of at most 8 KiB. Without a Hostname header rspamd looks up the PTR of
//   the IP header, which fails here after the 0.3 s DNS timeout (RDNS_NONE,
//   RDNS_DNSFAIL); with Hostname, or IP 127.0.0.1, a check takes milliseconds.
//   A chunked request body (no Content-Length) is accepted.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { freePort } from '../smtp/harness.ts';
import { missingComponent } from '../support/requires.ts';

// Split so that this file is not itself a test virus or test spam to a scanner reading it.
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$' + 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
export const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*' + 'GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
/** clamd appends ".UNOFFICIAL" to names from databases it did not download. */
export const CLAMD_EICAR_NAME = 'Eicar-Test-Signature.UNOFFICIAL';

export const CLAMD = '/usr/sbin/clamd';
export const SPAMD = '/usr/sbin/spamd';
export const RSPAMD = '/usr/bin/rspamd';
const SA_RULES = '/usr/share/spamassassin';
const SA_SITE = '/etc/spamassassin';
const RSPAMD_CONFDIR = '/etc/rspamd';

export type EngineName = 'clamd' | 'spamd' | 'rspamd';

const READY_WITHIN_MS = 60_000;
const STOP_GRACE_MS = 5_000;

export interface RunningEngine {
  /** "127.0.0.1"; "" on a Unix socket. */
  host: string;
  /** 0 on a Unix socket. */
  port: number;
  socketPath?: string;
  /** "127.0.0.1:PORT" or the socket path. */
  address: string;
  /** The daemon's main process. */
  pid: number;
  /** The temp directory holding its configuration, data and log; gone after stop(). */
  dir: string;
  /** Milliseconds from spawn to the first answered ping. */
  startupMs: number;
  /** The daemon's own log file, read now. */
  logText(): string;
  /** Its stdout and stderr so far (the end of it). */
  output(): string;
  /** SIGTERM, SIGKILL after 5 s (to the daemon and the children it forked), then removes dir. */
  stop(): Promise<void>;
}

export interface ClamdScan {
  verdict: 'OK' | 'FOUND' | 'ERROR';
  /** The signature name, for FOUND; the error text, for ERROR. */
  detail?: string;
  /** "127.0.0.1@PORT" of the client, or "local" on the Unix socket. */
  client: string;
}

export interface RunningClamd extends RunningEngine {
  /** One entry per INSTREAM clamd finished, oldest first (from its LogClean log). */
  scans(): ClamdScan[];
  /** Streams clamd refused because they exceeded StreamMaxLength (not in scans()). */
  sizeLimitHits(): number;
}

export interface SpamdCheck {
  spam: boolean;
  score: number;
  required: number;
  /** The User: header of the request, "(unknown)" without one. */
  user: string;
  /** Message size as spamd counted it. */
  bytes: number;
  symbols: string[];
  /** Without the angle brackets, as rspamd's messageId. */
  messageId?: string;
}

export interface RunningSpamd extends RunningEngine {
  /** One entry per message spamd checked, oldest first (from its log file). */
  checks(): SpamdCheck[];
}

export interface RspamdCheck {
  /** "reject", "no action", "add header", "rewrite subject", "greylist", "soft reject". */
  action: string;
  score: number;
  required: number;
  symbols: string[];
  /** Without the angle brackets; "undef" when the message has none. */
  messageId: string;
  /** The Queue-Id request header, when sent. */
  queueId?: string;
  /** The IP request header, when sent. */
  ip?: string;
  /** Message length in bytes. */
  len: number;
}

export interface RunningRspamd extends RunningEngine {
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** One entry per task rspamd logged, oldest first. */
  checks(): RspamdCheck[];
}

export function engineAvailable(name: EngineName): { ok: true } | { ok: false; reason: string } {
  const need: Record<EngineName, { bin: string; pkg: string; files: string[] }> = {
    clamd: { bin: CLAMD, pkg: 'clamav-daemon', files: [] },
    spamd: { bin: SPAMD, pkg: 'spamd and spamassassin', files: [SA_RULES, SA_SITE] },
    rspamd: { bin: RSPAMD, pkg: 'rspamd', files: [join(RSPAMD_CONFDIR, 'common.conf')] },
  };
  const n = need[name];
  try {
    accessSync(n.bin, constants.X_OK);
  } catch {
    return { ok: false, reason: missingComponent(name, `${n.bin} is not installed (Debian ${n.pkg}; make system-deps installs it only when run as root)`) };
  }
  for (const f of n.files) if (!existsSync(f)) return { ok: false, reason: missingComponent(name, `${f} is missing (Debian ${n.pkg} is incomplete)`) };
  return { ok: true };
}

// ---------------------------------------------------------------- clamd

/**
 * clamd with one signature: EICAR anywhere in any file type (an .ndb body
 * signature with target 0 and offset *). clamd still decodes MIME and
 * unpacks archives before matching, so EICAR is found in a message body, a
 * base64 attachment and a zip alike. No freshclam: the database directory is
 * ours and holds only that file.
 *
 * Root needs no User line: without one clamd keeps running as the user that
 * started it. streamMaxLength is clamd's syntax ("100M", "1K"); the default
 * 100M fits a 30 MB message. MaxFileSize/MaxScanSize follow it, so a big
 * stream is scanned whole instead of being passed unscanned.
 */
export async function startClamd(opts: { unixSocket?: boolean; streamMaxLength?: string } = {}): Promise<RunningClamd> {
  const avail = engineAvailable('clamd');
  if (!avail.ok) throw new Error(avail.reason);
  const limit = opts.streamMaxLength ?? '100M';
  return withPortRetries('clamd', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailwarden-clamd-'));
    const db = join(dir, 'db');
    mkdirSync(db);
    writeFileSync(join(db, 'mailwarden-test.ndb'), `Eicar-Test-Signature:0:*:${Buffer.from(EICAR, 'latin1').toString('hex')}\n`);
    const log = join(dir, 'clamd.log');
    const socketPath = opts.unixSocket ? join(dir, 'clamd.sock') : undefined;
    const port = socketPath ? 0 : await freePort();
    const listen = socketPath ? [`LocalSocket ${socketPath}`, 'LocalSocketMode 600'] : [`TCPSocket ${port}`, 'TCPAddr 127.0.0.1'];
    const conf = [
      'Foreground yes',
      ...listen,
      `DatabaseDirectory ${db}`,
      `TemporaryDirectory ${dir}`,
      `PidFile ${join(dir, 'clamd.pid')}`,
      `LogFile ${log}`,
      'LogClean yes',
      'LogTime yes',
      // Unlimited: the tests count every scan line, none may be rotated away.
      'LogFileMaxSize 0',
      `StreamMaxLength ${limit}`,
      `MaxFileSize ${limit}`,
      `MaxScanSize ${limit}`,
      // Both are defaults, spelled out because the tests rely on them.
      'ScanMail yes',
      'ScanArchive yes',
      // Our database never changes and holds no bytecode signatures.
      'SelfCheck 0',
      'Bytecode no',
      '',
    ].join('\n');
    const confFile = join(dir, 'clamd.conf');
    writeFileSync(confFile, conf);
    const d = launch('clamd', CLAMD, ['--config-file', confFile], dir, log);
    const target: Target = socketPath ? { path: socketPath } : { host: '127.0.0.1', port };
    await waitReady(d, () => clamdPing(target));
    const base = engine(d, target);
    return {
      ...base,
      scans: () => parseClamdScans(base.logText()),
      sizeLimitHits: () => (base.logText().match(/INSTREAM: Size limit reached/g) ?? []).length,
    };
  });
}

export function parseClamdScans(log: string): ClamdScan[] {
  const out: ClamdScan[] = [];
  for (const m of log.matchAll(/instream\(([^)]*)\): (.*?) ?(FOUND|ERROR)?$/gm)) {
    const [, client = '', text = '', tag] = m;
    if (tag === 'FOUND') out.push({ verdict: 'FOUND', detail: text, client });
    else if (tag === 'ERROR') out.push({ verdict: 'ERROR', detail: text, client });
    else if (text === 'OK') out.push({ verdict: 'OK', client });
  }
  return out;
}

async function clamdPing(t: Target): Promise<void> {
  const reply = await exchange(t, (s) => s.write('zPING\0'), (b) => b.includes(0));
  if (reply.toString('latin1') !== 'PONG\0') throw new Error(`clamd answered ${JSON.stringify(reply.toString('latin1'))} to zPING`);
}

// ---------------------------------------------------------------- spamd

/**
 * spamd with the rules Debian ships (/usr/share/spamassassin, no sa-update),
 * the plugin list of /etc/spamassassin/*.pre copied into a site directory
 * of ours (sa-compile.pre left out: the compiled rules in /var/lib depend on
 * when sa-compile last ran) and a local.cf of ours: no Bayes, no learning,
 * no network tests (-L and dns_available no, so no DNS query at all).
 * -x: no per-user configuration files. Each check is logged to our log file
 * (-s takes a file when the value contains a slash).
 *
 * As root without -u, spamd reads its configuration and serves each
 * connection as user nobody (it logs "still running as root: user not
 * specified with -u, not found, or set to root, falling back to nobody"), so
 * the temp dir is made world-readable; the log and pid files are opened
 * before the switch. No user has to be created.
 */
export async function startSpamd(): Promise<RunningSpamd> {
  const avail = engineAvailable('spamd');
  if (!avail.ok) throw new Error(avail.reason);
  return withPortRetries('spamd', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailwarden-spamd-'));
    // spamd reads its configuration after switching to nobody (as root, without -u):
    // mkdtemp's 0700 would leave it with no plugins ("no loaded plugin implements 'check_main'").
    chmodSync(dir, 0o755);
    const site = join(dir, 'site');
    const home = join(dir, 'home');
    mkdirSync(site);
    mkdirSync(home);
    for (const f of readdirSync(SA_SITE)) if (f.endsWith('.pre') && f !== 'sa-compile.pre') copyFileSync(join(SA_SITE, f), join(site, f));
    writeFileSync(join(site, 'local.cf'), ['use_bayes 0', 'bayes_auto_learn 0', 'use_razor2 0', 'use_pyzor 0', 'skip_rbl_checks 1', 'dns_available no', ''].join('\n'));
    const log = join(dir, 'spamd.log');
    const port = await freePort();
    const args = [
      `--listen=127.0.0.1:${port}`,
      '--allowed-ips=127.0.0.1',
      '--local',
      '--nouser-config',
      `--configpath=${SA_RULES}`,
      `--siteconfigpath=${site}`,
      `--syslog=${log}`,
      `--pidfile=${join(dir, 'spamd.pid')}`,
      `--helper-home-dir=${home}`,
      '--max-children=3',
    ];
    const d = launch('spamd', SPAMD, args, dir, log);
    const target: Target = { host: '127.0.0.1', port };
    await waitReady(d, () => spamdPing(target));
    const base = engine(d, target);
    return { ...base, checks: () => parseSpamdChecks(base.logText()) };
  });
}

export function parseSpamdChecks(log: string): SpamdCheck[] {
  const out: SpamdCheck[] = [];
  // The verdict line and then, from the same child, its "result:" line.
  const pending = new Map<string, SpamdCheck>();
  for (const line of log.split('\n')) {
    const v = /\[(\d+)\] info: spamd: (clean message|identified spam) \((-?[\d.]+)\/(-?[\d.]+)\) for (.*?):\d+ in [\d.]+ seconds, (\d+) bytes\./.exec(line);
    if (v) {
      const [, pid = '', what, score = '', required = '', user = '', bytes = ''] = v;
      const c: SpamdCheck = { spam: what === 'identified spam', score: Number(score), required: Number(required), user, bytes: Number(bytes), symbols: [] };
      out.push(c);
      pending.set(pid, c);
      continue;
    }
    // "result: Y 1000 - GTUBE,NO_RECEIVED scantime=0.1,size=155,...,mid=<id>,..."
    const r = /\[(\d+)\] info: spamd: result: \S+\s+-?\d+ - (.*)$/.exec(line);
    const c = r && pending.get(r[1] ?? '');
    if (r && c) {
      pending.delete(r[1] ?? '');
      const words = (r[2] ?? '').trim().split(/\s+/);
      c.symbols = words.filter((w) => !w.includes('=')).flatMap((w) => w.split(',')).filter(Boolean);
      const mid = /(?:^|,)mid=<([^>]*)>/.exec(words.find((w) => w.includes('=')) ?? '')?.[1];
      if (mid) c.messageId = mid;
    }
  }
  return out;
}

async function spamdPing(t: Target): Promise<void> {
  const reply = (await exchange(t, (s) => s.write('PING SPAMC/1.5\r\n\r\n'), (b) => b.includes('\r\n'))).toString('latin1');
  if (!/^SPAMD\/1\.\d 0 PONG\r\n/.test(reply)) throw new Error(`spamd answered ${JSON.stringify(reply)} to PING`);
}

// ---------------------------------------------------------------- rspamd

/** Modules that talk to the network (DNS, HTTP maps, Redis, fuzzy servers, external scanners); all off. */
const RSPAMD_OFF = [
  'antivirus', 'arc', 'asn', 'aws_s3', 'bimi', 'clickhouse', 'clustering', 'dcc', 'dkim', 'dkim_signing', 'dmarc',
  'dynamic_conf', 'elastic', 'emails', 'external_relay', 'external_services', 'fuzzy_check', 'fuzzy_collect',
  'greylist', 'hfilter', 'history_redis', 'http_headers', 'metadata_exporter', 'metric_exporter', 'mid',
  'mime_types', 'multimap', 'mx_check', 'neural', 'p0f', 'phishing', 'ratelimit', 'rbl', 'replies', 'reputation',
  'rspamd_update', 'spamassassin', 'spamtrap', 'spf', 'surbl', 'url_redirector', 'whitelist',
];

/** Compiled hyperscan databases, shared by every rspamd the tests start (see startRspamd). */
export const RSPAMD_HS_CACHE = join(tmpdir(), `mailwarden-rspamd-hs-cache-${process.getuid?.() ?? 'u'}`);

/**
 * rspamd with Debian's stock rules (CONFDIR /etc/rspamd) but our own
 * LOCAL_CONFDIR, DBDIR, RUNDIR and LOGDIR, one "normal" worker on
 * 127.0.0.1:PORT and no controller or proxy. The modules in RSPAMD_OFF are
 * disabled (override.d/<module>.conf: enabled = false): fuzzy_check, for one,
 * resolves its servers with the system resolver while loading the
 * configuration. rspamd's own resolver is pointed at 127.0.0.1 on a port
 * nothing listens on, with a short timeout, so what still asks DNS (the PTR
 * of the IP header when no Hostname header is sent, HTTP maps) fails on the
 * machine: RDNS_NONE and RDNS_DNSFAIL in the symbols are expected.
 *
 * As root it needs -u root -g root and -i (it refuses privileged workers
 * otherwise); as another user it runs as that user.
 *
 * Startup: compiling its 9628 TLD suffixes into a hyperscan database takes
 * ~10 s of CPU on a 2-core machine; with the database cached it takes under
 * a second. The cache holds only what rspamd compiled from its own rules
 * (files named by the hash of the patterns), so the tests share one in
 * RSPAMD_HS_CACHE by default; hsCacheDir: null keeps it in the temp dir.
 */
export async function startRspamd(opts: { hsCacheDir?: string | null } = {}): Promise<RunningRspamd> {
  const avail = engineAvailable('rspamd');
  if (!avail.ok) throw new Error(avail.reason);
  return withPortRetries('rspamd', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailwarden-rspamd-'));
    const sub = { local: join(dir, 'local'), db: join(dir, 'db'), run: join(dir, 'run'), log: join(dir, 'log') };
    for (const p of Object.values(sub)) mkdirSync(p);
    const override = join(sub.local, 'override.d');
    mkdirSync(override);
    const hsCache = opts.hsCacheDir === null ? sub.db : (opts.hsCacheDir ?? RSPAMD_HS_CACHE);
    mkdirSync(hsCache, { recursive: true });
    const port = await freePort();
    const deadDns = await freePort();
    for (const m of RSPAMD_OFF) writeFileSync(join(override, `${m}.conf`), 'enabled = false;\n');
    // Priority 10 replaces the stock options' dns block and cache dir as a whole.
    writeFileSync(
      join(override, 'options.inc'),
      [
        `hs_cache_dir = ${JSON.stringify(hsCache + '/')};`,
        'dns {',
        `  nameserver = ["127.0.0.1:${deadDns}"];`,
        '  timeout = 0.3s;',
        '  retransmits = 1;',
        '  sockets = 1;',
        '}',
        '',
      ].join('\n'),
    );
    const conf = [
      '.include "$CONFDIR/common.conf"',
      'options {',
      '  pidfile = "$RUNDIR/rspamd.pid";',
      '  .include "$CONFDIR/options.inc"',
      '  .include(try=true; priority=10) "$LOCAL_CONFDIR/override.d/options.inc"',
      '  control_socket = "$RUNDIR/rspamd.sock mode=0600";',
      '  tempdir = "$RUNDIR";',
      '}',
      'logging {',
      '  type = "file";',
      '  filename = "$LOGDIR/rspamd.log";',
      '  .include "$CONFDIR/logging.inc"',
      '}',
      'worker "normal" {',
      `  bind_socket = "127.0.0.1:${port}";`,
      '  count = 1;',
      '  .include "$CONFDIR/worker-normal.inc"',
      '}',
      '',
    ].join('\n');
    const confFile = join(dir, 'rspamd.conf');
    writeFileSync(confFile, conf);
    const root = process.getuid?.() === 0 ? ['-u', 'root', '-g', 'root', '-i'] : [];
    const args = [
      '-f',
      ...root,
      '-c', confFile,
      '--var', `LOCAL_CONFDIR=${sub.local}`,
      '--var', `DBDIR=${sub.db}`,
      '--var', `RUNDIR=${sub.run}`,
      '--var', `LOGDIR=${sub.log}`,
    ];
    const log = join(sub.log, 'rspamd.log');
    const target: Target = { host: '127.0.0.1', port };
    const d = await withStartLock(hsCache, async () => {
      const d = launch('rspamd', RSPAMD, args, dir, log);
      await waitReady(d, () => rspamdPing(port));
      return d;
    });
    const base = engine(d, target);
    return { ...base, url: `http://127.0.0.1:${port}`, checks: () => parseRspamdChecks(base.logText()) };
  });
}

/**
 * Runs start() while holding a lock file in the shared cache directory, so
 * rspamds started at once by parallel test files do not all compile the
 * cold cache (10 s of CPU each on 2 cores) and then overwrite each other's
 * files: tried, that left the big TLD database unusable for the next run.
 * A lock whose owner process is gone is taken over; after 2 minutes of
 * waiting we start anyway.
 */
async function withStartLock<T>(cacheDir: string, start: () => Promise<T>): Promise<T> {
  const lock = join(cacheDir, 'mailwarden-start.lock');
  const deadline = performance.now() + 120_000;
  let mine = false;
  while (!mine && performance.now() < deadline) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      mine = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(readLog(lock));
      if (owner && owner !== process.pid && !alive(owner)) {
        rmSync(lock, { force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  if (mine) heldLocks.add(lock);
  try {
    return await start();
  } finally {
    if (mine) {
      heldLocks.delete(lock);
      rmSync(lock, { force: true });
    }
  }
}

export function parseRspamdChecks(log: string): RspamdCheck[] {
  const out: RspamdCheck[] = [];
  const re = /rspamd_task_write_log: id: <(.*?)>,(?: qid: <(.*?)>,)?(?: ip: ([^,]+),)?.*?\(default: \w \((.+?)\): \[(-?[\d.]+)\/(-?[\d.]+)\] \[(.*?)\]\), len: (\d+)/;
  for (const line of log.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const [, messageId = '', queueId, ip, action = '', score = '', required = '', symbols = '', len = ''] = m;
    const c: RspamdCheck = {
      action,
      score: Number(score),
      required: Number(required),
      symbols: [...symbols.matchAll(/(?:^|,)([A-Z0-9_]+)\(/g)].map((s) => s[1] ?? ''),
      messageId,
      len: Number(len),
    };
    if (queueId !== undefined) c.queueId = queueId;
    if (ip !== undefined) c.ip = ip;
    out.push(c);
  }
  return out;
}

function rspamdPing(port: number): Promise<void> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path: '/ping', method: 'GET', timeout: 2000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 && body.trim() === 'pong' ? done() : fail(new Error(`rspamd /ping: ${res.statusCode} ${body}`))));
      res.on('error', fail);
    });
    req.on('timeout', () => req.destroy(new Error('rspamd /ping timed out')));
    req.on('error', fail);
    req.end();
  });
}

// ---------------------------------------------------------------- zip

/** A zip archive holding one file, stored (not compressed): the content appears verbatim in it. */
export function zipStored(name: string, content: Buffer): Buffer {
  return zipOne(name, content, 0);
}

/** A zip archive holding one file, deflated: finding the content in it takes unpacking. */
export function zipDeflated(name: string, content: Buffer): Buffer {
  return zipOne(name, content, 8);
}

function zipOne(name: string, content: Buffer, method: 0 | 8): Buffer {
  const fileName = Buffer.from(name, 'utf8');
  const data = method === 8 ? deflateRawSync(content) : content;
  const crc = crc32(content);
  const dosTime = 0;
  const dosDate = (0 << 9) | (1 << 5) | 1; // 1980-01-01, zip's epoch
  const version = method === 8 ? 20 : 10;
  const flags = /[^\x20-\x7e]/.test(name) ? 0x0800 : 0; // bit 11: the name is UTF-8

  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(version, 4);
  local.writeUInt16LE(flags, 6);
  local.writeUInt16LE(method, 8);
  local.writeUInt16LE(dosTime, 10);
  local.writeUInt16LE(dosDate, 12);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(content.length, 22);
  local.writeUInt16LE(fileName.length, 26);
  local.writeUInt16LE(0, 28);

  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(version, 4); // made by: MS-DOS attributes, so external attributes 0 mean a plain file
  central.writeUInt16LE(version, 6);
  central.writeUInt16LE(flags, 8);
  central.writeUInt16LE(method, 10);
  central.writeUInt16LE(dosTime, 12);
  central.writeUInt16LE(dosDate, 14);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(content.length, 24);
  central.writeUInt16LE(fileName.length, 28);
  // extra, comment, disk, internal and external attributes: 0; local header at offset 0
  const centralOffset = local.length + fileName.length + data.length;

  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + fileName.length, 12);
  end.writeUInt32LE(centralOffset, 16);

  return Buffer.concat([local, fileName, data, central, fileName, end]);
}

// ---------------------------------------------------------------- processes

type Target = { host: string; port: number } | { path: string };

interface Daemon {
  name: string;
  child: ChildProcess;
  pid: number;
  dir: string;
  logFile: string;
  startedAt: number;
  exited: Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

/** Daemons not stopped yet, killed when the test process exits. */
const live = new Set<Daemon>();
/** Start locks this process holds (see withStartLock), removed when it exits. */
const heldLocks = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const d of live) killNow(d);
    for (const l of heldLocks) rmSync(l, { force: true });
  });
  // A test run cancelled with a signal does not emit 'exit' by itself.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      for (const d of live) killNow(d);
      for (const l of heldLocks) rmSync(l, { force: true });
      process.off(sig, onSignal);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

function killNow(d: Daemon): void {
  for (const pid of [d.pid, ...descendants(d.pid)]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.delete(d);
  rmSync(d.dir, { recursive: true, force: true });
}

/** Processes forked by pid, children first (spamd's children, rspamd's workers). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // "pid (comm) state ppid ...", comm may hold spaces and parentheses
      const stat = readFileSync(`/proc/${e}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(e), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [c, pp] of parent) if (pp === p) out.push(c), walk(c);
  };
  walk(pid);
  return out;
}

/** True while pid exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function launch(name: string, bin: string, args: string[], dir: string, logFile: string): Daemon {
  installExitHook();
  const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (s: string): void => {
    out = (out + s).slice(-64 * 1024);
  };
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((done) => {
    child.once('exit', () => done());
    child.once('error', (e) => {
      keep(`spawn error: ${e.message}\n`);
      done();
    });
  });
  const d: Daemon = {
    name,
    child,
    pid: child.pid ?? -1,
    dir,
    logFile,
    startedAt: performance.now(),
    exited,
    output: () => out,
    stop: async () => {
      if (!live.has(d)) return;
      const kids = descendants(d.pid);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      // Children the main process did not take down with it.
      const deadline = performance.now() + STOP_GRACE_MS;
      while (kids.some(alive) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const k of kids.filter(alive)) {
        try {
          process.kill(k, 'SIGKILL');
        } catch {
          // gone
        }
      }
      live.delete(d);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  live.add(d);
  return d;
}

class PortTaken extends Error {}

/** Polls ping until it succeeds; fails at once when the daemon exits or cannot bind. */
async function waitReady(d: Daemon, ping: () => Promise<void>): Promise<void> {
  const deadline = performance.now() + READY_WITHIN_MS;
  let exited = false;
  void d.exited.then(() => (exited = true));
  let last = '';
  for (;;) {
    const bindError = /Address already in use|EADDRINUSE/.test(d.output() + readLog(d.logFile));
    if (exited || bindError) {
      const why = `${d.name} ${bindError ? 'could not bind its port' : `exited (${d.child.exitCode ?? d.child.signalCode})`} before answering`;
      const detail = `${why}\n--- output ---\n${d.output().slice(-4000)}\n--- log ---\n${readLog(d.logFile).slice(-4000)}`;
      await d.stop();
      throw bindError ? new PortTaken(detail) : new Error(detail);
    }
    try {
      await ping();
      return;
    } catch (e) {
      last = (e as Error).message;
    }
    if (performance.now() > deadline) {
      const detail = `${d.name} did not answer within ${READY_WITHIN_MS / 1000} s (last: ${last})\n--- output ---\n${d.output().slice(-4000)}\n--- log ---\n${readLog(d.logFile).slice(-4000)}`;
      await d.stop();
      throw new Error(detail);
    }
    await Promise.race([new Promise((r) => setTimeout(r, 100)), d.exited]);
  }
}

async function withPortRetries<T>(name: string, start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (!(e instanceof PortTaken) || attempt >= 3) throw e;
      process.stderr.write(`${name}: port taken, retrying on another\n`);
    }
  }
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function engine(d: Daemon, t: Target): RunningEngine {
  const base = {
    pid: d.pid,
    dir: d.dir,
    startupMs: Math.round(performance.now() - d.startedAt),
    logText: () => readLog(d.logFile),
    output: () => d.output(),
    stop: () => d.stop(),
  };
  if ('path' in t) return { ...base, host: '', port: 0, socketPath: t.path, address: t.path };
  return { ...base, host: t.host, port: t.port, address: `${t.host}:${t.port}` };
}

/** One request on a fresh connection: resolves with what came back once `complete` holds or the server closes. */
function exchange(t: Target, send: (s: Socket) => void, complete: (b: Buffer) => boolean): Promise<Buffer> {
  return new Promise((done, fail) => {
    const s = 'path' in t ? connect(t.path) : connect(t.port, t.host);
    let got = Buffer.alloc(0);
    s.setTimeout(2000, () => s.destroy(new Error('no answer within 2 s')));
    s.on('connect', () => send(s));
    s.on('data', (b: Buffer) => {
      got = Buffer.concat([got, b]);
      if (complete(got)) {
        s.destroy();
        done(got);
      }
    });
    s.on('end', () => done(got));
    s.on('error', fail);
  });
}
