// Errors and warnings in the words of the screen: the API names settings
// paths (`networks[1].address`, `body.password`), a contract kept for
// scripts and the CLI; the web admin turns them into the field's label as
// the page shows it and the object's name (`Network "legacy": Address`).
// Pure functions: the settings document used to name objects is passed in.

import type { Change, Finding } from './types.ts';

type Doc = Record<string, unknown>;
type Seg = string | number;

/** Lists of named objects: what one is called on screen and which field names it. */
const OBJECT_LISTS: Record<string, { what: string; key: string }> = {
  networks: { what: 'Network', key: 'name' },
  users: { what: 'User', key: 'name' },
  groups: { what: 'Group', key: 'name' },
  domains: { what: 'Domain', key: 'name' },
  listeners: { what: 'Listener', key: 'name' },
  'antispam.dnsbl': { what: 'DNS blocklist', key: 'zone' },
  'antispam.exceptions': { what: 'Exception', key: 'comment' },
  'content.rules': { what: 'Content rule', key: 'name' },
};

/** Field labels by path, list indexes written []; as the pages label them. */
const LABELS: Record<string, string> = {
  hostname: 'Host name',
  postmaster: 'Postmaster address',
  'networks[].name': 'Name',
  'networks[].address': 'Address',
  'networks[].from': 'First address',
  'networks[].to': 'Last address',
  'networks[].members': 'Members',
  'networks[].comment': 'Comment',
  'users[].name': 'User name',
  'users[].password': 'Password',
  'users[].groups': 'Groups',
  'groups[].name': 'Group name',
  'domains[].name': 'Domain',
  'domains[].route.hosts': 'Route hosts',
  'relaying.allowed_hosts': 'Allowed hosts/networks',
  'relaying.upstream_hosts': 'Upstream hosts',
  'relaying.upstream_only': 'Allow upstream/relay hosts only',
  'relaying.blacklist': 'Blocked hosts/networks',
  'relaying.open_relay_acknowledged': 'I understand: allow an open relay anyway',
  'relaying.authenticated_relay': 'Allow authenticated relaying',
  'relaying.authenticated_relay.enabled': 'Allow authenticated relaying',
  'relaying.authenticated_relay.users': 'Users',
  'relaying.authenticated_relay.groups': 'User groups',
  'relaying.scan_relayed': 'Scan relayed messages',
  'content.enabled': 'Apply the content rules',
  'content.subject_tag': 'Subject tag for tagged messages',
  'content.rules[].name': 'Name',
  'content.rules[].match': 'What it looks for',
  'content.rules[].match.extension': 'Extensions',
  'content.rules[].match.mime_type': 'MIME types',
  'content.rules[].match.filename': 'File name expression',
  'content.rules[].match.archive': 'Also names inside zip archives',
  'content.rules[].match.header.name': 'Header field',
  'content.rules[].match.header.regex': 'Header expression',
  'content.rules[].match.body': 'Text expression',
  'content.rules[].match.size_over': 'Larger than (octets)',
  'content.rules[].direction': 'Mail',
  'content.rules[].action': 'Action',
  'content.archive.max_depth': 'Nesting depth opened',
  'content.archive.max_size': 'Largest archive read (octets)',
  'content.archive.max_expanded': 'Inflated per message at most (octets)',
  'content.archive.max_entries': 'Names listed per message at most',
  'content.archive.on_error': 'An archive that cannot be read to the end',
  'antispam.enabled': 'Scan messages for spam',
  'antispam.spamd': 'spamd address',
  'antispam.rspamd': 'rspamd URL',
  'antispam.spam_score': 'Spam score',
  'antispam.reject_score': 'Reject score',
  'antispam.subject_tag': 'Subject tag',
  'antispam.max_scan_size': 'Largest message scanned (octets)',
  'antispam.timeout': 'Engine timeout',
  'antispam.dns_timeout': 'DNS timeout',
  'antispam.greylisting.delay': 'Greylisting delay',
  'antispam.greylisting.expiry': 'Greylisting expiry',
  'antispam.greylisting.lifetime': 'Greylisting lifetime',
  'antispam.dnsbl[].zone': 'Zone',
  'antispam.dnsbl[].answers': 'Answers',
  'antispam.dnsbl[].score': 'Score',
  'antispam.exceptions[].networks': 'Networks',
  'antispam.exceptions[].senders': 'Senders',
  'antispam.exceptions[].skip': 'Checks skipped',
  'antivirus.enabled': 'Scan messages for malware',
  'antivirus.clamd': 'clamd address',
  'antivirus.max_scan_size': 'Largest message scanned (octets)',
  'delivery.smarthost.host': 'Smarthost host',
  'delivery.smarthost.port': 'Smarthost port',
  'delivery.smarthost.ca': 'Smarthost CA file',
  'dns.servers': 'Resolvers',
  'queue.retry.first': 'First retry after',
  'queue.retry.max': 'Longest wait between retries',
  'queue.lifetime': 'Give up after',
  'queue.delay_warning': 'Delay warning after',
  'body.name': 'Name',
  'body.password': 'Password',
  'body.role': 'Role',
  'body.current': 'Current password',
};

