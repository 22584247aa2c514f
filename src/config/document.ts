// The settings document: its TypeScript shape and its embedded defaults.
// One document holds every setting; `docs/configuration.md` describes it.
// The shape read from YAML/JSON is checked by `shape.ts`; references between
// objects and the relay safety rules are checked by `validate.ts`.

import { defaultContent, type ContentSettings } from './content-settings.ts';
import { defaultQuarantine, type QuarantineSettings } from './quarantine-settings.ts';

export type { ContentSettings, QuarantineSettings };

export type NetworkType = 'host' | 'network' | 'range' | 'group';
export type ListenerMode = 'mx' | 'submission' | 'smtps';
export type TlsPolicy = 'required' | 'opportunistic';

export interface NetworkDef {
  name: string;
  type: NetworkType;
  /** host: an address; network: address/prefix. */
  address?: string;
  /** range: first and last address. */
  from?: string;
  to?: string;
  /** group: names of other network objects. */
  members?: string[];
  comment?: string;
}

export interface GroupDef {
  name: string;
  comment?: string;
}

export interface UserDef {
  name: string;
  /** Only on input: hashed on import, never stored. */
  password?: string;
  /** scrypt hash as written by `objects/password.ts`. */
  password_hash?: string;
  groups: string[];
  enabled: boolean;
  /** The addresses the user may send as (relaying.sender_login): mailboxes, or "@example.com" for the whole domain. Left out when empty. */
  addresses?: string[];
  comment?: string;
}

export interface DomainDef {
  name: string;
  route: { hosts: string[] };
  /** Recipient verification (absent: off). Kept only when not off, so that older documents read back unchanged. */
  verify_recipients?: VerifyRecipients;
  /** `list` mode: the addresses that exist ("user@domain", "user" for this domain, "@domain" for all of it). */
  recipients?: string[];
  /** `directory` mode: the name of a directories[] entry. */
  directory?: string;
  /** `callout` mode: how the route hosts are probed (defaults from defaultCallout()). */
  callout?: CalloutSettings;
}

// Recipient verification (issue #18): which recipients of a local domain
// exist, asked at RCPT so that unknown ones are refused before DATA.
export type VerifyRecipients = 'off' | 'list' | 'directory' | 'callout';
export const VERIFY_MODES: readonly VerifyRecipients[] = ['off', 'list', 'directory', 'callout'];

export interface CalloutSettings {
  /** The whole probe (connect to RCPT answer), per host tried. */
  timeout: string;
  /** How long "exists" and "unknown" answers are kept (temporary failures never are). */
  cache_positive: string;
  cache_negative: string;
  /** MAIL FROM of the probe; "" is the null sender <>. */
  sender: string;
}

export function defaultCallout(): CalloutSettings {
  return { timeout: '10s', cache_positive: '1h', cache_negative: '10m', sender: '' };
}

export interface ListenerDef {
  name: string;
  address: string;
  port: number;
  mode: ListenerMode;
  /** Network objects allowed to send a PROXY protocol header. */
  trusted_proxies: string[];
}

export interface Relaying {
  upstream_hosts: string[];
  upstream_only: boolean;
  authenticated_relay: { enabled: boolean; users: string[]; groups: string[] };
  allowed_hosts: string[];
  blacklist: string[];
  scan_relayed: boolean;
  open_relay_acknowledged: boolean;
  /** Which MAIL FROM an authenticated user may use: any (off), one in the domains of their addresses, or one of their addresses. */
  sender_login: SenderLoginMode;
  /** Whether the header From: of an authenticated user's message is held to sender_login too (end of DATA). */
  header_from_login: boolean;
}

export const SENDER_LOGIN_MODES = ['off', 'domain', 'address'] as const;
export type SenderLoginMode = (typeof SENDER_LOGIN_MODES)[number];

export interface Smarthost {
  host: string;
  port: number;
  username?: string;
  password?: string;
  tls: TlsPolicy;
  /** PEM file of the CA that signs the smarthost's certificate (tls: required); default: the system's CAs. */
  ca?: string;
}

