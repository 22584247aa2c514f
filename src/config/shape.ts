// Reads an untrusted value (parsed YAML or JSON) into the Settings shape.
// Every problem is recorded with its path; nothing stops at the first one.
// Unknown keys are errors: a misspelt setting silently ignored is how relays
// end up doing something nobody asked for. Absent sections take safe defaults
// (no listeners, no objects, no relay rights). An empty comment is no comment:
// it is left out, so that saving a form with an empty field changes nothing.

import { hostname as osHostname } from 'node:os';
import { at, Findings } from './issues.ts';
import { defaultDirectory, DIRECTORY_TLS, type DirectoryDef } from './document.ts';
import { defaultCallout, VERIFY_MODES } from './document.ts';
import { defaultMtaSts, TLS_LEVELS, type MtaStsSettings, type TlsPolicyEntry } from './document.ts';
import { defaultDkim, defaultTracking, type TrackingSettings, DKIM_ALGORITHMS, type DkimKeyDef, type DkimSettings } from './document.ts';
import { RATE_ACTIONS, RATE_PER, RATE_WHO, type RateLimit } from './document.ts';
import { defaultAdmin, defaultAntispam, defaultAntivirus, defaultDelivery, defaultLimits, defaultQueue, type AntispamException, type AntispamSettings, type AntivirusSettings, CHECK_NAMES, type DnsblDef, type Delivery, type DnsSettings, type DomainDef, type QueueSettings, type GroupDef, type Limits, type ListenerDef, type NetworkDef, type Relaying, SENDER_LOGIN_MODES, type Settings, type Smarthost, type UserDef } from './document.ts';
import { DMARC_ACTIONS } from './document.ts';
import { parseDuration } from '../core/duration.ts';
import { readContent } from './content-settings.ts';
import { readQuarantine } from './quarantine-settings.ts';
import { Reader, type Obj } from './reader.ts';

// Rate limits (limits.rate): each entry as written, optional keys left out when absent.
const RATE_KEYS = ['name', 'who', 'match', 'messages', 'recipients', 'per', 'action', 'inbound', 'comment'] as const;

function readRateLimits(r: Reader, v: unknown): RateLimit[] {
  return r.list('limits.rate', v, (p, item): RateLimit | undefined => {
    const o = r.object(p, item, RATE_KEYS);
    if (!o) return undefined;
    const who = r.oneOf(at(p, 'who'), o.who, RATE_WHO);
    const per = r.oneOf(at(p, 'per'), o.per, RATE_PER);
    const action = r.oneOf(at(p, 'action'), o.action, RATE_ACTIONS, 'defer') ?? 'defer';
    const out: RateLimit = { who: who ?? 'client', per: per ?? '1h', action };
    const name = r.string(at(p, 'name'), o.name, { max: 128 });
    if (name) out.name = name;
    const match = r.string(at(p, 'match'), o.match, { max: 320 })?.trim();
    if (match) out.match = match;
    if (o.messages !== undefined && o.messages !== null) out.messages = r.int(at(p, 'messages'), o.messages, 1, 1, 1_000_000_000);
    if (o.recipients !== undefined && o.recipients !== null) out.recipients = r.int(at(p, 'recipients'), o.recipients, 1, 1, 1_000_000_000);
    if (out.messages === undefined && out.recipients === undefined) r.f.error(p, 'sets neither messages nor recipients: it would count nothing');
    if (o.inbound !== undefined && o.inbound !== null && r.bool(at(p, 'inbound'), o.inbound, false)) {
      if (out.who !== 'sender_domain') r.f.error(at(p, 'inbound'), 'only a sender_domain limit has it (the others count every client)');
      out.inbound = true;
    }
    const comment = r.string(at(p, 'comment'), o.comment);
    if (comment) out.comment = comment;
    return out;
  });
}

// Recipient verification of a local domain (domains[].verify_recipients and
// its companions). Only what differs from "off" is kept, so that a document
// written before these keys existed reads and exports unchanged.
const VERIFY_KEYS = ['verify_recipients', 'recipients', 'directory', 'callout'] as const;

