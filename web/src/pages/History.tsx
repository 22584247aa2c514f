// History: the applied revisions (newest first), the diff between any two,
// a revision's document, and Rollback (which applies that revision's
// document as a new revision, so history only grows). Rollback first shows
// what it would add, change and remove, and applies only when confirmed.

import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.ts';
import { ApplyResultView } from '../components/ApplyResultView.tsx';
import { ChangeList } from '../components/ChangeList.tsx';
import { ErrorBox, Loading, SelectField } from '../components/Fields.tsx';
import { RollbackPreview, type RollbackCheck } from '../components/RollbackPreview.tsx';
import { fmtTime } from '../format.ts';
import { useApply, useLoad } from '../hooks.ts';
import { useCanEdit } from '../session.ts';
import type { Change, RevisionInfo } from '../types.ts';

interface Revisions {
  active: number | null;
  revisions: RevisionInfo[];
}

export function History() {
  const canEdit = useCanEdit();
  const revs = useLoad(() => get<Revisions>('/api/revisions'));
  const rollback = useApply();
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [diff, setDiff] = useState<{ from: string; to: string; changes: Change[] } | null>(null);
  const [diffError, setDiffError] = useState<string | null>(null);
  const [doc, setDoc] = useState<{ n: number; text: string } | null>(null);
  const [preview, setPreview] = useState<RollbackCheck | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);

  const list = [...(revs.data?.revisions ?? [])].sort((a, b) => b.number - a.number);
  const active = revs.data?.active ?? null;
  const numbers = list.map((r) => String(r.number));

  // Default comparison: the one before the active revision against it.
  useEffect(() => {
    if (!revs.data || from || to) return;
    const a = active ?? list[0]?.number;
    if (a === undefined) return;
    const prev = list.find((r) => r.number < a)?.number ?? a;
    setFrom(String(prev));
    setTo(String(a));
  }, [revs.data]);

  const showDiff = async () => {
    setDiffError(null);
    try {
      const r = await get<{ changes: Change[] }>(`/api/revisions/${from}/diff/${to}`);
      setDiff({ from, to, changes: r.changes });
    } catch (err) {
      setDiff(null);
      setDiffError((err as Error).message);
    }
  };

  const askRollback = async (n: number) => {
    setPreviewError(null);
    rollback.setResult(null);
    try {
      setPreview(await get<RollbackCheck>(`/api/revisions/${n}/rollback`));
    } catch (err) {
      setPreview(null);
      setPreviewError((err as Error).message);
    }
  };

  const confirmRollback = async (p: RollbackCheck) => {
    // Made against the revision previewed: if another change landed since, the server refuses (409) and nothing changes.
    const res = await rollback.run('POST', `/api/revisions/${p.revision}/rollback`, p.active === null ? {} : { revision: p.active });
    setPreview(null);
    if (res.ok) {
      setFrom('');
      setTo('');
      setDiff(null);
    }
    await revs.reload();
  };

  const view = async (n: number) => {
    if (doc?.n === n) return setDoc(null);
    try {
      const r = await get<{ number: number; document: unknown }>(`/api/revisions/${n}`);
      setDoc({ n, text: JSON.stringify(r.document, null, 2) });
    } catch (err) {
      setDoc({ n, text: (err as Error).message });
    }
  };

  return (
    <section class="page">
      <h1>History</h1>
      <p class="lead">Every applied change is a numbered revision. A rollback applies an old revision's settings as a new revision.</p>
      <ErrorBox message={revs.error} />
      {!revs.data && !revs.error ? <Loading what="revisions" /> : null}

      <form
        class="card toolbar"
        aria-label="Compare revisions"
        onSubmit={(e) => {
          e.preventDefault();
          void showDiff();
        }}
      >
        <SelectField label="From revision" value={from} options={numbers.map((n) => [n, n] as const)} onChange={setFrom} testid="diff-from" />
        <SelectField label="To revision" value={to} options={numbers.map((n) => [n, n] as const)} onChange={setTo} testid="diff-to" />
        <button type="submit" disabled={!from || !to}>
          Show diff
        </button>
      </form>
      <ErrorBox message={diffError} />
      {diff && (
        <div class="card" data-testid="revision-diff">
          <h2>
            Changes from revision {diff.from} to {diff.to}
          </h2>
          <ChangeList changes={diff.changes} />
        </div>
      )}

      <ErrorBox message={previewError} />
      {preview && <RollbackPreview check={preview} busy={rollback.busy} onConfirm={() => void confirmRollback(preview)} onCancel={() => setPreview(null)} />}
      <ApplyResultView result={rollback.result} />
      <div class="card">
        <h2>Revisions</h2>
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Revision</th>
                <th scope="col">Applied</th>
                <th scope="col">By</th>
                <th scope="col">Comment</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.map((r) => (
                <Fragment key={r.number}>
                  <tr data-testid={`revision-${r.number}`} class={r.number === active ? 'active-row' : ''}>
                    <td data-label="Revision">
                      <strong>{r.number}</strong> {r.number === active ? <span class="badge ok">active</span> : null}
                    </td>
                    <td data-label="Applied">{fmtTime(r.created)}</td>
                    <td data-label="By">{r.author}</td>
                    <td data-label="Comment">{r.comment}</td>
                    <td data-label="Actions" class="row-actions">
                      <button type="button" aria-expanded={doc?.n === r.number} onClick={() => void view(r.number)}>
                        View
                      </button>
                      {canEdit && r.number !== active && (
                        <button type="button" disabled={rollback.busy} aria-expanded={preview?.revision === r.number} onClick={() => void askRollback(r.number)}>
                          Rollback
                        </button>
                      )}
                    </td>
                  </tr>
                  {doc?.n === r.number && (
                    <tr class="details-row">
                      <td colSpan={5}>
                        <pre class="doc">{doc.text}</pre>
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </section>
  );
}
