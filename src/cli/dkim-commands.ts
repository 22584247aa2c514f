// `mailwarden dkim keygen|list|check`: DKIM signing keys. keygen writes a new
// private key (mode 0600) and prints the DNS TXT record to publish (and, with
// --add, puts the key into the settings as a new revision); list shows the
// configured keys with their records; check looks the published record up
// through the relay's resolver (dns.servers) and compares it with the key.

import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CliExit, EXIT_REFUSED, EXIT_USAGE, meta, printFindings, printJson, withService } from './io.ts';
import { DKIM_ALGORITHMS, type DkimAlgorithm, type DkimKeyDef } from '../config/document.ts';
import { isDomainName } from '../address/path.ts';
import { dnsRecord, generateKey, parsePrivateKey } from '../dkim/keys.ts';
import { checkKeys, keysOf, keyViews, type CheckResult } from '../dkim/published.ts';

interface KeygenOpts {
  selector: string;
  algorithm: string;
  bits: string;
  out?: string;
  add?: boolean;
  json?: boolean;
  comment?: string;
  author?: string;
}

export function registerDkimCommands(program: Command, dataOption: () => string): void {
  const dkim = program.command('dkim').description('DKIM signing keys: generate, list, check the published DNS record');

  dkim
    .command('keygen')
    .description('write a new private key (mode 0600) and print the DNS TXT record to publish')
    .argument('<domain>', 'the header From domain the key signs for')
    .requiredOption('--selector <s>', 'the selector (the record goes at SELECTOR._domainkey.DOMAIN)')
    .option('--algorithm <a>', `${DKIM_ALGORITHMS.join(' or ')}`, 'rsa-sha256')
    .option('--bits <n>', 'RSA key size (1024 to 4096)', '2048')
    .option('--out <file>', 'where to write the key (default: DATA/dkim/SELECTOR._domainkey.DOMAIN.pem)')
    .option('--add', 'also add the key (as key_file) to the settings, as a new revision')
    .option('--json', 'print {file, record, key} as JSON')
    .option('--comment <text>', 'why this change (with --add)')
    .option('--author <name>', 'who made it (with --add; default: cli:<login>)')
    .action(async (domain: string, opts: KeygenOpts) => {
      const algorithm = opts.algorithm as DkimAlgorithm;
      if (!DKIM_ALGORITHMS.includes(algorithm)) throw new CliExit(EXIT_USAGE, `--algorithm must be one of ${DKIM_ALGORITHMS.join(', ')}`);
      const bits = Number(opts.bits);
      if (!Number.isInteger(bits) || bits < 1024 || bits > 4096) throw new CliExit(EXIT_USAGE, '--bits must be a whole number from 1024 to 4096');
      if (!isDomainName(domain)) throw new CliExit(EXIT_USAGE, `"${domain}" is not a domain name`);
      if (!/^[a-z0-9_][a-z0-9_.-]*$/i.test(opts.selector)) throw new CliExit(EXIT_USAGE, `"${opts.selector}" is not a selector`);
      const file = resolve(opts.out ?? join(dataOption(), 'dkim', `${opts.selector}._domainkey.${domain.toLowerCase()}.pem`));
      const pem = generateKey(algorithm, bits);
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      try {
        // wx: never overwrite a key that may already be published and in use.
        writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new CliExit(EXIT_REFUSED, `${file} exists: give another --out or selector`);
        throw err;
      }
      const record = dnsRecord(opts.selector, domain.toLowerCase(), parsePrivateKey(pem, algorithm));
      const key: DkimKeyDef = { domain: domain.toLowerCase(), selector: opts.selector, key_file: file, algorithm };
      if (opts.add) {
        await withService(dataOption(), async (svc) => {
          const s = await svc.settings();
          const r = await svc.applySection('dkim', { ...s.dkim, keys: [...s.dkim.keys, key] }, meta(opts, `dkim keygen ${domain} --selector ${opts.selector}`));
          printFindings(r.errors, r.warnings);
          if (!r.ok) throw new CliExit(EXIT_REFUSED, 'the key was written but the settings refused it');
        });
      }
      if (opts.json) return printJson({ file, record, key, added: opts.add === true });
      process.stdout.write(`key written to ${file} (mode 0600)${opts.add ? ', and added to the settings' : ''}\n\npublish this TXT record:\n\n${record.name}. IN TXT "${record.value}"\n\n`);
      process.stdout.write(`name:  ${record.name}\nvalue: ${record.value}\n`);
      if (!opts.add) process.stdout.write(`\nthen add the key to the settings (or run keygen with --add):\n\ndkim:\n  keys:\n    - { domain: ${key.domain}, selector: ${key.selector}, algorithm: ${algorithm}, key_file: ${file} }\n`);
    });

  dkim
    .command('list')
    .description('the configured keys with the DNS record each needs (secrets never shown)')
    .option('--json', 'print a JSON array')
    .action(async (opts: { json?: boolean }) => {
      const s = await withService(dataOption(), (svc) => svc.settings());
      const views = keyViews(s);
      if (opts.json) return printJson({ sign: s.dkim.sign, headers: s.dkim.headers, subdomains: s.dkim.subdomains, keys: views });
      if (views.length === 0) return void process.stdout.write('no DKIM keys: nothing is signed\n');
      process.stdout.write(`sign: ${s.dkim.sign}\n`);
      for (const v of views) {
        process.stdout.write(`\n${v.domain}  selector ${v.selector}  ${v.algorithm}  d=${v.signing_domain}  ${v.source === 'key' ? 'key in the settings' : (v.key_file ?? '')}\n`);
        process.stdout.write(v.record ? `  ${v.record.name} TXT "${v.record.value}"\n` : `  the key cannot be read: ${v.error ?? ''}\n`);
      }
    });

  dkim
    .command('check')
    .description('look the published record up (through dns.servers) and compare it with the configured key; exit 1 on a mismatch or a missing record')
    .argument('<domain>', 'a From or signing domain of the configured keys')
    .option('--selector <s>', 'only this selector')
    .option('--json', 'print a JSON array, one result per key')
    .action(async (domain: string, opts: { selector?: string; json?: boolean }) => {
      const s = await withService(dataOption(), (svc) => svc.settings());
      const keys = keysOf(s, domain, opts.selector);
      if (keys.length === 0) throw new CliExit(EXIT_REFUSED, `no DKIM key configured for ${domain}${opts.selector ? ` with selector ${opts.selector}` : ''}`);
      const results = await checkKeys(keys, s.dns.servers);
      if (opts.json) printJson(results);
      else for (const r of results) process.stdout.write(line(r));
      if (results.some((r) => r.status !== 'match')) process.exitCode = EXIT_REFUSED;
    });
}

function line(r: CheckResult): string {
  const head = `${r.name}: ${r.status}${r.reason ? ` (${r.reason})` : ''}\n`;
  return r.status === 'match' || !r.expected ? head : `${head}  expected: ${r.expected}\n${r.published ? `  published: ${r.published}\n` : ''}`;
}
