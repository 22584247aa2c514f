// A settings section card with its own Apply button and the ApplyResult
// shown under it. Viewers see the settings but no Apply button. With
// `impact`, a pending change's impact preview shows beside the button: a
// caution on it when the change would refuse mail accepted now.

import type { ComponentChildren } from 'preact';
import type { ApplyResult } from '../types.ts';
import { ApplyResultView } from './ApplyResultView.tsx';
import { ImpactPreviewView } from './ImpactPreview.tsx';
import type { ImpactState } from '../useImpactPreview.ts';

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
  /** The impact preview of the pending change (useImpactPreview). */
  impact?: ImpactState;
}

export function Section({ id, title, intro, children, canEdit, busy, dirty, result, onApply, action, impact }: Props) {
  const shown = canEdit && dirty && impact ? impact : null;
  const caution = shown?.state === 'ready' && shown.preview.caution;
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
            <button type="submit" class={caution ? 'primary with-caution' : 'primary'} disabled={busy} aria-describedby={caution ? `impact-${id}` : undefined}>
              {busy ? 'Applying…' : (action ?? 'Apply')}
            </button>
          )}
          {caution && (
            <span class="badge bad impact-flag" id={`impact-${id}`} data-testid="impact-flag">
              ⚠ would refuse mail accepted now
            </span>
          )}
          {dirty && <span class="dirty">Not applied yet</span>}
        </div>
        {shown && <ImpactPreviewView impact={shown} />}
      </form>
      <ApplyResultView result={result} />
    </section>
  );
}
