// The content scan of one message, from the start of DATA to the verdict:
// which engines must look at it (ARCHITECTURE.md rule 7: relayed mail only
// when relaying.scan_relayed is on), clamd fed while the message is spooled,
// the spam engine asked after DATA from the spool, both within their
// timeouts; then scan-policy.ts decides.

import type { Settings } from '../config/document.ts';
import { durationMs } from '../core/duration.ts';
import { ClamdScan } from './clamd.ts';
import { parseEngineAddress } from './engine-address.ts';
import { rspamdCheck } from './rspamd.ts';
import { decideScan, type CheckContribution, type NotScanned, type ScanDecision, type SpamOutcome, type VirusOutcome } from './scan-policy.ts';
import type { MessageSource, SpamVerdict } from './spam-verdict.ts';
import { spamdCheck } from './spamd.ts';

export interface ScanContext {
  queueId: string;
  clientAddress: string;
  helo: string;
  sender: string;
  recipients: string[];
  user: string | null;
  relayed: boolean;
}

export class MessageScan {
  private readonly settings: Settings;
  private readonly ctx: ScanContext;
  private readonly virusSkip: NotScanned | null;
  private readonly spamSkip: NotScanned | null;
  private clamd: ClamdScan | null = null;
  private clamdStarted = 0;
  private virusFailure: string | null = null;
  private fed = 0;
  private tooBig = false;

  constructor(settings: Settings, ctx: ScanContext) {
    this.settings = settings;
    this.ctx = ctx;
    const skip = (enabled: boolean): NotScanned | null => (!enabled ? 'disabled' : ctx.relayed && !settings.relaying.scan_relayed ? 'relayed' : null);
    this.virusSkip = skip(settings.antivirus.enabled);
    this.spamSkip = skip(settings.antispam.enabled);
    if (this.virusSkip === null) {
      const addr = parseEngineAddress(settings.antivirus.clamd, 3310);
      this.clamdStarted = performance.now();
      if (addr.ok) this.clamd = new ClamdScan(addr.value, durationMs(settings.antivirus.timeout));
      else this.virusFailure = `antivirus.clamd: ${addr.reason}`;
    }
  }

  /**
   * The next octets of the message (as spooled) for clamd. `ours` marks our
   * own Received header: sent, but not counted against max_scan_size, which
   * is compared with what the client sent (as limits.max_message_size is).
   */
  async feed(chunk: Buffer, ours = false): Promise<void> {
    if (!this.clamd || this.tooBig) return;
    if (!ours) this.fed += chunk.length;
    if (this.fed > this.settings.antivirus.max_scan_size) {
      this.tooBig = true;
      this.clamd.abort();
      return;
    }
    await this.clamd.write(chunk);
  }

  /** The message was refused for another reason: let the engines go. */
  abort(): void {
    this.clamd?.abort();
  }

  /** Waits for the verdicts; `contents` gives the whole message for the spam engine. */
  /** `origin`: the address the origin checks found (past the upstream hosts), for the spam engine's own checks. */
  async finish(contents: () => Promise<MessageSource>, checks?: CheckContribution, origin?: string): Promise<ScanDecision> {
    // A sender every recipient allows: the spam engine's verdict would not be applied, so it is not asked.
    const spamOutcome: Promise<SpamOutcome> = checks?.senderAllowed && this.spamSkip === null ? Promise.resolve({ scanned: false, why: 'allowed' }) : this.spamOutcome(contents, origin);
    const [virus, spam] = await Promise.all([this.virusOutcome(), spamOutcome]);
    return decideScan({ antivirus: this.settings.antivirus, antispam: this.settings.antispam, virus, spam, ...(checks ? { checks } : {}) });
  }

  private async virusOutcome(): Promise<VirusOutcome> {
    if (this.virusSkip !== null) return { scanned: false, why: this.virusSkip };
    if (this.tooBig) return { scanned: false, why: 'too_big' };
    const verdict = this.clamd ? await this.clamd.finish() : { result: 'error' as const, detail: this.virusFailure ?? 'no clamd' };
    return { scanned: true, verdict, ms: Math.round(performance.now() - this.clamdStarted) };
  }

  private async spamOutcome(contents: () => Promise<MessageSource>, origin: string | undefined): Promise<SpamOutcome> {
    if (this.spamSkip !== null) return { scanned: false, why: this.spamSkip };
    const as = this.settings.antispam;
    const message = await contents();
    if (message.size > as.max_scan_size) return { scanned: false, why: 'too_big' };
    const started = performance.now();
    const timeout = durationMs(as.timeout);
    let verdict: SpamVerdict;
    if (as.engine === 'rspamd') {
      const c = this.ctx;
      verdict = await rspamdCheck(as.rspamd, { ip: origin ?? c.clientAddress, helo: c.helo, from: c.sender, rcpt: c.recipients, queueId: c.queueId, user: c.user }, message, timeout);
    } else {
      const addr = parseEngineAddress(as.spamd, 783);
      verdict = addr.ok ? await spamdCheck(addr.value, message, timeout) : { result: 'error', detail: `antispam.spamd: ${addr.reason}` };
    }
    return { scanned: true, engine: as.engine, verdict, ms: Math.round(performance.now() - started) };
  }
}