export interface Delivery {
  /** false: accept and queue, but deliver nothing until it is true again (maintenance). */
  enabled: boolean;
  smarthost: Smarthost | null;
  /** Port of MX hosts (25; other values only for tests and special setups). */
  mx_port: number;
  /** Connecting and the greeting together. */
  connect_timeout: string;
  /** Silence from the next hop at any later step. */
  reply_timeout: string;
  /** Connections out at once, in total and per next hop. */
  max_connections: number;
  max_connections_per_destination: number;
  /** TLS per destination (issue 19): the first entry that matches a next hop decides; none matches: `may` (or the smarthost's tls, or MTA-STS). */
  tls_policy: TlsPolicyEntry[];
  /** MTA-STS (RFC 8461) for MX deliveries. */
  mta_sts: MtaStsSettings;
}

// --- TLS policy per destination and MTA-STS (issue 19) ---
export const TLS_LEVELS = ['none', 'may', 'encrypt', 'verify'] as const;
/** none: never STARTTLS; may: STARTTLS when offered, unchecked; encrypt: STARTTLS or no delivery; verify: encrypt with the certificate chain and name checked. */
export type TlsLevel = (typeof TLS_LEVELS)[number];

export interface TlsPolicyEntry {
  /** A recipient domain ("example.com"), or its subdomains (".example.com"); exactly one of domain and next_hop. */
  domain?: string;
  /** A next hop: host name or IP address, optionally with ":port" (an MX host, a route host, the smarthost). */
  next_hop?: string;
  level: TlsLevel;
  /** PEM file of the CAs to check the certificate against (level verify); default: the system's. */
  ca?: string;
  comment?: string;
}

export interface MtaStsSettings {
  enabled: boolean;
  /** How long the policy fetch (HTTPS) may take. */
  timeout: string;
  /** Port of the policy's HTTPS server (443; other values only for tests). */
  port: number;
  /** PEM file of CAs trusted besides the system's for the policy fetch and the MX certificates (null; only for tests). */
  ca: string | null;
}

export function defaultMtaSts(): MtaStsSettings {
  return { enabled: true, timeout: '30s', port: 443, ca: null };
}
// --- end TLS policy ---

export interface QueueSettings {
  retry: { first: string; max: string };
  /** How long a message may stay in the queue before it bounces. */
  lifetime: string;
  /** A delay warning to the sender after this long, or null (off). */
  delay_warning: string | null;
  /** Bounces with RET=FULL carry the whole message up to this size, else its headers. */
  bounce_max_size: number;
  /**
   * How long a delivery claim lasts unless renewed: a node that dies holding
   * a message leaves it to another node this long after its last renewal.
   */
  lease: string;
}

export interface DnsSettings {
  /** "host[:port]" of the resolvers to ask; empty: the system's. */
  servers: string[];
}

/** What happens to a message when a required scan cannot be done. */
export type ScanErrorPolicy = 'tempfail' | 'accept';

export interface AntivirusSettings {
  enabled: boolean;
  /** clamd's address: "host:port" (TCP) or an absolute Unix socket path. */
  clamd: string;
  /** A message with malware: refused at end of DATA, kept in quarantine, or accepted and dropped. */
  action: 'reject' | 'quarantine' | 'blackhole';
  /** Larger messages are not sent to clamd (logged, and marked in a header). */
  max_scan_size: number;
  on_error: ScanErrorPolicy;
  /** Silence from clamd while streaming, and the wait for its verdict. */
  timeout: string;
}

export type SpamEngine = 'spamassassin' | 'rspamd';

/** A DNS blocklist: a client (or origin) listed here is refused or scored. */
export interface DnsblDef {
  zone: string;
  /** The answers that count: addresses and ranges ("127.0.0.2-127.0.0.11"); empty: any answer in 127.0.0.0/8. */
  answers: string[];
  action: 'reject' | 'score';
  /** For action score: points added to the message's spam score. */
  score: number;
}

/** The checks an exception can skip. */
export type CheckName = 'dnsbl' | 'spf' | 'helo' | 'greylisting' | 'dmarc';
export const CHECK_NAMES: readonly CheckName[] = ['dnsbl', 'spf', 'helo', 'greylisting', 'dmarc'];

