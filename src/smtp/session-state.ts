// What one SMTP connection remembers between commands: the snapshot it
// pinned at connect, its client, its user after AUTH, its error count, the
// transaction under way, the checks' memory, and the log fields the checks
// left for the message's record.

import type { SMTPServerSession } from 'smtp-server';
import type { ListenerDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import type { Fields } from '../checks/check.ts';
import type { SessionBase } from '../checks/runner.ts';
import type { Identity } from '../policy/identity.ts';
import type { Client } from '../policy/rules.ts';
import type { IncomingRecipient } from './receive-message.ts';

export interface Transaction {
  /** '' for the null sender; otherwise the mailbox as sent. */
  sender: string;
  /** Its number within the connection (1 for the first MAIL), on its log lines: message tracking groups them by it. */
  n: number;
  recipients: IncomingRecipient[];
  /** Mailbox keys of the recipients so far, to take each mailbox once. */
  seen: Set<string>;
}

export interface ConnState {
  snap: Snapshot;
  client: Client;
  user: Identity | null;
  errors: number;
  tx: Transaction | null;
  /** MAIL commands so far (refused ones included): the number of the transaction under way. */
  mails: number;
  /** Each check's memory for this session (e.g. the blocklist answer from connect). */
  memos: Map<string, Fields>;
  /** Check results of the connection (at connect), and of the transaction so far. */
  connectLog: Fields;
  checkLog: Fields;
  /**
   * The connect line of a trusted proxy's LOCAL connection, held back until
   * it does more than a health check does; null once logged, or for any
   * other connection.
   */
  heldConnect: Fields | null;
}

export function newConnState(snap: Snapshot, client: Client): ConnState {
  return { snap, client, user: null, errors: 0, tx: null, mails: 0, memos: new Map(), connectLog: {}, checkLog: {}, heldConnect: null };
}

/** The session as the checks see it now. */
export function sessionBase(st: ConnState, listener: ListenerDef, session: SMTPServerSession): SessionBase {
  return { snap: st.snap, listener, client: st.client, user: st.user, helo: session.hostNameAppearsAs || '', localAddress: session.localAddress ?? null, memos: st.memos };
}

/** The transaction state smtp-server set from MAIL FROM's parameters, back to its defaults. */
export function forgetMailParameters(session: SMTPServerSession): void {
  const env = session.envelope as SMTPServerSession['envelope'] & { bodyType?: string; smtpUtf8?: boolean; requireTLS?: boolean; dsn?: { ret: string | null; envid: string | null } };
  env.bodyType = '7bit';
  env.smtpUtf8 = false;
  env.requireTLS = false;
  if (env.dsn) env.dsn = { ret: null, envid: null };
}

/** For log lines: the path without its brackets, as a person would write it. */
export function unbracketed(raw: string): string {
  return raw.length >= 2 && raw.startsWith('<') && raw.endsWith('>') ? raw.slice(1, -1) : raw;
}
