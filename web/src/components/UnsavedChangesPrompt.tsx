// The question asked when an admin leaves a page with unapplied changes
// (a nav link, the brand link, Back): stay on the page, or leave and drop
// the changes. A modal dialog, so focus stays in it; Esc means stay.

import { useEffect, useRef } from 'preact/hooks';
import { pageFor } from '../pages.ts';
import { answerLeave, usePendingLeave } from '../router.ts';

export function UnsavedChangesPrompt() {
  const to = usePendingLeave();
  const dialog = useRef<HTMLDialogElement>(null);
  const stay = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (to !== null && !d.open) {
      d.showModal();
      stay.current?.focus();
    } else if (to === null && d.open) d.close();
  }, [to]);
  const where = to === null ? '' : (pageFor(to)?.title ?? to);
  return (
    <dialog
      ref={dialog}
      class="leave-prompt card"
      style={{ maxWidth: '32rem', padding: '1.25rem 1.5rem', margin: 'auto', boxShadow: '0 0 0 100vmax rgba(16, 24, 40, 0.45)' }}
      aria-labelledby="leave-title"
      aria-describedby="leave-text"
      data-testid="unsaved-prompt"
      onCancel={(e) => {
        e.preventDefault();
        answerLeave(false);
      }}
    >
      <h2 id="leave-title">Leave without applying?</h2>
      <p id="leave-text">
        This page has changes that are not applied yet. If you open <strong>{where}</strong> now, they are lost. Stay and press Apply to keep them.
      </p>
      <div class="actions">
        <button type="button" class="primary" ref={stay} onClick={() => answerLeave(false)}>
          Stay on this page
        </button>
        <button type="button" class="danger" onClick={() => answerLeave(true)}>
          Leave and discard changes
        </button>
      </div>
    </dialog>
  );
}
