// Issue #15, "running it for real": examples/systemd/mailwarden.service and
// its environment file, used as they are. systemd-analyze (Debian's systemd)
// verifies the unit offline, with no warning, and rates its sandbox; the keys
// the issue asks for are read from the file; and the unit's ExecStart, with
// the environment file's variables (its store URL pointed at the test's
// PostgreSQL) and the unit's User and capabilities (setpriv: an unprivileged
// user, no new privileges, CAP_NET_BIND_SERVICE alone, ambient), starts a
// node that binds port 25, relays a message, keeps the password off its
// command line, and on SIGTERM (the unit's KillSignal) finishes the delivery
// in flight and exits 0 (so Restart=on-failure leaves it stopped). The other
// sandbox settings (ProtectSystem, SystemCallFilter…) need systemd as PID 1,
// which this container has not: systemd-analyze is what checks them here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { missingComponent } from '../support/requires.ts';
import { ROOT, swaks, swaksMissing, type LogLine } from '../smtp/harness.ts';
import type { Answer } from '../delivery/sink.ts';
import { arrivals, clusterMissing, startCluster, RCPT_DOMAIN } from './harness.ts';
import { storeUrlProblem } from '../../src/store/open-stores.ts';

const UNIT = join(ROOT, 'examples/systemd/mailwarden.service');
const ENV_FILE = join(ROOT, 'examples/systemd/mailwarden.env');
/** Where the unit expects the project (its ExecStart); here the repository stands in for it. */
const INSTALLED = '/opt/mailwarden';
/** systemd's default PATH for services. */
const SERVICE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

type Unit = Map<string, [string, string][]>;

