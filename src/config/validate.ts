// Validates a whole settings document: its shape, the references between
// objects, and the relay safety rules (the open-relay guard of rule 8, in
// open-relay.ts, and the blacklist overlaps of rule 1). Every finding is collected; an apply goes
// ahead only when there is no error.

import { at, Findings } from './issues.ts';
import { readSettings } from './shape.ts';
import { checkOpenRelay, checkProxyWidth } from './open-relay.ts';
import type { Settings } from './document.ts';
import { NetworkIndex } from '../objects/networks.ts';
import { coveredCount, IPV4_SPACE, parseIp, publicCount, rangeSize, rangesOverlap } from '../objects/ip.ts';
import { isPasswordHash } from '../objects/password.ts';
import { readWholeDomain } from '../policy/sender-login.ts';
import { domainKey, isDomainName, parsePath } from '../address/path.ts';
import { durationMs } from '../core/duration.ts';
import { existsSync } from 'node:fs';
import { parseHostPort } from '../address/host-port.ts';
import { parseEngineAddress } from '../scan/engine-address.ts';
import { parseAnswerRange } from '../antispam/dnsbl.ts';
import { filterProblem, isAttributeName } from '../directory/filter.ts';
import { isIP } from 'node:net';
import { parseListEntry } from '../checks/recipient-rules.ts';
import { keyFileProblem, parsePrivateKey } from '../dkim/keys.ts';

export interface Validation {
  settings: Settings;
  networks: NetworkIndex;
  errors: Findings['errors'];
  warnings: Findings['warnings'];
}

export function validate(raw: unknown): Validation {
  const f = new Findings();
  const settings = readSettings(raw, f);
  const networks = NetworkIndex.build(settings.networks, f);

  checkHostname(settings, f);
  checkUnique(settings.groups.map((g) => g.name), 'groups', 'user group', f);
  checkUnique(settings.users.map((u) => u.name), 'users', 'user', f);
  checkUnique(settings.domains.map((d) => domainKey(d.name)), 'domains', 'domain', f);
  checkUnique(settings.listeners.map((l) => l.name), 'listeners', 'listener', f);
  checkListeners(settings, networks, f);
  checkUsers(settings, f);
  checkDomains(settings, f);
  checkRecipientVerification(settings, f);
  checkRelaying(settings, networks, f);
  checkSmarthost(settings, f);
  checkTlsPolicy(settings, f);
  checkQueueAndDns(settings, f);
  checkScanning(settings, f);
  checkAntispamChecks(settings, networks, f);
  checkAdmin(settings, f);
  checkMetrics(settings, f);
  checkDirectories(settings, f);
  checkDkim(settings, f);
  checkQuarantineDigest(settings, f);
  return { settings, networks, errors: f.errors, warnings: f.warnings };
}

/**
 * No error yet at any of `paths`. A value the shape check refused (a duration
 * that does not parse) stands in as its default, and comparing that default
 * would add a second error about a value nobody wrote: the first one is enough.
 */
function readable(f: Findings, paths: readonly string[]): boolean {
  return !f.errors.some((e) => paths.includes(e.path));
}

function checkHostname(s: Settings, f: Findings): void {
  if (!isDomainName(s.hostname)) f.error('hostname', `"${s.hostname}" is not a valid host name`);
}

function checkUnique(names: string[], path: string, what: string, f: Findings): void {
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    if (!n) return;
    const prev = seen.get(n);
    if (prev !== undefined) f.error(at(at(path, i), 'name'), `${what} "${n}" is already defined at ${path}[${prev}]`);
    else seen.set(n, i);
  });
}

function checkNetworkRefs(path: string, names: string[], networks: NetworkIndex, f: Findings): void {
  const seen = new Set<string>();
  names.forEach((n, i) => {
    const p = at(path, i);
    if (!networks.has(n)) f.error(p, `unknown network object "${n}"${networks.suggest(n)}`);
    else if (seen.has(n)) f.warn(p, `"${n}" is listed twice`);
    seen.add(n);
  });
}

