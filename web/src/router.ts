// Client-side routing on real paths (/relaying, /mail, …): the server answers
// every non-/api path with index.html, so a reload or a bookmark works.

import { useEffect, useState } from 'preact/hooks';

const EVENT = 'mw:navigate';

export function currentPath(): string {
  const p = location.pathname.replace(/\/+$/, '');
  return p === '' ? '/' : p;
}

export function navigate(path: string): void {
  if (path === currentPath()) return;
  history.pushState(null, '', path);
  window.dispatchEvent(new Event(EVENT));
}

export function useRoute(): string {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const update = () => setPath(currentPath());
    window.addEventListener('popstate', update);
    window.addEventListener(EVENT, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(EVENT, update);
    };
  }, []);
  return path;
}

/** onClick for an <a href>: a plain left click navigates in the app; others (new tab) are the browser's. */
export function linkClick(e: MouseEvent, path: string): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(path);
}
