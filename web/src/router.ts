// Client-side routing on real paths (/relaying, /mail, …): the server answers
// every non-/api path with index.html, so a reload or a bookmark works.
// Leaving a page that has unapplied changes is asked first: an in-app link
// or Back waits for the answer of the prompt (UnsavedChangesPrompt), and
// closing or reloading the tab gets the browser's own beforeunload question.

import { useEffect, useState } from 'preact/hooks';

const EVENT = 'mw:navigate';
const ASK = 'mw:leave-ask';

export function currentPath(): string {
  const p = location.pathname.replace(/\/+$/, '');
  return p === '' ? '/' : p;
}

/** The pages' parts that hold unapplied changes right now (see useUnsavedChanges). */
const dirty = new Set<object>();
/** The path the current page is shown for: where Back returns to when the admin stays. */
let shown = currentPath();
/** Where the admin asked to go while there were unapplied changes; null when nothing is asked. */
let pending: string | null = null;

export const hasUnsavedChanges = (): boolean => dirty.size > 0;

function go(path: string, push: boolean): void {
  if (push) history.pushState(null, '', path);
  shown = currentPath();
  window.dispatchEvent(new Event(EVENT));
}

function ask(path: string): void {
  pending = path;
  window.dispatchEvent(new Event(ASK));
}

export function navigate(path: string): void {
  if (path === currentPath()) return;
  if (hasUnsavedChanges()) return ask(path);
  go(path, true);
}

/** The answer to the prompt: leave (the unapplied changes are dropped) or stay. */
export function answerLeave(leave: boolean): void {
  const to = pending;
  pending = null;
  window.dispatchEvent(new Event(ASK));
  if (!leave || to === null) return;
  dirty.clear();
  go(to, true);
}

/** The path the admin asked to go to while there are unapplied changes (null: none asked). */
export function usePendingLeave(): string | null {
  const [to, setTo] = useState(pending);
  useEffect(() => {
    const update = () => setTo(pending);
    window.addEventListener(ASK, update);
    return () => window.removeEventListener(ASK, update);
  }, []);
  return to;
}

/** Marks the calling page as holding unapplied changes while `isDirty` is true (until it unmounts). */
export function useUnsavedChanges(isDirty: boolean): void {
  useEffect(() => {
    if (!isDirty) return;
    const token = {};
    dirty.add(token);
    return () => void dirty.delete(token);
  }, [isDirty]);
}

if (typeof window !== 'undefined') {
  // Back/Forward has already changed the address when this runs: with
  // unapplied changes, put the page's own address back and ask.
  window.addEventListener('popstate', () => {
    const target = currentPath();
    if (target === shown) return;
    if (hasUnsavedChanges()) {
      history.pushState(null, '', shown);
      return ask(target);
    }
    go(target, false);
  });
  window.addEventListener('beforeunload', (e) => {
    if (!hasUnsavedChanges()) return;
    e.preventDefault();
    // Older browsers ask only when returnValue is set.
    e.returnValue = '';
  });
}

export function useRoute(): string {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const update = () => setPath(currentPath());
    window.addEventListener(EVENT, update);
    return () => window.removeEventListener(EVENT, update);
  }, []);
  return path;
}

/** onClick for an <a href>: a plain left click navigates in the app; others (new tab) are the browser's. */
export function linkClick(e: MouseEvent, path: string): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(path);
}
