// What a check of the SMTP session is: a named unit that acts on some of the
// session's stages (connect, AUTH, MAIL, RCPT, end of DATA), each for some
// kinds of client, and answers each with a typed verdict. Checks do not talk
// to the wire, do not count errors, do not log and do not decide whether they
// apply: the runner (runner.ts) does, in one place for all of them. A new
// check is one file that exports a Check, plus one line in registry.ts.

import type { CheckName, ListenerDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import type { Decision } from '../core/decision.ts';
import type { MailError } from '../core/mail-error.ts';
import type { PathResult } from '../address/path.ts';
import type { Identity } from '../policy/identity.ts';
import type { Client } from '../policy/rules.ts';
import type { HeaderEdit } from '../scan/header-edit.ts';
import type { AuthPart } from '../antispam/auth-results.ts';
import type { MessageSource } from '../scan/spam-verdict.ts';
import type { CheckServices } from './services.ts';

export type Stage = 'connect' | 'auth' | 'mail' | 'rcpt' | 'data';

/**
 * Who a client is, as the relay rules see it at this stage (decided once per
 * stage by the runner): a relay host or an authenticated user holds a relay
 * right; an upstream host passes mail on for others; anyone else is direct.
 */
export type Audience = 'direct' | 'upstream' | 'relay' | 'authenticated';
export const EVERYONE: readonly Audience[] = ['direct', 'upstream', 'relay', 'authenticated'];
/** Clients without a relay right: the spam checks' audience (ARCHITECTURE.md rule 9). */
export const WITHOUT_RELAY_RIGHT: readonly Audience[] = ['direct', 'upstream'];

export type Fields = Record<string, unknown>;

/** What a session is, as its owner (the front end, explain) gives it to the runner. */
export interface SessionBase {
  readonly snap: Snapshot;
  readonly listener: ListenerDef | null;
  readonly client: Client;
  /** Set by AUTH (a user that passed the relay rules' auth stage). */
  readonly user: Identity | null;
  /** The HELO/EHLO name; null when unknown (policy explain). */
  readonly helo: string | null;
  /** The address the client connected to (ours). */
  readonly localAddress: string | null;
  /** Each check's scratch space for this session, by check name. */
  readonly memos: Map<string, Fields>;
}

/** What a check sees at a stage: the session, and what the runner worked out about it. */
export interface SessionFacts extends Omit<SessionBase, 'memos'> {
  readonly audience: Audience;
  /** The relay rules' answer for this client's relay right (the trail line). */
  readonly relayRight: { right: 'host' | 'auth' | null; why: string };
  readonly upstream: boolean;
  readonly services: CheckServices;
  /** This check's scratch space for the session (e.g. an answer kept from connect for MAIL). */
  readonly memo: Fields;
}

/** What a client's MAIL FROM or RCPT TO carried, as read off the wire. */
export interface PathInput {
  /** As sent, brackets included. */
  readonly raw: string;
  /** parsePath() of raw. */
  readonly path: PathResult;
  /** A parameter we do not support, or one we could not read. */
  readonly unsupported?: string | undefined;
  readonly paramError?: string | undefined;
  /** Whether MAIL FROM asked for SMTPUTF8. */
  readonly smtputf8: boolean;
  /** Whether it came over SMTP (brackets required) or from `policy explain`. */
  readonly wire: boolean;
}

export interface AuthInput {
  /** A user whose password was verified. */
  readonly user: Identity;
}

export interface RcptInput extends PathInput {
  readonly sender: string;
  /** Recipients accepted so far in this transaction. */
  readonly accepted: number;
  /** The same mailbox was accepted already in this transaction (acknowledged again, costs no slot). */
  readonly repeat: boolean;
}

/** What the end of DATA knows: the envelope, the message's Received headers, its origin and what earlier checks added. */
export interface DataInput {
  readonly id: string;
  readonly sender: string;
  readonly recipients: readonly string[];
  readonly received: readonly string[];
  /** The first hop past our upstream hosts (the client itself for a direct client), and which Received header named it. */
  readonly origin: { readonly text: string; readonly ip: bigint; readonly header: number | null };
  /** Points, symbols and header fields that earlier checks of this stage added. */
  readonly added: Additions;
  /** The whole message as spooled. */
  contents(): Promise<MessageSource>;
}

export interface Additions {
  points: number;
  symbols: string[];
  headers: string[];
  /** Authentication results (SPF, DKIM, DMARC, ARC): one Authentication-Results field for all of them, written by the content scan. */
  auth: AuthPart[];
  /** Every recipient allows the sender (personal sender lists, sender-lists.ts): the content scan does not apply the spam verdict. */
  senderAllowed?: SenderAllowed;
}

/** The sender is on the allow list of every recipient of the message. */
export interface SenderAllowed {
  readonly rule: 'sender_list.allow';
  readonly recipients: number;
}

/** Watches the message while it is spooled (the virus scanner is fed as it arrives). */
export interface BodyWatcher {
  feed(chunk: Buffer, ours: boolean): Promise<void>;
  abort(): void;
}

/**
 * A change to the message's body before it is committed (the content rules'
 * strip action, src/content): `apply` turns the message as spooled into the
 * message to store, streaming. Applied by MessageWriter.rewrite() before the
 * header edits and DKIM signing.
 */
export interface BodyRewrite {
  /** For the log: what the rewrite does (e.g. "stripped 2 parts"). */
  readonly describe: string;
  apply(source: MessageSource): AsyncIterable<Buffer>;
}

export type Verdict =
  /** Nothing to object; `decision` is the relay rules' own, `add` what goes on the message, `edit` its header edits, `rewrite` a change of its body. */
  | { readonly kind: 'pass'; readonly log?: Fields; readonly decision?: Decision; readonly add?: Partial<Additions>; readonly edit?: HeaderEdit; readonly rewrite?: BodyRewrite; readonly report?: Fields }
  /** Refused (4xx or 5xx: the error says which): the runner stops at the first. */
  | { readonly kind: 'refuse'; readonly error: MailError; readonly decision?: Decision; readonly log?: Fields; readonly report?: Fields }
  /** Accepted into the quarantine (end of DATA only). */
  | { readonly kind: 'quarantine'; readonly rule: string; readonly reason: string; readonly log?: Fields; readonly edit?: HeaderEdit; readonly report?: Fields }
  /** Answered 250 and dropped (end of DATA only). */
  | { readonly kind: 'discard'; readonly rule: string; readonly reason: string; readonly log?: Fields; readonly report?: Fields };

export type Outcome = Verdict | Promise<Verdict>;

export interface Hook<I> {
  /** The clients this stage of the check applies to. */
  readonly who: readonly Audience[];
  run(s: SessionFacts, input: I): Outcome;
}

export interface Check {
  /** Its name in logs and in docs/architecture.md. */
  readonly name: string;
  /** What it asks beyond the settings: left out where nothing may be asked (the open-relay test, the API's explain). */
  readonly asks?: 'dns' | 'store' | 'engines' | 'network';
  /** The antispam.exceptions key that skips it, applied by the runner. */
  readonly exception?: CheckName;
  /** Whether the settings turn it on at all (default: always). */
  enabled?(snap: Snapshot): boolean;
  readonly connect?: Hook<null>;
  readonly auth?: Hook<AuthInput>;
  readonly mail?: Hook<PathInput>;
  readonly rcpt?: Hook<RcptInput>;
  /** Called when DATA starts, for a check that must see the message as it arrives. */
  readonly watch?: { readonly who: readonly Audience[]; open(s: SessionFacts, input: WatchInput): BodyWatcher };
  readonly data?: Hook<DataInput>;
}

export interface WatchInput {
  readonly id: string;
  readonly sender: string;
  readonly recipients: readonly string[];
}

export const PASS: Verdict = { kind: 'pass' };
