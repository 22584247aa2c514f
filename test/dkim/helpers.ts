// Shared by the DKIM tests: keys made by the real `mailwarden dkim keygen`
// (its printed record is what the test DNS server publishes), and the
// independent verifier (python3-dkim) run over a stored message.

import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../smtp/harness.ts';
import { missingComponent } from '../support/requires.ts';

export const PYTHON = '/usr/bin/python3';
const VERIFY = join(import.meta.dirname, 'dkimpy-verify.py');

/** A skip reason when python3-dkim (and its dnspython, PyNaCl) is missing; false when present. */
export function dkimpyMissing(): string | false {
  try {
    execFileSync(PYTHON, ['-c', 'import dkim, dns.resolver, nacl'], { stdio: 'ignore' });
    return false;
  } catch {
    return missingComponent('python3-dkim', "python3-dkim (with python3-dnspython and python3-nacl) is not installed (make test installs Debian's python3-dkim when run as root)");
  }
}

export interface Generated {
  file: string;
  record: { name: string; type: 'TXT'; value: string };
  key: { domain: string; selector: string; key_file: string; algorithm: string };
}

/** `mailwarden dkim keygen DOMAIN --selector S --algorithm A --out FILE --json`. */
export async function keygen(domain: string, selector: string, algorithm: string, out: string, extra: string[] = []): Promise<Generated> {
  const r = await runCli(['dkim', 'keygen', domain, '--selector', selector, '--algorithm', algorithm, '--out', out, '--json', ...extra]);
  if (r.status !== 0) throw new Error(`keygen failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Generated;
}

export interface Verdict {
  d: string;
  s: string;
  a: string;
  ok: boolean;
  error: string | null;
}

/** Every DKIM-Signature of `message` as dkimpy judges it, keys asked from `dnsServer` (HOST:PORT). */
export function dkimpyVerify(message: Buffer, dnsServer: string): Promise<Verdict[]> {
  return new Promise((done, fail) => {
    const child = execFile(PYTHON, [VERIFY, dnsServer], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return fail(new Error(`dkimpy failed: ${stderr || err.message}`));
      done(JSON.parse(stdout) as Verdict[]);
    });
    child.stdin?.end(message);
  });
}