export interface AntispamException {
  /** Network objects: the connecting client or the origin address in one of them. */
  networks: string[];
  /** Sender addresses: "user@example.com", "example.com" or "*@example.com" (every sender of the domain). */
  senders: string[];
  /** The checks skipped; empty: all of them. */
  skip: CheckName[];
  comment?: string;
}

export interface GreylistSettings {
  enabled: boolean;
  /** A retry earlier than this after the first attempt is still refused. */
  delay: string;
  /** A first attempt not retried within this long is forgotten. */
  expiry: string;
  /** A triplet that passed is remembered this long after its last message. */
  lifetime: string;
}

export interface AntispamSettings {
  /** The content engine (spamd or rspamd); the checks below have their own switches. */
  enabled: boolean;
  engine: SpamEngine;
  /** spamd's address: "host:port" or an absolute Unix socket path. */
  spamd: string;
  /** rspamd's base URL (its normal worker). */
  rspamd: string;
  /** From this score on, the message is refused at end of DATA; null: never. */
  reject_score: number | null;
  /** From this score on, the message is spam and spam_action applies. */
  spam_score: number;
  spam_action: 'quarantine' | 'tag' | 'off';
  /** Put before the Subject of spam that is tagged; null: the Subject is left alone. */
  subject_tag: string | null;
  /** Larger messages are not sent to the engine (logged, and marked in a header). */
  max_scan_size: number;
  on_error: ScanErrorPolicy;
  timeout: string;
  dnsbl: DnsblDef[];
  /** SPF on the origin address; `action` for a fail. */
  spf: { enabled: boolean; action: 'reject' | 'tag' };
  helo_checks: boolean;
  greylisting: GreylistSettings;
  exceptions: AntispamException[];
  /** Per DNS question of the checks (blocklists, SPF); a timeout skips the check. */
  dns_timeout: string;
  /** DKIM, DMARC and ARC verification on the origin (issue #19). */
  dmarc: DmarcSettings;
}

/** What is done with a message that fails DMARC, against the policy its From domain publishes. */
export type DmarcAction = 'reject' | 'quarantine' | 'tag' | 'off';
export const DMARC_ACTIONS: readonly DmarcAction[] = ['reject', 'quarantine', 'tag', 'off'];

export interface DmarcSettings {
  enabled: boolean;
  /**
   * reject: p=reject is refused (550 5.7.1), p=quarantine quarantined; quarantine: both quarantined;
   * tag: a spam symbol only; off: verified and reported, nothing else.
   */
  action: DmarcAction;
  /** Points added to the spam score (symbol DMARC_FAIL) when a fail is tagged. */
  score: number;
}

/** How the connection to a directory is protected: StartTLS on ldap://, TLS from the start on ldaps://, or none (clear text). */
export type DirectoryTls = 'starttls' | 'ldaps' | 'none';
export const DIRECTORY_TLS: readonly DirectoryTls[] = ['starttls', 'ldaps', 'none'];

/**
 * A directory (LDAP, Active Directory) whose users may log in: found with
 * the service account (bind_dn, or anonymously), then bound as themselves.
 * Their groups are `name:cn` wherever a user group is named.
 */
export interface DirectoryDef {
  /** Prefix of the directory's groups in the settings (`name:group`); no colon. */
  name: string;
  type: 'ldap';
  /** ldap://host[:port] or ldaps://host[:port]. */
  url: string;
  /** The service account that searches; absent: anonymous searches. */
  bind_dn?: string;
  /** A secret: never shown back, kept when a document comes back without it. */
  bind_password?: string;
  base_dn: string;
  /** Finds a user; `{login}` is the login, escaped (RFC 4515). */
  user_filter: string;
  /** Finds the groups an entry is a direct member of (`{dn}`, `{login}`); absent: `(<group_member_attribute>={dn})`. */
  group_filter?: string;
  group_member_attribute: string;
  /** Groups inside groups followed this many levels up (0: direct groups only; AD's matching rule needs none). */
  nested_group_depth: number;
  /** Attributes holding a user's addresses (AD: proxyAddresses, whose `smtp:` prefix is dropped). */
  mail_attributes: string[];
  tls: DirectoryTls;
  /** tls: none to a host that is not this machine: the passwords cross the network in clear text, and that is intended. */
  plaintext_acknowledged?: boolean;
  /** PEM file of the CA that signs the directory's certificate; default: the system's CAs. */
  ca?: string;
  /** For connecting and each answer. */
  timeout: string;
  /** How long lookups (who a login is, whether an address exists) are remembered; passwords are never cached. */
  cache: string;
  comment?: string;
}

