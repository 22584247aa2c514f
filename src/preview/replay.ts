// One recorded RCPT decision (a DecisionTuple of the tracking store) asked
// again under one settings snapshot: connect, AUTH, MAIL and RCPT through the
// same runner and checks as the daemon's front end (explain() with the
// offline checks: the relay rules, the syntax, the sender binding, the
// recipient list...), so that the preview cannot drift from what the wire
// would answer. Pure: no I/O, no clock. What cannot be asked from the
// recorded facts alone (a listener that is gone, a directory user nobody
// looked up) is said, never guessed.

import type { Action, Kind, Stage } from '../core/decision.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { explain, ExplainInputError, offlineRunner } from '../checks/explain.ts';
import type { CheckRunner } from '../checks/runner.ts';
import type { Identity } from '../policy/identity.ts';
import type { DecisionTuple } from '../tracking/tracking-reader.ts';

/** How one snapshot answers one recorded decision. */
export interface Answer {
  action: Action;
  code: number;
  /** The rule or check that decided: 'rule 4', 'relaying.sender_login'... */
  rule: string;
  stage: Stage;
  kind: Kind | null;
  /** The deciding step's last reason, for the details view. */
  why: string;
}

export type Replayed = { ok: true; answer: Answer } | { ok: false; reason: NotReplayed };

/** Why a recorded decision was not replayed under a snapshot. */
export type NotReplayed =
  | { kind: 'listener'; listener: string }
  | { kind: 'directory-user'; user: string; detail: string }
  | { kind: 'no-recipient' }
  | { kind: 'bad-facts'; detail: string };

/** What the directories said about a login, looked up once per snapshot (identities.ts): who it is (null: nobody), or why they could not be asked. */
export type DirectoryAnswer = { found: Identity | null } | { error: string };

/** Directory logins (users that are no local user of the snapshot) as looked up for one snapshot. */
export type DirectoryAnswers = ReadonlyMap<string, DirectoryAnswer>;

/**
 * The recorded refusals the offline checks can reproduce: the relay rules and
 * the sender binding. Any other refusal (blocklists, greylisting, rate limits,
 * recipient verification, scans, the wire's syntax and parameters, internal
 * errors) came from facts that are not recorded, so its answer is kept as it
 * was and never shows up as a change.
 */
const REPLAYABLE_REFUSALS = /^(rules? [1-6](-[1-6])?|submission|relaying\.sender_login)$/;

/** Whether a recorded answer was a refusal by a check the replay does not ask. */
export function refusedByOtherCheck(t: Pick<DecisionTuple, 'action' | 'rule'>): boolean {
  return t.action !== 'accept' && !REPLAYABLE_REFUSALS.test(t.rule ?? '');
}

export class Replayer {
  private readonly snap: Snapshot;
  private readonly directories: DirectoryAnswers;
  private readonly runner: CheckRunner;

  constructor(snap: Snapshot, directories: DirectoryAnswers = new Map(), runner: CheckRunner = offlineRunner()) {
    this.snap = snap;
    this.directories = directories;
    this.runner = runner;
  }

  get snapshot(): Snapshot {
    return this.snap;
  }

  replay(t: DecisionTuple): Replayed {
    const snap = this.snap;
    if (t.listener !== null && !snap.listeners.has(t.listener)) return { ok: false, reason: { kind: 'listener', listener: t.listener } };
    if (t.recipient === '') return { ok: false, reason: { kind: 'no-recipient' } };
    const who = this.identity(t.user);
    if ('reason' in who) return { ok: false, reason: who.reason };
    try {
      const x = explain(snap, { client: t.client, listener: t.listener, user: t.user, ...who, from: t.sender === '' ? '<>' : t.sender, to: t.recipient, seen: true }, this.runner);
      const d = x.decision;
      return { ok: true, answer: { action: d.action, code: d.code, rule: d.rule, stage: d.stage, kind: d.kind, why: d.trail[d.trail.length - 1] ?? '' } };
    } catch (err) {
      if (err instanceof ExplainInputError) return { ok: false, reason: { kind: 'bad-facts', detail: err.message } };
      throw err;
    }
  }

  /** Who the recorded login is under this snapshot: a local user (explain finds it), a looked-up directory user, or a reason not to replay. */
  private identity(user: string | null): { identity?: Identity | null } | { reason: NotReplayed } {
    // No login, a local user, or a snapshot without directories (a name that is no local user is then nobody): explain decides from the name.
    if (user === null || this.snap.users.has(user) || this.snap.settings.directories.length === 0) return {};
    const a = this.directories.get(user);
    if (a === undefined) return { reason: { kind: 'directory-user', user, detail: 'not looked up' } };
    if ('error' in a) return { reason: { kind: 'directory-user', user, detail: a.error } };
    return { identity: a.found };
  }
}

/** The logins of these decisions that are directory users under `snap` (no local user there, and it has directories): the ones to look up. */
export function directoryLogins(snap: Snapshot, tuples: readonly DecisionTuple[]): string[] {
  if (snap.settings.directories.length === 0) return [];
  const out = new Set<string>();
  for (const t of tuples) if (t.user !== null && !snap.users.has(t.user)) out.add(t.user);
  return [...out];
}
