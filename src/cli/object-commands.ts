// `mailwarden user|group|network ...`: the objects of the settings document,
// changed one at a time. Each change is the ConfigService method the REST API
// calls for the same change, applied as a new revision.

import type { Command } from 'commander';
import { meta, printFindings, printJson, readPasswordFromStdin, withService } from './io.ts';
import type { ApplyResult, ObjectList } from '../admin/config-service.ts';
import { CliExit, EXIT_REFUSED, EXIT_USAGE } from './io.ts';

function done(r: ApplyResult, what: string): void {
  if (!r.ok) {
    printFindings([], r.warnings);
    throw new CliExit(EXIT_REFUSED, 'the change was refused', r.errors);
  }
  printFindings([], r.warnings);
  process.stdout.write(r.revision ? `${what} (revision ${r.revision.number})\n` : `${what} (nothing changed)\n`);
}

interface MetaOpts {
  comment?: string;
  author?: string;
}

function needStdin(opts: { passwordStdin?: boolean }): string {
  if (!opts.passwordStdin) throw new CliExit(EXIT_USAGE, 'give the password on stdin with --password-stdin (never on the command line)');
  return readPasswordFromStdin();
}

function removeCommand(parent: Command, list: ObjectList, label: string, dataOption: () => string): void {
  parent
    .command('remove')
    .description(`remove a ${label} (refused while something refers to it)`)
    .argument('<name>')
    .option('--comment <text>')
    .option('--author <name>')
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
    .option('--group <group>', 'member of this user group (repeatable; created when missing)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--comment <text>')
    .option('--author <name>')
    .action(async (name: string, opts: MetaOpts & { group: string[]; passwordStdin?: boolean }) => {
      const password = needStdin(opts);
      await withService(dataOption(), async (svc) => done(await svc.addUser({ name, password, groups: opts.group }, meta(opts, `add user ${name}`)), `added user "${name}"`));
    });
  user
    .command('passwd')
    .description("change a user's password; read from stdin")
    .argument('<name>')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--comment <text>')
    .option('--author <name>')
    .action(async (name: string, opts: MetaOpts & { passwordStdin?: boolean }) => {
      const password = needStdin(opts);
      await withService(dataOption(), async (svc) => done(await svc.setPassword(name, password, meta(opts, `new password for ${name}`)), `password changed for "${name}"`));
    });
  for (const [cmd, enabled] of [['disable', false], ['enable', true]] as const) {
    user
      .command(cmd)
      .description(`${cmd} a user`)
      .argument('<name>')
      .option('--comment <text>')
      .option('--author <name>')
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
        for (const u of users) process.stdout.write(`${u.name}\t${u.enabled ? 'enabled' : 'disabled'}\t${u.groups.join(',') || '-'}\n`);
      });
    });
  removeCommand(user, 'users', 'user', dataOption);

  const group = program.command('group').description('user groups');
  group
    .command('list')
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
    .command('list')
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
