// The answer to an Apply: refused or applied, the errors (red), the warnings
// (amber) and the changes it made (or would have made).

import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.ts';
import { proposedDoc, screenFinding } from '../errors.ts';
import type { ApplyResult, Finding } from '../types.ts';
import { ChangeList } from './ChangeList.tsx';

/** A finding in the screen's words (errors.ts); the API's path in the tooltip. */
function FindingItem({ f, doc }: { f: Finding; doc: Record<string, unknown> | null }) {
  const s = screenFinding(f, doc);
  return (
    <li title={s.path || undefined}>
      {s.where ? <strong class="where">{s.where}:</strong> : null} {s.message}
    </li>
  );
}

/** The active settings, to name the objects that findings point at by index; loaded only when one does. */
function useDocFor(result: ApplyResult | null): Record<string, unknown> | null {
  const [doc, setDoc] = useState<Record<string, unknown> | null>(null);
  const indexed = !!result && [...result.errors, ...result.warnings].some((f) => /\[\d+\]/.test(f.path));
  useEffect(() => {
    if (!indexed) return;
    let live = true;
    get<{ document: Record<string, unknown> }>('/api/settings').then(
      (r) => live && setDoc(r.document),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [result, indexed]);
  return result && doc ? proposedDoc(doc, result.changes) : null;
}

export function ApplyResultView({ result }: { result: ApplyResult | null }) {
  const doc = useDocFor(result);
  if (!result) return null;
  const { ok, errors, warnings, changes, revision } = result;
  const summary = ok ? (revision ? `Applied as revision ${revision.number}.` : changes.length ? 'Applied.' : 'Nothing to change: the settings were already so.') : 'Refused: nothing was changed.';
  return (
    <div class={`apply-result ${ok ? 'ok' : 'refused'}`} data-testid="apply-result" data-ok={String(ok)} role={ok ? 'status' : 'alert'}>
      <p class="summary">{summary}</p>
      {errors.length > 0 && (
        <ul class="findings errors" aria-label="Errors">
          {errors.map((e, i) => (
            <FindingItem key={i} f={e} doc={doc} />
          ))}
        </ul>
      )}
      {warnings.length > 0 && (
        <ul class="findings warnings" aria-label="Warnings">
          {warnings.map((w, i) => (
            <FindingItem key={i} f={w} doc={doc} />
          ))}
        </ul>
      )}
      {changes.length > 0 && (
        <details open={ok}>
          <summary>{ok ? `Changes (${changes.length})` : `Changes it would have made (${changes.length})`}</summary>
          <ChangeList changes={changes} />
        </details>
      )}
    </div>
  );
}
