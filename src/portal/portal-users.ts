// Who a portal user is and which addresses are theirs (docs/portal.md). A
// local user (settings users[], password_hash, enabled) or a directory user
// (bound as the user, as SMTP AUTH does: src/smtp/credentials.ts, where a
// local user of the same name always wins). A user's addresses are the ones
// whose quarantined mail and sender lists they may see:
//  - a local user: the entries of `addresses` that are mailboxes (never an
//    "@domain" wildcard: that would show a whole domain's mail), plus the
//    name itself when it is an address;
//  - a directory user: the entry's mail attributes (src/directory/addresses.ts).
// A session is re-checked on every request against the settings in force
// (and, for a directory user, a lookup kept for a minute): a user removed,
// disabled or given a new password is signed out at once.

import { createHash } from 'node:crypto';
import { parsePath } from '../address/path.ts';
import type { Snapshot } from '../config/snapshot.ts';
import type { Directories } from '../directory/directories.ts';
import { TtlCache } from '../directory/ttl-cache.ts';
import type { Identity } from '../policy/identity.ts';
import { checkCredentials } from '../smtp/credentials.ts';
import { addressKey } from './sender-lists.ts';

export interface PortalUser {
  name: string;
  /** null: a local user; else the directories[] entry that vouched for the user. */
  directory: string | null;
  /** Their own addresses (each once, compared without case). */
  addresses: string[];
  /** Local users: a digest of the password hash (a new password ends their sessions); directory users: ''. */
  stamp: string;
}

function isMailbox(text: string): boolean {
  const p = parsePath(text, { requireBrackets: false });
  return p.ok && p.kind === 'mailbox' && p.mailbox.literal === null;
}

/** The mailboxes among `candidates`, each once (without case), in order. */
function ownAddresses(candidates: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    if (c.startsWith('@') || !isMailbox(c)) continue;
    const key = addressKey(c);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(c);
  }
  return out;
}

function stampOf(hash: string | undefined): string {
  return hash ? createHash('sha256').update(hash).digest('base64url').slice(0, 22) : '';
}

/** A local user or a directory identity as a portal user. */
export function portalUser(snap: Snapshot, who: Identity): PortalUser {
  if (who.directory === null) {
    const u = snap.users.get(who.name);
    return { name: who.name, directory: null, addresses: ownAddresses([...(u?.addresses ?? []), who.name]), stamp: stampOf(u?.password_hash) };
  }
  return { name: who.name, directory: who.directory, addresses: ownAddresses(who.addresses), stamp: '' };
}

/** Signs in: the user, or null (wrong password, unknown or disabled user). Throws when a directory did not answer. */
export async function signIn(snap: Snapshot, directories: Directories | null, name: string, password: string): Promise<PortalUser | null> {
  const who = await checkCredentials(snap, directories, name, password);
  if (!who || !who.enabled) return null;
  return portalUser(snap, who);
}

/** Re-checks signed-in users against the settings in force and the directories. */
export class PortalUsers {
  private readonly directories: Directories | null;
  private readonly lookups: TtlCache<Identity | null>;
  private readonly ttlMs: number;

  constructor(directories: Directories | null, opts: { ttlMs?: number; now?: () => number } = {}) {
    this.directories = directories;
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.lookups = new TtlCache({ max: 10_000, ...(opts.now ? { now: opts.now } : {}) });
  }

  /** The user as they are now; null when removed, disabled, moved or with a new password. Throws when the directory did not answer. */
  async current(snap: Snapshot, session: { name: string; directory: string | null; stamp: string }): Promise<PortalUser | null> {
    const local = snap.users.get(session.name);
    if (session.directory === null) {
      if (!local || !local.enabled) return null;
      const user = portalUser(snap, { name: local.name, directory: null, enabled: true, groups: local.groups, addresses: local.addresses ?? [] });
      return user.stamp === session.stamp ? user : null;
    }
    // A local user of that name now takes the login over (as SMTP AUTH would).
    if (local || !this.directories) return null;
    const directories = this.directories;
    const who = await this.lookups.getOrLoad(`${snap.revision}\n${session.name}`, this.ttlMs, () => directories.lookup(snap, session.name));
    if (!who || !who.enabled || who.directory !== session.directory) return null;
    return portalUser(snap, who);
  }
}
