// The cluster store's schema, created and migrated when a node opens the
// store. Every node may start at once: the migration runs in one transaction
// under a transaction-level advisory lock, so one node migrates and the
// others wait and find the work done. The version is recorded in mw_schema;
// a database migrated by a newer mailwarden is refused rather than guessed at.

import type { Sql } from './connect.ts';

/** pg_advisory_xact_lock key for migrations ("mailwarden" schema). */
const MIGRATION_LOCK = 0x6d61696c77;

/** Each migration is a list of statements; the version is the index + 1. Never edit a released one: add another. */
const MIGRATIONS: readonly (readonly string[])[] = [
  [
    // Revisions and the active pointer (a single row, locked by apply()).
    `CREATE TABLE revision (number integer PRIMARY KEY, created text NOT NULL, author text NOT NULL, comment text NOT NULL, settings text NOT NULL)`,
    `CREATE TABLE active_revision (one boolean PRIMARY KEY DEFAULT true CHECK (one), number integer REFERENCES revision (number))`,
    `INSERT INTO active_revision (number) VALUES (NULL)`,
    // Admin accounts, API tokens, web sessions.
    `CREATE TABLE admin (name text PRIMARY KEY, hash text NOT NULL, role text NOT NULL, created text NOT NULL)`,
    `CREATE TABLE api_token (id text PRIMARY KEY, name text NOT NULL, digest text NOT NULL UNIQUE, role text NOT NULL, owner text NOT NULL, created text NOT NULL, revoked text)`,
    `CREATE TABLE web_session (id text PRIMARY KEY, name text NOT NULL, role text NOT NULL, csrf text NOT NULL, last_seen bigint NOT NULL, stamp text NOT NULL)`,
    `CREATE INDEX web_session_name ON web_session (name)`,
    // Greylisting triplets.
    `CREATE TABLE greylist (triplet text PRIMARY KEY, first bigint NOT NULL, last bigint NOT NULL, passed boolean NOT NULL)`,
    `CREATE INDEX greylist_first ON greylist (first)`,
    // Per-node minute counts for the dashboard.
    `CREATE TABLE stats_minute (minute bigint NOT NULL, node text NOT NULL, accepted integer NOT NULL, relayed integer NOT NULL, refused integer NOT NULL, deferred integer NOT NULL, auth_failed integer NOT NULL, auth_succeeded integer NOT NULL, PRIMARY KEY (minute, node))`,
    // Cluster nodes.
    `CREATE TABLE cluster_node (name text PRIMARY KEY, heartbeat bigint NOT NULL, started bigint NOT NULL, revision integer, listeners text NOT NULL, version text NOT NULL, pid integer NOT NULL)`,
    // The queue: one row per committed message (the commit point), its body in chunks written by one writer.
    `CREATE TABLE queue_message (
       id text PRIMARY KEY,
       area text NOT NULL CHECK (area IN ('queue', 'quarantine')),
       envelope text NOT NULL,
       received bigint NOT NULL,
       size bigint NOT NULL,
       due bigint,
       writer text NOT NULL UNIQUE,
       claim_node text,
       claim_token text,
       lease_until bigint)`,
    `CREATE INDEX queue_message_due ON queue_message (due, id) WHERE area = 'queue' AND due IS NOT NULL`,
    `CREATE INDEX queue_message_list ON queue_message (area, id)`,
    `CREATE INDEX queue_message_claim ON queue_message (claim_node, lease_until) WHERE claim_node IS NOT NULL`,
    `CREATE TABLE queue_chunk (writer text NOT NULL, seq integer NOT NULL, data bytea NOT NULL, at bigint NOT NULL, PRIMARY KEY (writer, seq))`,
    // Message bodies are mostly compressed already or not worth the CPU: stored out of line, uncompressed.
    `ALTER TABLE queue_chunk ALTER COLUMN data SET STORAGE EXTERNAL`,
    `CREATE INDEX queue_chunk_at ON queue_chunk (at)`,
  ],
  [
    // `store migrate`: a migration under way into this store, and from which source (src/store/migrate.ts).
    `CREATE TABLE store_migration (one boolean PRIMARY KEY DEFAULT true CHECK (one), source text NOT NULL, started text NOT NULL)`,
  ],
  [
    // Rate limits (limits.rate): the count of each bucket in each window, added to by every node (src/limits).
    `CREATE TABLE rate_counter (bucket text NOT NULL, start_ms bigint NOT NULL, end_ms bigint NOT NULL, count bigint NOT NULL, PRIMARY KEY (bucket, start_ms))`,
    `CREATE INDEX rate_counter_end ON rate_counter (end_ms)`,
    // The dashboard's count of rate limit trips.
    `ALTER TABLE stats_minute ADD COLUMN rate_limited integer NOT NULL DEFAULT 0`,
  ],
  [
    // Message tracking (src/tracking): one entry per recipient (or refused transaction), searched newest first through one
    // index per filter that ends in (at, key), so that a page is an index range read in order (docs/tracking.md has the figures).
    // The key in byte order ("C"), as the keyset cursor compares it.
    `CREATE TABLE track_entry (key text COLLATE "C" PRIMARY KEY, at bigint NOT NULL, updated bigint NOT NULL, node text NOT NULL, cid text, tx integer,
       queue_id text, client text, helo text, listener text, login text, sender text, sender_domain text, recipient text, recipient_domain text,
       message_id text, subject text, size bigint, kind text, status text NOT NULL, rule text, code integer, reply text, attempts integer NOT NULL,
       relay text, rcpt_action text, rcpt_rule text, rcpt_code integer, is_first smallint NOT NULL)`,
    `CREATE INDEX track_entry_at ON track_entry (at, key)`,
    `CREATE INDEX track_entry_sender ON track_entry (lower(sender), at, key)`,
    `CREATE INDEX track_entry_sender_domain ON track_entry (sender_domain, at, key)`,
    `CREATE INDEX track_entry_recipient ON track_entry (lower(recipient), at, key)`,
    `CREATE INDEX track_entry_recipient_domain ON track_entry (recipient_domain, at, key)`,
    `CREATE INDEX track_entry_client ON track_entry (client, at, key)`,
    `CREATE INDEX track_entry_status ON track_entry (status, at, key)`,
    `CREATE INDEX track_entry_queue ON track_entry (queue_id) WHERE queue_id IS NOT NULL`,
    `CREATE INDEX track_entry_message_id ON track_entry (message_id) WHERE message_id IS NOT NULL`,
    // Subjects (only with tracking.subject): a trigram index when pg_trgm is there (a trusted extension: a database
    // owner may create it); without it a subject search reads the entries of its time range, and says nothing.
    `DO $$ BEGIN
       CREATE EXTENSION IF NOT EXISTS pg_trgm;
       EXECUTE 'CREATE INDEX track_entry_subject ON track_entry USING gin (subject gin_trgm_ops) WHERE subject IS NOT NULL';
     EXCEPTION WHEN OTHERS THEN
       RAISE NOTICE 'mailwarden: pg_trgm is not available, subject searches will not be indexed (%)', SQLERRM;
     END $$`,
    `CREATE TABLE track_event (id bigserial PRIMARY KEY, at bigint NOT NULL, cid text, tx integer, queue_id text, event text NOT NULL, fields text NOT NULL)`,
    `CREATE INDEX track_event_at ON track_event (at)`,
    `CREATE INDEX track_event_conn ON track_event (cid, tx) WHERE cid IS NOT NULL`,
    `CREATE INDEX track_event_queue ON track_event (queue_id) WHERE queue_id IS NOT NULL`,
  ],
  [
    // Quarantine self-service (issue 21, src/quarantine): the secret that signs digest links (one for every node),
    // and one row per digest slot sent, inserted ON CONFLICT DO NOTHING so that one node only sends each slot.
    `CREATE TABLE quarantine_secret (name text PRIMARY KEY, value bytea NOT NULL, created bigint NOT NULL)`,
    `CREATE TABLE digest_slot (slot text PRIMARY KEY, node text NOT NULL, at bigint NOT NULL)`,
    `CREATE INDEX digest_slot_at ON digest_slot (at)`,
  ],
  [
    // The user portal (src/portal, issue 21): personal sender lists by owner address, and the portal users' sessions.
    `CREATE TABLE sender_list (owner text NOT NULL, kind text NOT NULL CHECK (kind IN ('allow', 'block')), entry text NOT NULL, PRIMARY KEY (owner, kind, entry))`,
    `CREATE TABLE portal_session (digest text PRIMARY KEY, name text NOT NULL, directory text, csrf text NOT NULL, stamp text NOT NULL, last_seen bigint NOT NULL)`,
    `CREATE INDEX portal_session_seen ON portal_session (last_seen)`,
  ],
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Creates or migrates the schema; returns the version found before (0 on an empty database). */
export async function migrate(sql: Sql): Promise<number> {
  return sql.begin(async (tx) => {
    await tx.unsafe(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.unsafe(`CREATE TABLE IF NOT EXISTS mw_schema (one boolean PRIMARY KEY DEFAULT true CHECK (one), version integer NOT NULL, migrated_at timestamptz NOT NULL DEFAULT now())`);
    const [row] = await tx.unsafe<{ version: number }[]>(`SELECT version FROM mw_schema`);
    const found = row?.version ?? 0;
    if (found > MIGRATIONS.length) throw new Error(`the store's schema is version ${found}, newer than this mailwarden knows (${MIGRATIONS.length}): upgrade mailwarden`);
    for (let v = found; v < MIGRATIONS.length; v++) for (const stmt of MIGRATIONS[v] ?? []) await tx.unsafe(stmt);
    if (found < MIGRATIONS.length) {
      await tx`INSERT INTO mw_schema (one, version) VALUES (true, ${MIGRATIONS.length}) ON CONFLICT (one) DO UPDATE SET version = excluded.version, migrated_at = now()`;
    }
    return found;
  });
}

/** The recorded schema version, or 0 when the schema was never created. */
export async function schemaVersion(sql: Sql): Promise<number> {
  const [t] = await sql`SELECT to_regclass('mw_schema') IS NOT NULL AS present`;
  if (!t?.present) return 0;
  const [row] = await sql`SELECT version FROM mw_schema`;
  return (row?.version as number | undefined) ?? 0;
}