/** `networks[1].address` or `networks["legacy"].address` as segments; null if it is no path. */
export function parsePath(path: string): Seg[] | null {
  const segs: Seg[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|(\.)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(path))) {
    if (m[1] !== undefined) segs.push(m[1]);
    else if (m[2] !== undefined) segs.push(Number(m[2]));
    else if (m[3] !== undefined) segs.push(`"${m[3]}"`);
    end = re.lastIndex;
  }
  return end === path.length && segs.length > 0 ? segs : null;
}

const lookup = (doc: Doc | null | undefined, dotted: string): unknown =>
  dotted.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Doc)[k] : undefined), doc ?? undefined);

/** The screen's name for a settings path: `Network "legacy": Address`; null when the path is unknown. */
export function screenPath(path: string, doc?: Doc | null): string | null {
  const segs = parsePath(path);
  if (!segs) return null;
  const parts: string[] = [];
  let i = 0;
  let prefix = '';
  let generic = '';
  // The generic path of the last object named: a label must say more than it.
  let objectAt = '';
  while (i < segs.length) {
    const s = segs[i]!;
    const next = segs[i + 1];
    prefix = typeof s === 'number' ? prefix : prefix ? `${prefix}.${s}` : s;
    generic = typeof s === 'number' ? `${generic}[]` : generic ? `${generic}.${s}` : s;
    const list = typeof s === 'string' ? OBJECT_LISTS[prefix] : undefined;
    if (list && next !== undefined && (typeof next === 'number' || next.startsWith('"'))) {
      const item = typeof next === 'number' ? (lookup(doc, prefix) as Doc[] | undefined)?.[next] : undefined;
      const name = typeof next === 'string' ? next.slice(1, -1) : item && typeof item[list.key] === 'string' && item[list.key] ? String(item[list.key]) : null;
      parts.push(name ? `${list.what} "${name}"` : `${list.what} #${(next as number) + 1}`);
      generic = `${generic}[]`;
      objectAt = generic;
      i += 2;
      // The address of a network is labelled by its type.
      if (prefix === 'networks' && segs[i] === 'address' && item?.type === 'network') {
        parts.push('Network (address/prefix)');
        return parts.join(': ');
      }
      continue;
    }
    i++;
  }
  // The field: the longest known label of the path (a list item shows its list's label).
  let g = generic;
  while (g && LABELS[g] === undefined) g = g.replace(/(\[\]|\.[^.[\]]+|^[^.[\]]+)$/, '');
  if (g && LABELS[g] !== undefined && g.length > objectAt.length) parts.push(LABELS[g]!);
  return parts.length ? parts.join(': ') : null;
}

/** Ajv's and the validator's wording, said plainly. */
function plainReason(message: string): string {
  return message
    .replace(/^must NOT have fewer than (\d+) characters$/, 'at least $1 characters')
    .replace(/^must NOT have more than (\d+) characters$/, 'at most $1 characters')
    .replace(/^must NOT have fewer than (\d+) items$/, 'at least $1 entries')
    .replace(/^must be equal to one of the allowed values$/, 'not one of the choices')
    .replace(/^must be (string|integer|number|boolean|object|array)$/, (_m, t: string) => `must be ${t === 'integer' || t === 'number' ? 'a number' : t === 'boolean' ? 'on or off' : t === 'string' ? 'text' : `a ${t}`}`);
}