export function defaultDirectory(): Omit<DirectoryDef, 'name' | 'url' | 'base_dn'> {
  return {
    type: 'ldap',
    user_filter: '(&(objectClass=inetOrgPerson)(uid={login}))',
    group_member_attribute: 'member',
    nested_group_depth: 5,
    mail_attributes: ['mail'],
    tls: 'starttls',
    timeout: '5s',
    cache: '5m',
  };
}

/** The web admin and REST API listener (HTTPS, the SMTP listeners' certificate). */
export interface AdminListener {
  enabled: boolean;
  address: string;
  port: number;
}

/** The Prometheus metrics listener: plain HTTP, no authentication, GET /metrics (src/metrics). */
export interface MetricsListenerSettings {
  address: string;
  port: number;
}

export interface Settings {
  hostname: string;
  /** How many processes serve SMTP: 'auto' (workers started under load, up to cores - 1) or N (the primary and N-1 workers); needs a restart. */
  processes: 'auto' | number;
  listeners: ListenerDef[];
  tls: { cert: string; key: string } | null;
  networks: NetworkDef[];
  groups: GroupDef[];
  users: UserDef[];
  domains: DomainDef[];
  relaying: Relaying;
  delivery: Delivery;
  queue: QueueSettings;
  dns: DnsSettings;
  /** Where bounces that cannot be delivered go (and then no further); null: they are dropped with a log line. */
  postmaster: string | null;
  antivirus: AntivirusSettings;
  antispam: AntispamSettings;
  admin: AdminListener;
  limits: Limits;
  directories: DirectoryDef[];
  /** DKIM signing of outgoing mail (src/dkim). */
  dkim: DkimSettings;
  /** Message tracking (src/tracking, docs/tracking.md). */
  tracking: TrackingSettings;
  /** The metrics listener; null: none (GET /metrics on the admin listener stays, with a token). */
  metrics: MetricsListenerSettings | null;
  /** Attachment and content filters (src/content, docs/content.md). */
  content: ContentSettings;
  /** The quarantine digest, self-release and the user portal (src/quarantine, docs/quarantine.md). */
  quarantine: QuarantineSettings;
}

/** Message tracking: every message's life kept in the store for `retention`, searchable. */
export interface TrackingSettings {
  enabled: boolean;
  /** How long entries and events are kept (pruned after). */
  retention: string;
  /** Record the Subject header too (off: privacy); it is then also in the queued lines of the log. */
  subject: boolean;
}

export function defaultTracking(): TrackingSettings {
  return { enabled: true, retention: '30d', subject: false };
}

export function defaultDelivery(): Delivery {
  return { enabled: true, smarthost: null, mx_port: 25, connect_timeout: '30s', reply_timeout: '5m', max_connections: 100, max_connections_per_destination: 10, tls_policy: [], mta_sts: defaultMtaSts() };
}

export function defaultQueue(): QueueSettings {
  return { retry: { first: '5m', max: '1h' }, lifetime: '5d', delay_warning: null, bounce_max_size: 1_048_576, lease: '60s' };
}

export function defaultAntivirus(): AntivirusSettings {
  return { enabled: false, clamd: '127.0.0.1:3310', action: 'reject', max_scan_size: 52_428_800, on_error: 'tempfail', timeout: '60s' };
}

