// Password hashing for SMTP users: scrypt from node:crypto with a per-user
// random salt. The stored form names its parameters so they can be raised
// later without breaking existing hashes:
//   scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>

import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;
const FORMAT = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$/;

/**
 * Why `password` is too short for an SMTP user, or null. Counted in
 * characters (code points after NFC), as a person counts what they typed.
 */
export function passwordShortfall(password: string, min: number): string | null {
  const length = [...password.normalize('NFC')].length;
  return length < min ? `too short: ${length} character${length === 1 ? '' : 's'}, at least ${min} needed (limits.min_password_length)` : null;
}

export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password.normalize('NFC'), salt, KEYLEN, { N, r: R, p: P });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** hashPassword off the event loop (libuv's thread pool, sharing the login slots below): for the daemon's admin API. */
export async function hashPasswordAsync(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await inSlot(
    () =>
      new Promise<Buffer>((done, fail) => {
        scrypt(password.normalize('NFC'), salt, KEYLEN, { N, r: R, p: P }, (err, key) => (err ? fail(err) : done(key)));
      }),
  );
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export function isPasswordHash(text: string): boolean {
  const m = FORMAT.exec(text);
  if (!m) return false;
  const n = Number(m[1]);
  // N must be a power of two; keep the cost within what a relay can afford per login.
  return n >= 1024 && n <= 1 << 20 && (n & (n - 1)) === 0 && Number(m[2]) >= 1 && Number(m[2]) <= 32 && Number(m[3]) >= 1 && Number(m[3]) <= 16;
}

export function verifyPassword(password: string, stored: string): boolean {
  const m = FORMAT.exec(stored);
  if (!m || !isPasswordHash(stored)) return false;
  const expected = Buffer.from(m[5] ?? '', 'base64');
  const actual = scryptSync(password.normalize('NFC'), Buffer.from(m[4] ?? '', 'base64'), expected.length, {
    N: Number(m[1]),
    r: Number(m[2]),
    p: Number(m[3]),
    maxmem: 256 * 1024 * 1024,
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A hash that never matches, with the default cost: unknown names cost as much as wrong passwords. */
const DUMMY = `scrypt$${N}$${R}$${P}$${'A'.repeat(22)}==$${'A'.repeat(43)}=`;

/**
 * How many scrypts may run at once in libuv's thread pool: all but one of its
 * threads, so that a burst of logins (about 30 ms each) never holds every
 * thread while the spool's fsyncs and file creations wait behind them. The
 * launcher sizes the pool to the cores (bin/mailwarden).
 */
const SCRYPT_SLOTS = Math.max(1, (Number(process.env.UV_THREADPOOL_SIZE) || 4) - 1);
let running = 0;
const waiting: (() => void)[] = [];

/**
 * verifyPassword off the event loop (libuv's thread pool), for the daemon's
 * AUTH and admin logins. `stored` undefined (unknown user) still costs a
 * scrypt, so that timing does not tell which names exist.
 */
export async function verifyPasswordAsync(password: string, stored: string | undefined): Promise<boolean> {
  const known = stored !== undefined && isPasswordHash(stored);
  const m = FORMAT.exec(known ? stored : DUMMY);
  const expected = Buffer.from(m?.[5] ?? '', 'base64');
  return inSlot(
    () =>
      new Promise<boolean>((done) => {
        scrypt(password.normalize('NFC'), Buffer.from(m?.[4] ?? '', 'base64'), expected.length || KEYLEN, { N: Number(m?.[1]), r: Number(m?.[2]), p: Number(m?.[3]), maxmem: 256 * 1024 * 1024 }, (err, key) => {
          done(!err && known && key.length === expected.length && timingSafeEqual(key, expected));
        });
      }),
  );
}

/** Runs `work` (one scrypt) once one of the SCRYPT_SLOTS is free. */
async function inSlot<T>(work: () => Promise<T>): Promise<T> {
  // A slot is taken here, or handed over by the scrypt that finishes (running stays as it is).
  if (running < SCRYPT_SLOTS) running++;
  else await new Promise<void>((go) => waiting.push(go));
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}
