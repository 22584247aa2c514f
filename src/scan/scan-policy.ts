// What to do with a message once the scanners have spoken: pure, so that
// every combination of verdicts, actions and error policies is tested
// without a socket. Definite verdicts come first (malware, then a spam score
// past reject_score), then engine failures (fail closed unless the admin
// chose on_error: accept), then spam_action. The result names the setting
// that decided, the headers to add and the log fields.

import type { AntispamSettings, AntivirusSettings, SpamEngine } from '../config/document.ts';
import type { ClamdVerdict } from './clamd.ts';
import type { SpamVerdict } from './spam-verdict.ts';

/** Why an engine did not look at a message. */
export type NotScanned = 'disabled' | 'relayed' | 'too_big' | 'allowed';

export type VirusOutcome = { scanned: false; why: NotScanned } | { scanned: true; verdict: ClamdVerdict; ms: number };
export type SpamOutcome = { scanned: false; why: NotScanned } | { scanned: true; engine: SpamEngine | 'checks'; verdict: SpamVerdict; ms: number };

export type ScanAction = 'accept' | 'reject' | 'tempfail' | 'quarantine' | 'blackhole';

export interface ScanDecision {
  action: ScanAction;
  /** The setting that decided (e.g. "antivirus.action"), or "scan" when nothing objected. */
  rule: string;
  /** For reject and tempfail: the reply. */
  reply: { code: number; enhanced: string; text: string } | null;
  /** Why, in words (the quarantine record and the log). */
  reason: string;
  /** Header fields to put on the message ("Name: value", folded with CRLF + tab). */
  add: string[];
  /** Header names to remove first (case-insensitive): forged copies of ours. */
  remove: string[];
  subjectTag: string | null;
  /** For the message's log line. */
  log: { virus: Record<string, unknown>; spam: Record<string, unknown> };
}

/** What the origin checks (src/antispam) add: blocklist points and symbols, and their headers. */
export interface CheckContribution {
  points: number;
  symbols: string[];
  headers: string[];
  /** The sender is on every recipient's allow list (personal sender lists): the spam verdict is not applied, and the engine not asked. */
  senderAllowed?: { rule: string; recipients: number };
}

export interface ScanInput {
  antivirus: AntivirusSettings;
  antispam: AntispamSettings;
  virus: VirusOutcome;
  spam: SpamOutcome;
  checks?: CheckContribution;
}

const SPAM_HEADERS = ['X-Spam-Status', 'X-Spam-Score', 'X-Spam-Flag', 'X-Mailwarden-Spam'];
const VIRUS_HEADERS = ['X-Mailwarden-Virus'];