function readRecipientVerification(r: Reader, p: string, o: Obj): Partial<DomainDef> {
  const out: Partial<DomainDef> = {};
  const mode = r.oneOf(at(p, 'verify_recipients'), o.verify_recipients, VERIFY_MODES, 'off');
  if (mode && mode !== 'off') out.verify_recipients = mode;
  const recipients = r.list(at(p, 'recipients'), o.recipients, (q, x) => r.string(q, x, { required: true, max: 320 })?.trim());
  if (recipients.length) out.recipients = recipients;
  const directory = r.string(at(p, 'directory'), o.directory, { max: 128 });
  if (directory) out.directory = directory;
  if (o.callout !== undefined && o.callout !== null) {
    const dc = defaultCallout();
    const c = r.object(at(p, 'callout'), o.callout, Object.keys(dc)) ?? {};
    const duration = (key: 'timeout' | 'cache_positive' | 'cache_negative', min: number, max: number): string => {
      const q = at(at(p, 'callout'), key);
      const text = r.string(q, c[key], { def: dc[key], max: 32 }) ?? dc[key];
      const parsed = parseDuration(text);
      if (!parsed.ok) r.f.error(q, parsed.reason);
      else if (parsed.ms < min || parsed.ms > max) r.f.error(q, `must be between ${min} ms and ${max / 1000} s`);
      return parsed.ok ? text : dc[key];
    };
    out.callout = {
      timeout: duration('timeout', 100, 120_000),
      // 0s turns a cache off.
      cache_positive: duration('cache_positive', 0, 30 * 86_400_000),
      cache_negative: duration('cache_negative', 0, 30 * 86_400_000),
      sender: r.string(at(at(p, 'callout'), 'sender'), c.sender, { def: dc.sender, max: 320 })?.trim() ?? '',
    };
  }
  return out;
}

// delivery.tls_policy and delivery.mta_sts (issue 19). Absent: no entries, MTA-STS on.
function readTlsPolicy(r: Reader, del: Obj, duration: (p: string, v: unknown, def: string, min: number, max: number) => string): Pick<Delivery, 'tls_policy' | 'mta_sts'> {
  const tls_policy = r.list('delivery.tls_policy', del.tls_policy, (p, item) => {
    const o = r.object(p, item, ['domain', 'next_hop', 'level', 'ca', 'comment']);
    if (!o) return undefined;
    const e: TlsPolicyEntry = { level: r.oneOf(at(p, 'level'), o.level, TLS_LEVELS) ?? 'may' };
    const domain = r.string(at(p, 'domain'), o.domain, { max: 255 })?.trim();
    if (domain) e.domain = domain;
    const nextHop = r.string(at(p, 'next_hop'), o.next_hop, { max: 300 })?.trim();
    if (nextHop) e.next_hop = nextHop;
    if (!domain === !nextHop) r.f.error(p, 'give exactly one of domain and next_hop');
    const ca = r.string(at(p, 'ca'), o.ca, { max: 4096 })?.trim();
    if (ca) e.ca = ca;
    const comment = r.string(at(p, 'comment'), o.comment, { max: 1024 });
    if (comment) e.comment = comment;
    return e;
  });
  const dm = defaultMtaSts();
  const m = r.object('delivery.mta_sts', del.mta_sts ?? undefined, Object.keys(dm)) ?? {};
  const ca = r.string('delivery.mta_sts.ca', m.ca, { max: 4096 })?.trim();
  const mta_sts: MtaStsSettings = {
    enabled: r.bool('delivery.mta_sts.enabled', m.enabled, dm.enabled),
    timeout: duration('delivery.mta_sts.timeout', m.timeout, dm.timeout, 100, 600_000),
    port: r.int('delivery.mta_sts.port', m.port, dm.port, 1, 65535),
    ca: ca ? ca : null,
  };
  return { tls_policy, mta_sts };
}

/** More SMTP processes than this serve no machine better (one per core is the point). */
const MAX_PROCESSES = 256;

const TOP_KEYS = ['hostname', 'listeners', 'tls', 'networks', 'groups', 'users', 'domains', 'relaying', 'delivery', 'queue', 'dns', 'postmaster', 'antivirus', 'antispam', 'admin', 'limits', 'directories', 'dkim', 'tracking', 'metrics', 'content', 'quarantine', 'processes'] as const;

