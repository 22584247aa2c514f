// The quarantine's self-service for one node, wired once (issue 21): the
// recipients' view of the quarantine, the links' signer over the store's
// secret, the digest sender and its scheduler, and what the admin listener
// needs of them. The daemon makes one and stops it.

import type { Snapshot } from '../config/snapshot.ts';
import type { Logger } from '../log/logger.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import type { QuarantineStateStore } from './quarantine-state-store.ts';
import { StoreRecipientQuarantine } from './recipient-quarantine.ts';
import { LinkSigner } from './link-token.ts';
import { DigestSender, digestProblem } from './digest-sender.ts';
import { DigestScheduler } from './digest-scheduler.ts';
import type { LinkRouteDeps } from './link-routes.ts';
import type { DigestRouteDeps } from './digest-routes.ts';

export interface SelfServiceDeps {
  queue: QueueStore;
  state: () => QuarantineStateStore;
  snapshot: () => Snapshot;
  node: string;
  logger: Logger;
  now?: () => number;
}

export interface QuarantineSelfService {
  recipients: StoreRecipientQuarantine;
  signer(): Promise<LinkSigner>;
  digest: DigestSender;
  scheduler: DigestScheduler;
  links: LinkRouteDeps;
  digestRoutes: DigestRouteDeps;
  stop(): Promise<void>;
}

export function quarantineSelfService(d: SelfServiceDeps): QuarantineSelfService {
  const recipients = new StoreRecipientQuarantine({ store: d.queue, selfRelease: () => d.snapshot().settings.quarantine.self_release, logger: d.logger, ...(d.now ? { now: d.now } : {}) });
  let signing: Promise<LinkSigner> | null = null;
  const signer = () => {
    // Made once; a failure (the store away) is tried again at the next use.
    signing ??= d.state().signingSecret().then((s) => new LinkSigner(s));
    signing.catch(() => {
      signing = null;
    });
    return signing;
  };
  const digest = new DigestSender({ store: d.queue, snapshot: d.snapshot, signer, logger: d.logger, ...(d.now ? { now: d.now } : {}) });
  const scheduler = new DigestScheduler({ state: d.state, sender: digest, settings: () => d.snapshot().settings.quarantine, node: d.node, logger: d.logger, ...(d.now ? { now: d.now } : {}) });
  return {
    recipients,
    signer,
    digest,
    scheduler,
    links: { quarantine: recipients, signer, logger: d.logger, ...(d.now ? { now: d.now } : {}) },
    digestRoutes: { run: (o) => digest.run(o), problem: () => digestProblem(d.snapshot().settings) },
    stop: () => scheduler.stop(),
  };
}