function checkListeners(s: Settings, networks: NetworkIndex, f: Findings): void {
  if (s.listeners.length === 0) f.warn('listeners', 'no listeners: the relay will not accept any connection');
  const bound: { addr: bigint | string; wildcard: boolean; port: number; i: number }[] = [];
  s.listeners.forEach((l, i) => {
    const p = at('listeners', i);
    const ip = parseIp(l.address);
    if (l.address && !ip.ok) f.error(at(p, 'address'), `"${l.address}": ${ip.reason}`);
    // A wildcard address (0.0.0.0, ::) takes the port on every address, so
    // it cannot share a port with any other listener.
    const here = { addr: ip.ok ? ip.value : l.address, wildcard: ip.ok && (ip.value === 0n || l.address === '0.0.0.0'), port: l.port, i };
    // Port 0 asks the system for a free port: listeners on it never share one.
    const clash = here.port === 0 ? undefined : bound.find((b) => b.port === here.port && (b.addr === here.addr || b.wildcard || here.wildcard));
    if (clash) {
      const other = s.listeners[clash.i]?.address ?? '';
      f.error(at(p, 'port'), `listeners[${clash.i}] already uses ${other} port ${l.port}${clash.addr === here.addr ? '' : ' (a wildcard address takes the port on every address)'}`);
    }
    bound.push(here);
    checkNetworkRefs(at(p, 'trusted_proxies'), l.trusted_proxies, networks, f);
  });
  checkProxyWidth(s, networks, f);
}

function checkUsers(s: Settings, f: Findings): void {
  const groups = new Set(s.groups.map((g) => g.name));
  s.users.forEach((u, i) => {
    const p = at('users', i);
    if (u.name && !/^[^\s:\x00-\x1f\x7f]+$/u.test(u.name)) f.error(at(p, 'name'), 'a user name cannot contain spaces, colons or control characters');
    u.groups.forEach((g, j) => {
      if (!groups.has(g)) f.error(at(at(p, 'groups'), j), `unknown user group "${g}"`);
    });
    if (u.password_hash !== undefined && !isPasswordHash(u.password_hash)) f.error(at(p, 'password_hash'), 'not a password hash written by mailwarden (scrypt$N$r$p$salt$hash)');
    if (u.password !== undefined && u.password.length === 0) f.error(at(p, 'password'), 'must not be empty');
    if (u.password === undefined && u.password_hash === undefined) f.warn(p, `user "${u.name}" has no password and cannot log in`);
    checkUserAddresses(u.addresses ?? [], at(p, 'addresses'), f);
  });
}

/** users[].addresses: mailboxes, or "@domain" for a whole domain (relaying.sender_login). */
function checkUserAddresses(addresses: readonly string[], path: string, f: Findings): void {
  const seen = new Set<string>();
  addresses.forEach((a, j) => {
    const p = at(path, j);
    if (a.startsWith('@')) {
      if (readWholeDomain(a) === null) f.error(p, `"${a}" is not a valid domain ("@example.com" allows every address of the domain)`);
    } else {
      const r = parsePath(a, { allowNull: false, requireBrackets: false });
      if (!r.ok) return f.error(p, `"${a}": ${r.reason}`);
      if (r.kind !== 'mailbox') return f.error(p, `"${a}" is not a mailbox (user@domain) or "@domain"`);
      if (r.mailbox.literal !== null) return f.error(p, `"${a}": an address literal cannot be bound to a login; give a domain name`);
      if (r.mailbox.routingOperators.length > 0) return f.error(p, `"${a}" carries a routing operator (${r.mailbox.routingOperators.join(' ')})`);
    }
    const key = a.toLowerCase();
    if (seen.has(key)) f.warn(p, `"${a}" is listed twice`);
    seen.add(key);
  });
}

/**
 * relaying.sender_login: a local user who may relay by logging in but has no
 * addresses can send only with MAIL FROM:<> (a directory user's addresses
 * come from the directory, so only local users are judged here).
 */
