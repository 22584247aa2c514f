// The simulated slow disk (issue 22): every flush a relay makes costs a fixed
// extra latency, as on a cloud block volume (1–2 ms a flush) or a spinning
// disk. The honest way would be a device-mapper `delay` target under the
// relays' directories; `deviceMapperProbe()` tries it and says exactly why it
// cannot be had (this sandbox's kernel has no device-mapper). The fallback is
// an LD_PRELOAD shim, compiled here with gcc into the scratch directory (never
// committed as a binary): fsync, fdatasync, syncfs, msync(MS_SYNC) and
// sync_file_range(…WAIT_AFTER) sleep the delay in the calling thread, then
// call the real one. Every process of every relay loads it alike (Postfix's
// programs through import_environment, see relays/postfix.ts), and each call
// is counted in a shared file mapping, so that the report shows the delay was
// applied (delayed flushes per message next to perf's count).

import { writeFileSync, readFileSync, existsSync, mkdirSync, chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const SHIM_C = String.raw`/* bench/lib/slow-disk.ts: each flush sleeps SLOWSYNC_DELAY_US, counted in SLOWSYNC_COUNTER */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static long delay_us;
static uint64_t *counter;

__attribute__((constructor)) static void slowsync_init(void) {
  const char *d = getenv("SLOWSYNC_DELAY_US");
  delay_us = d ? atol(d) : 0;
  const char *f = getenv("SLOWSYNC_COUNTER");
  if (!f) return;
  int fd = open(f, O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  void *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p != MAP_FAILED) counter = p;
  close(fd);
}

static void slow(void) {
  int saved = errno;
  if (counter) __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
  if (delay_us > 0) {
    struct timespec ts = { delay_us / 1000000, (delay_us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
  }
  errno = saved;
}

#define REAL(name) static __typeof__(name) *real; if (!real) real = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

int fsync(int fd) { REAL(fsync); slow(); return real(fd); }
int fdatasync(int fd) { REAL(fdatasync); slow(); return real(fd); }
int syncfs(int fd) { REAL(syncfs); slow(); return real(fd); }
int msync(void *a, size_t n, int flags) { REAL(msync); if (flags & MS_SYNC) slow(); return real(a, n, flags); }
int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags) {
  REAL(sync_file_range);
  if (flags & SYNC_FILE_RANGE_WAIT_AFTER) slow();
  return real(fd, off, n, flags);
}
`;

export interface SlowDisk {
  /** how the slow disk was made, for the report */
  how: string;
  delayUs: number;
  /** environment for every relay process */
  env: NodeJS.ProcessEnv;
  /** flushes the shim has delayed so far, all processes together */
  count(): number;
}

/** Tries a device-mapper delay target; returns why it cannot be used here (undefined: it could). */
export function deviceMapperProbe(): string | undefined {
  const reasons: string[] = [];
  if (!existsSync('/dev/mapper/control')) reasons.push('/dev/mapper/control does not exist');
  const t = spawnSync('dmsetup', ['targets'], { encoding: 'utf8', timeout: 10_000 });
  const tOut = `${t.stdout ?? ''}${t.stderr ?? ''}`.trim();
  if (t.error) reasons.push(`dmsetup: ${t.error.message}`);
  else if (t.status !== 0) reasons.push(`\`dmsetup targets\` exited ${t.status}: "${tOut.split('\n')[0]}"`);
  else if (!/^delay\s/m.test(tOut)) reasons.push('`dmsetup targets` lists no delay target');
  const m = spawnSync('modprobe', ['dm-delay'], { encoding: 'utf8', timeout: 10_000 });
  if (m.error) reasons.push(`modprobe dm-delay: ${(m.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no modprobe on this machine' : m.error.message}`);
  else if (m.status !== 0) reasons.push(`\`modprobe dm-delay\` exited ${m.status}: "${`${m.stderr}`.trim().split('\n')[0]}"`);
  if (!existsSync('/lib/modules')) reasons.push('no /lib/modules (no loadable kernel modules)');
  const devices = (() => { try { return readFileSync('/proc/devices', 'utf8'); } catch { return ''; } })();
  if (!/\bdevice-mapper\b/.test(devices)) reasons.push('/proc/devices has no device-mapper (the kernel is built without it)');
  // a loop device works here, but has no setting that delays its flushes: it alone is no slow disk
  return reasons.length ? reasons.join('; ') : undefined;
}

/** Builds the shim into `dir` (gcc) and the shared counter file; throws with gcc's message if it cannot. */
export function slowDisk(dir: string, delayUs: number, dmReason: string): SlowDisk {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755); // Postfix's programs run as its own user
  const src = join(dir, 'slowsync.c');
  const so = join(dir, 'slowsync.so');
  writeFileSync(src, SHIM_C);
  const cc = spawnSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-o', so, src, '-ldl'], { encoding: 'utf8', timeout: 60_000 });
  if (cc.status !== 0) throw new Error(`gcc could not build the slow-disk shim: ${cc.error?.message ?? cc.stderr}`);
  chmodSync(so, 0o755);
  const counter = join(dir, 'slowsync.count');
  writeFileSync(counter, Buffer.alloc(4096));
  chmodSync(counter, 0o666);
  const preload = [so, process.env.LD_PRELOAD].filter(Boolean).join(':');
  return {
    how: `A device-mapper delay target could not be set up here (${dmReason}). Instead an LD_PRELOAD shim (\`bench/lib/slow-disk.ts\`, built with gcc into the scratch directory at each run) makes fsync, fdatasync, syncfs, msync(MS_SYNC) and sync_file_range(…WAIT_AFTER) sleep ${delayUs / 1000} ms in the calling thread before the real call, in every process of every relay (Postfix's daemons get it through \`import_environment\`); the calls still reach the disk. Each delayed call is counted in a file mapping shared by all processes: "delayed/msg" below is that count over the measured repeats, so it shows the delay was applied to each relay. Calls sleep side by side (a volume with a deep queue, not a single spindle); a relay whose flushes run in a few threads can have only that many in flight.`,
    delayUs,
    env: { ...process.env, LD_PRELOAD: preload, SLOWSYNC_DELAY_US: String(delayUs), SLOWSYNC_COUNTER: counter },
    count: () => Number(readFileSync(counter).readBigUInt64LE(0)),
  };
}