export function defaultAntispam(): AntispamSettings {
  return {
    enabled: false,
    engine: 'spamassassin',
    spamd: '127.0.0.1:783',
    rspamd: 'http://127.0.0.1:11333',
    reject_score: 15,
    spam_score: 5,
    spam_action: 'tag',
    subject_tag: null,
    max_scan_size: 1_048_576,
    on_error: 'tempfail',
    timeout: '30s',
    dnsbl: [],
    spf: { enabled: false, action: 'tag' },
    helo_checks: false,
    greylisting: { enabled: false, delay: '5m', expiry: '4h', lifetime: '36d' },
    exceptions: [],
    dns_timeout: '5s',
    dmarc: { enabled: false, action: 'reject', score: 0 },
  };
}

export function defaultAdmin(): AdminListener {
  return { enabled: true, address: '127.0.0.1', port: 8025 };
}

export interface Limits {
  max_message_size: number;
  max_recipients: number;
  /** Received headers beyond this many mean a mail loop (554 5.4.6). */
  max_received: number;
  /** Longest command line in octets (500 5.5.2 beyond). */
  max_line_length: number;
  /** Bad commands in one session before 421. */
  max_errors: number;
  max_connections: number;
  max_connections_per_client: number;
  /** An IPv6 client is counted by its network of this many bits for the per-client limits (connections, failed logins); 128: per address. */
  ipv6_client_prefix: number;
  /** Failed AUTH attempts from one client address before 421 4.7.0. */
  max_auth_failures: number;
  /** Shortest password `user add`/`passwd` and the API accept for an SMTP user (characters). */
  min_password_length: number;
  /** Added to the reply of each failed AUTH, times the failures so far. */
  auth_failure_delay: string;
  /** How long failed AUTH attempts are remembered per client address. */
  auth_failure_window: string;
  /** A client silent this long gets 421 4.4.2. */
  idle_timeout: string;
  /** How long a TLS handshake (implicit TLS or after STARTTLS) may take before the connection is closed. */
  tls_handshake_timeout: string;
  /** Below this much free space in the data directory, MAIL gets 452 4.3.1. */
  min_free_space: number;
  /** On SIGTERM, how long transactions in flight may take to finish. */
  shutdown_grace: string;
  /**
   * What a bare LF in DATA gets from relay hosts, authenticated clients and
   * the clients in bare_newline_networks: 550 5.5.2 ('reject') or made a
   * CRLF ('normalize'). Every other client is always refused.
   */
  bare_newline: BareNewline;
  /** Network objects whose clients are treated like relay hosts for bare_newline. */
  bare_newline_networks: string[];
  /** Rate limits (src/limits): messages or recipients per window, counted across the installation. Empty: nothing counted. */
  rate: RateLimit[];
}

// ---- rate limits (limits.rate) ----
/** Whose traffic a rate limit counts: one bucket per user, group, network object, client address or sender domain. */
export type RateWho = 'user' | 'group' | 'network' | 'client' | 'sender_domain';
export const RATE_WHO: readonly RateWho[] = ['user', 'group', 'network', 'client', 'sender_domain'];
/** The window a rate limit counts in (fixed windows aligned on UTC minutes, hours and days). */
export type RatePer = '1m' | '1h' | '1d';
export const RATE_PER: readonly RatePer[] = ['1m', '1h', '1d'];
/** Over the limit: 450 4.7.1 (defer), 550 5.7.1 (reject), or accepted and held in the queue (hold). */
export type RateAction = 'defer' | 'reject' | 'hold';
export const RATE_ACTIONS: readonly RateAction[] = ['defer', 'reject', 'hold'];

export interface RateLimit {
  /** How logs and `limits show` name it (default: `limits.rate[i]`). */
  name?: string;
  who: RateWho;
  /** Narrows whom it counts: a user, a group, a network object (required for `network`; for `client`, the clients in it), a sender domain. */
  match?: string;
  /** Messages (MAIL commands accepted) per window. */
  messages?: number;
  /** Recipients (RCPT commands accepted) per window. */
  recipients?: number;
  per: RatePer;
  action: RateAction;
  /** sender_domain only: also count mail from clients without a relay right or login (default false: their sender domain may be forged). */
  inbound?: boolean;
  comment?: string;
}

export type BareNewline = 'reject' | 'normalize';

