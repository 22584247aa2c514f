// `mailwarden policy explain|test-open-relay`: ask the relay rules about a
// transaction without sending mail, from an installation (--data) or from a
// settings file (--config).

import type { Command } from 'commander';
import { CliExit, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, printJson, readSettingsFile, withService } from './io.ts';
import { validate } from '../config/validate.ts';
import { labelFindings } from './finding-labels.ts';
import { compileSnapshot, type Snapshot } from '../config/snapshot.ts';
import { explainOnline, ExplainInputError, onlineRunner, openRelayTest, type Explanation } from '../checks/explain.ts';
import { LazyDirectories } from '../directory/lazy-directories.ts';
import { DirectoryUnavailable } from '../directory/unavailable.ts';

interface SourceOpts {
  data?: string | undefined;
  config?: string | undefined;
}

async function loadSnapshot(opts: SourceOpts, dataOption: () => string): Promise<Snapshot> {
  if (opts.config !== undefined && opts.data !== undefined) throw new CliExit(EXIT_USAGE, 'give --data or --config, not both');
  if (opts.config !== undefined) {
    const raw = readSettingsFile(opts.config, EXIT_USAGE);
    const v = validate(raw);
    if (v.errors.length > 0) throw new CliExit(EXIT_USAGE, `${opts.config} is not a valid settings document`, labelFindings(v.errors, raw));
    return compileSnapshot(v.settings, 0, v.networks);
  }
  return withService(opts.data ?? dataOption(), (svc) => svc.snapshot());
}

function asJson(x: Explanation, revision: number): Record<string, unknown> {
  const d = x.decision;
  return {
    action: d.action,
    code: d.code,
    enhanced: d.enhanced,
    text: d.text,
    kind: d.kind,
    stage: d.stage,
    rule: d.rule,
    trail: d.trail,
    listener: x.listener,
    relay_right: x.relayRight,
    scanned: x.scanned,
    proxy: x.proxy,
    revision,
  };
}

async function guardedAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ExplainInputError) throw new CliExit(EXIT_USAGE, err.message);
    throw err;
  }
}

function guarded<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ExplainInputError) throw new CliExit(EXIT_USAGE, err.message);
    throw err;
  }
}

export function registerPolicyCommands(program: Command, dataOption: () => string): void {
  const policy = program.command('policy').description('ask the relay rules without sending mail');

  policy
    .command('explain')
    .description('the decision for one transaction, with the rules and objects that decided it')
    .option('--config <file>', 'use this settings file instead of the installation')
    .requiredOption('--client <ip>', 'client address')
    .option('--user <name>', 'the client authenticated as this user')
    .option('--listener <name>', 'the listener it connected to (default: the first mx listener)')
    // Commander prints the default value itself: saying it in the text too printed it twice.
    .option('--from <address>', 'MAIL FROM; <> is the null sender', '<>')
    .requiredOption('--to <address>', 'RCPT TO')
    .option('--json', 'print one JSON object')
    .action(async (opts: SourceOpts & { client: string; user?: string; listener?: string; from: string; to: string; json?: boolean }, cmd: Command) => {
      const snap = await loadSnapshot({ config: opts.config, data: cmd.optsWithGlobals<{ data?: string }>().data }, dataOption);
      // The same checks the daemon runs, the DNS ones included (the blocklists); greylisting and the content scan need a message.
      // A --user who is no local user is looked up in the directories, as AUTH would find it.
      const directories = snap.settings.directories.length > 0 ? new LazyDirectories() : null;
      let x: Explanation;
      try {
        x = await guardedAsync(() => explainOnline(snap, { client: opts.client, user: opts.user ?? null, listener: opts.listener ?? null, from: opts.from, to: opts.to }, onlineRunner(directories)));
      } catch (err) {
        if (err instanceof DirectoryUnavailable) throw new CliExit(EXIT_REFUSED, `${err.message}: the user cannot be looked up (AUTH would answer 454 4.7.0)`);
        throw err;
      } finally {
        await directories?.close();
      }
      const d = x.decision;
      const checks = Object.keys(x.checks).length > 0 ? { log: x.checks } : null;
      if (opts.json) printJson({ ...asJson(x, snap.revision), ...(checks ? { checks: checks.log } : {}) });
      else {
        process.stdout.write(`${d.action}: ${d.code} ${d.enhanced} ${d.text}\n`);
        process.stdout.write(`  stage ${d.stage}, ${d.rule}${d.kind ? `, ${d.kind}` : ''}${x.scanned === null ? '' : x.scanned ? ', content scanned' : ', not content scanned'}\n`);
        for (const t of d.trail) process.stdout.write(`  - ${t}\n`);
        if (checks) process.stdout.write(`  checks: ${JSON.stringify(checks.log)}\n`);
      }
      process.exitCode = d.action === 'accept' ? EXIT_OK : EXIT_REFUSED;
    });

  policy
    .command('test-open-relay')
    .description('run the classic open-relay battery through the rules for one client; exit 1 if any address would be relayed')
    .option('--config <file>', 'use this settings file instead of the installation')
    .requiredOption('--client <ip>', 'client address')
    .option('--user <name>', 'the client authenticated as this user')
    .option('--domain <domain>', 'our domain in the battery (default: the first local domain, else the host name)')
    .option('--json', 'print as JSON')
    .action(async (opts: SourceOpts & { client: string; user?: string; domain?: string; json?: boolean }, cmd: Command) => {
      const snap = await loadSnapshot({ config: opts.config, data: cmd.optsWithGlobals<{ data?: string }>().data }, dataOption);
      const t = guarded(() => openRelayTest(snap, { client: opts.client, user: opts.user ?? null, domain: opts.domain ?? null }));
      const rows = t.results;
      const open = t.relayed;
      if (opts.json) printJson(t);
      else {
        for (const r of rows) process.stdout.write(`${r.relayed ? 'RELAYED ' : r.action === 'accept' ? 'local   ' : 'refused '} ${r.code} ${r.enhanced}  ${r.to}  (${r.rule})\n`);
        const as = t.proxy?.claims ? ` (a trusted proxy of listener "${t.proxy.listener}", claiming ${t.proxy.claims_as} ${t.proxy.claims})` : '';
        process.stdout.write(open > 0 ? `${open} of ${rows.length} addresses would be relayed for ${opts.client}${as}\n` : `no address of ${rows.length} would be relayed for ${opts.client}${as}\n`);
        if (t.proxies.length > 0) {
          // Whatever the client above, a client in a trusted proxy range chooses its address.
          process.stdout.write('trusted proxies (a client there chooses the address every rule sees):\n');
          for (const p of t.proxies) {
            const claim = p.claims ? `claiming ${p.claims_as} ${p.claims}` : 'with no relay or upstream host to claim';
            process.stdout.write(`${p.relayed > 0 ? 'RELAYED ' : 'refused '} listener "${p.listener}", "${p.network}" (${p.ranges}): ${p.relayed} of ${rows.length} addresses would be relayed from ${p.probe}, ${claim}\n`);
          }
        }
      }
      process.exitCode = open > 0 ? EXIT_REFUSED : EXIT_OK;
    });
}