function checkSenderLogin(s: Settings, f: Findings): void {
  const r = s.relaying;
  if (r.sender_login === 'off' || !r.authenticated_relay.enabled) return;
  s.users.forEach((u, i) => {
    if (!u.enabled || (u.addresses ?? []).length > 0) return;
    const relays = r.authenticated_relay.users.includes(u.name) || u.groups.some((g) => r.authenticated_relay.groups.includes(g));
    if (relays) f.warn(at('users', i), `user "${u.name}" may relay by logging in but has no addresses: with relaying.sender_login ${r.sender_login} it can send only with MAIL FROM:<>`);
  });
}

function checkDomains(s: Settings, f: Findings): void {
  s.domains.forEach((d, i) => {
    const p = at('domains', i);
    if (d.name && !isDomainName(d.name)) f.error(at(p, 'name'), `"${d.name}" is not a valid domain name`);
    if (d.route.hosts.length === 0) f.error(at(p, 'route.hosts'), 'a local domain needs at least one host to deliver to');
    d.route.hosts.forEach((h, j) => {
      const hp = parseHostPort(h, 25);
      if (!hp.ok) f.error(at(at(p, 'route.hosts'), j), hp.reason);
    });
  });
}

/** domains[].verify_recipients and its companions (recipients, directory, callout). */
function checkRecipientVerification(s: Settings, f: Findings): void {
  s.domains.forEach((d, i) => {
    const p = at('domains', i);
    const mode = d.verify_recipients ?? 'off';
    (d.recipients ?? []).forEach((text, j) => {
      const e = parseListEntry(text, d.name);
      if (!e.ok) f.error(at(at(p, 'recipients'), j), e.reason);
    });
    if (mode === 'list' && !(d.recipients ?? []).length) f.error(at(p, 'recipients'), 'verify_recipients: list needs at least one recipient (an unknown recipient is refused: with none, every address but postmaster would be)');
    if (mode !== 'list' && d.recipients?.length) f.warn(at(p, 'recipients'), `not used: verify_recipients is ${mode}, not list`);
    if (mode === 'directory' && !d.directory) f.error(at(p, 'directory'), 'verify_recipients: directory needs the name of a directory (directories[].name)');
    else if (mode === 'directory' && d.directory && !s.directories.some((x) => x.name === d.directory)) {
      f.error(at(p, 'directory'), `no directory named "${d.directory}" (have: ${s.directories.map((x) => x.name).join(', ') || 'none'})`);
    }
    if (mode !== 'directory' && d.directory) f.warn(at(p, 'directory'), `not used: verify_recipients is ${mode}, not directory`);
    if (d.callout?.sender) {
      const sp = parsePath(d.callout.sender, { requireBrackets: false });
      if (!sp.ok || sp.kind !== 'mailbox') f.error(at(p, 'callout.sender'), `"${d.callout.sender}" is not an address ("" for the null sender <>)`);
    }
    if (mode !== 'callout' && d.callout) f.warn(at(p, 'callout'), `not used: verify_recipients is ${mode}, not callout`);
  });
}

function checkSmarthost(s: Settings, f: Findings): void {
  const sh = s.delivery.smarthost;
  if (!sh || !sh.host) return;
  const hp = parseHostPort(sh.host, sh.port);
  const hasPort = /\]:|^[^[]*:/.test(sh.host);
  if (!hp.ok || hasPort) f.error('delivery.smarthost.host', hp.ok ? 'give the port in delivery.smarthost.port, not in the host' : hp.reason);
}

