// Explain: asks the relay rules about an imagined transaction (POST
// /api/policy/explain) and runs the open-relay test battery for a client
// (POST /api/policy/open-relay-test), showing what each would answer.

import { useState } from 'preact/hooks';
import { post } from '../api.ts';
import { ErrorBox, TextField } from '../components/Fields.tsx';
import type { Explanation, OpenRelayTest } from '../types.ts';

/** The body without empty optional fields. */
function compact(fields: Record<string, string>, required: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (v.trim() !== '' || required.includes(k)) out[k] = v.trim();
  return out;
}

export function Explain() {
  return (
    <section class="page">
      <h1>Explain</h1>
      <p class="lead">Ask the relay rules what they would answer, without sending mail. The answers use the active settings.</p>
      <ExplainForm />
      <OpenRelayForm />
    </section>
  );
}

function ExplainForm() {
  const [f, setF] = useState({ client: '', user: '', listener: '', from: '', to: '' });
  const [result, setResult] = useState<Explanation | null>(null);
  const [error, setError] = useState<string | null>(null);
  const set = (patch: Partial<typeof f>) => setF({ ...f, ...patch });
  const submit = async () => {
    setError(null);
    try {
      setResult(await post<Explanation>('/api/policy/explain', compact(f, ['client', 'to'])));
    } catch (err) {
      setResult(null);
      setError((err as Error).message);
    }
  };
  return (
    <form
      class="card"
      aria-labelledby="explain-title"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2 id="explain-title">Explain a transaction</h2>
      <div class="form-grid">
        <TextField label="Client address" value={f.client} onInput={(v) => set({ client: v })} required placeholder="192.0.2.7" testid="explain-client" />
        <TextField label="Authenticated user" value={f.user} onInput={(v) => set({ user: v })} hint="Empty: no AUTH." testid="explain-user" />
        <TextField label="Listener" value={f.listener} onInput={(v) => set({ listener: v })} hint="Empty: the first mx listener." testid="explain-listener" />
        <TextField label="Sender (MAIL FROM)" value={f.from} onInput={(v) => set({ from: v })} placeholder="<alice@example.com>" hint="Empty: the null sender <>." testid="explain-from" />
        <TextField label="Recipient (RCPT TO)" value={f.to} onInput={(v) => set({ to: v })} required placeholder="bob@example.net" testid="explain-to" />
      </div>
      <div class="actions">
        <button type="submit" class="primary">
          Explain
        </button>
      </div>
      <ErrorBox message={error} />
      {result && (
        <div class="result" data-testid="explain-result">
          <p class={`verdict ${result.action}`}>
            <strong>{result.action.toUpperCase()}</strong>{' '}
            <code>
              {result.code} {result.enhanced} {result.text}
            </code>
          </p>
          <dl class="facts">
            <dt>Decided by</dt>
            <dd>
              {result.rule} at {result.stage}
            </dd>
            <dt>Kind</dt>
            <dd>{result.kind ?? '–'}</dd>
            <dt>Relay right</dt>
            <dd>{result.relay_right === null || result.relay_right === undefined ? 'none' : typeof result.relay_right === 'string' ? result.relay_right : JSON.stringify(result.relay_right)}</dd>
            <dt>Content scanned</dt>
            <dd>{result.scanned === null ? '–' : result.scanned ? 'yes' : 'no'}</dd>
            {result.listener ? (
              <>
                <dt>Listener</dt>
                <dd>{result.listener}</dd>
              </>
            ) : null}
          </dl>
          <h3>Steps</h3>
          <ol class="trail">
            {result.trail.map((t, i) => (
              <li key={i}>{t}</li>
            ))}
          </ol>
        </div>
      )}
    </form>
  );
}

function OpenRelayForm() {
  const [f, setF] = useState({ client: '', user: '', domain: '' });
  const [result, setResult] = useState<OpenRelayTest | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<typeof f>) => setF({ ...f, ...patch });
  const submit = async () => {
    setError(null);
    setBusy(true);
    try {
      setResult(await post<OpenRelayTest>('/api/policy/open-relay-test', compact(f, ['client'])));
    } catch (err) {
      setResult(null);
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      class="card"
      aria-labelledby="relaytest-title"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2 id="relaytest-title">Open-relay test</h2>
      <p class="intro">Runs the classic open-relay address tricks through the rules, as a client at this address would send them.</p>
      <div class="form-grid">
        <TextField label="Client to test" value={f.client} onInput={(v) => set({ client: v })} required placeholder="203.0.113.9" testid="relaytest-client" />
        <TextField label="User to test" value={f.user} onInput={(v) => set({ user: v })} hint="Empty: no AUTH." testid="relaytest-user" />
        <TextField label="Our domain" value={f.domain} onInput={(v) => set({ domain: v })} hint="Empty: the first local domain." testid="relaytest-domain" />
      </div>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Run open-relay test
        </button>
      </div>
      <ErrorBox message={error} />
      {result && (
        <div class="result" data-testid="open-relay-result">
          <p class={`verdict ${result.relayed ? 'reject' : 'accept'}`} role="status">
            {result.relayed ? (
              <strong>
                {result.relayed} of {result.results.length} addresses would be relayed for {result.client}.
              </strong>
            ) : (
              <>
                <strong>Not an open relay</strong> for {result.client}: none of the {result.results.length} addresses would be relayed (our domain: {result.domain}).
              </>
            )}
          </p>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Recipient</th>
                  <th scope="col">Relayed</th>
                  <th scope="col">Answer</th>
                  <th scope="col">Rule</th>
                </tr>
              </thead>
              <tbody>
                {result.results.map((r) => (
                  <tr key={r.to} class={r.relayed ? 'bad-row' : ''}>
                    <td class="mono">{r.to}</td>
                    <td>{r.relayed ? <span class="badge bad">RELAYED</span> : 'no'}</td>
                    <td>
                      {r.action} {r.code} {r.enhanced}
                      {r.kind ? ` (${r.kind})` : ''}
                    </td>
                    <td>{r.rule}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </form>
  );
}
