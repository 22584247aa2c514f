// The expensive half of a settings change, with no I/O: validate a raw
// document against the active one (secrets carried over), judge the new
// passwords, diff, and hash. It runs in the CLI's own process and, for the
// daemon, in a worker thread (check-worker.ts), so that a large document never
// holds up the SMTP listeners; ConfigService commits what it returns.

import type { Settings } from '../config/document.ts';
import { embeddedDefaults } from '../config/document.ts';
import { validate } from '../config/validate.ts';
import { carrySecrets, hashSecrets, redactSecrets } from '../config/secrets.ts';
import { diffSettings, type Change } from '../config/diff.ts';
import { at, type Finding } from '../config/issues.ts';
import { passwordShortfall } from '../objects/password.ts';

/**
 * What a clear-text password shorter than limits.min_password_length does:
 * `refuse` (an error) wherever an administrator sets one; `warn` for the
 * document `start --config` applies at every start, so that a settings file
 * that always had a short password does not keep the relay down.
 */
export type PasswordRule = 'refuse' | 'warn';

export interface Prepared {
  ok: boolean;
  errors: Finding[];
  warnings: Finding[];
  /** Against `base` (secrets left out). */
  changes: Change[];
  /** The document to store (passwords hashed); null when refused. */
  next: Settings | null;
  /** `next` is `base` exactly (hashes compared too, so a new password is a change). */
  unchanged: boolean;
}

export function prepare(raw: unknown, base: Settings | null, rule: PasswordRule): Prepared {
  const v = validate(carrySecrets(raw, base));
  const errors = [...v.errors];
  const warnings = [...v.warnings];
  // Only clear-text passwords are new ones; a stored hash keeps working whatever its length was.
  const min = v.settings.limits.min_password_length;
  v.settings.users.forEach((u, i) => {
    const why = u.password === undefined || u.password.length === 0 ? null : passwordShortfall(u.password, min);
    if (why) (rule === 'refuse' ? errors : warnings).push({ path: at(at('users', i), 'password'), message: `user "${u.name}": ${why}` });
  });
  const changes = diffSettings(redactSecrets(base ?? embeddedDefaults()), redactSecrets(v.settings));
  if (errors.length > 0) return { ok: false, errors, warnings, changes, next: null, unchanged: false };
  const next = hashSecrets(v.settings, base);
  const unchanged = base !== null && JSON.stringify(base) === JSON.stringify(next);
  return { ok: true, errors, warnings, changes: unchanged ? [] : changes, next, unchanged };
}

/** Two stored documents compared, secrets left out. */
export function diffDocuments(a: Settings, b: Settings): Change[] {
  return diffSettings(redactSecrets(a), redactSecrets(b));
}

/**
 * The body of POST /api/settings/validate and /diff, `{document, comment?,
 * revision?}`, read from its JSON text (in the checker's thread: the event
 * loop never parses a large document). As strict as the API's schemas: an
 * unknown field or a wrong type is named, never dropped.
 */
export function parseDocumentBody(text: string): { ok: true; document: unknown } | { ok: false; errors: string[] } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { ok: false, errors: [`body: not valid JSON (${(err as Error).message})`] };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, errors: ['body: must be object'] };
  const b = body as Record<string, unknown>;
  const errors: string[] = [];
  for (const k of Object.keys(b)) if (!['document', 'comment', 'revision'].includes(k)) errors.push(`body.${k}: unknown field`);
  if (!('document' in b)) errors.push('body.document: is required');
  if ('comment' in b && (typeof b.comment !== 'string' || b.comment.length > 500)) errors.push('body.comment: must be a string of at most 500 characters');
  if ('revision' in b && (typeof b.revision !== 'number' || !Number.isInteger(b.revision) || b.revision < 0)) errors.push('body.revision: must be a whole number >= 0');
  return errors.length ? { ok: false, errors } : { ok: true, document: b.document };
}