export function defaultLimits(): Limits {
  return {
    max_message_size: 52_428_800,
    max_recipients: 100,
    max_received: 50,
    max_line_length: 2048,
    max_errors: 10,
    max_connections: 1000,
    max_connections_per_client: 100,
    ipv6_client_prefix: 64,
    max_auth_failures: 5,
    min_password_length: 8,
    auth_failure_delay: '1s',
    auth_failure_window: '15m',
    idle_timeout: '5m',
    tls_handshake_timeout: '10s',
    min_free_space: 104_857_600,
    shutdown_grace: '30s',
    bare_newline: 'normalize',
    bare_newline_networks: [],
    rate: [],
  };
}

/** The name of the built-in network object that matches every address. */
export const ANY = 'Any';

/**
 * What a fresh installation runs with: listeners on loopback only, and relay
 * rights for 127.0.0.1 alone. Nothing here can reach or serve the Internet.
 */
export function embeddedDefaults(): Settings {
  return {
    hostname: 'localhost',
    listeners: [
      { name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx', trusted_proxies: [] },
      { name: 'submission', address: '127.0.0.1', port: 2587, mode: 'submission', trusted_proxies: [] },
      { name: 'smtps', address: '127.0.0.1', port: 2465, mode: 'smtps', trusted_proxies: [] },
    ],
    tls: null,
    networks: [{ name: 'localhost', type: 'host', address: '127.0.0.1', comment: 'this machine' }],
    groups: [],
    users: [],
    domains: [],
    relaying: {
      upstream_hosts: [],
      upstream_only: false,
      authenticated_relay: { enabled: false, users: [], groups: [] },
      allowed_hosts: ['localhost'],
      blacklist: [],
      scan_relayed: true,
      open_relay_acknowledged: false,
      // New installations bind senders to their login; a document without the key reads as off (shape.ts), so an upgrade changes nothing.
      sender_login: 'address',
      header_from_login: true,
    },
    delivery: defaultDelivery(),
    queue: defaultQueue(),
    dns: { servers: [] },
    postmaster: null,
    antivirus: defaultAntivirus(),
    antispam: defaultAntispam(),
    admin: defaultAdmin(),
    limits: defaultLimits(),
    directories: [],
    dkim: defaultDkim(),
    tracking: defaultTracking(),
    metrics: null,
    content: defaultContent(),
    quarantine: defaultQuarantine(),
    processes: 1,
  };
}

// DKIM signing (issue 19): keys by the header From's domain; signed at the commit, after every header edit of ours.
export const DKIM_ALGORITHMS = ['rsa-sha256', 'ed25519-sha256'] as const;
export type DkimAlgorithm = (typeof DKIM_ALGORITHMS)[number];

export interface DkimKeyDef {
  /** The header From domain this key signs for (and its subdomains, see `DkimSettings.subdomains`). */
  domain: string;
  selector: string;
  /** PEM file of the private key (readable by the daemon only). */
  key_file?: string;
  /** The private key itself, PEM: a secret, left out of exports like the smarthost password. */
  key?: string;
  algorithm: DkimAlgorithm;
  /** d= of the signature when it is not `domain` (a fixed signing domain, e.g. the provider's). */
  signing_domain?: string;
  comment?: string;
}

export type DkimSignMode = 'relayed' | 'all';

export interface DkimSettings {
  keys: DkimKeyDef[];
  /** relayed: mail we relay for clients (outbound); all: also mail for our own domains. */
  sign: DkimSignMode;
  /** The header fields covered (h=), each one as often as it appears. */
  headers: string[];
  /** A key of example.com also signs mail From sub.example.com (d=example.com, aligned under relaxed DMARC). */
  subdomains: boolean;
}

export const DKIM_DEFAULT_HEADERS: readonly string[] = ['from', 'sender', 'reply-to', 'subject', 'date', 'message-id', 'to', 'cc', 'mime-version', 'content-type', 'content-transfer-encoding', 'content-disposition', 'in-reply-to', 'references', 'list-id', 'list-unsubscribe', 'list-unsubscribe-post', 'list-post', 'feedback-id'];

export function defaultDkim(): DkimSettings {
  return { keys: [], sign: 'relayed', headers: [...DKIM_DEFAULT_HEADERS], subdomains: true };
}
