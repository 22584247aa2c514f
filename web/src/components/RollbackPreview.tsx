// The question before a rollback: what it would add, change and remove
// against the active revision (GET /api/revisions/:n/rollback), in words
// first ("Removes user bob"), then every changed setting; Confirm applies it
// against the revision previewed (the server refuses, 409, if another change
// landed since), Cancel drops it.

import { useEffect, useRef } from 'preact/hooks';
import type { Change, Finding } from '../types.ts';
import { ChangeList } from './ChangeList.tsx';

export interface RollbackCheck {
  revision: number;
  active: number | null;
  ok: boolean;
  errors: Finding[];
  warnings: Finding[];
  changes: Change[];
  /** Paths of the passwords it would bring back (the diff leaves secrets out). */
  secrets?: string[];
}

const KINDS: Record<string, string> = { users: 'user', groups: 'user group', domains: 'domain', networks: 'network object' };
const VERB = { added: 'Adds', removed: 'Removes', changed: 'Changes' } as const;

/** One line per object added, removed or changed (by name), then one per other setting changed, then the passwords brought back. */
export function summarise(changes: Change[], secrets: string[] = []): string[] {
  const objects = new Map<string, Change['op']>();
  const settings = new Set<string>();
  for (const c of changes) {
    const m = /^(users|groups|domains|networks)\[("(?:[^"\\]|\\.)*")\]/.exec(c.path);
    if (m) {
      const whole = m[0] === c.path;
      const key = `${KINDS[m[1]!]} ${JSON.parse(m[2]!) as string}`;
      objects.set(key, whole ? c.op : 'changed');
    } else settings.add(c.path);
  }
  const passwords = secrets.map((p) => {
    const u = /^users\[("(?:[^"\\]|\\.)*")\]\.password$/.exec(p);
    return u ? `Brings back the earlier password of user ${JSON.parse(u[1]!) as string}` : p === 'delivery.smarthost.password' ? 'Brings back the earlier smarthost password' : `Changes the secret ${p}`;
  });
  return [...[...objects].map(([what, op]) => `${VERB[op]} ${what}`), ...[...settings].map((p) => `Changes the setting ${p}`), ...passwords];
}

export function RollbackPreview({ check, busy, onConfirm, onCancel }: { check: RollbackCheck; busy: boolean; onConfirm: () => void; onCancel: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [check]);
  const lines = summarise(check.changes, check.secrets);
  return (
    <div class="card rollback-preview" role="region" aria-labelledby="rollback-title" data-testid="rollback-preview" data-ok={String(check.ok)}>
      <h2 id="rollback-title" ref={heading} tabIndex={-1}>
        Roll back to revision {check.revision}?
      </h2>
      <p>
        This applies the settings of revision {check.revision} as a new revision. Compared with the active revision{check.active === null ? '' : ` ${check.active}`}, it:
      </p>
      {lines.length === 0 ? (
        <p class="muted">changes nothing: the settings are already so.</p>
      ) : (
        <ul class="rollback-summary" data-testid="rollback-summary">
          {lines.map((l) => (
            <li key={l} class={l.startsWith('Removes') ? 'removes' : undefined}>
              {l}
            </li>
          ))}
        </ul>
      )}
      {check.errors.length > 0 && (
        <>
          <p role="alert">It would be refused, so it cannot be applied:</p>
          <ul class="findings errors" aria-label="Errors">
            {check.errors.map((e, i) => (
              <li key={i}>
                {e.path ? <code>{e.path}</code> : null} {e.message}
              </li>
            ))}
          </ul>
        </>
      )}
      {check.warnings.length > 0 && (
        <ul class="findings warnings" aria-label="Warnings">
          {check.warnings.map((w, i) => (
            <li key={i}>
              {w.path ? <code>{w.path}</code> : null} {w.message}
            </li>
          ))}
        </ul>
      )}
      {check.changes.length > 0 && (
        <details>
          <summary>Every changed setting ({check.changes.length})</summary>
          <ChangeList changes={check.changes} />
        </details>
      )}
      <div class="actions">
        <button type="button" class="danger solid" disabled={busy || !check.ok} onClick={onConfirm}>
          Confirm rollback to revision {check.revision}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}
