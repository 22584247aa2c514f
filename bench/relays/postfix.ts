// Postfix (Debian's package) as a private instance: its own config_directory,
// queue_directory and data_directory under the run's scratch dir, smtpd on
// 127.0.0.1:<port> only, everything from 127.0.0.0/8 relayed to the sink as
// relayhost, no DNS, no local delivery, default durability (Postfix fsyncs
// its queue files; nothing here turns that off). Started with
// `postfix -c DIR start-fg` (the master stays a child of ours, though it
// makes its own session, so it is tracked by pid as well) and stopped with
// `postfix -c DIR stop`, then by signal if that did not do it.

import { mkdirSync, writeFileSync, readFileSync, chownSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { start, run, stopGroup, track, alive } from '../lib/procs.ts';
import { freePort, waitForGreeting } from '../lib/net.ts';
import { logTail, type Relay, type RelayInstance, type StartOptions } from './types.ts';

const POSTFIX = '/usr/sbin/postfix';
const POSTCONF = '/usr/sbin/postconf';

/**
 * Postfix programs keep only the environment that import_environment names
 * (the `postfix` command and the master clean the rest away): the slow-disk
 * shim's variables are added to Postfix's default list when given.
 */
function importEnvironment(env: NodeJS.ProcessEnv | undefined): string[] {
  const keep = Object.entries(env ?? {}).filter(([k, v]) => v !== undefined && (k === 'LD_PRELOAD' || k.startsWith('SLOWSYNC_')));
  if (keep.length === 0) return [];
  let defaults = 'MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME';
  try { defaults = execFileSync(POSTCONF, ['-d', '-h', 'import_environment']).toString().trim() || defaults; } catch { /* the default above */ }
  return [`import_environment = ${defaults} ${keep.map(([k, v]) => `${k}=${v}`).join(' ')}`];
}

function mainCf(dir: string, sinkPort: number | string, env?: NodeJS.ProcessEnv): string {
  return [
    ...importEnvironment(env),
    'compatibility_level = 3.6',
    'myhostname = postfix.bench.invalid',
    'mydomain = bench.invalid',
    'myorigin = $myhostname',
    'mydestination =',
    'local_recipient_maps =',
    'alias_maps =',
    'alias_database =',
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'mynetworks = 127.0.0.0/8',
    `relayhost = [127.0.0.1]:${sinkPort}`,
    'smtp_dns_support_level = disabled',
    `queue_directory = ${dir}/queue`,
    `data_directory = ${dir}/data`,
    `maillog_file_prefixes = ${dir}`,
    `maillog_file = ${dir}/maillog`,
    '',
  ].join('\n');
}

function masterCf(port: number | string): string {
  // Only the services a relay to a relayhost uses; one inet listener.
  // The columns are: service type private unpriv chroot wakeup maxproc command
  return [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    'cleanup   unix n - n - 0 cleanup',
    'qmgr      unix n - n 300 1 qmgr',
    'rewrite   unix - - n - - trivial-rewrite',
    'bounce    unix - - n - 0 bounce',
    'defer     unix - - n - 0 bounce',
    'trace     unix - - n - 0 bounce',
    'verify    unix - - n - 1 verify',
    'proxymap  unix - - n - - proxymap',
    'smtp      unix - - n - - smtp',
    'relay     unix - - n - - smtp',
    'showq     unix n - n - - showq',
    'error     unix - - n - - error',
    'retry     unix - - n - - error',
    'discard   unix - - n - - discard',
    'anvil     unix - - n - 1 anvil',
    'scache    unix - - n - 1 scache',
    'postlog   unix-dgram n - n - 1 postlogd',
    '',
  ].join('\n');
}

export const postfix: Relay = {
  id: 'postfix',
  label: 'Postfix',
  isMailwarden: false,

  version(): string {
    try {
      return 'Postfix ' + execFileSync(POSTCONF, ['-d', '-h', 'mail_version']).toString().trim();
    } catch {
      return 'Postfix (unknown version)';
    }
  },

  describe(): string[] {
    return [
      'Postfix: private instance in `DIR` (config, queue and data directories of its own), started with',
      '`postfix -c DIR/etc check && postfix -c DIR/etc start-fg`, stopped with `postfix -c DIR/etc stop`.',
      '',
      '`DIR/etc/main.cf`:',
      '```',
      mainCf('DIR', '<sink port>').trimEnd(),
      '```',
      '`DIR/etc/master.cf`:',
      '```',
      masterCf('<port>').trimEnd(),
      '```',
    ];
  },

  async start(dir: string, sinkPort: number, opts: StartOptions = {}): Promise<RelayInstance> {
    const port = await freePort();
    const etc = join(dir, 'etc');
    mkdirSync(etc, { recursive: true });
    mkdirSync(join(dir, 'queue'), { recursive: true });
    mkdirSync(join(dir, 'data'), { recursive: true });
    const pw = execFileSync('id', ['-u', 'postfix']).toString().trim();
    chownSync(join(dir, 'data'), Number(pw), -1);
    writeFileSync(join(etc, 'main.cf'), mainCf(dir, sinkPort, opts.env));
    writeFileSync(join(etc, 'master.cf'), masterCf(port));
    const logFile = join(dir, 'maillog');

    const check = await run('postfix check', POSTFIX, ['-c', etc, 'check'], { timeoutMs: 30_000 });
    if (check.code !== 0) throw new Error(`postfix check failed (${check.code}): ${check.stderr}\n${await logTail(logFile)}`);

    const fg = start('postfix start-fg', POSTFIX, ['-c', etc, 'start-fg'], { logFile: join(dir, 'start-fg.log'), ...(opts.env ? { env: opts.env } : {}) });
    let fgExited = false;
    void fg.exited.then(() => { fgExited = true; });
    const pidFile = join(dir, 'queue', 'pid', 'master.pid');
    let master = 0;
    const until = Date.now() + 20_000;
    while (Date.now() < until && !fgExited) {
      try {
        const p = Number(readFileSync(pidFile, 'utf8').trim());
        if (p > 0 && alive(p)) { master = p; break; }
      } catch { /* not yet */ }
      await sleep(50);
    }
    if (!master) {
      await stopGroup(fg.pid, 1000);
      throw new Error(`postfix master did not start\n${await logTail(logFile)}\n${await logTail(join(dir, 'start-fg.log'))}`);
    }
    // the master calls setsid(): its group is its own, tracked apart
    track('postfix master', master, true);
    try {
      await waitForGreeting(port, 20_000, () => alive(master));
    } catch (e) {
      await stopPostfix(etc, master, fg.pid);
      throw new Error(`postfix: ${(e as Error).message}\n${await logTail(logFile)}`);
    }
    return {
      port,
      logFile,
      roots: () => [master],
      stop: () => stopPostfix(etc, master, fg.pid),
    };
  },
};

async function stopPostfix(etc: string, master: number, fgPid: number): Promise<void> {
  if (alive(master)) await run('postfix stop', POSTFIX, ['-c', etc, 'stop'], { timeoutMs: 20_000 });
  const until = Date.now() + 10_000;
  while (Date.now() < until && alive(master)) await sleep(50);
  await stopGroup(master, 0);
  await stopGroup(fgPid, 1000);
}
