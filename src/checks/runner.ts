// Runs the registered checks of one stage, in order, for one session. The
// runner alone decides who a check applies to (the client's audience, from
// the relay rules' relay right), applies antispam.exceptions, stops at the
// first refusal and merges what the checks said: the relay rules' decision,
// the log fields, the points and header fields for later checks. A check
// that throws refuses with 451 (fail closed). The SMTP front end and
// `policy explain` both ask this runner, so that what explain says and what
// the wire does cannot drift apart.

import type { CheckName } from '../config/document.ts';
import type { Decision } from '../core/decision.ts';
import { MailError } from '../core/mail-error.ts';
import { skippedChecks } from '../antispam/exceptions.ts';
import { relayRight } from '../policy/rules.ts';
import type { HeaderEdit } from '../scan/header-edit.ts';
import type { Additions, Audience, AuthInput, BodyRewrite, BodyWatcher, Check, DataInput, Fields, Hook, PathInput, RcptInput, SessionBase, SessionFacts, Verdict, WatchInput } from './check.ts';
import { storedSender } from './paths.ts';
import type { CheckServices } from './services.ts';

export type { SessionBase };

interface Inputs {
  connect: null;
  auth: AuthInput;
  mail: PathInput;
  rcpt: RcptInput;
  data: DataInput;
}
type RunStage = keyof Inputs;

export interface StageResult {
  /** The first refusal, or null. */
  readonly error: MailError | null;
  /** accept, or what the end of DATA decided. */
  readonly outcome: 'accept' | 'refuse' | 'quarantine' | 'discard';
  /** The check that refused, quarantined or discarded. */
  readonly by: string | null;
  /** The rule that decided a quarantine or a discard, and why. */
  readonly rule: string | null;
  readonly reason: string | null;
  /** The relay rules' decision at this stage (connect, auth, mail, rcpt). */
  readonly decision: Decision | null;
  /** The checks' fields for the log line (keyed by check, as `checks: {...}`). */
  readonly log: Fields;
  /** Fields a check reports beside the checks (the content scan's verdicts). */
  readonly report: Fields;
  readonly added: Additions;
  /** Every check's header edits of this stage, merged (mergeEdits). */
  readonly edit: HeaderEdit | null;
  /** A change of the message's body (the content rules' strip), applied before the header edits. */
  readonly rewrite: BodyRewrite | null;
}

export class CheckRunner {
  readonly checks: readonly Check[];
  readonly services: CheckServices;

  constructor(checks: readonly Check[], services: CheckServices) {
    const names = new Set<string>();
    for (const c of checks) {
      if (names.has(c.name)) throw new Error(`two checks named "${c.name}"`);
      names.add(c.name);
    }
    this.checks = checks;
    this.services = services;
  }

  /** The facts a check sees at a stage. */
  private facts(base: SessionBase, check: Check, audience: Audience, right: SessionFacts['relayRight'], upstream: boolean): SessionFacts {
    let memo = base.memos.get(check.name);
    if (!memo) base.memos.set(check.name, (memo = {}));
    return { ...base, audience, relayRight: right, upstream, services: this.services, memo };
  }

  /** Who the client is at this stage, from the relay rules. */
  audience(base: SessionBase): { audience: Audience; right: SessionFacts['relayRight']; upstream: boolean } {
    const right = relayRight(base.snap, base);
    const upstream = base.snap.upstream.match(base.client.ip) !== null;
    const audience: Audience = right.right === 'host' ? 'relay' : right.right === 'auth' ? 'authenticated' : upstream ? 'upstream' : 'direct';
    return { audience, right, upstream };
  }

  /** `only`: ask just these checks (a load balancer's health check is asked the relay rules only). */
  async run<S extends RunStage>(stage: S, base: SessionBase, input: Inputs[S], only: readonly string[] | null = null): Promise<StageResult> {
    const acc = new Accumulator(input);
    for (const step of this.plan(stage, base, input, only, acc)) {
      if (acc.take(step.check.name, await ask(step.check, step.hook, step.facts, input))) break;
    }
    return acc.result();
  }

