// Haraka (from npm, installed into the scratch dir) in two set-ups, each in a
// fresh directory made with `haraka -i`:
//  - "queue": its durable outbound queue (relaying clients' mail is written
//    to DIR/queue, then delivered); a small plugin answers get_mx with the sink.
//  - "smtp_forward": queue/smtp_forward with enable_outbound, which answers
//    the client only after the sink has taken the message, and keeps no queue.
// Both: listen on 127.0.0.1:<port>, the relay plugin with an ACL of
// 127.0.0.0/8, and a lookup_rdns plugin that answers "localhost" so that no
// PTR query leaves the machine (Haraka asks DNS for every client otherwise).
// Haraka runs on the project's Node 24 (process.execPath), its defaults
// otherwise (one cluster worker, log level info to a file).

import { mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { start, run, stopGroup, alive } from '../lib/procs.ts';
import { freePort, waitForGreeting } from '../lib/net.ts';
import { logTail, type Relay, type RelayInstance, type StartOptions } from './types.ts';

export type HarakaVariant = 'queue' | 'smtp_forward';

const NO_RDNS_PLUGIN = `// bench: no reverse DNS for clients (no DNS traffic off this machine)
exports.register = function () { this.register_hook('lookup_rdns', 'no_dns') }
exports.no_dns = function (next) { next(OK, 'localhost') }
`;

function mxPlugin(sinkPort: number | string): string {
  return `// bench: every outbound destination is the sink
exports.register = function () { this.register_hook('get_mx', 'sink') }
exports.sink = function (next) { next(OK, { exchange: '127.0.0.1', port: ${sinkPort}, priority: 0 }) }
`;
}

function configFiles(variant: HarakaVariant, port: number | string, sinkPort: number | string): Record<string, string> {
  const files: Record<string, string> = {
    'config/me': 'haraka.bench.invalid\n',
    'config/smtp.ini': `[main]\nlisten=127.0.0.1:${port}\n`,
    'config/relay.ini': '[relay]\nacl=true\nforce_routing=false\n',
    'config/relay_acl_allow': '127.0.0.0/8\n',
    'plugins/bench_no_rdns.js': NO_RDNS_PLUGIN,
  };
  if (variant === 'queue') {
    files['config/plugins'] = 'bench_no_rdns\nrelay\nbench_mx\n';
    files['plugins/bench_mx.js'] = mxPlugin(sinkPort);
  } else {
    files['config/plugins'] = 'bench_no_rdns\nrelay\nqueue/smtp_forward\n';
    files['config/smtp_forward.ini'] = `[main]\nhost=127.0.0.1\nport=${sinkPort}\nenable_outbound=true\n`;
  }
  return files;
}

export function haraka(variant: HarakaVariant, pkgDir: string): Relay {
  const bin = join(pkgDir, 'node_modules', 'Haraka', 'bin', 'haraka');
  return {
    id: variant === 'queue' ? 'haraka' : 'haraka-fwd',
    label: variant === 'queue' ? 'Haraka (queue)' : 'Haraka (smtp_forward, no queue)',
    isMailwarden: false,

    version(): string {
      try {
        const v = (JSON.parse(readFileSync(join(pkgDir, 'node_modules', 'Haraka', 'package.json'), 'utf8')) as { version: string }).version;
        return `Haraka ${v} on Node ${process.versions.node}`;
      } catch {
        return 'Haraka (not installed)';
      }
    },

    describe(): string[] {
      const files = configFiles(variant, '<port>', '<sink port>');
      return [
        `${this.label}: \`node ${bin.replace(process.cwd() + '/', '')} -i DIR\`, then these files, then \`node …/Haraka/bin/haraka -c DIR\` (node = the project's Node ${process.versions.node}):`,
        '',
        ...Object.entries(files).flatMap(([name, text]) => [`\`DIR/${name}\`:`, '```', text.trimEnd(), '```']),
      ];
    },

    async start(dir: string, sinkPort: number, opts: StartOptions = {}): Promise<RelayInstance> {
      const port = await freePort();
      const hk = join(dir, 'haraka');
      mkdirSync(dir, { recursive: true });
      const init = await run('haraka -i', process.execPath, [bin, '-i', hk], { timeoutMs: 60_000 });
      if (init.code !== 0) throw new Error(`haraka -i failed: ${init.stderr || init.stdout}`);
      // haraka -i writes example plugins and lists; ours replace them
      rmSync(join(hk, 'config', 'host_list'), { force: true });
      mkdirSync(join(hk, 'plugins'), { recursive: true });
      for (const [name, text] of Object.entries(configFiles(variant, port, sinkPort))) writeFileSync(join(hk, name), text);
      const logFile = join(dir, 'haraka.log');
      const p = start(this.id, process.execPath, [bin, '-c', hk], { cwd: dir, logFile, ...(opts.env ? { env: opts.env } : {}) });
      try {
        await waitForGreeting(port, 30_000, () => alive(p.pid));
      } catch (e) {
        await stopGroup(p.pid, 1000);
        throw new Error(`${this.label}: ${(e as Error).message}\n${await logTail(logFile)}`);
      }
      return {
        port,
        logFile,
        roots: () => [p.pid],
        stop: () => stopGroup(p.pid, 8000),
      };
    },
  };
}
