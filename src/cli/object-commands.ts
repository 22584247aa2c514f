// `mailwarden user|group|network ...`: the objects of the settings document,
// changed one at a time. Each change is the ConfigService method the REST API
// calls for the same change, applied as a new revision.

import type { Command } from 'commander';
import { meta, printFindings, printJson, readPasswordFromStdin, withService } from './io.ts';
import type { ApplyResult, ConfigService, ObjectList } from '../admin/config-service.ts';
import type { Settings } from '../config/document.ts';
import { CliExit, EXIT_REFUSED, EXIT_USAGE } from './io.ts';
import { labelFindings } from './finding-labels.ts';
import { networkFromArgs, NETWORK_TYPES, type NetworkArgs } from './network-args.ts';

/**
 * Reports a change. `doc`: the document the change was checked as (the
 * active one with the change made), so that a refusal names the objects.
 */
function done(r: ApplyResult, what: string, doc?: unknown): void {
  const label = (fs: ApplyResult['errors']) => (doc === undefined ? fs : labelFindings(fs, doc));
  if (!r.ok) {
    printFindings([], label(r.warnings));
    throw new CliExit(EXIT_REFUSED, 'the change was refused', label(r.errors));
  }
  printFindings([], label(r.warnings));
  process.stdout.write(r.revision ? `${what} (revision ${r.revision.number})\n` : `${what} (nothing changed)\n`);
}

/** The active settings with `edit` made to a copy: what the service checks for an add. */
async function withChange(svc: ConfigService, edit: (s: Settings) => void): Promise<Settings> {
  const s = structuredClone(await svc.settings());
  edit(s);
  return s;
}

interface MetaOpts {
  comment?: string;
  author?: string;
}

const COMMENT = 'why this change (recorded with the revision)';
const AUTHOR = 'who made it (default: cli:<login>)';

function needStdin(opts: { passwordStdin?: boolean }): string {
  if (!opts.passwordStdin) throw new CliExit(EXIT_USAGE, 'give the password on stdin with --password-stdin (never on the command line)');
  return readPasswordFromStdin();
}

// No default value given to commander: it would print "(default: [])" in the help.
const repeatable = (v: string, acc: string[] | undefined): string[] => [...(acc ?? []), v];

function removeCommand(parent: Command, list: ObjectList, label: string, dataOption: () => string): void {
  parent
    .command('remove')
    .description(`remove a ${label} (refused while something refers to it)`)
    .argument('<name>')
    .option('--comment <text>', COMMENT)
    .option('--author <name>', AUTHOR)
    .action(async (name: string, opts: MetaOpts) => {
      await withService(dataOption(), async (svc) => done(await svc.removeObject(list, name, meta(opts, `remove ${label} ${name}`)), `removed ${label} "${name}"`));
    });
}

