// Small data hooks: load something from the API (with reload), poll, and
// make a change whose answer is an ApplyResult.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { apply } from './api.ts';
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
