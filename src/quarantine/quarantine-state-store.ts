// What the quarantine's self-service keeps beside the queue (issue 21): the
// secret that signs the digest's links (and the user portal's cookies), the
// same on every node of a cluster, and the digest slots already sent, so that
// in a cluster one node only sends each slot. The embedded store keeps them in
// DATA/quarantine.db (0600), the cluster one in PostgreSQL (migration 5).

export interface QuarantineStateStore {
  /**
   * The signing secret (32 random octets): created once, atomically, by the
   * first caller anywhere (every later caller, on any node, gets that one).
   * Never logged.
   */
  signingSecret(): Promise<Buffer>;
  /**
   * Takes the digest slot `slot` (e.g. "daily 08:00@2026-12-05T08:00") for
   * `node`: true for the one caller that recorded it first, false for every
   * other (another node, or this one again).
   */
  claimDigestSlot(slot: string, node: string, at: number): Promise<boolean>;
  /** When the last slot before `before` (epoch ms) was taken, or null. */
  lastDigestSlot(before: number): Promise<number | null>;
  /** Forgets slots taken before `before` (epoch ms); returns how many went. */
  pruneDigestSlots(before: number): Promise<number>;
  close(): Promise<void>;
}

/** The secret's length in octets (HMAC-SHA256 keys of a full block's strength). */
export const SECRET_BYTES = 32;