/** Reads the whole document. The result is complete (defaults filled in) even when there are errors. */
export function readSettings(raw: unknown, f: Findings): Settings {
  const r = new Reader(f);
  const top = r.object('', raw, TOP_KEYS) ?? {};

  let hostname = r.string('hostname', top.hostname, { max: 255 });
  if (hostname === undefined) {
    hostname = osHostname() || 'localhost';
    f.warn('hostname', `not set; using this machine's name "${hostname}"`);
  }

  const listeners = r.list('listeners', top.listeners, (p, v): ListenerDef | undefined => {
    const o = r.object(p, v, ['name', 'address', 'port', 'mode', 'trusted_proxies']);
    if (!o) return undefined;
    return {
      name: r.string(at(p, 'name'), o.name, { required: true, max: 64 }) ?? '',
      address: r.string(at(p, 'address'), o.address, { required: true, max: 64 }) ?? '',
      // 0: the system picks a free port at each start (tests); the `started` log line says which.
      port: r.int(at(p, 'port'), o.port, 0, 0, 65535, true),
      mode: r.oneOf(at(p, 'mode'), o.mode, ['mx', 'submission', 'smtps'] as const) ?? 'mx',
      trusted_proxies: r.names(at(p, 'trusted_proxies'), o.trusted_proxies),
    };
  });

  let tls: Settings['tls'] = null;
  if (top.tls !== undefined && top.tls !== null) {
    const o = r.object('tls', top.tls, ['cert', 'key']);
    if (o) tls = { cert: r.string('tls.cert', o.cert, { required: true }) ?? '', key: r.string('tls.key', o.key, { required: true }) ?? '' };
  }

  const networks = r.list('networks', top.networks, (p, v): NetworkDef | undefined => {
    const o = r.object(p, v, ['name', 'type', 'address', 'from', 'to', 'members', 'comment']);
    if (!o) return undefined;
    const type = r.oneOf(at(p, 'type'), o.type, ['host', 'network', 'range', 'group'] as const);
    const name = r.string(at(p, 'name'), o.name, { required: true, max: 128 }) ?? '';
    // An unknown type was already reported; keep the name (so references to
    // it do not also fail) as an object that matches nothing.
    if (!type) return { name, type: 'group', members: [] };
    const def: NetworkDef = { name, type };
    const wants = { host: ['address'], network: ['address'], range: ['from', 'to'], group: ['members'] }[def.type];
    for (const key of ['address', 'from', 'to', 'members'] as const) {
      if (o[key] !== undefined && !wants.includes(key)) f.error(at(p, key), `not used by a network object of type ${type}`);
    }
    if (wants.includes('address')) def.address = r.string(at(p, 'address'), o.address, { required: true, max: 64 });
    if (wants.includes('from')) {
      def.from = r.string(at(p, 'from'), o.from, { required: true, max: 64 });
      def.to = r.string(at(p, 'to'), o.to, { required: true, max: 64 });
    }
    if (wants.includes('members')) def.members = r.names(at(p, 'members'), o.members);
    const comment = r.string(at(p, 'comment'), o.comment);
    if (comment) def.comment = comment;
    return def;
  });

  const groups = r.list('groups', top.groups, (p, v): GroupDef | undefined => {
    const o = r.object(p, v, ['name', 'comment']);
    if (!o) return undefined;
    const g: GroupDef = { name: r.string(at(p, 'name'), o.name, { required: true, max: 128 }) ?? '' };
    const comment = r.string(at(p, 'comment'), o.comment);
    if (comment) g.comment = comment;
    return g;
  });

  const users = r.list('users', top.users, (p, v): UserDef | undefined => {
    const o = r.object(p, v, ['name', 'password', 'password_hash', 'groups', 'enabled', 'addresses', 'comment']);
    if (!o) return undefined;
    const u: UserDef = {
      name: r.string(at(p, 'name'), o.name, { required: true, max: 128 }) ?? '',
      groups: r.names(at(p, 'groups'), o.groups),
      enabled: r.bool(at(p, 'enabled'), o.enabled, true),
    };
    const password = r.string(at(p, 'password'), o.password, { max: 1024 });
    if (password !== undefined) u.password = password;
    const hash = r.string(at(p, 'password_hash'), o.password_hash, { max: 1024 });
    if (hash !== undefined) u.password_hash = hash;
    if (password !== undefined && hash !== undefined) f.error(p, 'give either password or password_hash, not both');
    // Like an empty comment, an empty list is no list: a form that sends [] changes nothing.
    const addresses = r.list(at(p, 'addresses'), o.addresses, (q, a) => r.string(q, a, { required: true, max: 320 })?.trim());
    if (addresses.length > 0) u.addresses = addresses;
    const comment = r.string(at(p, 'comment'), o.comment);
    if (comment) u.comment = comment;
    return u;
  });

  const domains = r.list('domains', top.domains, (p, v): DomainDef | undefined => {
    const o = r.object(p, v, ['name', 'route', ...VERIFY_KEYS]);
    if (!o) return undefined;
    const route = r.object(at(p, 'route'), o.route, ['hosts']) ?? {};
    const d: DomainDef = { name: r.string(at(p, 'name'), o.name, { required: true, max: 255 }) ?? '', route: { hosts: r.names(at(p, 'route.hosts'), route.hosts) } };
    return Object.assign(d, readRecipientVerification(r, p, o));
  });

  const rel = r.object('relaying', top.relaying, ['upstream_hosts', 'upstream_only', 'authenticated_relay', 'allowed_hosts', 'blacklist', 'scan_relayed', 'open_relay_acknowledged', 'sender_login', 'header_from_login']) ?? {};
  const auth = r.object('relaying.authenticated_relay', rel.authenticated_relay, ['enabled', 'users', 'groups']) ?? {};
  const relaying: Relaying = {
    upstream_hosts: r.names('relaying.upstream_hosts', rel.upstream_hosts),
    upstream_only: r.bool('relaying.upstream_only', rel.upstream_only, false),
    authenticated_relay: {
      enabled: r.bool('relaying.authenticated_relay.enabled', auth.enabled, false),
      users: r.names('relaying.authenticated_relay.users', auth.users),
      groups: r.names('relaying.authenticated_relay.groups', auth.groups),
    },
    allowed_hosts: r.names('relaying.allowed_hosts', rel.allowed_hosts),
    blacklist: r.names('relaying.blacklist', rel.blacklist),
    scan_relayed: r.bool('relaying.scan_relayed', rel.scan_relayed, true),
    open_relay_acknowledged: r.bool('relaying.open_relay_acknowledged', rel.open_relay_acknowledged, false),
    // Absent: off, so that a document written before the key existed keeps sending as before (new installations write `address`).
    sender_login: r.oneOf('relaying.sender_login', rel.sender_login, SENDER_LOGIN_MODES, 'off') ?? 'off',
    header_from_login: r.bool('relaying.header_from_login', rel.header_from_login, true),
  };

  const dd = defaultDelivery();
  const del = r.object('delivery', top.delivery, Object.keys(dd)) ?? {};
  let smarthost: Smarthost | null = null;
  if (del.smarthost !== undefined && del.smarthost !== null) {
    const o = r.object('delivery.smarthost', del.smarthost, ['host', 'port', 'username', 'password', 'tls', 'ca']);
    if (o) {
      smarthost = {
        host: r.string('delivery.smarthost.host', o.host, { required: true, max: 255 }) ?? '',
        port: r.int('delivery.smarthost.port', o.port, 25, 1, 65535),
        tls: r.oneOf('delivery.smarthost.tls', o.tls, ['required', 'opportunistic'] as const, 'opportunistic') ?? 'opportunistic',
      };
      const username = r.string('delivery.smarthost.username', o.username, { max: 255 });
      if (username !== undefined) smarthost.username = username;
      const password = r.string('delivery.smarthost.password', o.password, { max: 1024 });
      if (password !== undefined) smarthost.password = password;
      if (password !== undefined && username === undefined) f.error('delivery.smarthost.password', 'a password needs a username');
      const ca = r.string('delivery.smarthost.ca', o.ca, { max: 4096 });
      if (ca !== undefined) smarthost.ca = ca;
    }
  }
  const duration = (p: string, v: unknown, def: string, min: number, max: number): string => {
    const text = r.string(p, v, { def, max: 32 }) ?? def;
    const parsed = parseDuration(text);
    if (!parsed.ok) f.error(p, parsed.reason);
    else if (parsed.ms < min || parsed.ms > max) f.error(p, `must be between ${min} ms and ${max / 1000} s`);
    return parsed.ok ? text : def;
  };
  const delivery: Delivery = {
    enabled: r.bool('delivery.enabled', del.enabled, dd.enabled),
    smarthost,
    mx_port: r.int('delivery.mx_port', del.mx_port, dd.mx_port, 1, 65535),
    connect_timeout: duration('delivery.connect_timeout', del.connect_timeout, dd.connect_timeout, 100, 600_000),
    reply_timeout: duration('delivery.reply_timeout', del.reply_timeout, dd.reply_timeout, 100, 3_600_000),
    max_connections: r.int('delivery.max_connections', del.max_connections, dd.max_connections, 1, 10_000),
    max_connections_per_destination: r.int('delivery.max_connections_per_destination', del.max_connections_per_destination, dd.max_connections_per_destination, 1, 10_000),
    ...readTlsPolicy(r, del, duration),
  };

  const dq = defaultQueue();
  const q = r.object('queue', top.queue, Object.keys(dq)) ?? {};
  const retry = r.object('queue.retry', q.retry, ['first', 'max']) ?? {};
  const DAY = 86_400_000;
  const queue: QueueSettings = {
    retry: {
      first: duration('queue.retry.first', retry.first, dq.retry.first, 100, DAY),
      max: duration('queue.retry.max', retry.max, dq.retry.max, 100, 7 * DAY),
    },
    lifetime: duration('queue.lifetime', q.lifetime, dq.lifetime, 1000, 60 * DAY),
    delay_warning: q.delay_warning === null || q.delay_warning === undefined ? null : duration('queue.delay_warning', q.delay_warning, '4h', 1000, 60 * DAY),
    bounce_max_size: r.int('queue.bounce_max_size', q.bounce_max_size, dq.bounce_max_size, 0, 2 ** 31 - 1),
    lease: duration('queue.lease', q.lease, dq.lease, 1000, DAY),
  };

  const dnsObj = r.object('dns', top.dns, ['servers']) ?? {};
  const dns: DnsSettings = { servers: r.names('dns.servers', dnsObj.servers) };
  const postmaster = top.postmaster === null || top.postmaster === undefined ? null : (r.string('postmaster', top.postmaster, { max: 320 }) ?? null);

  const dav = defaultAntivirus();
  const av = r.object('antivirus', top.antivirus, Object.keys(dav)) ?? {};
  const antivirus: AntivirusSettings = {
    enabled: r.bool('antivirus.enabled', av.enabled, dav.enabled),
    clamd: r.string('antivirus.clamd', av.clamd, { def: dav.clamd, max: 1024 }) ?? dav.clamd,
    action: r.oneOf('antivirus.action', av.action, ['reject', 'quarantine', 'blackhole'] as const, dav.action) ?? dav.action,
    max_scan_size: r.int('antivirus.max_scan_size', av.max_scan_size, dav.max_scan_size, 1024, 2 ** 31 - 1),
    on_error: r.oneOf('antivirus.on_error', av.on_error, ['tempfail', 'accept'] as const, dav.on_error) ?? dav.on_error,
    timeout: duration('antivirus.timeout', av.timeout, dav.timeout, 100, 600_000),
  };
  const das = defaultAntispam();
  const as = r.object('antispam', top.antispam, Object.keys(das)) ?? {};
  const antispam: AntispamSettings = {
    enabled: r.bool('antispam.enabled', as.enabled, das.enabled),
    engine: r.oneOf('antispam.engine', as.engine, ['spamassassin', 'rspamd'] as const, das.engine) ?? das.engine,
    spamd: r.string('antispam.spamd', as.spamd, { def: das.spamd, max: 1024 }) ?? das.spamd,
    rspamd: r.string('antispam.rspamd', as.rspamd, { def: das.rspamd, max: 1024 }) ?? das.rspamd,
    reject_score: as.reject_score === null ? null : r.num('antispam.reject_score', as.reject_score, das.reject_score ?? 15, -1000, 10_000),
    spam_score: r.num('antispam.spam_score', as.spam_score, das.spam_score, -1000, 10_000),
    spam_action: r.oneOf('antispam.spam_action', as.spam_action, ['quarantine', 'tag', 'off'] as const, das.spam_action) ?? das.spam_action,
    subject_tag: as.subject_tag === null || as.subject_tag === undefined ? null : (r.string('antispam.subject_tag', as.subject_tag, { max: 64 }) ?? null),
    max_scan_size: r.int('antispam.max_scan_size', as.max_scan_size, das.max_scan_size, 1024, 2 ** 31 - 1),
    on_error: r.oneOf('antispam.on_error', as.on_error, ['tempfail', 'accept'] as const, das.on_error) ?? das.on_error,
    timeout: duration('antispam.timeout', as.timeout, das.timeout, 100, 600_000),
    dnsbl: r.list('antispam.dnsbl', as.dnsbl, (p, v): DnsblDef | undefined => {
      const o = r.object(p, v, ['zone', 'answers', 'action', 'score']);
      if (!o) return undefined;
      return {
        zone: r.string(at(p, 'zone'), o.zone, { required: true, max: 255 }) ?? '',
        answers: r.names(at(p, 'answers'), o.answers),
        action: r.oneOf(at(p, 'action'), o.action, ['reject', 'score'] as const, 'reject') ?? 'reject',
        score: r.num(at(p, 'score'), o.score, 5, -1000, 1000),
      };
    }),
    spf: (() => {
      const o = r.object('antispam.spf', as.spf, ['enabled', 'action']) ?? {};
      return { enabled: r.bool('antispam.spf.enabled', o.enabled, das.spf.enabled), action: r.oneOf('antispam.spf.action', o.action, ['reject', 'tag'] as const, das.spf.action) ?? das.spf.action };
    })(),
    helo_checks: r.bool('antispam.helo_checks', as.helo_checks, das.helo_checks),
    greylisting: (() => {
      const dg = das.greylisting;
      // `greylisting: true` is short for `{ enabled: true }`.
      const raw = typeof as.greylisting === 'boolean' ? { enabled: as.greylisting } : as.greylisting;
      const o = r.object('antispam.greylisting', raw, Object.keys(dg)) ?? {};
      return {
        enabled: r.bool('antispam.greylisting.enabled', o.enabled, dg.enabled),
        delay: duration('antispam.greylisting.delay', o.delay, dg.delay, 100, 86_400_000),
        expiry: duration('antispam.greylisting.expiry', o.expiry, dg.expiry, 1000, 7 * 86_400_000),
        lifetime: duration('antispam.greylisting.lifetime', o.lifetime, dg.lifetime, 1000, 400 * 86_400_000),
      };
    })(),
    exceptions: r.list('antispam.exceptions', as.exceptions, (p, v): AntispamException | undefined => {
      const o = r.object(p, v, ['networks', 'senders', 'skip', 'comment']);
      if (!o) return undefined;
      const e: AntispamException = {
        networks: r.names(at(p, 'networks'), o.networks),
        senders: r.list(at(p, 'senders'), o.senders, (q, s) => r.string(q, s, { required: true, max: 320 })),
        skip: r.list(at(p, 'skip'), o.skip, (q, s) => r.oneOf(q, s, CHECK_NAMES)),
      };
      const comment = r.string(at(p, 'comment'), o.comment);
      if (comment) e.comment = comment;
      return e;
    }),
    dns_timeout: duration('antispam.dns_timeout', as.dns_timeout, das.dns_timeout, 100, 60_000),
    dmarc: (() => {
      const dd = das.dmarc;
      const o = r.object('antispam.dmarc', as.dmarc, Object.keys(dd)) ?? {};
      return {
        enabled: r.bool('antispam.dmarc.enabled', o.enabled, dd.enabled),
        action: r.oneOf('antispam.dmarc.action', o.action, DMARC_ACTIONS, dd.action) ?? dd.action,
        score: r.num('antispam.dmarc.score', o.score, dd.score, -1000, 1000),
      };
    })(),
  };

  const dad = defaultAdmin();
  const ad = r.object('admin', top.admin, Object.keys(dad)) ?? {};
  const admin = {
    enabled: r.bool('admin.enabled', ad.enabled, dad.enabled),
    address: r.string('admin.address', ad.address, { def: dad.address, max: 64 }) ?? dad.address,
    port: r.int('admin.port', ad.port, dad.port, 0, 65535),
  };

  const lim = r.object('limits', top.limits, Object.keys(defaultLimits())) ?? {};
  const d = defaultLimits();
  const dur = (key: 'auth_failure_delay' | 'auth_failure_window' | 'idle_timeout' | 'tls_handshake_timeout' | 'shutdown_grace', min: number, max: number): string => {
    const p = `limits.${key}`;
    const text = r.string(p, lim[key], { def: d[key], max: 32 }) ?? d[key];
    const parsed = parseDuration(text);
    if (!parsed.ok) f.error(p, parsed.reason);
    else if (parsed.ms < min || parsed.ms > max) f.error(p, `must be between ${min} ms and ${max / 1000} s`);
    return parsed.ok ? text : d[key];
  };
  const limits: Limits = {
    max_message_size: r.int('limits.max_message_size', lim.max_message_size, d.max_message_size, 1024, 2 ** 31 - 1),
    max_recipients: r.int('limits.max_recipients', lim.max_recipients, d.max_recipients, 1, 100_000),
    max_received: r.int('limits.max_received', lim.max_received, d.max_received, 1, 1000),
    max_line_length: r.int('limits.max_line_length', lim.max_line_length, d.max_line_length, 512, 65536),
    max_errors: r.int('limits.max_errors', lim.max_errors, d.max_errors, 1, 1000),
    max_connections: r.int('limits.max_connections', lim.max_connections, d.max_connections, 1, 1_000_000),
    max_connections_per_client: r.int('limits.max_connections_per_client', lim.max_connections_per_client, d.max_connections_per_client, 1, 1_000_000),
    ipv6_client_prefix: r.int('limits.ipv6_client_prefix', lim.ipv6_client_prefix, d.ipv6_client_prefix, 32, 128),
    max_auth_failures: r.int('limits.max_auth_failures', lim.max_auth_failures, d.max_auth_failures, 1, 1000),
    min_password_length: r.int('limits.min_password_length', lim.min_password_length, d.min_password_length, 1, 1024),
    auth_failure_delay: dur('auth_failure_delay', 0, 60_000),
    auth_failure_window: dur('auth_failure_window', 1000, 86_400_000),
    idle_timeout: dur('idle_timeout', 1000, 3_600_000),
    tls_handshake_timeout: dur('tls_handshake_timeout', 100, 300_000),
    min_free_space: r.int('limits.min_free_space', lim.min_free_space, d.min_free_space, 0, Number.MAX_SAFE_INTEGER),
    shutdown_grace: dur('shutdown_grace', 0, 3_600_000),
    bare_newline: r.oneOf('limits.bare_newline', lim.bare_newline, ['reject', 'normalize'] as const, d.bare_newline) ?? d.bare_newline,
    bare_newline_networks: r.names('limits.bare_newline_networks', lim.bare_newline_networks),
    rate: readRateLimits(r, lim.rate),
  };

  const directories = readDirectories(r, top.directories);
  const dkim = readDkim(r, top.dkim);
  const dt = defaultTracking();
  const tr = r.object('tracking', top.tracking, Object.keys(dt)) ?? {};
  const tracking: TrackingSettings = {
    enabled: r.bool('tracking.enabled', tr.enabled, dt.enabled),
    retention: duration('tracking.retention', tr.retention, dt.retention, 60_000, 3650 * DAY),
    subject: r.bool('tracking.subject', tr.subject, dt.subject),
  };

  // The Prometheus listener (src/metrics): off when absent or null.
  let metrics: Settings['metrics'] = null;
  if (top.metrics !== undefined && top.metrics !== null) {
    const o = r.object('metrics', top.metrics, ['address', 'port']);
    if (o) metrics = { address: r.string('metrics.address', o.address, { required: true, max: 64 }) ?? '', port: r.int('metrics.port', o.port, 0, 0, 65535, true) };
  }

  const content = readContent(r, top.content);
  const quarantine = readQuarantine(r, top.quarantine);
  const processes = readProcesses(r, top.processes);

  return { hostname, listeners, tls, networks, groups, users, domains, relaying, delivery, queue, dns, postmaster, antivirus, antispam, admin, limits, directories, dkim, tracking, metrics, content, quarantine, processes };
}