  /** The same, for checks that answer without I/O (`policy explain` offline, the open-relay test); throws on one that does not. */
  runSync<S extends RunStage>(stage: S, base: SessionBase, input: Inputs[S], only: readonly string[] | null = null): StageResult {
    const acc = new Accumulator(input);
    for (const step of this.plan(stage, base, input, only, acc)) {
      const v = askSync(step.check, step.hook, step.facts, input);
      if (acc.take(step.check.name, v)) break;
    }
    return acc.result();
  }

  /** The checks to ask at a stage, in order: those that apply to this client, not skipped by an exception (logged as skipped). */
  private *plan<S extends RunStage>(stage: S, base: SessionBase, input: Inputs[S], only: readonly string[] | null, acc: Accumulator): Generator<{ check: Check; hook: Hook<Inputs[S]>; facts: SessionFacts }> {
    const { audience, right, upstream } = this.audience(base);
    const skips = new Skips(base, stage, input);
    for (const check of this.applying(base.snap, stage, audience)) {
      if (only && !only.includes(check.name)) continue;
      const hook = check[stage] as Hook<Inputs[S]>;
      const skippedBy = check.exception ? skips.of(check.exception) : null;
      if (skippedBy !== null) {
        acc.log[check.name] = { skipped_by: `antispam.exceptions[${skippedBy}]` };
        continue;
      }
      yield { check, hook, facts: this.facts(base, check, audience, right, upstream) };
    }
  }

  /**
   * The checks with a hook at `stage` for `audience` that the revision in
   * force enables, in order: worked out once per revision (a check's enabled()
   * reads only the settings), not at every command.
   */
  private applying(snap: SessionBase['snap'], stage: RunStage, audience: Audience): readonly Check[] {
    let bySnap = this.applyingCache.get(snap);
    if (!bySnap) this.applyingCache.set(snap, (bySnap = new Map()));
    const key = `${stage} ${audience}`;
    let list = bySnap.get(key);
    if (!list) {
      list = this.checks.filter((c) => {
        const hook = c[stage];
        return hook !== undefined && hook.who.includes(audience) && (!c.enabled || c.enabled(snap));
      });
      bySnap.set(key, list);
    }
    return list;
  }

  private readonly applyingCache = new WeakMap<SessionBase['snap'], Map<string, readonly Check[]>>();

  /** At the start of DATA: the watchers of the checks that see the message as it arrives. */
  watchers(base: SessionBase, input: WatchInput): BodyWatcher[] {
    const { audience, right, upstream } = this.audience(base);
    const out: BodyWatcher[] = [];
    for (const check of this.checks) {
      const w = check.watch;
      if (!w || !w.who.includes(audience) || (check.enabled && !check.enabled(base.snap))) continue;
      out.push(w.open(this.facts(base, check, audience, right, upstream), input));
    }
    return out;
  }

  /** Whether any check acts at the end of DATA for this client besides the ones named (cheap: no I/O). */
  anyAtDataEnd(base: SessionBase, except: readonly string[]): boolean {
    const { audience } = this.audience(base);
    return this.checks.some((c) => c.data && !except.includes(c.name) && c.data.who.includes(audience) && (!c.enabled || c.enabled(base.snap)));
  }
}

async function ask<I>(check: Check, hook: Hook<I>, facts: SessionFacts, input: I): Promise<Verdict> {
  try {
    return await hook.run(facts, input);
  } catch (err) {
    const reason = `${check.name}: ${err instanceof Error ? err.message : String(err)}`;
    return { kind: 'refuse', error: new MailError(451, '4.3.0', 'Temporary local problem, please try again later', { rule: check.name, reason, cause: err }) };
  }
}

function askSync<I>(check: Check, hook: Hook<I>, facts: SessionFacts, input: I): Verdict {
  let v: Verdict | Promise<Verdict>;
  try {
    v = hook.run(facts, input);
  } catch (err) {
    const reason = `${check.name}: ${err instanceof Error ? err.message : String(err)}`;
    return { kind: 'refuse', error: new MailError(451, '4.3.0', 'Temporary local problem, please try again later', { rule: check.name, reason, cause: err }) };
  }
  if (v instanceof Promise) throw new Error(`check "${check.name}" answers asynchronously: ask it with run()`);
  return v;
}

