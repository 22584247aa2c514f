// Senders bound to their login (relaying.sender_login): an authenticated
// user may use as MAIL FROM only their own addresses (or, in `domain` mode,
// any address of their domains), and with relaying.header_from_login the
// header From: is held to the same rule at the end of DATA. The decision is
// src/policy/sender-login.ts; this file reads the inputs and words replies.
//
// It applies whenever the session authenticated, whichever right lets it
// relay: a client that is also a relay host and logs in claims to be that
// user, and a stolen password must not send as anyone from inside either
// (fail closed). A relay host that does not log in is not bound.

import { MailError } from '../core/mail-error.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { judgeHeaderFrom, judgeSender, ownedBy, type Owned } from '../policy/sender-login.ts';
import type { Identity } from '../policy/identity.ts';
import { readHeaderFrom } from './header-from.ts';
import { PASS, type Audience, type Check, type DataInput, type PathInput, type SessionFacts, type Verdict } from './check.ts';

const RULE = 'relaying.sender_login';
/** A session with a user holds a relay right under its pinned snapshot (decideAuth accepted it): relay or authenticated. */
const WITH_LOGIN: readonly Audience[] = ['relay', 'authenticated'];

/** The login as the reply may show it: a directory login is what the client typed, so nothing unprintable goes back on the wire. */
function shown(name: string): string {
  const clean = name.replace(/[^\x21-\x7e]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 64)}...` : clean;
}

/** The user's addresses, read once per session (the identity is pinned at AUTH). */
function owned(s: SessionFacts, user: Identity): Owned {
  const memo = s.memo as { owned?: Owned; of?: Identity };
  if (memo.of !== user || !memo.owned) {
    memo.owned = ownedBy(user.addresses);
    memo.of = user;
  }
  return memo.owned;
}

function atMail(s: SessionFacts, x: PathInput): Verdict {
  const user = s.user;
  const mode = s.snap.settings.relaying.sender_login;
  if (user === null) return PASS;
  const v = judgeSender(mode, owned(s, user), x.path);
  const log = { sender_login: { mode, user: user.name, verdict: v.ok ? 'pass' : 'fail', why: v.why } };
  if (v.ok) return { kind: 'pass', log };
  // 553: the mailbox name is not allowed (RFC 5321 4.2.2), the reply Postfix's reject_sender_login_mismatch gives.
  return { kind: 'refuse', error: new MailError(553, '5.7.1', `Sender address not owned by user ${shown(user.name)}`, { rule: RULE, reason: `user "${user.name}": ${v.why} (relaying.sender_login: ${mode})` }), log };
}

async function atData(s: SessionFacts, x: DataInput): Promise<Verdict> {
  const user = s.user;
  const mode = s.snap.settings.relaying.sender_login;
  if (user === null) return PASS;
  const from = await readHeaderFrom(x);
  const v = from.ok ? judgeHeaderFrom(mode, owned(s, user), from.addresses) : { ok: false as const, why: from.why };
  const log = { sender_login_header: { mode, user: user.name, verdict: v.ok ? 'pass' : 'fail', why: v.why } };
  if (v.ok) return { kind: 'pass', log };
  // 550, not 553: after the final dot RFC 5321 4.3.2 lists 550 and 554 as the permanent replies, and 553 belongs to MAIL and RCPT.
  return { kind: 'refuse', error: new MailError(550, '5.7.1', `Sender address in From: not owned by user ${shown(user.name)}`, { rule: 'relaying.header_from_login', reason: `user "${user.name}": ${v.why} (relaying.sender_login: ${mode})` }), log };
}

const enabled = (snap: Snapshot): boolean => snap.settings.relaying.sender_login !== 'off';

export const senderLogin: Check = {
  name: 'sender_login',
  enabled,
  mail: { who: WITH_LOGIN, run: atMail },
  data: { who: WITH_LOGIN, run: (s, x) => (s.snap.settings.relaying.header_from_login && s.user !== null ? atData(s, x) : PASS) },
};