// delivery.tls_policy and delivery.mta_sts (issue 19).
function checkTlsPolicy(s: Settings, f: Findings): void {
  const seen = new Map<string, number>();
  s.delivery.tls_policy.forEach((e, i) => {
    const p = at('delivery.tls_policy', i);
    if (e.domain !== undefined) {
      const d = e.domain.startsWith('.') ? e.domain.slice(1) : e.domain;
      if (!isDomainName(d) || d.startsWith('[')) f.error(at(p, 'domain'), `"${e.domain}" is not a domain ("example.com", or ".example.com" for the domains below it)`);
    }
    if (e.next_hop !== undefined) {
      const hp = parseHostPort(e.next_hop, 0);
      if (!hp.ok) f.error(at(p, 'next_hop'), `${hp.reason} (a host name or IP address, optionally with :port)`);
    }
    const key = e.domain !== undefined ? `d:${domainKey(e.domain)}` : `h:${(e.next_hop ?? '').toLowerCase()}`;
    const first = seen.get(key);
    if (first !== undefined) f.warn(p, `never used: delivery.tls_policy[${first}] names the same ${e.domain !== undefined ? 'domain' : 'next hop'} and comes first`);
    else seen.set(key, i);
    if (e.ca !== undefined && e.level !== 'verify') f.warn(at(p, 'ca'), `not used: certificates are checked only with level verify, not ${e.level}`);
    if (e.ca !== undefined && !existsSync(e.ca)) f.warn(at(p, 'ca'), `${e.ca} does not exist (yet): delivery to this destination will be deferred until it does`);
  });
  const m = s.delivery.mta_sts;
  if (m.port !== 443) f.warn('delivery.mta_sts.port', 'not 443: MTA-STS policies are served on 443 (other ports are for tests)');
  if (m.ca !== null && !existsSync(m.ca)) f.warn('delivery.mta_sts.ca', `${m.ca} does not exist (yet)`);
}

function checkQueueAndDns(s: Settings, f: Findings): void {
  s.dns.servers.forEach((server, i) => {
    const hp = parseHostPort(server, 53);
    if (!hp.ok) f.error(at('dns.servers', i), hp.reason);
    else if (!parseIp(hp.value.host).ok) f.error(at('dns.servers', i), 'a DNS server is given by its IP address');
  });
  const q = (...paths: string[]) => readable(f, paths);
  if (q('queue.retry.first', 'queue.retry.max') && durationMs(s.queue.retry.first) > durationMs(s.queue.retry.max)) f.error('queue.retry.first', 'must not be longer than queue.retry.max');
  if (q('queue.retry.first', 'queue.lifetime') && durationMs(s.queue.retry.first) > durationMs(s.queue.lifetime)) f.warn('queue.retry.first', 'longer than queue.lifetime: a message that fails once bounces at its next attempt');
  if (q('queue.lease') && durationMs(s.queue.lease) < 5000) f.warn('queue.lease', 'shorter than 5s: a delivery whose renewal is late by a moment may be handed to another node and sent twice');
  if (q('queue.delay_warning', 'queue.lifetime') && s.queue.delay_warning !== null && durationMs(s.queue.delay_warning) >= durationMs(s.queue.lifetime)) f.warn('queue.delay_warning', 'not shorter than queue.lifetime: no warning will ever be sent');
  if (s.postmaster !== null) {
    const p = parsePath(s.postmaster);
    if (!p.ok || p.kind !== 'mailbox') f.error('postmaster', `"${s.postmaster}" is not a mail address${p.ok ? '' : `: ${p.reason}`}`);
  }
  const ca = s.delivery.smarthost?.ca;
  if (ca !== undefined && !existsSync(ca)) f.warn('delivery.smarthost.ca', `${ca} does not exist (yet): delivery through the smarthost will fail until it does`);
}

function checkScanning(s: Settings, f: Findings): void {
  const av = s.antivirus;
  const clamd = parseEngineAddress(av.clamd, 3310);
  if (!clamd.ok) f.error('antivirus.clamd', clamd.reason);
  const as = s.antispam;
  const spamd = parseEngineAddress(as.spamd, 783);
  if (!spamd.ok) f.error('antispam.spamd', spamd.reason);
  let url: URL | null = null;
  try {
    url = new URL(as.rspamd);
  } catch {
    f.error('antispam.rspamd', `"${as.rspamd}" is not a URL (e.g. http://127.0.0.1:11333)`);
  }
  if (url && url.protocol !== 'http:' && url.protocol !== 'https:') f.error('antispam.rspamd', 'must be an http:// or https:// URL');
  if (as.reject_score !== null && as.reject_score <= as.spam_score && as.spam_action !== 'off') {
    f.warn('antispam.reject_score', `not above spam_score (${as.spam_score}): every spam is refused and spam_action never applies`);
  }
  if (as.subject_tag !== null && !/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(as.subject_tag)) f.error('antispam.subject_tag', 'printable ASCII on one line, not starting or ending with a space (e.g. "[SPAM]")');
  if (av.enabled && av.max_scan_size < s.limits.max_message_size) {
    f.warn('antivirus.max_scan_size', `below limits.max_message_size (${s.limits.max_message_size}): larger messages pass without a malware scan (marked in a header)`);
  }
  if ((av.enabled || as.enabled) && !s.relaying.scan_relayed && (s.relaying.allowed_hosts.length > 0 || s.relaying.authenticated_relay.enabled)) {
    f.warn('relaying.scan_relayed', 'off: mail from relay clients is not scanned');
  }
}

