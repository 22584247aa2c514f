// The delivery agent's interface, as the scheduler sees it: one job is one
// message's recipients for one destination, and its answer is one outcome per
// recipient, in order. How the mail travels (connections, limits, reuse,
// 8-bit downgrade) is the courier's business (src/queue/smtp-courier.ts).

import type { RecipientOutcome } from '../delivery/outcome.ts';
import type { RoutePlan } from '../delivery/routes.ts';
import type { Envelope, EnvelopeRecipient } from './envelope.ts';

export interface DeliveryJob {
  envelope: Envelope;
  plan: RoutePlan;
  recipients: EnvelopeRecipient[];
  /** The address each recipient is sent as (a bare "postmaster" gets a domain), in order. */
  sendAs: string[];
}

export interface CourierOutcome extends RecipientOutcome {
  /** Delivered to a hop that announces DSN: NOTIFY went with it, so a success report is that hop's to send. */
  passedOn?: boolean;
  /**
   * The queue store could not be reached (the message could not be read): no hop was asked. Not an
   * attempt: the recipient stays as it was, and the message is tried again once the store answers.
   */
  storeAway?: boolean;
}

export interface Courier {
  /** Never rejects: whatever goes wrong is an outcome (deferred, with the reason). */
  deliver(job: DeliveryJob): Promise<CourierOutcome[]>;
  /**
   * Takes no new connection; resolves when the deliveries in flight have
   * ended, or after `graceMs`, with the jobs it never started (their
   * deliver() promises never settle): their messages can be given up at once.
   */
  stop(graceMs: number): Promise<DeliveryJob[]>;
}
