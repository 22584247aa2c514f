// The small pieces every object page repeats: the row a table shows when it
// is empty, the card that holds an add/edit form with its heading, and that
// form's save/cancel buttons, and a row's delete button (which asks first).

import type { ComponentChildren } from 'preact';
import type { ApplyResult } from '../types.ts';
import { ApplyResultView } from './ApplyResultView.tsx';
import { ConfirmButton } from './ConfirmButton.tsx';

/** A full-width muted row, shown only when `show` is true. */
export function EmptyRow({ cols, show, children }: { cols: number; show: boolean | null | undefined; children: ComponentChildren }) {
  if (!show) return null;
  return (
    <tr>
      <td colSpan={cols} class="muted">
        {children}
      </td>
    </tr>
  );
}

/** A form card labelled by its own heading; submitting calls `onSubmit` (the page stays). */
export function CardForm({ id, titleId, title, onSubmit, children }: { id?: string; titleId: string; title: string; onSubmit: () => void; children: ComponentChildren }) {
  return (
    <form
      id={id}
      class="card form-grid"
      aria-labelledby={titleId}
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit();
      }}
    >
      <h2 id={titleId}>{title}</h2>
      {children}
    </form>
  );
}

/** A form's buttons: save, and cancel while an existing object is being edited; then the answer to the last save. */
export function SaveActions({ label, busy, editing, onCancel, result }: { label: string; busy: boolean; editing: boolean; onCancel: () => void; result: ApplyResult | null }) {
  return (
    <>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {label}
        </button>
        {editing && (
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
      <ApplyResultView result={result} />
    </>
  );
}

/** A table row's delete button, labelled for screen readers with what it deletes: it asks first ("Confirm delete" / "Cancel"). */
export function DeleteButton({ what, busy, onDelete }: { what: string; busy: boolean; onDelete: () => void }) {
  return <ConfirmButton label="Delete" confirmLabel="Confirm delete" what={what} disabled={busy} onConfirm={onDelete} />;
}