function checkAdmin(s: Settings, f: Findings): void {
  const ip = parseIp(s.admin.address);
  if (!ip.ok) f.error('admin.address', `"${s.admin.address}": ${ip.reason}`);
  if (s.admin.enabled && s.admin.port !== 0 && s.listeners.some((l) => l.port === s.admin.port && (l.address === s.admin.address || l.address === '0.0.0.0' || l.address === '::' || s.admin.address === '0.0.0.0'))) {
    f.error('admin.port', `${s.admin.port} is taken by an SMTP listener`);
  }
}

/** The digest's links are pages of the admin listener (docs/quarantine.md): no listener, no links. */
function checkQuarantineDigest(s: Settings, f: Findings): void {
  if (s.quarantine.digest.enabled && !s.admin.enabled) f.error('quarantine.digest.enabled', 'the digest\'s links are served by the admin listener: set admin.enabled to true');
}

/**
 * The metrics listener serves GET /metrics in plain HTTP without
 * authentication: meant for a monitoring network. A public or wildcard
 * address is allowed (a firewall may guard it) but warned about.
 */
function checkMetrics(s: Settings, f: Findings): void {
  const m = s.metrics;
  if (!m) return;
  const ip = parseIp(m.address);
  if (!ip.ok) return f.error('metrics.address', `"${m.address}": ${ip.reason}`);
  const wildcard = m.address === '0.0.0.0' || m.address === '::';
  if (wildcard) f.warn('metrics.address', `${m.address} listens on every interface: /metrics there answers anyone without authentication; prefer a loopback or private address, or guard the port with a firewall`);
  else if (publicCount([{ from: ip.value, to: ip.value }], ip.family) > 0n) f.warn('metrics.address', `${m.address} is a public address: /metrics there answers anyone without authentication; prefer a loopback or private address (a monitoring network), or guard the port with a firewall`);
  if (m.port === 0) return;
  const clash = (address: string) => address === m.address || address === '0.0.0.0' || address === '::' || wildcard;
  if (s.listeners.some((l) => l.port === m.port && clash(l.address))) f.error('metrics.port', `${m.port} is taken by an SMTP listener`);
  if (s.admin.enabled && s.admin.port === m.port && clash(s.admin.address)) f.error('metrics.port', `${m.port} is taken by the admin listener`);
}