/** Text from an engine, made safe for a header or a reply: one line, printable ASCII, bounded. */
export function safeText(s: string, max = 200): string {
  const clean = s.replace(/[^\x20-\x7e]+/g, ' ').replace(/\s+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}

function score(n: number): string {
  return (Math.round(n * 10) / 10).toFixed(1);
}

/** "tests=A,B,C" folded so that no line passes 78 octets. */
function foldList(prefix: string, items: string[]): string {
  const lines: string[] = [];
  let line = prefix;
  items.forEach((item, i) => {
    const piece = item + (i < items.length - 1 ? ',' : '');
    const current = line.length - (line.lastIndexOf('\n') + 1);
    if (current + piece.length > 76 && !/[=\t]$/.test(line)) {
      lines.push(line);
      line = '\t';
    }
    line += piece;
  });
  lines.push(line);
  return lines.join('\r\n');
}

function notScannedText(why: NotScanned, setting: string): string {
  if (why === 'allowed') return 'not scanned (the sender is on the allow list of every recipient)';
  return why === 'too_big' ? `not scanned (larger than ${setting})` : `not scanned (${why})`;
}

/**
 * The spam outcome with the check points added: to the engine's score when
 * it scored, or as the whole score (engine "checks") when no engine ran.
 */
function withChecks(spam: SpamOutcome, c: CheckContribution | undefined): SpamOutcome {
  if (!c || (c.points === 0 && c.symbols.length === 0)) return spam;
  if (spam.scanned && spam.verdict.result === 'scored') {
    const v = spam.verdict;
    return { ...spam, verdict: { ...v, score: v.score + c.points, symbols: [...v.symbols, ...c.symbols] } };
  }
  if (spam.scanned) return spam; // the engine failed: its on_error decides
  return { scanned: true, engine: 'checks', verdict: { result: 'scored', score: c.points, required: null, symbols: c.symbols }, ms: 0 };
}

export function decideScan(input: ScanInput): ScanDecision {
  const { antivirus: av, antispam: as, virus } = input;
  // A sender every recipient allows: no spam verdict at all (the blocklists' points neither); malware still counts.
  const allowed = input.checks?.senderAllowed !== undefined;
  const spam: SpamOutcome = allowed ? { scanned: false, why: 'allowed' } : withChecks(input.spam, input.checks);
  const add: string[] = [...(input.checks?.headers ?? [])];
  const remove: string[] = [];
  let subjectTag: string | null = null;
  const log = { virus: virusLog(virus), spam: spamLog(spam, as.spam_score) };
  // Our Authentication-Results replace any that claim to be ours.
  if (input.checks?.headers.length) remove.push('Authentication-Results');
  const out = (action: ScanAction, rule: string, reason: string, reply: ScanDecision['reply'] = null): ScanDecision => ({ action, rule, reply, reason, add, remove, subjectTag, log });

  // Headers first: a quarantined message keeps them, so that a release delivers it as it would have passed.
  if (virus.scanned || virus.why === 'too_big') remove.push(...VIRUS_HEADERS);
  if (!virus.scanned && virus.why === 'too_big') add.push(`X-Mailwarden-Virus: ${notScannedText('too_big', 'antivirus.max_scan_size')}`);
  if (virus.scanned && virus.verdict.result === 'error' && av.on_error === 'accept') add.push(`X-Mailwarden-Virus: not scanned (${safeText(virus.verdict.detail, 120)})`);
  if (virus.scanned && virus.verdict.result === 'infected') add.push(`X-Mailwarden-Virus: infected (${safeText(virus.verdict.name, 120)})`);

  let isSpam = false;
  if (spam.scanned || spam.why === 'too_big' || spam.why === 'allowed') remove.push(...SPAM_HEADERS);
  if (!spam.scanned && (spam.why === 'too_big' || spam.why === 'allowed')) add.push(`X-Mailwarden-Spam: ${notScannedText(spam.why, 'antispam.max_scan_size')}`);
  if (spam.scanned && spam.verdict.result === 'error' && as.on_error === 'accept') add.push(`X-Mailwarden-Spam: not scanned (${safeText(spam.verdict.detail, 120)})`);
  if (spam.scanned && spam.verdict.result === 'scored') {
    const v = spam.verdict;
    isSpam = v.score >= as.spam_score;
    const tests = v.symbols.map((s) => safeText(s, 60)).filter((s) => s !== '');
    add.push(foldList(`X-Spam-Status: ${isSpam ? 'Yes' : 'No'}, score=${score(v.score)} required=${score(as.spam_score)} engine=${spam.engine}${tests.length ? '\r\n\ttests=' : ''}`, tests));
    add.push(`X-Spam-Score: ${score(v.score)}`);
    // spam_action off: the score headers only (docs/configuration.md).
    if (isSpam && as.spam_action !== 'off') add.push('X-Spam-Flag: YES');
  }

  // Definite verdicts.
  if (virus.scanned && virus.verdict.result === 'infected') {
    const name = safeText(virus.verdict.name, 120);
    const reason = `malware found: ${name}`;
    if (av.action === 'reject') return out('reject', 'antivirus.action', reason, { code: 554, enhanced: '5.7.0', text: `Message refused: malware found (${name})` });
    return out(av.action, 'antivirus.action', reason);
  }
  if (spam.scanned && spam.verdict.result === 'scored' && as.reject_score !== null && spam.verdict.score >= as.reject_score) {
    return out('reject', 'antispam.reject_score', `spam score ${score(spam.verdict.score)} >= reject_score ${score(as.reject_score)}`, { code: 554, enhanced: '5.7.1', text: 'Message refused as spam' });
  }
  // Engines that failed: the sender keeps the message unless the admin chose otherwise.
  const tempfail = { code: 451, enhanced: '4.7.0', text: 'Message could not be scanned, please try again later' };
  if (virus.scanned && virus.verdict.result === 'error' && av.on_error === 'tempfail') return out('tempfail', 'antivirus.on_error', virus.verdict.detail, tempfail);
  if (spam.scanned && spam.verdict.result === 'error' && as.on_error === 'tempfail') return out('tempfail', 'antispam.on_error', spam.verdict.detail, tempfail);
  if (isSpam && spam.scanned && spam.verdict.result === 'scored') {
    const reason = `spam score ${score(spam.verdict.score)} >= spam_score ${score(as.spam_score)}`;
    if (as.spam_action === 'quarantine') return out('quarantine', 'antispam.spam_action', reason);
    if (as.spam_action === 'tag') {
      subjectTag = as.subject_tag;
      return out('accept', 'antispam.spam_action', `${reason}: tagged`);
    }
    return out('accept', 'antispam.spam_action', `${reason}: spam_action off`);
  }
  if (allowed) return out('accept', 'sender_list.allow', 'passed; spam verdict not applied: the sender is on the allow list of every recipient');
  return out('accept', 'scan', 'passed');
}

function virusLog(v: VirusOutcome): Record<string, unknown> {
  if (!v.scanned) return { scanned: false, why: v.why };
  const base = { scanned: true, engine: 'clamd', ms: v.ms };
  if (v.verdict.result === 'infected') return { ...base, verdict: 'infected', name: v.verdict.name };
  if (v.verdict.result === 'error') return { ...base, verdict: 'error', error: v.verdict.detail };
  return { ...base, verdict: 'clean' };
}

/** `spam`: whether the score reached antispam.spam_score (the metrics' spam/ham verdict). */
function spamLog(s: SpamOutcome, spamScore: number): Record<string, unknown> {
  if (!s.scanned) return { scanned: false, why: s.why };
  const base = { scanned: true, engine: s.engine, ms: s.ms };
  if (s.verdict.result === 'error') return { ...base, verdict: 'error', error: s.verdict.detail };
  return { ...base, verdict: 'scored', score: s.verdict.score, required: s.verdict.required, spam: s.verdict.score >= spamScore, symbols: s.verdict.symbols.slice(0, 50) };
}
