// A button for an action that cannot be undone: the first press asks
// ("Confirm delete" / "Cancel"), the second does it. `what` names the
// object for screen readers ("Delete office", "Delete office?").

import { useEffect, useRef, useState } from 'preact/hooks';

interface Props {
  label: string;
  confirmLabel: string;
  onConfirm: () => void;
  disabled?: boolean;
  what?: string;
}

export function ConfirmButton({ label, confirmLabel, onConfirm, disabled, what }: Props) {
  const named = what ? `${label} ${what}` : label;
  const [asking, setAsking] = useState(false);
  const yes = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) yes.current?.focus();
  }, [asking]);
  if (!asking)
    return (
      <button type="button" class="danger" aria-label={what ? named : undefined} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <span class="confirm" role="group" aria-label={`${named}?`}>
      <button
        type="button"
        class="danger solid"
        ref={yes}
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}
