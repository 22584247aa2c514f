// How an accepted MAIL FROM or RCPT TO path is kept: as the client sent it
// ('' for <>, source route dropped), and the key by which two recipients are
// the same mailbox (local part exact, domain normalised).

import { domainKey, type PathResult } from '../address/path.ts';

export function acceptedPath(p: PathResult): { stored: string; key: string } {
  if (!p.ok || p.kind === 'null') return { stored: '', key: '' };
  if (p.kind === 'postmaster') return { stored: p.local, key: 'postmaster' };
  return { stored: p.mailbox.given, key: `${p.mailbox.local}@${domainKey(p.mailbox.domain)}` };
}

/** The sender as the checks and exceptions see it ('' for <>). */
export function storedSender(p: PathResult): string {
  return acceptedPath(p).stored;
}
