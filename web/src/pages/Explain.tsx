// Explain: asks the relay rules about an imagined transaction (POST
// /api/policy/explain) and runs the open-relay test battery for a client
// (POST /api/policy/open-relay-test), showing what each would answer, with
// each rule's one-line description and what would really scan the message.

import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { get, post } from '../api.ts';
import { ErrorBox, TextField } from '../components/Fields.tsx';
import { useLoad } from '../hooks.ts';
import { openRelayVerdict, type OpenRelayReport, type RelayVerdict } from '../openRelay.ts';
import { describeRule, RULE_LEGEND, scanVerdict, type Engines } from '../rules.ts';
import type { Antispam, Antivirus, Explanation, SectionValue } from '../types.ts';

/** Which content engines are on: what "scanned" can really mean. */
function useEngines(): Engines | null {
  const e = useLoad(async () => {
    const [av, as] = await Promise.all([get<SectionValue<Antivirus>>('/api/settings/antivirus'), get<SectionValue<Antispam>>('/api/settings/antispam')]);
    return { malware: av.value.enabled, spam: as.value.enabled, spamEngine: as.value.engine === 'rspamd' ? 'rspamd' : 'SpamAssassin' };
  });
  return e.data ?? null;
}

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
      <details class="card" data-testid="rule-legend">
        <summary>The relay rules</summary>
        <dl class="facts">
          {RULE_LEGEND.map(([r, text]) => (
            <Fragment key={r}>
              <dt>{r}</dt>
              <dd>{text}</dd>
            </Fragment>
          ))}
        </dl>
      </details>
    </section>
  );
}

function ExplainForm() {
  const [f, setF] = useState({ client: '', user: '', listener: '', from: '', to: '' });
  const [result, setResult] = useState<Explanation | null>(null);
  const [error, setError] = useState<string | null>(null);
  const engines = useEngines();
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
            <dd data-testid="explain-rule">
              {result.rule} at {result.stage}
              {describeRule(result.rule, result.stage) ? <small class="hint rule-text">: {describeRule(result.rule, result.stage)}</small> : null}
            </dd>
            <dt>Kind</dt>
            <dd>{result.kind ?? '–'}</dd>
            <dt>Relay right</dt>
            <dd>{result.relay_right === null || result.relay_right === undefined ? 'none' : typeof result.relay_right === 'string' ? result.relay_right : JSON.stringify(result.relay_right)}</dd>
            <dt>Content scanned</dt>
            <dd data-testid="explain-scanned">{scanVerdict(result.scanned, engines)}</dd>
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
  const [result, setResult] = useState<{ report: OpenRelayReport; verdict: RelayVerdict } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<typeof f>) => setF({ ...f, ...patch });
  const submit = async () => {
    setError(null);
    setBusy(true);
    try {
      const body = compact(f, ['client']);
      const report = await post<OpenRelayReport>('/api/policy/open-relay-test', body);
      // Which relay right let a relayed recipient through: a relay host or a user is meant to relay.
      const relayedTo = report.results.find((r) => r.relayed)?.to;
      let right: 'host' | 'auth' | null = null;
      if (relayedTo) {
        const x = await post<Explanation>('/api/policy/explain', { client: body.client!, ...(body.user ? { user: body.user } : {}), to: relayedTo });
        right = x.relay_right === 'host' || x.relay_right === 'auth' ? x.relay_right : null;
      }
      setResult({ report, verdict: openRelayVerdict(report, right, body.user ?? null) });
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
        <div class="result" data-testid="open-relay-result" data-tone={result.verdict.tone}>
          <p class={`verdict ${result.verdict.tone === 'bad' ? 'reject' : 'accept'}`} role="status" data-testid="open-relay-verdict">
            {result.verdict.tone === 'bad' ? <strong>{result.verdict.text}</strong> : result.verdict.text}
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
                {result.report.results.map((r) => (
                  <tr key={r.to} class={r.relayed && result.verdict.tone === 'bad' ? 'bad-row' : ''}>
                    <td class="mono">{r.to}</td>
                    <td>{!r.relayed ? 'no' : result.verdict.tone === 'bad' ? <span class="badge bad">RELAYED</span> : <span class="badge">relayed (allowed)</span>}</td>
                    <td>
                      {r.action} {r.code} {r.enhanced}
                      {r.kind ? ` (${r.kind})` : ''}
                    </td>
                    <td title={describeRule(r.rule, 'rcpt') ?? undefined}>{r.rule}</td>
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
