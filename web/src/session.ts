// Who is logged in, for every page: the name, the role, and whether changes
// are allowed (a viewer gets 403 on any change, so their buttons are hidden).

import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Me } from './types.ts';

export const SessionContext = createContext<Me | null>(null);

export function useSession(): Me | null {
  return useContext(SessionContext);
}

/** True when the logged-in admin may change things (role "admin"). */
export function useCanEdit(): boolean {
  return useContext(SessionContext)?.role === 'admin';
}
