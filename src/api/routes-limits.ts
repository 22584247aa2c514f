// GET /api/limits/rate (viewer role): the rate limits' current counters, as
// `mailwarden limits show --json` lists them, after this node has handed its
// own counts to the store (so that what was just sent shows). The limits
// themselves are settings (limits.rate, through the settings API).

import type { FastifyInstance } from 'fastify';
import { parseIp } from '../objects/ip.ts';
import { rateCounterViews, type RateCounterView } from '../limits/rate-view.ts';
import type { RateStore } from '../limits/rate-store.ts';
import type { ApiDeps } from './server.ts';

/** What the route reads: the store (asked for only when a limit is configured) and the node's counter to flush first. */
export interface RateDeps {
  store: () => RateStore;
  flush: () => Promise<void>;
}

export function registerLimitsRoutes(api: FastifyInstance, deps: ApiDeps): void {
  api.get('/api/limits/rate', { schema: { tags: ['dashboard'] } }, async (): Promise<{ counters: RateCounterView[] }> => {
    const snap = deps.snapshot();
    const limits = snap.settings.limits.rate;
    if (limits.length === 0 || !deps.rate) return { counters: [] };
    await deps.rate.flush();
    const rows = await deps.rate.store().current(Date.now());
    const counters = rateCounterViews(limits, rows, (network, address) => {
      const ip = parseIp(address);
      return ip.ok && snap.networks.match(network, ip.value) !== null;
    });
    return { counters };
  });
}