/** Paths quoted inside a message ("also set relaying.open_relay_acknowledged: true") in screen words. */
function screenInText(message: string, doc?: Doc | null): string {
  return message
    .replace(/(?:also )?set relaying\.open_relay_acknowledged: true/g, (m) => `${m.startsWith('also') ? 'also ' : ''}tick "${LABELS['relaying.open_relay_acknowledged']}"`)
    .replace(/relaying\.open_relay_acknowledged/g, `"${LABELS['relaying.open_relay_acknowledged']}"`)
    .replace(/\b(?:relaying\.|antispam\.|antivirus\.|queue\.|delivery\.|dns\.)[a-z_.]+(?:\[\d+\](?:\.[a-z_]+)*)?|\b(?:networks|users|groups|domains|listeners)\[\d+\](?:\.[a-z_.]+)?/g, (p) => {
      const clean = p.replace(/\.$/, '');
      const s = screenPath(clean, doc);
      return s ? `"${s}"${p.endsWith('.') ? '.' : ''}` : p;
    });
}

export interface ScreenFinding {
  /** Where, as the screen says it; '' when the finding is about no one field. */
  where: string;
  message: string;
  /** The API's path, kept for a tooltip. */
  path: string;
}

/** A finding from the API in screen words; a path-less "path: reason" message is split too. */
export function screenFinding(f: Finding, doc?: Doc | null): ScreenFinding {
  let path = f.path;
  let message = f.message;
  if (!path) {
    const m = /^([A-Za-z_][\w.[\]"]*): (.+)$/s.exec(message);
    if (m && parsePath(m[1]!) && screenPath(m[1]!, doc)) [path, message] = [m[1]!, m[2]!];
  }
  const where = path ? (screenPath(path, doc) ?? path) : '';
  return { where, message: screenInText(plainReason(message), doc), path };
}

/** One line of text (an ErrorBox message, possibly several "path: reason" joined by "; ") in screen words. */
export function screenText(text: string, doc?: Doc | null): string {
  return text
    .split('; ')
    .map((part) => {
      const f = screenFinding({ path: '', message: part }, doc);
      return f.where ? `${f.where}: ${f.message}` : f.message;
    })
    .join('; ');
}

/**
 * The document an Apply was judged on, as far as the screen knows it: the
 * active one with the refused change's changes (from its change list) made
 * to it; an added object goes at the end of its list, as the web admin adds
 * them, so that an index in an error names the new object too.
 */
export function proposedDoc(active: Doc | null, changes: readonly Change[]): Doc | null {
  if (!active) return null;
  const doc: Doc = structuredClone(active);
  for (const c of changes) {
    const segs = parsePath(c.path);
    if (!segs) continue;
    let parent: unknown = doc;
    for (const s of segs.slice(0, -1)) parent = child(parent, s);
    const last = segs[segs.length - 1]!;
    // An object removed from a named list goes, so that the indexes of the findings name the ones after it.
    if (c.op === 'removed') {
      if (Array.isArray(parent) && typeof last === 'string' && last.startsWith('"')) {
        const i = parent.findIndex((o) => o && typeof o === 'object' && (o as Doc).name === last.slice(1, -1));
        if (i >= 0) parent.splice(i, 1);
      }
      continue;
    }
    if (Array.isArray(parent) && typeof last === 'string' && last.startsWith('"')) {
      const i = parent.findIndex((o) => o && typeof o === 'object' && (o as Doc).name === last.slice(1, -1));
      if (i >= 0) parent[i] = structuredClone(c.after);
      else if (c.op === 'added') parent.push(structuredClone(c.after));
    } else if (parent && typeof parent === 'object') {
      (parent as Record<string | number, unknown>)[last] = structuredClone(c.after);
    }
  }
  return doc;
}

/** One step down a path: a key, an index, or an object of a list by its name. */
function child(v: unknown, s: Seg): unknown {
  if (!v || typeof v !== 'object') return undefined;
  if (Array.isArray(v) && typeof s === 'string' && s.startsWith('"')) return v.find((o) => o && typeof o === 'object' && (o as Doc).name === s.slice(1, -1));
  return (v as Record<string | number, unknown>)[s];
}
