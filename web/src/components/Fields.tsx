// Labelled form fields: every input has its <label>, and a hint (if any) is
// tied to it with aria-describedby. Small wrappers so the pages stay short.

import type { ComponentChildren } from 'preact';
import { useId } from 'preact/hooks';
import { screenText } from '../errors.ts';

interface Base {
  label: string;
  hint?: ComponentChildren;
  disabled?: boolean;
  testid?: string;
}

function Hint({ id, hint }: { id: string; hint?: ComponentChildren }) {
  return hint ? (
    <small class="hint" id={id}>
      {hint}
    </small>
  ) : null;
}

export function TextField(p: Base & { value: string; onInput: (v: string) => void; type?: 'text' | 'password' | 'email'; required?: boolean; placeholder?: string; autoComplete?: string; name?: string }) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{p.label}</label>
      <input
        id={id}
        name={p.name}
        type={(p.type ?? 'text') as 'text'}
        value={p.value}
        required={p.required}
        placeholder={p.placeholder}
        autoComplete={p.autoComplete ?? 'off'}
        disabled={p.disabled}
        data-testid={p.testid}
        aria-describedby={p.hint ? `${id}-hint` : undefined}
        onInput={(e) => p.onInput((e.currentTarget as HTMLInputElement).value)}
      />
      <Hint id={`${id}-hint`} hint={p.hint} />
    </div>
  );
}

/** A number; with allowEmpty, an empty field is null. */
export function NumberField(p: Base & { value: number | null; onChange: (v: number | null) => void; min?: number; max?: number; step?: number | 'any'; allowEmpty?: boolean }) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{p.label}</label>
      <input
        id={id}
        type="number"
        inputMode="decimal"
        value={p.value === null ? '' : String(p.value)}
        min={p.min}
        max={p.max}
        step={p.step ?? 1}
        disabled={p.disabled}
        data-testid={p.testid}
        aria-describedby={p.hint ? `${id}-hint` : undefined}
        onInput={(e) => {
          const raw = (e.currentTarget as HTMLInputElement).value.trim();
          if (raw === '') p.onChange(p.allowEmpty ? null : 0);
          else if (Number.isFinite(Number(raw))) p.onChange(Number(raw));
        }}
      />
      <Hint id={`${id}-hint`} hint={p.hint} />
    </div>
  );
}

export function CheckField(p: Base & { checked: boolean; onChange: (v: boolean) => void }) {
  const id = useId();
  return (
    <div class="field check">
      <input
        id={id}
        type="checkbox"
        checked={p.checked}
        disabled={p.disabled}
        data-testid={p.testid}
        aria-describedby={p.hint ? `${id}-hint` : undefined}
        onChange={(e) => p.onChange((e.currentTarget as HTMLInputElement).checked)}
      />
      <label for={id}>{p.label}</label>
      <Hint id={`${id}-hint`} hint={p.hint} />
    </div>
  );
}

export function SelectField<T extends string>(p: Base & { value: T; options: readonly (readonly [T, string])[]; onChange: (v: T) => void }) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{p.label}</label>
      <select id={id} value={p.value} disabled={p.disabled} data-testid={p.testid} aria-describedby={p.hint ? `${id}-hint` : undefined} onChange={(e) => p.onChange((e.currentTarget as HTMLSelectElement).value as T)}>
        {p.options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
      <Hint id={`${id}-hint`} hint={p.hint} />
    </div>
  );
}

export function TextArea(p: Base & { value: string; onInput: (v: string) => void; rows?: number; mono?: boolean }) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{p.label}</label>
      <textarea
        id={id}
        rows={p.rows ?? 4}
        class={p.mono ? 'mono' : undefined}
        value={p.value}
        disabled={p.disabled}
        spellcheck={false}
        data-testid={p.testid}
        aria-describedby={p.hint ? `${id}-hint` : undefined}
        onInput={(e) => p.onInput((e.currentTarget as HTMLTextAreaElement).value)}
      />
      <Hint id={`${id}-hint`} hint={p.hint} />
    </div>
  );
}

/** An error message that screen readers announce; API paths in it are said as the screen labels them. */
export function ErrorBox({ message }: { message: string | null | undefined }) {
  return message ? (
    <p class="error-box" role="alert">
      {screenText(message)}
    </p>
  ) : null;
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" aria-busy="true">
      Loading {what}…
    </p>
  );
}