/** A unit file's sections and their settings in order (systemd.syntax(7): comments, KEY=VALUE, repeated keys). */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: [string, string][] | null = null;
  for (const raw of text.replace(/\\\n/g, ' ').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = [];
      unit.set(head[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(section && eq > 0, `not a unit file line: ${line}`);
    section.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return unit;
}

const values = (u: Unit, section: string, key: string): string[] => (u.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
const one = (u: Unit, section: string, key: string): string => {
  const v = values(u, section, key);
  assert.equal(v.length, 1, `[${section}] ${key}= is set once (${v.length} times)`);
  return v[0]!;
};

/** The environment file's variables (systemd.exec(7): KEY=VALUE lines, # comments). */
function parseEnv(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    assert.ok(m, `not an environment file line: ${line}`);
    env.set(m[1]!, m[2]!);
  }
  return env;
}

const unit = parseUnit(readFileSync(UNIT, 'utf8'));

test('the unit restarts on failure, reads the store URL from an environment file, and runs sandboxed with one capability', () => {
  assert.equal(one(unit, 'Service', 'Restart'), 'on-failure');
  assert.match(one(unit, 'Service', 'RestartSec'), /^\d+s?$/);
  assert.equal(one(unit, 'Unit', 'StartLimitIntervalSec'), '0', 'a database down for long does not make systemd give up');
  assert.equal(one(unit, 'Service', 'EnvironmentFile'), '/etc/mailwarden/mailwarden.env');
  const exec = one(unit, 'Service', 'ExecStart');
  assert.match(exec, /^\/opt\/mailwarden\/bin\/mailwarden start /);
  assert.doesNotMatch(exec, /--store|postgres|--config/, 'no store URL (ps shows arguments) and no --config (it would undo the shared settings at every start)');
  const data = /--data (\S+)/.exec(exec)?.[1];
  assert.equal(data, '/var/lib/mailwarden');
  // The sandbox: read-only but the data directory.
  assert.equal(one(unit, 'Service', 'ProtectSystem'), 'strict');
  assert.deepEqual(values(unit, 'Service', 'ReadWritePaths'), [data]);
  assert.equal(one(unit, 'Service', 'StateDirectory'), 'mailwarden', 'systemd creates /var/lib/mailwarden for the user');
  for (const key of ['ProtectHome', 'PrivateTmp', 'NoNewPrivileges']) assert.equal(one(unit, 'Service', key), 'yes', key);
  assert.equal(one(unit, 'Service', 'CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE');
  assert.equal(one(unit, 'Service', 'AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
  const user = one(unit, 'Service', 'User');
  assert.ok(user !== 'root' && user !== '0', 'a dedicated user');
  assert.deepEqual(one(unit, 'Service', 'RestrictAddressFamilies').split(/\s+/).sort(), ['AF_INET', 'AF_INET6', 'AF_UNIX']);
  assert.equal(one(unit, 'Service', 'SystemCallFilter'), '@system-service');
  assert.deepEqual(values(unit, 'Service', 'MemoryDenyWriteExecute'), [], 'V8 writes the machine code it runs: MemoryDenyWriteExecute would kill Node');
  // A graceful stop: SIGTERM, and time for both graces (transactions, then deliveries: 30 s each by default).
  assert.equal(one(unit, 'Service', 'KillSignal'), 'SIGTERM');
  assert.ok(Number(/^(\d+)s$/.exec(one(unit, 'Service', 'TimeoutStopSec'))?.[1]) > 60, 'TimeoutStopSec outlasts two shutdown graces');

  const env = parseEnv(readFileSync(ENV_FILE, 'utf8'));
  assert.deepEqual([...env.keys()], ['MAILWARDEN_STORE']);
  const url = env.get('MAILWARDEN_STORE')!;
  assert.equal(storeUrlProblem(url), null, `the example URL is one the CLI takes: ${url}`);
  assert.match(url, /,.*target_session_attrs=primary$/, 'several hosts, following the primary');
});

function systemdAnalyzeMissing(): string | false {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return missingComponent('systemd', 'systemd-analyze is not installed (Debian package systemd)');
  }
}

/** The unit as installed, but for the project's place: the repository here (verify checks ExecStart's program exists). */
function installedCopy(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'mailwarden.service');
  writeFileSync(file, readFileSync(UNIT, 'utf8').replaceAll(INSTALLED, ROOT));
  return file;
}

function run(cmd: string, args: string[], cwd: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd, timeout: 60_000 }, (err, stdout, stderr) => done({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

test('systemd-analyze verify accepts the unit without a warning; its offline security exposure is low', { skip: systemdAnalyzeMissing() }, async (t) => {
  const file = installedCopy(t);
  const dir = join(file, '..');
  const verify = await run('systemd-analyze', ['verify', file], dir);
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'no warning (an unknown or misplaced key is only a warning)');
  const sec = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', file], dir);
  const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(sec.stdout)?.[1]);
  assert.ok(exposure <= 2.5, `exposure ${exposure} (0 is best, 10 worst; "OK" is below 3.9)\n${sec.stdout}${sec.stderr}`);
  t.diagnostic(`systemd-analyze security --offline: exposure ${exposure}`);
});

/** A loopback address where port 25 is free (port 25 is what the capability is for; the address is picked, not the port guessed). */
async function freeAddressFor25(): Promise<string> {
  for (;;) {
    const address = `127.${25 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 1}`;
    const free = await new Promise<boolean>((done) => {
      const s = createServer();
      s.once('error', () => done(false));
      s.listen(25, address, () => s.close(() => done(true)));
    });
    if (free) return address;
  }
}

const isRoot = process.getuid?.() === 0;

test('ExecStart with the environment file runs a node on the cluster store as an unprivileged user on port 25; SIGTERM drains and exits 0', { skip: clusterMissing() ?? swaksMissing(), timeout: 120_000 }, async (t) => {
  let hold = false;
  let releaseHeld: () => void = () => {};
  let heldSeen: () => void = () => {};
  const heldArrived = new Promise<void>((r) => (heldSeen = r));
  const c = await startCluster(t, {
    sink: {
      // The second message is held at the end of DATA until the test lets it go: a delivery in flight at SIGTERM.
      data: () => {
        if (!hold) return undefined;
        heldSeen();
        return new Promise<Answer>((resolve) => (releaseHeld = () => resolve(undefined)));
      },
    },
  });
  // Port 25 needs the unit's capability, which only root can hand to another user here; otherwise any port.
  const address = isRoot ? await freeAddressFor25() : '127.0.0.1';
  await c.apply({ listeners: [{ name: 'mx', address, port: isRoot ? 25 : 0, mode: 'mx' }] });

  // The environment file as shipped, with its store URL pointed at the test's database (and a password, which the
  // test server does not ask for: it must not show on the command line or in a log line).
  const password = 'pw-never-in-ps-9c1e';
  const env = parseEnv(readFileSync(ENV_FILE, 'utf8'));
  env.set('MAILWARDEN_STORE', c.url.replace('postgresql://postgres@', `postgresql://postgres:${password}@`));
  const dataDir = mkdtempSync(join(tmpdir(), 'mailwarden-unit-data-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const user = one(unit, 'Service', 'User');
  const words = one(unit, 'Service', 'ExecStart')
    .replaceAll(INSTALLED, ROOT)
    .replaceAll('/var/lib/mailwarden', dataDir)
    .replaceAll('%H', 'systemd-node')
    .split(/\s+/);
  let cmd = words;
  if (isRoot) {
    // The unit's User= does not exist here: nobody stands in for it. Its capabilities, as the unit gives them.
    assert.equal(user, 'mailwarden');
    const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
    const nogroup = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
    chownSync(dataDir, nobody, nogroup);
    const caps = (key: string) => one(unit, 'Service', key).split(/\s+/).map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');
    cmd = ['setpriv', `--reuid=${nobody}`, `--regid=${nogroup}`, '--clear-groups', `--inh-caps=-all,${caps('AmbientCapabilities')}`, `--ambient-caps=-all,${caps('AmbientCapabilities')}`, `--bounding-set=-all,${caps('CapabilityBoundingSet')}`, ...(one(unit, 'Service', 'NoNewPrivileges') === 'yes' ? ['--no-new-privs'] : []), '--', ...words];
  } else {
    t.diagnostic('not root: ExecStart runs as this user, without setpriv (binding port 25 needs the capability)');
  }
  const child = spawn(cmd[0]!, cmd.slice(1), { cwd: dataDir, env: { PATH: SERVICE_PATH, ...Object.fromEntries(env) }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => void child.kill('SIGKILL'));
  const logs: LogLine[] = [];
  let stdout = '';
  let stderr = '';
  const waiters: (() => void)[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line.startsWith('{')) logs.push(JSON.parse(line) as LogLine);
    for (const w of [...waiters]) w();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: string | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
  const waitLog = (pred: (l: LogLine) => boolean, ms: number): Promise<LogLine> =>
    new Promise((done, fail) => {
      const check = () => {
        const l = logs.find(pred);
        if (!l) return;
        waiters.splice(waiters.indexOf(check), 1);
        clearTimeout(timer);
        done(l);
      };
      const timer = setTimeout(() => fail(new Error(`no such log line within ${ms} ms; stderr: ${stderr}`)), ms);
      waiters.push(check);
      check();
      void exited.then(({ code }) => fail(new Error(`the daemon exited (${code}); stderr: ${stderr}`)));
    });

  const started = await waitLog((l) => l.event === 'started', 45_000);
  assert.equal(started.store, 'postgresql', 'the store came from the environment file');
  assert.equal(started.node, 'systemd-node');
  const [bound] = started.listeners as { address: string; port: number }[];
  assert.equal(bound?.address, address);
  if (isRoot) assert.equal(bound.port, 25, 'an unprivileged user bound port 25 with the one capability');
  const port = String(bound!.port);
  // ps shows a process's arguments to every user: the password is not among them.
  const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
  assert.match(cmdline, /(src\/cli\/main\.ts|dist\/cli\/main\.js)\0start\0--node\0systemd-node\0--data\0/, 'the pid is the daemon itself (setpriv and the launcher exec)');
  assert.ok(!cmdline.includes(password) && !cmdline.includes('postgres'), 'no store URL on the command line');
  if (isRoot) {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    assert.match(status, /^Uid:\s+65534\s/m, 'runs as the unprivileged user');
    // CAP_NET_BIND_SERVICE is capability 10: effective, permitted, bounding and ambient hold it and nothing else.
    for (const set of ['CapEff', 'CapPrm', 'CapBnd', 'CapAmb']) assert.match(status, new RegExp(`^${set}:\\s+0*400$`, 'm'), set);
    assert.match(status, /^NoNewPrivs:\s+1$/m);
  }

  const sent = await swaks(['--server', address, '--port', port, '--from', 'sender@client.example', '--to', `rcpt@${RCPT_DOMAIN}`, '--header', 'Subject: unit-1']);
  assert.equal(sent.status, 0, sent.out);
  await c.sink.waitFor(1, 15_000);

  // A delivery in flight when systemd stops the service (KillSignal=SIGTERM): finished, recorded, then exit 0.
  hold = true;
  const second = await swaks(['--server', address, '--port', port, '--from', 'sender@client.example', '--to', `rcpt@${RCPT_DOMAIN}`, '--header', 'Subject: unit-2']);
  assert.equal(second.status, 0, second.out);
  await heldArrived;
  child.kill(one(unit, 'Service', 'KillSignal') as NodeJS.Signals);
  await waitLog((l) => l.event === 'stopping', 10_000);
  releaseHeld();
  const { code, signal } = await exited;
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, `a clean exit: Restart=on-failure leaves it stopped; stderr: ${stderr}`);
  const events = logs.map((l) => l.event);
  assert.ok(events.lastIndexOf('delivery') > events.indexOf('stopping'), 'the delivery in flight ended after the stop began');
  assert.equal(logs.filter((l) => l.event === 'delivery' && l.status === 'delivered').length, 2);
  assert.equal(events.at(-1), 'stopped');
  assert.deepEqual(Object.fromEntries(arrivals(c.sink)), { 'unit-1': 1, 'unit-2': 1 });
  const sql = postgres(c.url, { max: 1, onnotice: () => {} });
  t.after(() => sql.end({ timeout: 1 }));
  const [q] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM queue_message`;
  assert.equal(q!.n, 0, 'nothing left in the queue');
  const nodes = await sql<{ name: string }[]>`SELECT name FROM cluster_node`;
  assert.deepEqual(nodes.map((n) => n.name), [], 'deregistered at the clean stop: its name is free at once');
  assert.ok(!stdout.includes(password) && !stderr.includes(password), 'the password is in no log line');
});
