// Sends quarantine digests (issue 21): one message per local recipient (a
// recipient of a quarantined message whose domain is one of `domains`) with
// every message still in quarantine for them (all of them, not only those
// new since the last digest: the links of an older digest expire, and a
// digest that lists everything is one the user can act on alone), newest
// first, at most DIGEST_MAX listed. Each digest is committed into the queue
// like any message (durable before it counts as sent; delivered by the
// normal routes; never scanned, so never quarantined itself).

import { durationMs } from '../core/duration.ts';
import { domainKey } from '../address/path.ts';
import { recipientDomain } from '../delivery/routes.ts';
import type { Snapshot } from '../config/snapshot.ts';
import type { Envelope } from '../queue/envelope.ts';
import { newQueueId } from '../queue/queue-id.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import type { Logger } from '../log/logger.ts';
import type { LinkSigner } from './link-token.ts';
import { LINK_PATH } from './link-routes.ts';
import { composeDigest, DIGEST_MAX, type DigestEntry } from './digest-compose.ts';
import { categoryOf, mayRelease } from './quarantine-category.ts';
import { subjectOf } from './header-subject.ts';
import type { RecipientQuarantineEntry } from './quarantine-access.ts';

/** The most digests one run sends (one per local recipient); beyond, the run says so and the next slot goes on. */
export const RUN_MAX = 10_000;

export interface DigestSenderDeps {
  store: QueueStore;
  snapshot: () => Snapshot;
  signer: () => Promise<LinkSigner>;
  logger: Logger;
  now?: () => number;
}

export interface DigestOutcome {
  to: string;
  entries: number;
  /** The digest's queue id (absent in a dry run). */
  id?: string;
}

export interface DigestRun {
  sent: DigestOutcome[];
  /** Recipients left out because the run reached RUN_MAX. */
  skipped: number;
}

/** Why no digest can be made with these settings, or null. */
export function digestProblem(s: Snapshot['settings']): string | null {
  if (!s.quarantine.digest.base_url) return 'quarantine.digest.base_url is not set: the links would point nowhere';
  if (!s.admin.enabled) return 'the admin listener is off (admin.enabled): the links would point nowhere';
  return null;
}

export class DigestSender {
  private readonly d: DigestSenderDeps;
  private readonly now: () => number;

  constructor(deps: DigestSenderDeps) {
    this.d = deps;
    this.now = deps.now ?? Date.now;
  }

  /**
   * One digest per local recipient with quarantined mail (or only `to`,
   * which must be such a recipient to get one); `dryRun`: composed, counted,
   * not queued.
   */
  async run(opts: { to?: string; dryRun?: boolean } = {}): Promise<DigestRun> {
    const snap = this.d.snapshot();
    const s = snap.settings;
    const problem = digestProblem(s);
    if (problem) throw new Error(problem);
    const local = new Set(s.domains.map((d) => domainKey(d.name)));
    const only = opts.to?.trim().toLowerCase();
    // Newest first; grouped by recipient (lower-case), each keeping the spelling it was received with.
    const all = (await this.d.store.list('quarantine')).reverse();
    const byRecipient = new Map<string, { address: string; envs: Envelope[]; total: number }>();
    for (const env of all) {
      const seen = new Set<string>();
      for (const r of env.recipients) {
        const key = r.address.toLowerCase();
        if (seen.has(key) || (only !== undefined && key !== only) || !local.has(recipientDomain(r.address))) continue;
        seen.add(key);
        let g = byRecipient.get(key);
        if (!g) byRecipient.set(key, (g = { address: r.address, envs: [], total: 0 }));
        g.total++;
        if (g.envs.length < DIGEST_MAX) g.envs.push(env);
      }
    }
    const signer = await this.d.signer();
    const now = this.now();
    const exp = now + durationMs(s.quarantine.digest.link_lifetime);
    const base = s.quarantine.digest.base_url as string;
    const from = s.quarantine.digest.from ?? `postmaster@${s.hostname}`;
    const subjects = new Map<string, string | null>();
    const out: DigestRun = { sent: [], skipped: Math.max(0, byRecipient.size - RUN_MAX) };
    let n = 0;
    for (const g of byRecipient.values()) {
      if (n++ >= RUN_MAX) break;
      const entries: DigestEntry[] = [];
      for (const env of g.envs) {
        if (!subjects.has(env.id)) subjects.set(env.id, await this.subject(env.id));
        const category = categoryOf(env.quarantine?.rule);
        const address = g.address.toLowerCase();
        const entry: RecipientQuarantineEntry = {
          id: env.id,
          received_at: env.received_at,
          sender: env.sender,
          subject: subjects.get(env.id) ?? null,
          recipients: [g.address],
          rule: env.quarantine?.rule ?? '',
          reason: env.quarantine?.reason ?? '',
          category,
          size: env.size,
          releasable: mayRelease(category, { kind: 'link', address }, s.quarantine.self_release),
        };
        const url = (action: 'release' | 'delete') => `${base}${LINK_PATH}?t=${signer.sign({ action, id: env.id, address, exp })}`;
        entries.push({ entry, ...(entry.releasable ? { releaseUrl: url('release') } : {}), deleteUrl: url('delete') });
      }
      const data = await composeDigest({
        from,
        to: g.address,
        hostname: s.hostname,
        entries,
        more: g.total - entries.length,
        linksUntil: new Date(exp).toISOString(),
        ...(s.quarantine.portal.enabled ? { portalUrl: `${base}/#/portal` } : {}),
      });
      if (opts.dryRun) {
        out.sent.push({ to: g.address, entries: g.total });
        continue;
      }
      const id = await this.enqueue(snap, g.address, data, now);
      this.d.logger.log('quarantine.digest.sent', { to: g.address, entries: g.total, id });
      out.sent.push({ to: g.address, entries: g.total, id });
    }
    return out;
  }

  private async subject(id: string): Promise<string | null> {
    try {
      return subjectOf(await this.d.store.headers(id, 'quarantine', 64 * 1024));
    } catch {
      return null;
    }
  }

  /** Commits the digest into the queue (the commit point: durable when this resolves); the store announces it. */
  private async enqueue(snap: Snapshot, to: string, data: Buffer, now: number): Promise<string> {
    const s = snap.settings;
    const writer = this.d.store.begin(newQueueId(now));
    try {
      await writer.write(data);
      const { envelope } = await writer.commit({
        version: 1,
        received_at: new Date(now).toISOString(),
        // The null sender: an automatic message, whose failure must not bounce back to anyone.
        sender: '',
        recipients: [{ address: to, kind: 'inbound', rule: 'quarantine digest', status: 'queued', notify: ['NEVER'] }],
        client: { address: '127.0.0.1', helo: s.hostname, user: null, tls: false, listener: 'quarantine-digest' },
        relayed: false,
        revision: snap.revision,
        body: data.every((b) => b < 0x80) ? '7bit' : '8bitmime',
        smtputf8: /[^\x00-\x7f]/.test(to),
      });
      return envelope.id;
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }
}
