// `mailwarden start`: runs the relay in the foreground until SIGTERM/SIGINT.

import type { Command } from 'commander';
import { resolve } from 'node:path';
import { CliExit, EXIT_REFUSED, EXIT_USAGE, meta, readSettingsFile, storeUrl } from './io.ts';
import { labelFindings } from './finding-labels.ts';
import { parseListenOverride, type ListenOverride } from '../cluster/listen-overrides.ts';
import { NodeNameInUse } from '../store/node-registry.ts';
import { StoreError } from '../store/open-stores.ts';
import { startDaemon, StartError, type Daemon } from '../daemon.ts';
import { DataDirInUse } from '../store/data-dir-lock.ts';
import { jsonLogger } from '../log/logger.ts';
import { ListenError } from '../smtp/listeners.ts';

export function registerStartCommand(program: Command, dataOption: () => string): void {
  program
    .command('start')
    .description('run the relay in the foreground (JSON log lines on stdout; SIGTERM stops it gracefully)')
    .option('--config <file>', 'apply this settings file as a new revision first')
    .option('--banner', 'print where it listens and how to change the settings (on stderr)')
    .option('--node <name>', 'this node\'s name in the cluster (default: the host name); two running nodes cannot share one')
    .option('--listen <name=addr:port>', 'bind listener NAME (or "admin") to ADDR:PORT on this node only (repeatable)', (v: string, acc: string[] | undefined) => [...(acc ?? []), v])
    .action(async (opts: { config?: string; banner?: boolean; node?: string; listen?: string[] }) => {
      const dataDir = resolve(dataOption());
      const listen: ListenOverride[] = [];
      for (const text of opts.listen ?? []) {
        const o = parseListenOverride(text);
        if (!o.ok) throw new CliExit(EXIT_USAGE, o.reason);
        listen.push(o.value);
      }
      if (opts.node !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,62}$/.test(opts.node)) throw new CliExit(EXIT_USAGE, `--node "${opts.node}" is not a node name (letters, digits, . _ - @ :, at most 63)`);
      const config = opts.config ? { raw: readSettingsFile(opts.config), meta: meta({}, `start --config ${opts.config}`) } : undefined;
      // Signals are ours from the first moment: a SIGTERM while starting
      // means "stop as soon as you are up", never death by signal.
      let stopRequested = false;
      let daemon: Daemon | undefined;
      let stopped: Promise<void> | undefined;
      let resolveStopped: () => void = () => {};
      const finished = new Promise<void>((done) => (resolveStopped = done));
      const stop = () => {
        stopRequested = true;
        if (daemon && !stopped) stopped = daemon.stop().then(resolveStopped);
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      try {
        daemon = await startDaemon({ dataDir, config, logger: jsonLogger(), node: opts.node, store: storeUrl(), listen });
      } catch (err) {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        if (err instanceof StartError) throw new CliExit(EXIT_REFUSED, err.message, config ? labelFindings(err.details, config.raw) : err.details);
        if (err instanceof ListenError || err instanceof DataDirInUse || err instanceof StoreError || err instanceof NodeNameInUse) throw new CliExit(EXIT_REFUSED, err.message);
        throw err;
      }
      if (stopRequested) stop();
      if (daemon.firstAdmin) {
        // Shown once, whatever the options: it is not stored in clear anywhere.
        process.stderr.write(
          `\nFirst start: created the admin account "${daemon.firstAdmin.name}" with the password\n\n    ${daemon.firstAdmin.password}\n\n` +
            `It is shown only now. Log in at ${daemon.admin?.url ?? '(the admin listener is off: admin.enabled)'}; change it with\n` +
            `  ./bin/mailwarden admin passwd ${daemon.firstAdmin.name} --password-stdin\n`,
        );
      }
      if (opts.banner) {
        const lines = [
          '',
          `mailwarden is running (settings revision ${daemon.revision}, data in ${dataDir})`,
          ...daemon.listeners.map((l) => `  ${l.mode.padEnd(10)} smtp${l.mode === 'smtps' ? 's' : ''}://${l.address}:${l.port}  (listener "${l.name}")`),
          daemon.admin ? `  web admin  ${daemon.admin.url}  (REST API under /api; self-signed certificate unless tls: is set)` : '  web admin  off (admin.enabled: false)',
          '',
          'Host-based relay is allowed from the networks in relaying.allowed_hosts (default: 127.0.0.1 only).',
          'To send with a login: echo PASSWORD | ./bin/mailwarden user add NAME --password-stdin, then name the user',
          '  in relaying.authenticated_relay (config export > f.yaml; edit; config import f.yaml).',
          'Change the settings:   in the web admin, or ./bin/mailwarden config export > settings.yaml; ./bin/mailwarden config import settings.yaml',
          'Admin accounts:        echo PASSWORD | ./bin/mailwarden admin add NAME --password-stdin [--role admin|viewer]',
          'Ask the rules:         ./bin/mailwarden policy explain --client 127.0.0.1 --to someone@example.org',
          'See the queue:         ./bin/mailwarden queue list',
          'Stop: Ctrl-C (finishes transactions in flight).',
          '',
        ];
        process.stderr.write(lines.join('\n') + '\n');
      }
      await finished;
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
    });
}
