// A settings section card with its own Apply button and the ApplyResult
// shown under it. Viewers see the settings but no Apply button.

import type { ComponentChildren } from 'preact';
import type { ApplyResult } from '../types.ts';
import { ApplyResultView } from './ApplyResultView.tsx';

interface Props {
  id: string;
  title: string;
  intro?: ComponentChildren;
  children: ComponentChildren;
  canEdit: boolean;
  busy: boolean;
  dirty: boolean;
  result: ApplyResult | null;
  onApply: () => void;
  /** Text of the button; "Apply" unless said. */
  action?: string;
}

export function Section({ id, title, intro, children, canEdit, busy, dirty, result, onApply, action }: Props) {
  return (
    <section class="card settings-section" data-testid={`section-${id}`} aria-labelledby={`h-${id}`}>
      <h2 id={`h-${id}`}>{title}</h2>
      {intro ? <div class="intro">{intro}</div> : null}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (canEdit) onApply();
        }}
      >
        {children}
        <div class="actions">
          {canEdit && (
            <button type="submit" class="primary" disabled={busy}>
              {busy ? 'Applying…' : (action ?? 'Apply')}
            </button>
          )}
          {dirty && <span class="dirty">Not applied yet</span>}
        </div>
      </form>
      <ApplyResultView result={result} />
    </section>
  );
}