function checkAntispamChecks(s: Settings, networks: NetworkIndex, f: Findings): void {
  const as = s.antispam;
  const zones = new Map<string, number>();
  as.dnsbl.forEach((d, i) => {
    const p = at('antispam.dnsbl', i);
    const zone = d.zone.replace(/\.$/, '');
    if (d.zone && !isDomainName(zone)) f.error(at(p, 'zone'), `"${d.zone}" is not a DNS zone name`);
    const prev = zones.get(zone.toLowerCase());
    if (prev !== undefined) f.warn(at(p, 'zone'), `"${d.zone}" is already listed at antispam.dnsbl[${prev}]`);
    zones.set(zone.toLowerCase(), i);
    d.answers.forEach((a, j) => {
      const r = parseAnswerRange(a);
      if (!r.ok) f.error(at(at(p, 'answers'), j), r.reason);
    });
  });
  as.exceptions.forEach((e, i) => {
    const p = at('antispam.exceptions', i);
    if (e.networks.length === 0 && e.senders.length === 0) f.error(p, 'names neither networks nor senders: it would match nothing');
    checkNetworkRefs(at(p, 'networks'), e.networks, networks, f);
    e.senders.forEach((snd, j) => {
      const domain = snd.startsWith('*@') ? snd.slice(2) : snd.includes('@') ? null : snd;
      const ok = domain !== null ? isDomainName(domain) : parsePath(snd).ok;
      if (!ok) f.error(at(at(p, 'senders'), j), `"${snd}" is neither an address, a domain nor *@domain`);
    });
  });
  const g = as.greylisting;
  if (readable(f, ['antispam.greylisting.delay', 'antispam.greylisting.expiry']) && durationMs(g.delay) >= durationMs(g.expiry)) f.error('antispam.greylisting.delay', `must be shorter than antispam.greylisting.expiry (${g.expiry}): no retry could ever pass`);
  if ((as.spf.enabled || as.dmarc.enabled || as.dnsbl.length > 0) && s.dns.servers.length === 0) {
    f.warn('dns.servers', 'empty: the blocklist, SPF and DMARC checks ask the system resolver (public blocklists refuse queries from big public resolvers)');
  }
}

/** limits.rate: what `match` names must exist (a directory's users cannot be listed, so a user is not checked). */
function checkRateLimits(s: Settings, networks: NetworkIndex, users: ReadonlyMap<string, unknown>, groups: ReadonlySet<string>, f: Findings): void {
  s.limits.rate.forEach((l, i) => {
    const p = at(at('limits.rate', i), 'match');
    if (l.who === 'network' && l.match === undefined) f.error(p, 'is required for who: network (the network object whose clients share one bucket)');
    if (l.match === undefined) return;
    if ((l.who === 'network' || l.who === 'client') && !networks.has(l.match)) f.error(p, `unknown network object "${l.match}"${networks.suggest(l.match)}`);
    if (l.who === 'group' && !groups.has(l.match)) {
      const why = directoryGroupProblem(s, l.match);
      if (why !== null) f.error(p, why);
    }
    if (l.who === 'user' && !users.has(l.match) && s.directories.length === 0) f.error(p, `unknown user "${l.match}"`);
    if (l.who === 'sender_domain' && !isDomainName(l.match)) f.error(p, `"${l.match}" is not a valid domain name`);
  });
}

function checkRelaying(s: Settings, networks: NetworkIndex, f: Findings): void {
  const r = s.relaying;
  checkNetworkRefs('relaying.upstream_hosts', r.upstream_hosts, networks, f);
  checkNetworkRefs('relaying.allowed_hosts', r.allowed_hosts, networks, f);
  checkNetworkRefs('relaying.blacklist', r.blacklist, networks, f);
  checkNetworkRefs('limits.bare_newline_networks', s.limits.bare_newline_networks, networks, f);

  const users = new Map(s.users.map((u) => [u.name, u]));
  const groups = new Set(s.groups.map((g) => g.name));
  r.authenticated_relay.users.forEach((u, i) => {
    const p = at('relaying.authenticated_relay.users', i);
    const user = users.get(u);
    if (!user) f.error(p, `unknown user "${u}"`);
    else if (!user.enabled) f.warn(p, `user "${u}" is disabled and cannot relay until enabled`);
  });
  r.authenticated_relay.groups.forEach((g, i) => {
    if (groups.has(g)) return;
    const why = directoryGroupProblem(s, g);
    if (why !== null) f.error(at('relaying.authenticated_relay.groups', i), why);
  });
  if (r.authenticated_relay.enabled && r.authenticated_relay.users.length === 0 && r.authenticated_relay.groups.length === 0) {
    f.warn('relaying.authenticated_relay', 'enabled, but no user or group is named, so nobody can relay by logging in');
  }
  checkSenderLogin(s, f);
  checkRateLimits(s, networks, users, groups, f);

  checkOpenRelay(s, networks, f);

  const known = (names: string[]) => names.filter((n) => networks.has(n));
  if (r.upstream_only && known(r.upstream_hosts).length === 0 && known(r.allowed_hosts).length === 0) {
    f.warn('relaying.upstream_only', 'on, but there are no upstream or relay hosts: every connection will be refused');
  }
  if (known(r.upstream_hosts).some((n) => coveredCount(networks.ranges(n), IPV4_SPACE) === rangeSize(IPV4_SPACE))) {
    f.warn('relaying.upstream_hosts', 'covers every IPv4 address: spam checks cannot find the real origin of any message');
  }

  // Rule 1: an allowed or upstream host inside a blocked network stays allowed.
  for (const [bi, b] of r.blacklist.entries()) {
    if (!networks.has(b)) continue;
    for (const [listName, list] of [['allowed_hosts', r.allowed_hosts], ['upstream_hosts', r.upstream_hosts]] as const) {
      for (const a of known(list)) {
        const overlaps = networks.ranges(a).some((ar) => networks.ranges(b).some((br) => rangesOverlap(ar, br)));
        if (overlaps) {
          f.warn(at('relaying.blacklist', bi), `"${b}" overlaps "${a}" of relaying.${listName}; addresses in "${a}" stay allowed`);
        }
      }
    }
  }
}

