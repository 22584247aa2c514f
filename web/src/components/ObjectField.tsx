// A field that holds a list of object names (networks, users or groups) as
// chips. Objects are dropped on it from an object list (HTML5 drag and drop,
// the name in the dataTransfer text), or added with the keyboard through the
// select and its Add button; each chip has a Remove button. With onCreate,
// a "+" opens a small form (CreateObject) that creates a new object of the
// field's kind on the server and then adds it to the field (not applied).

import { useId, useRef, useState } from 'preact/hooks';
import { CreateObject } from './CreateObject.tsx';
import { dragType, KIND_WORDS, type ObjectKind } from './objectKinds.ts';

interface Props {
  label: string;
  kind: ObjectKind;
  value: string[];
  /** The names that may be added (known objects of this kind). */
  options: string[];
  onChange: (v: string[]) => void;
  disabled?: boolean;
  testid?: string;
  hint?: string;
  /**
   * Shows the "+" that creates a new object in place. Called once the server
   * has created it (a new revision): the page reloads its object lists (and
   * whatever else a new revision means to it); then the name is added here.
   */
  onCreate?: (name: string) => Promise<void> | void;
}

export function ObjectField(props: Props) {
  const { label, kind, value, options, onChange, disabled, testid, hint, onCreate } = props;
  const id = useId();
  const [over, setOver] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  /** The object last created here: said until it is taken out of the field again. */
  const [done, setDone] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  /** The props of the latest render: a create ends after the page may have changed the field. */
  const latest = useRef(props);
  latest.current = props;
  const what = KIND_WORDS[kind].what;
  const plus = useRef<HTMLButtonElement>(null);
  /** Closes the create form; focus goes back to its "+" rather than to the page's top. */
  const closeCreate = () => {
    setCreating(false);
    plus.current?.focus();
  };

  const created = async (name: string) => {
    await latest.current.onCreate?.(name);
    const now = latest.current;
    if (!now.value.includes(name)) now.onChange([...now.value, name]);
    closeCreate();
    setNote(null);
    setDone(name);
  };
  const addable = options.filter((o) => !value.includes(o));
  // No preselected object: pressing Add must never add "Any" by accident.
  const [pick, setPick] = useState('');
  const chosen = addable.includes(pick) ? pick : '';

  const add = (name: string) => {
    if (!name) return;
    if (!options.includes(name)) {
      setNote(`"${name}" is not a ${kind} object.`);
      return;
    }
    if (value.includes(name)) {
      setNote(`"${name}" is already in ${label}.`);
      return;
    }
    setNote(null);
    onChange([...value, name]);
  };

  /** The kind of another object being dragged here (a user onto a network field), if so. */
  const otherKind = (e: DragEvent): string | null => {
    const t = [...(e.dataTransfer?.types ?? [])].find((x) => x.startsWith('application/x-mailwarden-') && x !== dragType(kind));
    return t ? t.slice('application/x-mailwarden-'.length) : null;
  };
  const accepts = (e: DragEvent) => {
    const types = [...(e.dataTransfer?.types ?? [])];
    // Another kind of object (a user dragged onto a network field) is not taken.
    return !disabled && !otherKind(e) && (types.includes(dragType(kind)) || types.includes('text/plain'));
  };
  /** Says at once why another kind of object is refused here: the drop itself is not allowed, so it could not. */
  const refuse = (e: DragEvent) => {
    const other = otherKind(e);
    if (!disabled && other) setNote(`A ${other} cannot go in ${label}: only ${kind} objects.`);
  };

  return (
    <fieldset class="object-field" disabled={disabled}>
      <legend>{label}</legend>
      {hint ? <p class="hint">{hint}</p> : null}
      <ul
        class={`dropzone${over ? ' over' : ''}`}
        data-testid={testid}
        aria-label={`${label}: ${value.length ? value.join(', ') : 'empty'}`}
        onDragEnter={(e) => {
          if (accepts(e)) {
            e.preventDefault();
            setOver(true);
          } else refuse(e);
        }}
        onDragOver={(e) => {
          if (!accepts(e)) {
            if (!note) refuse(e);
            return;
          }
          e.preventDefault();
          if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          if (!accepts(e)) return;
          const name = (e.dataTransfer?.getData(dragType(kind)) || e.dataTransfer?.getData('text/plain') || '').trim();
          add(name);
        }}
      >
        {value.length === 0 ? <li class="empty">{disabled ? 'None' : `None yet: drag ${kind} objects here or add one below`}</li> : null}
        {value.map((name) => (
          <li key={name} class={`chip${options.includes(name) ? '' : ' unknown'}`} data-name={name} title={options.includes(name) ? undefined : `unknown ${kind} object`}>
            <span>{name}</span>
            {!disabled && (
              <button type="button" class="chip-remove" aria-label={`Remove ${name} from ${label}`} onClick={() => onChange(value.filter((v) => v !== name))}>
                ×
              </button>
            )}
          </li>
        ))}
      </ul>
      {!disabled && (
        <div class="add-row">
          <label for={id}>Add {kind} to {label}</label>
          <select id={id} value={chosen} onChange={(e) => setPick((e.currentTarget as HTMLSelectElement).value)} disabled={addable.length === 0}>
            <option value="">{addable.length === 0 ? '(all added)' : `Choose a ${kind}…`}</option>
            {addable.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
          <button
            type="button"
            onClick={() => {
              add(chosen);
              setPick('');
            }}
            disabled={!chosen}
          >
            Add
          </button>
          {onCreate && (
            <button ref={plus} type="button" class="create-toggle" aria-label={`New ${what} for ${label}`} title={`New ${what}`} aria-expanded={creating} onClick={() => setCreating(!creating)}>
              +
            </button>
          )}
        </div>
      )}
      {!disabled && onCreate && creating && <CreateObject kind={kind} fieldLabel={label} onCreated={created} onClose={closeCreate} />}
      {done !== null && value.includes(done) ? (
        <p class="note created" role="status" data-testid={testid ? `${testid}-created` : undefined}>
          Created {what} "{done}" and added it to {label}.
        </p>
      ) : null}
      {note ? (
        <p class="note" role="status" data-testid={testid ? `${testid}-note` : undefined}>
          {note}
        </p>
      ) : null}
    </fieldset>
  );
}
