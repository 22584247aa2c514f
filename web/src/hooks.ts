// Small data hooks: load something from the API (with reload), poll, make a
// change whose answer is an ApplyResult, and mark a form with unsaved input.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { apply } from './api.ts';
import { useUnsavedChanges } from './router.ts';
import { sameValue } from './sameValue.ts';
import type { ApplyResult } from './types.ts';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => Promise<void>;
  setData: (d: T) => void;
}

export function useLoad<T>(fn: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const live = useRef(true);
  const reload = useCallback(async () => {
    setLoading(true);
    try {
      const d = await fn();
      if (!live.current) return;
      setData(d);
      setError(null);
    } catch (err) {
      if (live.current) setError((err as Error).message);
    } finally {
      if (live.current) setLoading(false);
    }
    // The caller lists what fn depends on, as for useEffect.
  }, deps);
  useEffect(() => {
    live.current = true;
    void reload();
    return () => {
      live.current = false;
    };
  }, [reload]);
  return { data, error, loading, reload, setData };
}

/** Calls fn every `ms` while the page is shown (and the tab visible). */
export function useInterval(fn: () => void, ms: number): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    const t = window.setInterval(() => {
      if (document.visibilityState === 'visible') saved.current();
    }, ms);
    return () => window.clearInterval(t);
  }, [ms]);
}

/** A change through the API whose answer is an ApplyResult, with its busy flag. */
export function useApply() {
  const [result, setResult] = useState<ApplyResult | null>(null);
  const [busy, setBusy] = useState(false);
  const run = useCallback(async (method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<ApplyResult> => {
    setBusy(true);
    try {
      const r = await apply(method, path, body);
      setResult(r);
      return r;
    } finally {
      setBusy(false);
    }
  }, []);
  return { result, busy, run, setResult };
}

/**
 * An add/edit form holds unsaved input while what it would send (`current`)
 * differs from what it started from (`base`: the empty form when adding,
 * the object as loaded when editing): leaving the page then asks first
 * (router.ts). Saving or cancelling resets the form, which clears it.
 */
export function useFormDirty(current: unknown, base: unknown): boolean {
  const dirty = !sameValue(current, base);
  useUnsavedChanges(dirty);
  return dirty;
}
