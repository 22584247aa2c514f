// The one form of a skip reason for a component a test needs and this machine
// lacks (swaks, dnsmasq, clamd, Chromium, ...). scripts/run-tests.ts knows the
// form: it lists every skip in its summary, and when the suite runs as root
// (as CI does, where `make test` installs every component) a skip of this
// form is a failure, so that a missing package can never hollow the suite out.

export const MISSING_PREFIX = 'missing component';

/** The skip reason for a missing component: `missing component swaks: …`. */
export function missingComponent(component: string, why: string): string {
  return `${MISSING_PREFIX} ${component}: ${why}`;
}

/** Whether a skip reason says a component is missing. */
export function isMissingComponent(reason: unknown): boolean {
  return typeof reason === 'string' && reason.startsWith(`${MISSING_PREFIX} `);
}