export function registerObjectCommands(program: Command, dataOption: () => string): void {
  const user = program.command('user').description('SMTP users');
  user
    .command('add')
    .description('add a user; the password is read from stdin')
    .argument('<name>')
    .option('--group <group>', 'member of this user group (repeatable; created when missing, and said so)', repeatable)
    .option('--address <address>', 'an address the user may send as, for relaying.sender_login: a mailbox or "@domain" (repeatable)', repeatable)
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--comment <text>', COMMENT)
    .option('--author <name>', AUTHOR)
    .action(async (name: string, opts: MetaOpts & { group?: string[]; address?: string[]; passwordStdin?: boolean }) => {
      const password = needStdin(opts);
      const groups = opts.group ?? [];
      const addresses = opts.address ?? [];
      await withService(dataOption(), async (svc) => {
        const doc = await withChange(svc, (s) => {
          for (const g of groups) if (!s.groups.some((x) => x.name === g)) s.groups.push({ name: g });
          s.users.push({ name, password, groups, enabled: true, ...(addresses.length ? { addresses } : {}) });
        });
        const r = await svc.addUser({ name, password, groups, addresses }, meta(opts, `add user ${name}`));
        // The groups this revision created, from its own change list (not from a guess made before it).
        const created = r.ok ? r.changes.filter((c) => c.op === 'added' && /^groups\[".*"\]$/.test(c.path)).map((c) => (c.after as { name: string }).name) : [];
        for (const g of created) process.stdout.write(`created user group "${g}"\n`);
        done(r, `added user "${name}"`, doc);
      });
    });
  user
    .command('passwd')
    .description("change a user's password; read from stdin")
    .argument('<name>')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--comment <text>', COMMENT)
    .option('--author <name>', AUTHOR)
    .action(async (name: string, opts: MetaOpts & { passwordStdin?: boolean }) => {
      const password = needStdin(opts);
      await withService(dataOption(), async (svc) => {
        const doc = await withChange(svc, (s) => {
          const u = s.users.find((x) => x.name === name);
          if (u) u.password = password;
        });
        done(await svc.setPassword(name, password, meta(opts, `new password for ${name}`)), `password changed for "${name}"`, doc);
      });
    });
  user
    .command('addresses')
    .description('set the addresses a user may send as (relaying.sender_login): mailboxes or "@domain"; none given: the list is emptied')
    .argument('<name>')
    .argument('[addresses...]')
    .option('--comment <text>', COMMENT)
    .option('--author <name>', AUTHOR)
    .action(async (name: string, addresses: string[], opts: MetaOpts) => {
      await withService(dataOption(), async (svc) => {
        const doc = await withChange(svc, (s) => {
          const u = s.users.find((x) => x.name === name);
          if (u && addresses.length) u.addresses = addresses;
          else if (u) delete u.addresses;
        });
        const what = addresses.length ? `addresses of "${name}": ${addresses.join(', ')}` : `no addresses for "${name}"`;
        done(await svc.updateUser(name, { addresses }, meta(opts, `set addresses of user ${name}`)), what, doc);
      });
    });
  for (const [cmd, enabled] of [['disable', false], ['enable', true]] as const) {
    user
      .command(cmd)
      .description(`${cmd} a user`)
      .argument('<name>')
      .option('--comment <text>', COMMENT)
      .option('--author <name>', AUTHOR)
      .action(async (name: string, opts: MetaOpts) => {
        await withService(dataOption(), async (svc) => done(await svc.setEnabled(name, enabled, meta(opts, `${cmd} user ${name}`)), `${cmd}d user "${name}"`));
      });
  }
  user
    .command('list')
    .description('list users (never their passwords)')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withService(dataOption(), async (svc) => {
        const users = await svc.listUsers();
        if (opts.json) return printJson(users);
        for (const u of users) process.stdout.write(`${u.name}\t${u.enabled ? 'enabled' : 'disabled'}\t${u.groups.join(',') || '-'}\t${u.addresses?.join(',') ?? '-'}\n`);
      });
    });
  removeCommand(user, 'users', 'user', dataOption);

  const group = program.command('group').description('user groups');
  group
    .command('add')
    .description('add a user group (users join it with user add --group)')
    .argument('<name>')
    .option('--description <text>', "the group's own comment in the settings")
    .option('--comment <text>', COMMENT)
    .option('--author <name>', AUTHOR)
    .action(async (name: string, opts: MetaOpts & { description?: string }) => {
      if (name.trim() === '') throw new CliExit(EXIT_USAGE, 'give the name of the group');
      const def = { name, ...(opts.description ? { comment: opts.description } : {}) };
      await withService(dataOption(), async (svc) => {
        const doc = await withChange(svc, (s) => void s.groups.push(def));
        done(await svc.addObject('groups', def, meta(opts, `add user group ${name}`)), `added user group "${name}"`, doc);
      });
    });
  group
    .command('list')
    .description('list user groups with their members')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withService(dataOption(), async (svc) => {
        const s = await svc.settings();
        const rows = s.groups.map((g) => ({ name: g.name, members: s.users.filter((u) => u.groups.includes(g.name)).map((u) => u.name) }));
        if (opts.json) return printJson(rows);
        for (const r of rows) process.stdout.write(`${r.name}\t${r.members.join(',') || '-'}\n`);
      });
    });
  removeCommand(group, 'groups', 'user group', dataOption);

  const network = program.command('network').description('network objects');
  network
    .command('add')
    .description('add a network object: a host, a network, a range of addresses, or a group of other objects')
    .argument('<name>')
    .option('--type <type>', NETWORK_TYPES.join(' | '))
    .option('--address <address>', 'host: one address (10.1.2.3); network: address/prefix (10.1.0.0/16)')
    .option('--from <address>', 'range: the first address')
    .option('--to <address>', 'range: the last address')
    .option('--member <name>', 'group: a network object in it (repeatable)', repeatable)
    .option('--description <text>', "the object's own comment in the settings")
    .option('--comment <text>', COMMENT)
    .option('--author <name>', AUTHOR)
    .action(async (name: string, opts: MetaOpts & Omit<NetworkArgs, 'member'> & { member?: string[] }) => {
      if (name.trim() === '') throw new CliExit(EXIT_USAGE, 'give the name of the network object');
      const def = networkFromArgs(name, { ...opts, member: opts.member ?? [] });
      if (!def.ok) throw new CliExit(EXIT_USAGE, def.reason);
      await withService(dataOption(), async (svc) => {
        const doc = await withChange(svc, (s) => void s.networks.push(def.value));
        done(await svc.addObject('networks', def.value, meta(opts, `add network object ${name}`)), `added network object "${name}" (${def.value.type})`, doc);
      });
    });
  network
    .command('list')
    .description('list network objects: name, type, addresses or members (the built-in Any first)')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withService(dataOption(), async (svc) => {
        const nets = (await svc.settings()).networks;
        if (opts.json) return printJson(nets);
        process.stdout.write('Any\tbuilt-in\tevery IPv4 and IPv6 address\n');
        for (const n of nets) process.stdout.write(`${n.name}\t${n.type}\t${n.type === 'group' ? (n.members ?? []).join(',') : n.type === 'range' ? `${n.from}-${n.to}` : n.address}\n`);
      });
    });
  removeCommand(network, 'networks', 'network object', dataOption);
}
