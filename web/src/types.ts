// Shapes of the admin REST API's answers (see src/api/routes-*.ts and
// docs/configuration.md), as far as the UI reads them.

// The settings' shapes are the server's own (type-only: nothing of the server is bundled).
export type { NetworkType, NetworkDef, GroupDef, DomainDef, Relaying, Smarthost, Delivery, QueueSettings, AntivirusSettings as Antivirus, AntispamSettings as Antispam } from '../../src/config/document.ts';
// Recipient verification of a domain (Domains page).
export type { VerifyRecipients, CalloutSettings } from '../../src/config/document.ts';
export type { SenderLoginMode } from '../../src/config/document.ts';
// TLS per destination and MTA-STS (Delivery page).
export type { TlsLevel, TlsPolicyEntry, MtaStsSettings } from '../../src/config/document.ts';
export type { MtaStsReport } from '../../src/delivery/mta-sts-policy.ts';
import type { AuthSummary, MinuteCounts } from '../../src/api/stats.ts';
export type { AuthSummary, MinuteCounts };

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

export interface UserInfo {
  name: string;
  groups: string[];
  enabled: boolean;
  /** The addresses the user may send as (relaying.sender_login); absent when none. */
  addresses?: string[];
  comment?: string;
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

export interface Stats {
  revision: number | null;
  open_relay: boolean;
  /** Rule 8's findings ("path: why"); empty when the relay is not open. */
  open_relay_reasons: string[];
  /** null while the cluster store cannot be reached. */
  queue: { size: number; deferred: number; held: number; quarantined: number; /** Seconds since the oldest message not held arrived; null when none waits. */ oldest_age_s: number | null } | null;
  /** Which store, and whether it answers. */
  store: { kind: 'embedded' | 'postgresql'; reachable: boolean };
  per_minute: MinuteCounts[];
  top_refused: { client: string; count: number }[];
  auth: AuthSummary;
  top_auth_failed: { client: string; count: number }[];
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

/** GET /api/cluster: the nodes of the store (as `mailwarden cluster status --json`). */
export interface ClusterInfo {
  store: 'embedded' | 'postgresql';
  active_revision: number | null;
  nodes: {
    name: string;
    healthy: boolean;
    problem: string | null;
    heartbeat_age_s: number;
    revision: number | null;
    listeners: { name: string; address: string; port: number; mode: string }[];
    claims: number;
  }[];
  orphan_claims: number;
  store_state: { kind: 'embedded' | 'postgresql'; reachable: boolean };
}

// --- System, Limits, TLS certificate and own password (issue #17) ---
export type { ListenerDef, ListenerMode, Limits, BareNewline } from '../../src/config/document.ts';

/** A certificate as GET /api/tls describes it. */
import type { CertInfo } from '../../src/admin/tls-cert.ts';
export type { CertInfo };

/** GET /api/tls: the certificate the listeners use, and the one the next start loads. */
export interface TlsInfo {
  in_use: CertInfo | null;
  configured: { cert: string; key: string } | null;
  next_start: CertInfo | null;
  restart_needed: boolean;
}

// --- directories (LDAP, Active Directory): /api/directories ---------------------
export type { DirectoryDef, DirectoryTls } from '../../src/config/document.ts';
import type { DirectoryDef } from '../../src/config/document.ts';

/** A directory as GET /api/directories shows it: never its bind password, only whether one is set. */
export type DirectoryShown = Omit<DirectoryDef, 'bind_password'> & { has_bind_password: boolean };

/** POST /api/directories/test (src/directory/directory-test.ts). */
export interface DirectoryTestResult {
  ok: boolean;
  steps: { step: 'connect' | 'bind' | 'base' | 'user' | 'groups'; ok: boolean; text: string }[];
  filters: { user: string; group: string };
  user: { dn: string; groups: string[]; addresses: string[] } | null;
}

// --- DKIM signing keys: /api/dkim (issue #19) ---------------------------------
import type { KeyView as DkimKeyView, CheckResult as DkimCheckResult } from '../../src/dkim/published.ts';
export type { DkimKeyView, DkimCheckResult };
export type { DkimSignMode, DkimAlgorithm } from '../../src/config/document.ts';
import type { DkimSignMode } from '../../src/config/document.ts';

/** GET /api/dkim. */
export interface DkimInfo {
  revision: number | null;
  sign: DkimSignMode;
  headers: string[];
  subdomains: boolean;
  keys: DkimKeyView[];
}

/** POST /api/dkim/check. */
export interface DkimCheck {
  ok: boolean;
  results: DkimCheckResult[];
}

// --- rate limits (limits.rate): GET /api/limits/rate ---------------------------
export type { RateLimit, RateWho, RatePer, RateAction } from '../../src/config/document.ts';
export type { RateCounterView } from '../../src/limits/rate-view.ts';

/** Message tracking (GET /api/tracking): where a recipient of a transaction stands. */
export type TrackStatus = 'refused' | 'tempfailed' | 'queued' | 'deferred' | 'delivered' | 'bounced' | 'quarantined' | 'held' | 'discarded' | 'removed';

export const TRACK_STATUSES: readonly TrackStatus[] = ['refused', 'tempfailed', 'queued', 'deferred', 'delivered', 'bounced', 'quarantined', 'held', 'discarded', 'removed'];

export interface TrackEntry {
  key: string;
  /** Epoch ms. */
  at: number;
  updated: number;
  node: string;
  cid: string | null;
  queue_id: string | null;
  client: string | null;
  helo: string | null;
  listener: string | null;
  user: string | null;
  /** '' for the null sender; null when refused before MAIL. */
  sender: string | null;
  recipient: string | null;
  message_id: string | null;
  subject: string | null;
  size: number | null;
  kind: 'relay' | 'inbound' | null;
  status: TrackStatus;
  rule: string | null;
  code: number | null;
  reply: string | null;
  attempts: number;
  relay: string | null;
}

export interface TrackEvent {
  at: number;
  cid: string | null;
  queue_id: string | null;
  event: string;
  fields: Record<string, unknown>;
}

export interface TrackPage {
  entries: TrackEntry[];
  next: string | null;
}

export interface TrackTimeline {
  entries: TrackEntry[];
  events: TrackEvent[];
  /** More events were recorded than a timeline shows; `omitted` of them are left out. */
  truncated?: boolean;
  omitted?: number;
}

export interface TopRow {
  key: string;
  count: number;
}

/** GET /api/stats/top: the dashboard's top refusal reasons and senders, from the tracking store. */
export interface TopStats {
  tracking: 'on' | 'off' | 'unavailable';
  message: string | null;
  hour: { since: string; refusals: TopRow[]; senders: TopRow[] } | null;
  day: { since: string; refusals: TopRow[]; senders: TopRow[] } | null;
}
