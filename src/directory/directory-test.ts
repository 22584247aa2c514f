// "Test connection" for the web admin and the API: with one directory's
// definition (saved or not), connect (and TLS), bind as the service account,
// check the base DN, and for a login: find the entry with the effective
// user filter, list its groups (nested ones included) and its addresses.
// Every step says what it did or, in an administrator's words, why it failed;
// the filters actually sent are shown. Nothing is cached and no password of a
// user is asked for: this is the lookup half of AUTH.

import type { DirectoryDef } from '../config/document.ts';
import { drop, endpoint, openConnection, unavailable } from './ldap-connection.ts';
import { effectiveGroupFilter, LdapDirectory } from './ldap-directory.ts';
import { fillFilter } from './filter.ts';

export interface TestStep {
  step: 'connect' | 'bind' | 'base' | 'user' | 'groups';
  ok: boolean;
  text: string;
}

export interface DirectoryTestResult {
  ok: boolean;
  steps: TestStep[];
  /** The filters as sent (the login filled in and escaped), or the templates when no login was given. */
  filters: { user: string; group: string };
  user: { dn: string; groups: string[]; addresses: string[] } | null;
}

function tlsWords(def: DirectoryDef): string {
  if (def.tls === 'none') return 'without TLS';
  const how = def.tls === 'starttls' ? 'StartTLS' : 'TLS (ldaps)';
  return `${how}, certificate checked against ${def.ca ? def.ca : "the system's CAs"}`;
}

export async function testDirectory(def: DirectoryDef, login: string | null): Promise<DirectoryTestResult> {
  const steps: TestStep[] = [];
  const filters = {
    user: login === null ? def.user_filter : fillFilter(def.user_filter, { login }),
    group: effectiveGroupFilter(def),
  };
  const result = (user: DirectoryTestResult['user'] = null): DirectoryTestResult => ({ ok: steps.every((s) => s.ok), steps, filters, user });
  const { host, port } = endpoint(def);

  let client;
  try {
    client = await openConnection(def);
    steps.push({ step: 'connect', ok: true, text: `connected to ${host}:${port} (${tlsWords(def)})` });
  } catch (err) {
    steps.push({ step: 'connect', ok: false, text: unavailable(def, err, 'connect').reason });
    return result();
  }
  try {
    if (def.bind_dn !== undefined) {
      try {
        await client.bind(def.bind_dn, def.bind_password ?? '');
        steps.push({ step: 'bind', ok: true, text: `bound as ${def.bind_dn}` });
      } catch (err) {
        steps.push({ step: 'bind', ok: false, text: unavailable(def, err, 'service-bind').reason });
        return result();
      }
    } else steps.push({ step: 'bind', ok: true, text: 'no bind_dn: searching anonymously' });
    try {
      await client.search(def.base_dn, { scope: 'base', filter: '(objectClass=*)', attributes: ['1.1'] });
      steps.push({ step: 'base', ok: true, text: `base_dn ${def.base_dn} found` });
    } catch (err) {
      steps.push({ step: 'base', ok: false, text: unavailable(def, err, 'search').reason });
      return result();
    }
  } finally {
    drop(client);
  }
  if (login === null) return result();

  const dir = new LdapDirectory(def);
  try {
    const { match } = await dir.findUser(login);
    if (match.found === 'none') {
      steps.push({ step: 'user', ok: false, text: `no entry under ${def.base_dn} matches ${filters.user}` });
      return result();
    }
    if (match.found === 'many') {
      steps.push({ step: 'user', ok: false, text: `${match.count} or more entries match ${filters.user}: a login must match exactly one, so this user cannot log in` });
      return result();
    }
    steps.push({ step: 'user', ok: true, text: `found ${match.dn}` });
    const { filter, groups } = await dir.groupsOf(match.dn, login);
    filters.group = filter;
    const addresses = dir.addressesOf(match.entry);
    steps.push({ step: 'groups', ok: true, text: groups.length ? `member of ${groups.map((g) => `${def.name}:${g}`).join(', ')}` : 'member of no group' });
    return result({ dn: match.dn, groups: groups.map((g) => `${def.name}:${g}`), addresses });
  } catch (err) {
    steps.push({ step: steps.some((s) => s.step === 'user') ? 'groups' : 'user', ok: false, text: unavailable(def, err, 'search').reason });
    return result();
  } finally {
    dir.close();
  }
}
