// What the recorded traffic answers besides the tracking search: the facts of
// every recorded RCPT decision, for the impact preview's replay
// (src/preview/), and the dashboard's top refusal reasons and senders. The
// TrackingStore (SQLite DATA/tracking.db, PostgreSQL, memory) implements it;
// the preview and the dashboard know only this port.

/** The distinct facts of recorded RCPT decisions, with how often each was seen. */
export interface DecisionTuple {
  /** The client address as the relay rules saw it (the PROXY-claimed one when a trusted proxy spoke for it). */
  client: string;
  /** The listener's name; null when it was not recorded. */
  listener: string | null;
  /** The login (local or directory user), or null. */
  user: string | null;
  /** The envelope sender as written in MAIL FROM, without brackets; '' for the null sender. */
  sender: string;
  recipient: string;
  /** What was answered then. */
  action: 'accept' | 'reject' | 'tempfail';
  /** The rule (or check) that decided, as logged: 'rule 4', 'dnsbl', 'rate limit submit'… */
  rule: string | null;
  code: number | null;
  /** RCPT commands with exactly these facts and this answer. */
  count: number;
  /** Epoch ms of the first and the last of them. */
  first: number;
  last: number;
}

export interface TopRow {
  key: string;
  count: number;
}

export interface TrackingReader {
  /**
   * The recorded RCPT decisions taken in [since, until) (epoch ms), grouped by
   * every field but count/first/last, most frequent first, at most `limit`
   * tuples; `truncated` says that more existed.
   */
  decisions(since: number, until: number, limit: number): Promise<{ tuples: DecisionTuple[]; truncated: boolean }>;
  /**
   * The most frequent since `since` (epoch ms): 'refusal' counts refused
   * transactions and RCPTs by the rule that refused (key: the rule, e.g.
   * 'rule 6', 'dnsbl', 'scan'); 'sender' counts accepted messages by
   * envelope sender ('<>' for the null sender). At most `n` rows, most first.
   */
  top(what: 'refusal' | 'sender', since: number, n: number): Promise<TopRow[]>;
}
