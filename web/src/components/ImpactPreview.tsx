// What a pending change would do to last week's recorded mail, shown beside
// a section's Apply button (useImpactPreview.ts): a caution when it would
// refuse mail that is accepted now (Apply stays possible), a note when it
// would only accept more, and the details by client on request.

import { fmtTime } from '../format.ts';
import type { ClientImpact, ImpactState, RuleRef } from '../useImpactPreview.ts';

const answer = (r: RuleRef) => (r.action === 'accept' ? `accepted${r.kind ? ` (${r.kind})` : ''} by ${r.rule}` : `${r.action === 'tempfail' ? 'deferred' : 'refused'}${r.code ? ` ${r.code}` : ''} by ${r.rule} at ${r.stage}`);
const sentence = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const counted = (l: { value: string; rcpts: number }[], more: number) => l.map((c) => `${c.value} (${c.rcpts})`).join(', ') + (more > 0 ? ` and ${more} more` : '');

function Groups({ title, groups, testid }: { title: string; groups: ClientImpact[]; testid: string }) {
  if (groups.length === 0) return null;
  return (
    <div class="table-wrap">
      <table class="impact-table" data-testid={testid}>
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">Client</th>
            <th scope="col">Recipients</th>
            <th scope="col">Now → after the change</th>
            <th scope="col">Senders</th>
            <th scope="col">Seen</th>
          </tr>
        </thead>
        <tbody>
          {groups.map((g) => (
            <tr key={g.client} data-client={g.client}>
              <td>
                <code>{g.client}</code>
                {g.network ? <div class="muted">{g.network}</div> : null}
                {g.users.length ? <div class="muted">user {g.users.join(', ')}</div> : null}
              </td>
              <td>{g.rcpts}</td>
              <td>
                {g.rules.map((r, i) => (
                  <div key={i} title={r.after.why}>
                    {answer(r.before)} → <strong>{answer(r.after)}</strong>
                  </div>
                ))}
              </td>
              <td class="val">{counted(g.senders, g.more_senders)}</td>
              <td class="muted">
                {fmtTime(g.first)} – {fmtTime(g.last)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ImpactPreviewView({ impact }: { impact: ImpactState }) {
  if (impact.state === 'idle') return null;
  if (impact.state === 'asking') return <p class="muted impact" data-testid="impact-asking">Replaying last week's recorded mail under this change…</p>;
  if (impact.state === 'error') return <p class="muted impact" data-testid="impact-error">Impact preview not available: {impact.message}</p>;
  const p = impact.preview;
  const changes = p.would_now_refuse.length + p.would_now_accept.length + p.rule_changes.length;
  const details = (
    <details class="impact-details" data-testid="impact-details">
      <summary>
        Details: {p.recorded.rcpts} recorded recipients of the last {p.days} days replayed
      </summary>
      <Groups title="Would now be refused" groups={p.would_now_refuse} testid="impact-refuse" />
      <Groups title="Would now be accepted or relayed" groups={p.would_now_accept} testid="impact-accept" />
      <Groups title="Another rule would decide" groups={p.rule_changes} testid="impact-rules" />
      {p.not_replayed.length > 0 && (
        <ul class="impact-skipped">
          {p.not_replayed.map((n) => (
            <li key={n.reason}>
              Not replayed: {n.rcpts} recipients: {n.reason} ({n.clients.join(', ')}
              {n.more_clients ? ` and ${n.more_clients} more` : ''})
            </li>
          ))}
        </ul>
      )}
      {p.recorded.truncated && <p class="note">Only the {p.recorded.tuples} most frequent recorded decisions were replayed.</p>}
    </details>
  );
  if (p.caution)
    return (
      <div class="caution impact" role="alert" data-testid="impact-caution">
        <p>
          <strong>Caution: this change would refuse mail that is accepted now.</strong> {sentence(p.summary)}. You can still apply it.
        </p>
        {details}
      </div>
    );
  if (changes === 0)
    return (
      <p class="muted impact" data-testid="impact-none">
        {p.recorded.tuples === 0 ? `No recorded mail of the last ${p.days} days to replay.` : `No recorded mail of the last ${p.days} days would be answered differently.`}
      </p>
    );
  return (
    <div class="note impact" role="status" data-testid="impact-note">
      <p>{sentence(p.summary)}.</p>
      {details}
    </div>
  );
}
