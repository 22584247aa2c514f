// Random bytes for identifiers that must not collide but need not be secret
// (queue ids, SMTP session ids), drawn from a pool that is refilled 4 KiB at
// a time: one call into the system's generator per message cost more than
// the rest of making the id. Never use it for secrets (passwords, tokens).

import { randomFillSync } from 'node:crypto';

const POOL = Buffer.alloc(4096);
let used = POOL.length;

/** `n` (at most 256) fresh random bytes; the view is valid until the next call. */
export function pooledRandom(n: number): Buffer {
  if (n > 256) throw new RangeError('pooledRandom: at most 256 bytes');
  if (used + n > POOL.length) {
    randomFillSync(POOL);
    used = 0;
  }
  const out = POOL.subarray(used, used + n);
  used += n;
  return out;
}
