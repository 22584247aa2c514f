// Dashboard: traffic of the last hour per minute (accepted, relayed, refused,
// deferred), SMTP AUTH attempts (failed and successful), the queue, the
// clients refused or failing AUTH most often, and a loud banner with rule 8's
// reasons when the relay is open. Refreshed every 10 seconds.

import { get } from '../api.ts';
import { BarList, LineChart } from '../components/Charts.tsx';
import { ErrorBox, Loading } from '../components/Fields.tsx';
import { useInterval, useLoad } from '../hooks.ts';
import { linkClick } from '../router.ts';
import type { Stats } from '../types.ts';

const hhmm = (iso: string) => {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
};

export function Dashboard() {
  const stats = useLoad(() => get<Stats>('/api/stats'));
  useInterval(() => void stats.reload(), 10_000);
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
      <ErrorBox message={stats.error} />
      {!s && !stats.error && <Loading what="statistics" />}
      {s && (
        <>
          <div class="cards" aria-label="Queue">
            <Card label="In the queue" value={s.queue.size} testid="stat-queue-size" />
            <Card label="Deferred" value={s.queue.deferred} testid="stat-deferred" />
            <Card label="Held" value={s.queue.held} testid="stat-held" />
            <Card label="Quarantined" value={s.queue.quarantined} testid="stat-quarantined" />
            <Card label="Active revision" value={s.revision ?? '–'} testid="stat-revision" />
          </div>
          <div class="cards" aria-label="SMTP AUTH, last hour">
            <Card label="Failed AUTH (last hour)" value={s.auth.failed} testid="stat-auth-failed" />
            <Card label="Successful AUTH (last hour)" value={s.auth.succeeded} testid="stat-auth-succeeded" />
            <Card label="AUTH refused to throttled clients" value={s.auth.blocked} testid="stat-auth-blocked" />
          </div>
          <div class="grid-2">
            <div class="card">
              <h2>Messages and failed AUTH per minute (last hour)</h2>
              <LineChart
                title="Messages and failed AUTH per minute"
                labels={s.per_minute.map((m) => hhmm(m.minute))}
                series={[
                  { name: 'Accepted', cls: 's-accepted', values: s.per_minute.map((m) => m.accepted) },
                  { name: 'Relayed', cls: 's-relayed', values: s.per_minute.map((m) => m.relayed) },
                  { name: 'Refused', cls: 's-refused', values: s.per_minute.map((m) => m.refused) },
                  { name: 'Deferred', cls: 's-deferred', values: s.per_minute.map((m) => m.deferred) },
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
        </>
      )}
    </section>
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