// --- directories (LDAP, Active Directory) -------------------------------------

/**
 * Why a group name that is no local group is not a directory's group either
 * (`directory:group`, the directory defined), or null when it is one.
 */
function directoryGroupProblem(s: Settings, name: string): string | null {
  const colon = name.indexOf(':');
  if (colon < 0) return `unknown user group "${name}"`;
  const [dir, group] = [name.slice(0, colon), name.slice(colon + 1)];
  if (!s.directories.some((d) => d.name === dir)) return `unknown directory "${dir}" in "${name}" (a directory's group is written directory-name:group-name)`;
  if (group.trim() === '') return `"${name}" names no group after the colon`;
  return null;
}

/** This machine: a clear-text connection to it never crosses a network. */
function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1';
}

/**
 * The directories: names usable as a group prefix, a URL the client can
 * reach, TLS that matches the URL, and clear text only where it cannot be
 * overheard (this machine) unless explicitly acknowledged: with tls none,
 * every user's password crosses the network readable at each AUTH.
 */
function checkDirectories(s: Settings, f: Findings): void {
  checkUnique(s.directories.map((d) => d.name), 'directories', 'directory', f);
  s.directories.forEach((d, i) => {
    const p = at('directories', i);
    if (d.name && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(d.name)) f.error(at(p, 'name'), 'letters, digits, ".", "_" and "-" only (no colon: a directory\'s groups are written name:group)');
    let url: URL | null = null;
    try {
      url = new URL(d.url);
    } catch {
      if (d.url) f.error(at(p, 'url'), `"${d.url}" is not a URL (e.g. ldap://ldap.example.com or ldaps://dc1.example.com)`);
    }
    if (url) {
      const scheme = url.protocol.toLowerCase();
      if (scheme !== 'ldap:' && scheme !== 'ldaps:') f.error(at(p, 'url'), 'must be an ldap:// or ldaps:// URL');
      else if (!url.hostname) f.error(at(p, 'url'), 'names no host');
      else if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash || url.username || url.password) f.error(at(p, 'url'), 'give only ldap[s]://host[:port]: the base DN goes in base_dn, the account in bind_dn');
      else if (scheme === 'ldaps:' && d.tls !== 'ldaps') f.error(at(p, 'tls'), `an ldaps:// URL is TLS from the start: tls must be ldaps, not ${d.tls}`);
      else if (scheme === 'ldap:' && d.tls === 'ldaps') f.error(at(p, 'tls'), 'ldaps needs an ldaps:// URL (or use starttls on ldap://)');
      else if (d.tls === 'none') {
        if (isLoopbackHost(url.hostname)) {
          if (d.plaintext_acknowledged) f.warn(at(p, 'plaintext_acknowledged'), 'not needed: the directory is on this machine');
        } else if (d.plaintext_acknowledged) {
          f.warn(at(p, 'tls'), 'none: every user\'s password crosses the network in clear text at each login (acknowledged by plaintext_acknowledged)');
        } else {
          f.error(at(p, 'tls'), 'none would send every user\'s password over the network in clear text at each login; use starttls or an ldaps:// URL, or if you really mean it, also set plaintext_acknowledged: true');
        }
      } else if (d.plaintext_acknowledged) f.warn(at(p, 'plaintext_acknowledged'), `set, but tls is ${d.tls}: remove it so that a later change to none is still caught`);
    }
    if (d.bind_dn !== undefined && d.bind_password === undefined) f.error(at(p, 'bind_password'), 'bind_dn needs its password (give it again after changing url or bind_dn)');
    if (d.bind_password !== undefined && d.bind_dn === undefined) f.error(at(p, 'bind_dn'), 'bind_password is given without bind_dn');
    const userWhy = filterProblem(d.user_filter, ['login'], ['login']);
    if (userWhy) f.error(at(p, 'user_filter'), userWhy);
    if (d.group_filter !== undefined) {
      const groupWhy = filterProblem(d.group_filter, ['login', 'dn']);
      if (groupWhy) f.error(at(p, 'group_filter'), groupWhy);
      else if (!d.group_filter.includes('{dn}') && d.nested_group_depth > 0) f.warn(at(p, 'nested_group_depth'), 'the group_filter has no {dn}: nested groups cannot be followed');
    }
    if (!isAttributeName(d.group_member_attribute)) f.error(at(p, 'group_member_attribute'), `"${d.group_member_attribute}" is not an attribute name`);
    if (d.mail_attributes.length === 0) f.warn(at(p, 'mail_attributes'), 'empty: the directory\'s users have no addresses (sender binding and recipient verification find none)');
    d.mail_attributes.forEach((a, j) => {
      if (!isAttributeName(a)) f.error(at(at(p, 'mail_attributes'), j), `"${a}" is not an attribute name`);
    });
    if (d.ca !== undefined && !existsSync(d.ca)) f.warn(at(p, 'ca'), `${d.ca} does not exist (yet): logins through this directory fail until it does`);
  });
}

