// `mailwarden init`: prepares a data directory with the embedded defaults,
// and `mailwarden status`: what the active revision makes of this relay.

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliExit, EXIT_REFUSED, meta, storeUrl, withService } from './io.ts';
import { redactUrl } from '../store/pg/errors.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { openRelayReasons } from '../config/open-relay.ts';

export function describeRelay(snap: Snapshot): string[] {
  const s = snap.settings;
  const r = s.relaying;
  const lines = [`revision ${snap.revision}, host name ${s.hostname}`];
  for (const l of s.listeners) lines.push(`listener ${l.name}: ${l.address}:${l.port} (${l.mode})${l.trusted_proxies.length ? `, PROXY headers from ${l.trusted_proxies.join(', ')}` : ''}`);
  if (s.listeners.length === 0) lines.push('no listeners');
  lines.push(`local domains: ${s.domains.map((d) => d.name).join(', ') || 'none'}`);
  lines.push(`host-based relay for: ${r.allowed_hosts.join(', ') || 'nobody'}`);
  lines.push(`authenticated relay: ${r.authenticated_relay.enabled ? `on for users [${r.authenticated_relay.users.join(', ')}] and groups [${r.authenticated_relay.groups.join(', ')}]` : 'off'}`);
  if (r.authenticated_relay.enabled || r.sender_login !== 'off') lines.push(`senders bound to their login: ${r.sender_login === 'off' ? 'off (relaying.sender_login)' : `${r.sender_login}${r.header_from_login ? ', header From: too' : ', envelope only'}`}`);
  lines.push(`upstream hosts: ${r.upstream_hosts.join(', ') || 'none'}${r.upstream_only ? ' (upstream/relay hosts only)' : ''}`);
  if (r.blacklist.length) lines.push(`blacklist: ${r.blacklist.join(', ')}`);
  // Rule 8's verdict (the proxy path included), not merely the acknowledgement.
  const open = openRelayReasons(s, snap.networks);
  if (open.length > 0) lines.push(`OPEN RELAY${r.open_relay_acknowledged ? ' (acknowledged)' : ''}: ${open.join('; ')}`);
  else if (r.open_relay_acknowledged) lines.push('OPEN RELAY ACKNOWLEDGED: check relaying.allowed_hosts');
  return lines;
}

export function registerInitCommand(program: Command, dataOption: () => string): void {
  program
    .command('init')
    .description('create the data directory with the embedded defaults (does nothing when it has settings)')
    .action(async () => {
      const dir = resolve(dataOption());
      const url = storeUrl();
      const where = url === undefined ? dir : `the cluster store ${redactUrl(url)}`;
      await withService(dir, async (svc) => {
        const created = await svc.initialise(meta({ author: 'mailwarden' }, 'embedded defaults'));
        process.stdout.write(created ? `initialised ${where} with the embedded defaults\n` : `${where} already has settings\n`);
        for (const line of describeRelay(await svc.snapshot())) process.stdout.write(`  ${line}\n`);
      });
    });

  program
    .command('status')
    .description('what the active settings make of this relay')
    .action(async () => {
      // A mistyped --data must not describe the embedded defaults as if they ran somewhere.
      const dir = resolve(dataOption());
      if (storeUrl() === undefined && !existsSync(join(dir, 'mailwarden.db'))) throw new CliExit(EXIT_REFUSED, `${dir} holds no configuration: check --data (\`mailwarden init\` or \`start\` makes one)`);
      await withService(dataOption(), async (svc) => {
        for (const line of describeRelay(await svc.snapshot())) process.stdout.write(`${line}\n`);
      });
    });
}
