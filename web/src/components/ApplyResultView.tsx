// The answer to an Apply: refused or applied, the errors (red), the warnings
// (amber) and the changes it made (or would have made).

import type { ApplyResult } from '../types.ts';
import { ChangeList } from './ChangeList.tsx';

export function ApplyResultView({ result }: { result: ApplyResult | null }) {
  if (!result) return null;
  const { ok, errors, warnings, changes, revision } = result;
  const summary = ok ? (revision ? `Applied as revision ${revision.number}.` : changes.length ? 'Applied.' : 'Nothing to change: the settings were already so.') : 'Refused: nothing was changed.';
  return (
    <div class={`apply-result ${ok ? 'ok' : 'refused'}`} data-testid="apply-result" data-ok={String(ok)} role={ok ? 'status' : 'alert'}>
      <p class="summary">{summary}</p>
      {errors.length > 0 && (
        <ul class="findings errors" aria-label="Errors">
          {errors.map((e, i) => (
            <li key={i}>
              {e.path ? <code>{e.path}</code> : null} {e.message}
            </li>
          ))}
        </ul>
      )}
      {warnings.length > 0 && (
        <ul class="findings warnings" aria-label="Warnings">
          {warnings.map((w, i) => (
            <li key={i}>
              {w.path ? <code>{w.path}</code> : null} {w.message}
            </li>
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