/** A DNS label sequence as a selector is (RFC 6376 §3.1): letters, digits, hyphens and underscores. */
const SELECTOR = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/i;

function checkDkim(s: Settings, f: Findings): void {
  const seen = new Set<string>();
  s.dkim.keys.forEach((k, i) => {
    const p = at('dkim.keys', i);
    const record = `${k.selector}._domainkey.${domainKey(k.domain)}`.toLowerCase();
    if (seen.has(record)) f.error(at(p, 'selector'), `a second key for ${record}: one record publishes one key`);
    seen.add(record);
    if (k.domain && !isDomainName(k.domain)) f.error(at(p, 'domain'), `"${k.domain}" is not a domain name`);
    if (k.signing_domain !== undefined && !isDomainName(k.signing_domain)) f.error(at(p, 'signing_domain'), `"${k.signing_domain}" is not a domain name`);
    if (k.selector && !SELECTOR.test(k.selector)) f.error(at(p, 'selector'), `"${k.selector}" is not a selector (DNS labels: letters, digits, - and _)`);
    if ((k.key === undefined) === (k.key_file === undefined)) f.error(p, 'give either key or key_file');
    if (k.key !== undefined) {
      try {
        parsePrivateKey(k.key, k.algorithm);
      } catch (err) {
        f.error(at(p, 'key'), err instanceof Error ? err.message : String(err));
      }
    }
    // The file is the daemon's: a warning, not an error, since the process checking (a CLI run by another user)
    // may be unable to read what the daemon can; a file that exists is parsed so that a wrong one is named now.
    if (k.key_file !== undefined) {
      const problem = keyFileProblem(k.key_file, k.algorithm);
      if (problem) f.warn(at(p, 'key_file'), `${k.key_file}: ${problem}: mail From ${k.domain} goes out unsigned until it is fixed`);
    }
  });
  if (s.dkim.headers.length > 0 && !s.dkim.headers.includes('from')) f.error('dkim.headers', 'must include from (RFC 6376 §5.4)');
}
