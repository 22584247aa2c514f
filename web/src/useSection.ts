// One settings section as an editable draft: GET /api/settings/:section,
// change it locally, Apply = PUT /api/settings/:section {value}. After an
// apply that went through, the draft is what the server now has. While the
// draft differs from what was loaded, leaving the page asks first.

import { useCallback, useEffect, useState } from 'preact/hooks';
import { apply, get } from './api.ts';
import { useUnsavedChanges } from './router.ts';
import type { ApplyResult, SectionValue } from './types.ts';

export interface SectionState<T> {
  /** Null until loaded (see `loaded` for sections whose value may be null). */
  draft: T | null;
  loaded: boolean;
  set: (patch: Partial<T>) => void;
  replace: (v: T) => void;
  dirty: boolean;
  error: string | null;
  busy: boolean;
  result: ApplyResult | null;
  /** PUTs the draft (or the value given). */
  applyNow: (value?: T) => Promise<ApplyResult>;
}

export function useSection<T>(section: string): SectionState<T> {
  const [saved, setSaved] = useState<T | null>(null);
  const [draft, setDraft] = useState<T | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<ApplyResult | null>(null);
  // The revision the draft was loaded from: the server refuses (409) an Apply over someone else's newer change.
  const [revision, setRevision] = useState<number | null>(null);

  const load = useCallback(async () => {
    try {
      const r = await get<SectionValue<T>>(`/api/settings/${section}`);
      setSaved(r.value);
      setRevision(r.revision);
      setDraft(structuredClone(r.value));
      setLoaded(true);
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [section]);

  useEffect(() => {
    void load();
  }, [load]);

  const applyNow = async (value?: T) => {
    setBusy(true);
    try {
      const r = await apply('PUT', `/api/settings/${section}`, { value: value === undefined ? draft : value, comment: `${section} (web admin)`, ...(revision === null ? {} : { revision }) });
      setResult(r);
      if (r.ok) await load();
      return r;
    } finally {
      setBusy(false);
    }
  };

  const dirty = JSON.stringify(saved) !== JSON.stringify(draft);
  useUnsavedChanges(dirty);

  return {
    draft,
    loaded,
    set: (patch) => setDraft((d) => (d && typeof d === 'object' ? { ...d, ...patch } : d)),
    replace: (v) => setDraft(() => v),
    dirty,
    error,
    busy,
    result,
    applyNow,
  };
}
