// Shared pieces of the impact preview's unit tests: a small installation
// (relay hosts, a printer inside the office network, users in and out of
// authenticated relay, a submission listener, a trusted load balancer), a way
// to change it, recorded decisions to replay, and an in-memory reader of them.

import { snapshotOf } from '../policy/helpers.ts';
import type { Snapshot } from '../../src/config/snapshot.ts';
import type { DecisionTuple, TopRow, TrackingReader } from '../../src/tracking/tracking-reader.ts';

export { snapshotOf };

/**
 *   10.1.0.0/16  office-lan (relay hosts); 10.1.2.3 printer-2 inside it
 *   10.9.0.0/16  lb: trusted proxies of the mx listener
 *   192.0.2.10   isp-feeder (upstream host)
 *   198.51.100.0/24 blackzone (blacklist)
 *   alice (named), gina (group staff): authenticated relay; bob: not
 *   local domains ours.example, second.example (list-verifiable)
 */
export function baseDoc(): Record<string, unknown> {
  return {
    hostname: 'mx.ours.example',
    listeners: [
      { name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx', trusted_proxies: ['lb'] },
      { name: 'submission', address: '127.0.0.1', port: 2587, mode: 'submission' },
    ],
    networks: [
      { name: 'office-lan', type: 'network', address: '10.1.0.0/16' },
      { name: 'printer-2', type: 'host', address: '10.1.2.3' },
      { name: 'app-servers', type: 'range', from: '10.1.5.1', to: '10.1.5.20' },
      { name: 'lb', type: 'network', address: '10.9.0.0/16' },
      { name: 'isp-feeder', type: 'host', address: '192.0.2.10' },
      { name: 'blackzone', type: 'network', address: '198.51.100.0/24' },
    ],
    groups: [{ name: 'staff' }, { name: 'interns' }],
    users: [
      { name: 'alice', password: 'pw-alice-long-enough', groups: [], addresses: ['alice@ours.example'] },
      { name: 'gina', password: 'pw-gina-long-enough', groups: ['staff'] },
      { name: 'bob', password: 'pw-bob-long-enough', groups: ['interns'] },
    ],
    domains: [
      { name: 'ours.example', route: { hosts: ['10.1.0.25:25'] } },
      { name: 'second.example', route: { hosts: ['10.1.0.26:25'] } },
    ],
    relaying: {
      upstream_hosts: ['isp-feeder'],
      upstream_only: false,
      authenticated_relay: { enabled: true, users: ['alice'], groups: ['staff'] },
      allowed_hosts: ['office-lan'],
      blacklist: ['blackzone'],
      scan_relayed: true,
      open_relay_acknowledged: false,
      sender_login: 'off',
    },
  };
}

/** The base document changed by `edit` (given a deep copy). */
export function changed(edit: (doc: Record<string, any>) => void): Record<string, unknown> {
  const d = structuredClone(baseDoc()) as Record<string, any>;
  edit(d);
  return d;
}

export const BASE: Snapshot = snapshotOf(baseDoc());

export const T0 = Date.UTC(2025, 0, 6, 8, 0, 0);
const HOUR = 3_600_000;

/** A recorded decision: accepted relay by default. */
export function tuple(over: Partial<DecisionTuple> & Pick<DecisionTuple, 'client'>): DecisionTuple {
  return { listener: 'mx', user: null, sender: 'someone@ours.example', recipient: 'x@remote.example', action: 'accept', rule: 'rule 4', code: 250, count: 1, first: T0, last: T0 + HOUR, ...over };
}

/** Last week's traffic of the base installation. */
export const TRAFFIC: DecisionTuple[] = [
  // The printer relays scans to a partner, and the null sender.
  tuple({ client: '10.1.2.3', sender: 'printer@ours.example', recipient: 'scans@partner.example', count: 130 }),
  tuple({ client: '10.1.2.3', sender: '', recipient: 'scans@partner.example', count: 2 }),
  // An application server relays.
  tuple({ client: '10.1.5.5', sender: 'app@ours.example', recipient: 'customer@remote.example', count: 40 }),
  // alice relays from the Internet (AUTH on the mx listener), gina on the submission listener.
  tuple({ client: '203.0.113.9', user: 'alice', sender: 'alice@ours.example', recipient: 'friend@remote.example', count: 12 }),
  tuple({ client: '203.0.113.9', user: 'alice', sender: 'ceo@bank.example', recipient: 'friend@remote.example', count: 1 }),
  tuple({ client: '203.0.113.10', listener: 'submission', user: 'gina', sender: 'gina@ours.example', recipient: 'pal@remote.example', count: 7 }),
  // Internet mail for us.
  tuple({ client: '198.18.0.1', sender: 'news@lists.example', recipient: 'alice@ours.example', rule: 'rule 3', count: 25 }),
  tuple({ client: '198.18.0.1', sender: 'news@lists.example', recipient: 'info@second.example', rule: 'rule 3', count: 5 }),
  // From the upstream host.
  tuple({ client: '192.0.2.10', sender: 'a@elsewhere.example', recipient: 'alice@ours.example', rule: 'rule 3', count: 9 }),
  // A stranger tries to relay: refused by rule 4.
  tuple({ client: '198.18.0.2', sender: 'spam@bad.example', recipient: 'victim@remote.example', action: 'reject', rule: 'rule 4', code: 554, count: 3 }),
  // Greylisted once (tempfail by a check the preview cannot replay).
  tuple({ client: '198.18.0.3', sender: 'first@new.example', recipient: 'alice@ours.example', action: 'tempfail', rule: 'antispam.greylisting', code: 451, count: 1 }),
  // Rate-limited when 198.18.0.4 was a relay host (an older revision): refused by a check the preview cannot replay.
  tuple({ client: '198.18.0.4', sender: 'bulk@ours.example', recipient: 'list@remote.example', action: 'tempfail', rule: 'limits.rate[0]', code: 450, count: 4 }),
];

/** An in-memory reader of recorded decisions: the window and the limit applied as the stores apply them. */
export class TupleReader implements TrackingReader {
  readonly asked: { since: number; until: number; limit: number }[] = [];
  private readonly tuples: DecisionTuple[];
  constructor(tuples: DecisionTuple[]) {
    this.tuples = tuples;
  }
  async decisions(since: number, until: number, limit: number): Promise<{ tuples: DecisionTuple[]; truncated: boolean }> {
    this.asked.push({ since, until, limit });
    const inside = this.tuples.filter((t) => t.last >= since && t.first < until).sort((a, b) => b.count - a.count);
    return { tuples: inside.slice(0, limit), truncated: inside.length > limit };
  }
  async top(): Promise<TopRow[]> {
    return [];
  }
}