/** antispam.exceptions for one stage, worked out once and only when a check asks. */
class Skips {
  private map: Map<CheckName, number> | null = null;
  private readonly base: SessionBase;
  private readonly stage: RunStage;
  private readonly input: unknown;

  constructor(base: SessionBase, stage: RunStage, input: unknown) {
    this.base = base;
    this.stage = stage;
    this.input = input;
  }

  of(name: CheckName): number | null {
    const exceptions = this.base.snap.settings.antispam.exceptions;
    if (exceptions.length === 0) return null;
    if (!this.map) {
      const addresses = [this.base.client.ip];
      let sender: string | null = null;
      if (this.stage === 'mail') sender = storedSender((this.input as PathInput).path);
      else if (this.stage === 'rcpt') sender = (this.input as RcptInput).sender;
      else if (this.stage === 'data') {
        const d = this.input as DataInput;
        sender = d.sender;
        addresses.push(d.origin.ip);
      }
      this.map = skippedChecks(exceptions, this.base.snap.networks, { addresses, sender });
    }
    return this.map.get(name) ?? null;
  }
}

/** Merges the verdicts of one stage. */
class Accumulator {
  readonly log: Fields = {};
  private readonly report: Fields = {};
  private error: MailError | null = null;
  private outcome: StageResult['outcome'] = 'accept';
  private by: string | null = null;
  private rule: string | null = null;
  private reason: string | null = null;
  private decision: Decision | null = null;
  private edit: HeaderEdit | null = null;
  private rewrite: BodyRewrite | null = null;
  private readonly added: Additions;

  constructor(input: unknown) {
    // At the end of DATA, later checks see what earlier ones added (through input.added).
    this.added = (input as DataInput | null)?.added ?? { points: 0, symbols: [], headers: [], auth: [] };
  }

  /** Takes one verdict; true when the stage ends here. */
  take(name: string, v: Verdict): boolean {
    if (v.log) Object.assign(this.log, v.log);
    if (v.report) Object.assign(this.report, v.report);
    switch (v.kind) {
      case 'pass':
        if (v.decision) this.decision = v.decision;
        if (v.add) {
          this.added.points += v.add.points ?? 0;
          this.added.symbols.push(...(v.add.symbols ?? []));
          this.added.headers.push(...(v.add.headers ?? []));
          this.added.auth.push(...(v.add.auth ?? []));
          if (v.add.senderAllowed) this.added.senderAllowed = v.add.senderAllowed;
        }
        if (v.edit) this.edit = mergeEdits(this.edit, v.edit);
        if (v.rewrite) {
          if (this.rewrite) throw new Error(`two checks rewrite the body (${name} and an earlier one)`);
          this.rewrite = v.rewrite;
        }
        return false;
      case 'refuse':
        if (v.decision) this.decision = v.decision;
        this.error = v.error;
        this.outcome = 'refuse';
        this.by = name;
        this.rule = v.error.rule;
        this.reason = v.error.reason;
        return true;
      case 'quarantine':
        this.outcome = 'quarantine';
        if (v.edit) this.edit = mergeEdits(this.edit, v.edit);
        [this.by, this.rule, this.reason] = [name, v.rule, v.reason];
        return true;
      case 'discard':
        this.outcome = 'discard';
        [this.by, this.rule, this.reason] = [name, v.rule, v.reason];
        return true;
    }
  }

  result(): StageResult {
    return { error: this.error, outcome: this.outcome, by: this.by, rule: this.rule, reason: this.reason, decision: this.decision, log: this.log, report: this.report, added: this.added, edit: this.edit, rewrite: this.rewrite };
  }
}

/** Two checks' header edits as one: both sets of fields added and removed; the first subject tag wins (one marker per Subject). */
export function mergeEdits(a: HeaderEdit | null, b: HeaderEdit): HeaderEdit {
  if (!a) return b;
  return { add: [...a.add, ...b.add], remove: [...a.remove, ...b.remove], subjectTag: a.subjectTag ?? b.subjectTag };
}
