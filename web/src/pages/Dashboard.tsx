// Dashboard: traffic of the last hour per minute (accepted, relayed, refused,
// messages deferred: each once an hour, as the queue card counts messages), SMTP AUTH attempts (failed and successful), the queue
// (with its oldest waiting message's age), the clients refused or failing AUTH most often, rate limit trips (limits.rate), the
// top refusal reasons and senders of the last hour and day (from message tracking, cluster-wide), and a loud banner with rule 8's
// reasons when the relay is open. Refreshed every 10 seconds.

import { get } from '../api.ts';
import { BarList, LineChart } from '../components/Charts.tsx';
import { ErrorBox, Loading } from '../components/Fields.tsx';
import { useInterval, useLoad } from '../hooks.ts';
import { linkClick } from '../router.ts';
import { fmtAge, fmtSender } from '../format.ts';
import type { ClusterInfo, Stats, TopStats } from '../types.ts';

const hhmm = (iso: string) => {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
};

export function Dashboard() {
  const stats = useLoad(() => get<Stats>('/api/stats'));
  const cluster = useLoad(() => get<ClusterInfo>('/api/cluster'));
  const top = useLoad(() => get<TopStats>('/api/stats/top'));
  useInterval(() => {
    void stats.reload();
    void cluster.reload();
    void top.reload();
  }, 10_000);
  const s = stats.data;

  return (
    <section class="page">
      <h1>Dashboard</h1>
      {s?.open_relay && (
        <div class="banner danger" role="alert" data-testid="open-relay-banner">
          <strong>OPEN RELAY.</strong> Anyone on the Internet can send mail through this relay. Spammers find open relays within hours and your address will be
          blacklisted.{' '}
          <a href="/relaying" onClick={(e) => linkClick(e, '/relaying')}>
            Fix the Host-based Relay list
          </a>
          {s.open_relay_reasons.some((r) => r.startsWith('listeners')) ? ' and the trusted proxies of the listeners' : ''}.
          <ul data-testid="open-relay-reasons">
            {s.open_relay_reasons.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
        </div>
      )}
      {s && !s.store.reachable && (
        <div class="banner danger" role="alert" data-testid="store-unreachable">
          <strong>The cluster store (PostgreSQL) cannot be reached.</strong> Mail is refused with 451 until it is back; this node reconnects by itself.
        </div>
      )}
      <ErrorBox message={stats.error} />
      {!s && !stats.error && <Loading what="statistics" />}
      {s && (
        <>
          <div class="cards" aria-label="Queue">
            <Card label="In the queue" value={s.queue?.size ?? '–'} testid="stat-queue-size" />
            <Card label="Oldest waiting (not held)" value={s.queue ? (s.queue.oldest_age_s === null ? 'none' : fmtAge(s.queue.oldest_age_s)) : '–'} testid="stat-queue-oldest" />
            <Card label="Deferred messages (now)" value={s.queue?.deferred ?? '–'} testid="stat-deferred" />
            <Card label="Held" value={s.queue?.held ?? '–'} testid="stat-held" />
            <Card label="Quarantined" value={s.queue?.quarantined ?? '–'} testid="stat-quarantined" />
            <Card label="Active revision" value={s.revision ?? '–'} testid="stat-revision" />
          </div>
          <div class="cards" aria-label="SMTP AUTH, last hour">
            <Card label="Failed AUTH (last hour)" value={s.auth.failed} testid="stat-auth-failed" />
            <Card label="Successful AUTH (last hour)" value={s.auth.succeeded} testid="stat-auth-succeeded" />
            <Card label="AUTH refused to throttled clients" value={s.auth.blocked} testid="stat-auth-blocked" />
          </div>
          <div class="cards" aria-label="Rate limits, last hour">
            <Card label="Rate limit trips (last hour)" value={s.per_minute.reduce((n, m) => n + (m.rate_limited ?? 0), 0)} testid="stat-rate-limited" />
          </div>
          <div class="grid-2">
            <div class="card">
              <h2>Messages and failed AUTH per minute (last hour)</h2>
              <LineChart
                title="Messages and failed AUTH per minute"
                labels={s.per_minute.map((m) => hhmm(m.minute))}
                series={[
                  // Wider and drawn first: where every accepted message was relayed the two lines coincide, and Accepted shows around Relayed.
                  { name: 'Accepted', cls: 's-accepted', values: s.per_minute.map((m) => m.accepted), width: 6 },
                  { name: 'Relayed', cls: 's-relayed', values: s.per_minute.map((m) => m.relayed) },
                  { name: 'Refused', cls: 's-refused', values: s.per_minute.map((m) => m.refused) },
                  { name: 'Deferred messages', cls: 's-deferred', values: s.per_minute.map((m) => m.deferred) },
                  { name: 'Failed AUTH', cls: 's-auth-failed', values: s.per_minute.map((m) => m.auth_failed) },
                ]}
              />
            </div>
            <div class="card">
              <h2>Top refused clients</h2>
              <BarList label="Top refused clients" empty="No client was refused since the start." rows={s.top_refused.map((r) => ({ name: r.client, value: r.count }))} />
              <h2>Failed AUTH by client</h2>
              <BarList label="Failed AUTH by client" empty="No AUTH attempt failed since the start." rows={s.top_auth_failed.map((r) => ({ name: r.client, value: r.count }))} />
            </div>
          </div>
          <Tops top={top.data} error={top.error} />
          {cluster.data && <Nodes c={cluster.data} />}
        </>
      )}
    </section>
  );
}

/** The top refusal reasons and senders by volume of the last hour and day, from the tracking store (every node's traffic). */
function Tops({ top, error }: { top: TopStats | null; error: string | null }) {
  const off = error ?? (top && top.tracking !== 'on' ? top.message : null);
  const senderLink = (since: string) => (name: string) => `/tracking?${new URLSearchParams({ from: name, since }).toString()}`;
  const lists = (what: 'refusals' | 'senders') =>
    (['hour', 'day'] as const).map((p) => {
      const rows = top?.[p]?.[what] ?? [];
      const label = `${what === 'refusals' ? 'Top refusal reasons' : 'Top senders'}, last ${p}`;
      return (
        <div key={p}>
          <h3>Last {p}</h3>
          <BarList
            label={label}
            empty={what === 'refusals' ? `Nothing was refused in the last ${p}.` : `No message was accepted in the last ${p}.`}
            rows={rows.map((r) => ({ name: what === 'senders' ? fmtSender(r.key) : r.key, value: r.count }))}
            {...(what === 'senders' ? { link: senderLink(p === 'hour' ? '1h' : '24h') } : {})}
          />
        </div>
      );
    });
  return (
    <div class="grid-even">
      <div class="card" data-testid="top-refusals">
        <h2>Top refusal reasons</h2>
        {off ? <p class="muted" data-testid="top-tracking-off">{off}</p> : top ? lists('refusals') : <Loading what="the refusal reasons" />}
      </div>
      <div class="card top-senders" data-testid="top-senders">
        <h2>Top senders by volume</h2>
        {off ? <p class="muted">{off}</p> : top ? lists('senders') : <Loading what="the senders" />}
      </div>
    </div>
  );
}

/** Every node of the store: healthy or not, revision, heartbeat, claims, listeners. */
function Nodes({ c }: { c: ClusterInfo }) {
  return (
    <div class="card" data-testid="nodes">
      <h2>Nodes ({c.store === 'postgresql' ? 'cluster store' : 'embedded store'})</h2>
      {c.nodes.length === 0 && <p>{c.store_state.reachable ? 'No node is registered.' : 'The store cannot be reached.'}</p>}
      {c.nodes.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>Node</th>
              <th>State</th>
              <th>Revision</th>
              <th>Heartbeat</th>
              <th>Claims</th>
              <th>Listeners</th>
            </tr>
          </thead>
          <tbody>
            {c.nodes.map((n) => (
              <tr key={n.name} data-testid={`node-${n.name}`}>
                <td>{n.name}</td>
                <td>{n.healthy ? 'healthy' : `unhealthy: ${n.problem ?? ''}`}</td>
                <td>{n.revision ?? '–'}</td>
                <td>{n.heartbeat_age_s} s ago</td>
                <td>{n.claims}</td>
                <td>{n.listeners.map((l) => `${l.name}=${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`).join(' ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {c.orphan_claims > 0 && <p>{c.orphan_claims} message(s) claimed by nodes that are gone: taken over when their leases expire.</p>}
    </div>
  );
}

function Card({ label, value, testid }: { label: string; value: number | string; testid: string }) {
  return (
    <div class="stat card" data-testid={testid}>
      <span class="stat-value">{value}</span>
      <span class="stat-label">{label}</span>
    </div>
  );
}
