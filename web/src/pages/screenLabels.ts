// The server names a setting by its path (`limits.max_recipients`,
// `listeners[1].port`); the pages of System, Limits and TLS show the same
// message under the label the field has on screen, and a listener by its
// name. Unknown paths are kept as they are.

import type { ApplyResult, Finding } from '../types.ts';

/** Rewrites each finding whose path `label` knows as "Label: message" (no path). */
export function labelled(result: ApplyResult | null, label: (path: string) => string | null): ApplyResult | null {
  if (!result) return null;
  const one = (f: Finding): Finding => {
    const l = f.path ? label(f.path) : null;
    return l ? { path: '', message: `${l}: ${f.message}` } : f;
  };
  return { ...result, errors: result.errors.map(one), warnings: result.warnings.map(one) };
}
