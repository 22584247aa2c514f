// The impact preview of a pending settings change (POST /api/settings/preview,
// docs/preview.md): asked once the draft has been still for a moment, again
// whenever it changes, and never for a draft that equals what is applied.
// Only the latest question's answer is kept, so a slow answer to an older
// draft never replaces a newer one.

import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, post } from './api.ts';

export interface RuleRef {
  action: 'accept' | 'reject' | 'tempfail';
  code: number | null;
  rule: string;
  stage: 'connect' | 'auth' | 'mail' | 'rcpt';
  kind: 'inbound' | 'relay' | null;
  why: string;
}

export interface ClientImpact {
  client: string;
  network: string | null;
  rcpts: number;
  tuples: number;
  senders: { value: string; rcpts: number }[];
  more_senders: number;
  recipients: { value: string; rcpts: number }[];
  more_recipients: number;
  users: string[];
  listeners: string[];
  rules: { before: RuleRef; after: RuleRef; rcpts: number }[];
  first: string;
  last: string;
}

export interface ImpactPreview {
  days: number;
  since: string;
  until: string;
  active_revision: number;
  recorded: { tuples: number; rcpts: number; truncated: boolean; limit: number; first: string | null; last: string | null };
  would_now_refuse: ClientImpact[];
  would_now_accept: ClientImpact[];
  rule_changes: ClientImpact[];
  not_replayed: { reason: string; rcpts: number; tuples: number; clients: string[]; more_clients: number }[];
  totals: { replayed_rcpts: number; unchanged_rcpts: number };
  caution: boolean;
  summary: string;
}

export type ImpactState = { state: 'idle' } | { state: 'asking' } | { state: 'ready'; preview: ImpactPreview } | { state: 'error'; message: string };

/** How long the draft must stay still before the preview is asked. */
const QUIET_MS = 600;
export const PREVIEW_DAYS = 7;

/**
 * The preview of one settings section replaced by `value` (null: nothing
 * pending, nothing asked), made against `revision`.
 */
export function useImpactPreview(section: string, value: unknown, revision: number | null): ImpactState {
  const [state, setState] = useState<ImpactState>({ state: 'idle' });
  const seq = useRef(0);
  const key = value === null || value === undefined ? null : JSON.stringify(value);
  useEffect(() => {
    const n = ++seq.current;
    if (key === null) {
      setState({ state: 'idle' });
      return;
    }
    setState({ state: 'asking' });
    const timer = window.setTimeout(async () => {
      try {
        const preview = await post<ImpactPreview>('/api/settings/preview', { section, value: JSON.parse(key) as unknown, days: PREVIEW_DAYS, ...(revision === null ? {} : { revision }) });
        if (n === seq.current) setState({ state: 'ready', preview });
      } catch (err) {
        if (n !== seq.current) return;
        // An invalid draft is the Apply's to explain (with every finding); the preview only says it has nothing to show.
        const message = err instanceof ApiError && err.status === 400 ? 'the change is not valid yet' : (err as Error).message;
        setState({ state: 'error', message });
      }
    }, QUIET_MS);
    return () => window.clearTimeout(timer);
  }, [section, key, revision]);
  return state;
}
