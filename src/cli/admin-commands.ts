// `mailwarden admin …`: the accounts of the web admin and the REST API
// (apart from SMTP users), and API tokens for automation. Works beside a
// running daemon: the accounts live in DATA/admin.db, which both open, or in
// the cluster store (--store), shared by every node.

import type { Command } from 'commander';
import { resolve } from 'node:path';
import { AdminError, ADMIN_ROLES, type AdminRole } from '../admin/admin-store.ts';
import type { AccountStore } from '../admin/account-store.ts';
import { hashPasswordAsync } from '../objects/password.ts';
import { openCliStores, CliExit, EXIT_REFUSED, EXIT_USAGE, printJson, readPasswordFromStdin } from './io.ts';

async function withAdmins<T>(dataDir: string, fn: (a: AccountStore) => Promise<T>): Promise<T> {
  const stores = await openCliStores(resolve(dataDir));
  try {
    return await fn(stores.accounts);
  } catch (err) {
    if (err instanceof AdminError) throw new CliExit(EXIT_REFUSED, err.message);
    throw err;
  } finally {
    await stores.close();
  }
}

function role(text: string | undefined): AdminRole {
  const r = text ?? 'admin';
  if (!(ADMIN_ROLES as readonly string[]).includes(r)) throw new CliExit(EXIT_USAGE, `--role must be one of ${ADMIN_ROLES.join(', ')}`);
  return r as AdminRole;
}

function password(opts: { passwordStdin?: boolean }): string {
  if (!opts.passwordStdin) throw new CliExit(EXIT_USAGE, 'give the password on stdin with --password-stdin (never on the command line)');
  return readPasswordFromStdin();
}

export function registerAdminCommands(program: Command, dataOption: () => string): void {
  const admin = program.command('admin').description('web admin and REST API accounts, and API tokens');
  admin
    .command('add')
    .description('add an admin account (viewer: may read everything, change nothing)')
    .argument('<name>')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--role <role>', `${ADMIN_ROLES.join(' or ')} (default admin)`)
    .action(async (name: string, opts: { passwordStdin?: boolean; role?: string }) => {
      const r = role(opts.role);
      const pw = password(opts);
      const hash = await hashPasswordAsync(pw);
      const a = await withAdmins(dataOption(), (s) => s.add(name, pw, r, hash));
      process.stdout.write(`admin "${a.name}" added (${a.role})\n`);
    });
  admin
    .command('passwd')
    .description("set an admin's password")
    .argument('<name>')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action(async (name: string, opts: { passwordStdin?: boolean }) => {
      const pw = password(opts);
      const hash = await hashPasswordAsync(pw);
      await withAdmins(dataOption(), (s) => s.setPassword(name, pw, hash));
      process.stdout.write(`password of "${name}" changed\n`);
    });
  admin
    .command('remove')
    .description('remove an admin account (its tokens are revoked; the last admin cannot be removed)')
    .argument('<name>')
    .action(async (name: string) => {
      await withAdmins(dataOption(), (s) => s.remove(name));
      process.stdout.write(`admin "${name}" removed\n`);
    });
  admin
    .command('list')
    .description('list the admin accounts: name, role, since when (never a password)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await withAdmins(dataOption(), (s) => s.list());
      if (opts.json) return printJson(list);
      for (const a of list) process.stdout.write(`${a.name.padEnd(24)} ${a.role.padEnd(7)} since ${a.created}\n`);
    });
  const token = admin.command('token').description('API tokens (Authorization: Bearer …)');
  token
    .command('create')
    .description('create a token; it is printed once')
    .argument('<name>', 'what the token is for')
    .requiredOption('--owner <admin>', 'the admin account it acts for')
    .option('--role <role>', `${ADMIN_ROLES.join(' or ')} (default admin; never more than the owner's)`)
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { owner: string; role?: string; json?: boolean }) => {
      const r = role(opts.role);
      const t = await withAdmins(dataOption(), (s) => s.createToken(name, r, opts.owner));
      if (opts.json) return printJson(t);
      process.stdout.write(`${t.token}\n(token ${t.info.id}, ${t.info.role}, for ${t.info.owner}; shown only now)\n`);
    });
  token
    .command('list')
    .description('list the API tokens: id, name, role, owner, active or revoked (never the token itself)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await withAdmins(dataOption(), (s) => s.tokens());
      if (opts.json) return printJson(list);
      for (const t of list) process.stdout.write(`${t.id}  ${t.name.padEnd(24)} ${t.role.padEnd(7)} ${t.owner.padEnd(16)} ${t.revoked ? `revoked ${t.revoked}` : 'active'}\n`);
    });
  token
    .command('revoke')
    .description('revoke a token at once (its id from `admin token list`)')
    .argument('<id>', 'the token id')
    .action(async (id: string) => {
      await withAdmins(dataOption(), (s) => s.revokeToken(id));
      process.stdout.write(`token ${id} revoked\n`);
    });
}
