// Shapes of the admin REST API's answers (see src/api/routes-*.ts and
// docs/configuration.md), as far as the UI reads them.

export type Role = 'admin' | 'viewer';

export interface Me {
  name: string;
  role: Role;
  via?: 'session' | 'token';
  csrf: string | null;
}

export interface Finding {
  path: string;
  message: string;
}

export interface Change {
  path: string;
  op: 'added' | 'removed' | 'changed';
  before?: unknown;
  after?: unknown;
}

export interface RevisionInfo {
  number: number;
  created: string;
  author: string;
  comment: string;
}

export interface ApplyResult {
  ok: boolean;
  errors: Finding[];
  warnings: Finding[];
  changes: Change[];
  revision: RevisionInfo | null;
}

export type NetworkType = 'host' | 'network' | 'range' | 'group';

export interface NetworkDef {
  name: string;
  type: NetworkType;
  address?: string;
  from?: string;
  to?: string;
  members?: string[];
  comment?: string;
}

export interface GroupDef {
  name: string;
  comment?: string;
}

export interface UserInfo {
  name: string;
  groups: string[];
  enabled: boolean;
  comment?: string;
}

export interface DomainDef {
  name: string;
  route: { hosts: string[] };
}

export interface Relaying {
  upstream_hosts: string[];
  upstream_only: boolean;
  authenticated_relay: { enabled: boolean; users: string[]; groups: string[] };
  allowed_hosts: string[];
  blacklist: string[];
  scan_relayed: boolean;
  open_relay_acknowledged: boolean;
}

export interface Smarthost {
  host: string;
  port: number;
  username?: string;
  password?: string;
  tls: 'required' | 'opportunistic';
  ca?: string;
}

export interface Delivery {
  enabled: boolean;
  smarthost: Smarthost | null;
  mx_port: number;
  connect_timeout: string;
  reply_timeout: string;
  max_connections: number;
  max_connections_per_destination: number;
}

export interface QueueSettings {
  retry: { first: string; max: string };
  lifetime: string;
  delay_warning: string | null;
  bounce_max_size: number;
}

export interface Antivirus {
  enabled: boolean;
  clamd: string;
  action: 'reject' | 'quarantine' | 'blackhole';
  max_scan_size: number;
  on_error: 'tempfail' | 'accept';
  timeout: string;
}

export interface Antispam {
  enabled: boolean;
  engine: 'spamassassin' | 'rspamd';
  spamd: string;
  rspamd: string;
  reject_score: number | null;
  spam_score: number;
  spam_action: 'quarantine' | 'tag' | 'off';
  subject_tag: string | null;
  max_scan_size: number;
  on_error: 'tempfail' | 'accept';
  timeout: string;
  dnsbl: unknown[];
  spf: { enabled: boolean; action: 'reject' | 'tag' };
  helo_checks: boolean;
  greylisting: { enabled: boolean; delay: string; expiry: string; lifetime: string };
  exceptions: unknown[];
  dns_timeout: string;
}

export interface SectionValue<T> {
  revision: number | null;
  value: T;
}

export interface QueueRecipient {
  address: string;
  kind: 'inbound' | 'relay';
  rule?: string;
  status: 'queued' | 'delivered' | 'deferred' | 'failed';
  attempts?: number;
  last_error?: string;
  last_status?: string;
  remote?: string;
  next_attempt?: string;
}

export interface Envelope {
  id: string;
  received_at: string;
  sender: string;
  recipients: QueueRecipient[];
  size: number;
  held?: boolean;
  state?: 'queued' | 'deferred' | 'held';
  client?: { address: string; helo: string; user: string | null; tls: boolean; listener: string };
  relayed?: boolean;
  quarantine?: { at: string; rule: string; reason: string };
  history?: { at: string; event: string; detail?: string }[];
}

export interface MinuteCounts {
  minute: string;
  accepted: number;
  relayed: number;
  refused: number;
  deferred: number;
}

export interface Stats {
  revision: number | null;
  open_relay: boolean;
  queue: { size: number; deferred: number; held: number; quarantined: number };
  per_minute: MinuteCounts[];
  top_refused: { client: string; count: number }[];
}

export interface Explanation {
  action: 'accept' | 'reject' | 'tempfail';
  code: number;
  enhanced: string;
  text: string;
  kind: 'inbound' | 'relay' | null;
  stage: string;
  rule: string;
  trail: string[];
  listener?: string | null;
  relay_right: unknown;
  scanned: boolean | null;
}

export interface OpenRelayTest {
  client: string;
  domain: string;
  relayed: number;
  results: { to: string; relayed: boolean; action: string; code: number; enhanced: string; kind: string | null; rule: string }[];
}

export interface AdminInfo {
  name: string;
  role: Role;
  created: string;
}

export interface TokenInfo {
  id: string;
  name: string;
  role: Role;
  owner: string;
  created: string;
  revoked: string | null;
}
