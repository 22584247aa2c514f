// Queue ids: 16 characters of lower-case base32, time first so that ids sort
// by arrival and a directory listing reads in order, random after so two
// processes never collide.

import { pooledRandom } from '../core/random-pool.ts';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const QUEUE_ID = /^[0-9a-hjkmnp-tv-z]{16}$/;

export function newQueueId(now = Date.now()): string {
  let t = '';
  let n = now;
  for (let i = 0; i < 9; i++) {
    t = (ALPHABET[n % 32] ?? '0') + t;
    n = Math.floor(n / 32);
  }
  const r = pooledRandom(7);
  let tail = '';
  for (let i = 0; i < 7; i++) tail += ALPHABET[(r[i] ?? 0) % 32];
  return t + tail;
}
