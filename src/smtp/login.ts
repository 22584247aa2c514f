// AUTH: the failed-login throttle (limits.max_auth_failures per client), the
// credentials (credentials.ts: a local user or a directory's), then the checks of the AUTH stage
// (the relay rules: may this user relay?). A refusal is the same 535 for a
// wrong password, an unknown user and a user who may not relay, after the
// throttle's delay, so that a client learns nothing about which names exist.

import { durationMs } from '../core/duration.ts';
import { MailError } from '../core/mail-error.ts';
import type { Logger } from '../log/logger.ts';
import { clientBucket } from '../objects/client-bucket.ts';
import type { Identity } from '../policy/identity.ts';
import { checkCredentials } from './credentials.ts';
import type { CheckRunner, SessionBase } from '../checks/runner.ts';
import type { AuthThrottlePort } from './auth-throttle.ts';

const TOO_MANY = () => new MailError(421, '4.7.0', 'Too many failed logins, closing connection', { rule: 'limits.max_auth_failures' });

export interface LoginDeps {
  runner: CheckRunner;
  throttle: AuthThrottlePort;
  logger: Logger;
}

/** The user on success; a MailError otherwise (never rejects). */
export async function login(deps: LoginDeps, base: SessionBase, cid: string, name: string, password: string): Promise<{ user: Identity } | { error: MailError }> {
  const { logger } = deps;
  const client = base.client.text;
  const lim = base.snap.settings.limits;
  const throttle = { maxFailures: lim.max_auth_failures, delayMs: durationMs(lim.auth_failure_delay), windowMs: durationMs(lim.auth_failure_window) };
  // Failed logins are counted per client network for IPv6 (limits.ipv6_client_prefix), as connections are.
  const bucket = clientBucket(client, lim.ipv6_client_prefix);
  let blocked: boolean;
  try {
    blocked = await deps.throttle.blocked(bucket, throttle);
  } catch (err) {
    // The throttle's keeper (the primary process) did not answer: never a login it could not count.
    return unavailable(logger, cid, client, name, err);
  }
  if (blocked) {
    logger.log('auth.blocked', { cid, client });
    return { error: TOO_MANY() };
  }
  let reason: string;
  try {
    const who = await checkCredentials(base.snap, deps.runner.services.directories, name, password);
    if (who) {
      const r = await deps.runner.run('auth', base, { user: who });
      if (!r.error) {
        logger.log('auth', { cid, client, user: name, ...(who.directory ? { directory: who.directory } : {}), action: 'accept', rule: r.decision?.rule });
        return { user: who };
      }
      // A check that could not answer: try again later, not a failed login.
      if (r.error.temporary) return { error: new MailError(454, '4.7.0', 'Temporary authentication failure', { rule: r.error.rule, reason: r.error.reason }) };
      reason = r.decision?.trail.at(-1) ?? r.error.reason;
    } else reason = 'wrong password or unknown user';
  } catch (err) {
    // A directory that did not answer (or anything unexpected): try again later, never a success.
    logger.log('auth', { cid, client, user: name, action: 'tempfail', rule: 'auth', reason: (err as Error).message });
    return { error: new MailError(454, '4.7.0', 'Temporary authentication failure', { rule: 'auth', reason: (err as Error).message }) };
  }
  let f: { delayMs: number; close: boolean };
  try {
    f = await deps.throttle.fail(bucket, throttle);
  } catch (err) {
    return unavailable(logger, cid, client, name, err);
  }
  logger.log('auth', { cid, client, user: name, action: 'reject', rule: 'rule 4', reason, failures_close: f.close });
  await new Promise((done) => setTimeout(done, f.delayMs).unref());
  return { error: f.close ? TOO_MANY() : new MailError(535, '5.7.8', 'Authentication credentials invalid', { rule: 'rule 4', reason }) };
}

function unavailable(logger: Logger, cid: string, client: string, name: string, err: unknown): { error: MailError } {
  const reason = `auth throttle: ${err instanceof Error ? err.message : String(err)}`;
  logger.log('auth', { cid, client, user: name, action: 'tempfail', rule: 'auth', reason });
  return { error: new MailError(454, '4.7.0', 'Temporary authentication failure', { rule: 'auth', reason }) };
}
