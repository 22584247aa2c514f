// The envelope of a plain test message (one relayed recipient, queued), for
// the queue's and the stores' tests; `over` replaces any field.

import type { Envelope } from '../../src/queue/envelope.ts';

export function envelopeFields(over: Partial<Envelope> = {}): Omit<Envelope, 'size' | 'id'> {
  return {
    version: 1,
    received_at: '2026-01-02T03:04:05.000Z',
    sender: 'a@example.net',
    recipients: [{ address: 'b@example.org', kind: 'relay', rule: 'rule 7', status: 'queued' }],
    client: { address: '127.0.0.1', helo: 'client.example', user: null, tls: false, listener: 'mx' },
    relayed: true,
    revision: 3,
    body: '7bit',
    smtputf8: false,
    ...over,
  };
}