/** `processes`: a whole number >= 1 (default 1), or auto (SMTP worker processes started under load) (src/process). */
function readProcesses(r: Reader, v: unknown): Settings['processes'] {
  if (v === undefined || v === null) return 1;
  if (v === 'auto') return 'auto';
  if (typeof v === 'string') {
    r.int('processes', v, 1, 1, MAX_PROCESSES);
    return 'auto';
  }
  return r.int('processes', v, 1, 1, MAX_PROCESSES);
}

const DIRECTORY_KEYS = ['name', 'type', 'url', 'bind_dn', 'bind_password', 'base_dn', 'user_filter', 'group_filter', 'group_member_attribute', 'nested_group_depth', 'mail_attributes', 'tls', 'plaintext_acknowledged', 'ca', 'timeout', 'cache', 'comment'] as const;

/**
 * `directories`: each entry with its defaults filled in. `tls` defaults to
 * what the url says (ldaps:// → ldaps, ldap:// → starttls): never to none.
 * Empty optional texts (bind_dn, bind_password, group_filter, ca, comment)
 * are absent, so that a form's empty field means "not set".
 */
function readDirectories(r: Reader, raw: unknown): DirectoryDef[] {
  const dd = defaultDirectory();
  return r.list('directories', raw, (p, v): DirectoryDef | undefined => {
    const o = r.object(p, v, DIRECTORY_KEYS);
    if (!o) return undefined;
    const url = r.string(at(p, 'url'), o.url, { required: true, max: 1024 }) ?? '';
    const durationOf = (key: 'timeout' | 'cache', min: number, max: number): string => {
      const q = at(p, key);
      const text = r.string(q, o[key], { def: dd[key], max: 32 }) ?? dd[key];
      const parsed = parseDuration(text);
      if (!parsed.ok) r.f.error(q, parsed.reason);
      else if (parsed.ms < min || parsed.ms > max) r.f.error(q, `must be between ${min} ms and ${max / 1000} s`);
      return parsed.ok ? text : dd[key];
    };
    const d: DirectoryDef = {
      name: r.string(at(p, 'name'), o.name, { required: true, max: 64 }) ?? '',
      type: r.oneOf(at(p, 'type'), o.type, ['ldap'] as const, 'ldap') ?? 'ldap',
      url,
      base_dn: r.string(at(p, 'base_dn'), o.base_dn, { required: true, max: 1024 }) ?? '',
      user_filter: r.string(at(p, 'user_filter'), o.user_filter, { def: dd.user_filter, max: 2048 }) ?? dd.user_filter,
      group_member_attribute: r.string(at(p, 'group_member_attribute'), o.group_member_attribute, { def: dd.group_member_attribute, max: 128 }) ?? dd.group_member_attribute,
      nested_group_depth: r.int(at(p, 'nested_group_depth'), o.nested_group_depth, dd.nested_group_depth, 0, 10),
      mail_attributes: o.mail_attributes === undefined || o.mail_attributes === null ? [...dd.mail_attributes] : r.names(at(p, 'mail_attributes'), o.mail_attributes),
      tls: r.oneOf(at(p, 'tls'), o.tls, DIRECTORY_TLS, /^ldaps:/i.test(url) ? 'ldaps' : 'starttls') ?? 'starttls',
      timeout: durationOf('timeout', 100, 60_000),
      cache: durationOf('cache', 0, 86_400_000),
    };
    const optional = (key: 'bind_dn' | 'bind_password' | 'group_filter' | 'ca' | 'comment', max: number): void => {
      const text = r.string(at(p, key), o[key], { max });
      if (text) d[key] = text;
    };
    optional('bind_dn', 1024);
    optional('bind_password', 1024);
    optional('group_filter', 2048);
    optional('ca', 4096);
    optional('comment', 1024);
    if (o.plaintext_acknowledged !== undefined && o.plaintext_acknowledged !== null) d.plaintext_acknowledged = r.bool(at(p, 'plaintext_acknowledged'), o.plaintext_acknowledged, false);
    return d;
  });
}

/** `dkim`: absent = no keys (nothing signed); an empty `headers` list is the default list. */
function readDkim(r: Reader, raw: unknown): DkimSettings {
  const d = defaultDkim();
  const o = r.object('dkim', raw, ['keys', 'sign', 'headers', 'subdomains']) ?? {};
  const keys = r.list('dkim.keys', o.keys, (p, v): DkimKeyDef | undefined => {
    const k = r.object(p, v, ['domain', 'selector', 'key_file', 'key', 'algorithm', 'signing_domain', 'comment']);
    if (!k) return undefined;
    const def: DkimKeyDef = {
      domain: r.string(at(p, 'domain'), k.domain, { required: true, max: 255 })?.trim() ?? '',
      selector: r.string(at(p, 'selector'), k.selector, { required: true, max: 255 })?.trim() ?? '',
      algorithm: r.oneOf(at(p, 'algorithm'), k.algorithm, DKIM_ALGORITHMS, 'rsa-sha256') ?? 'rsa-sha256',
    };
    const file = r.string(at(p, 'key_file'), k.key_file, { max: 4096 });
    if (file) def.key_file = file;
    // A 4096-bit RSA key is about 3.3 kB of PEM.
    const key = r.string(at(p, 'key'), k.key, { max: 16384 });
    if (key) def.key = key;
    const signing = r.string(at(p, 'signing_domain'), k.signing_domain, { max: 255 })?.trim();
    if (signing) def.signing_domain = signing;
    const comment = r.string(at(p, 'comment'), k.comment);
    if (comment) def.comment = comment;
    return def;
  });
  const headers = r.list('dkim.headers', o.headers, (p, v) => r.string(p, v, { required: true, max: 128 })?.trim().toLowerCase());
  return {
    keys,
    sign: r.oneOf('dkim.sign', o.sign, ['relayed', 'all'] as const, d.sign) ?? d.sign,
    headers: headers.length ? headers : d.headers,
    subdomains: r.bool('dkim.subdomains', o.subdomains, d.subdomains),
  };
}
