// The daemon's control socket (DATA/control.sock, owner only): how the CLI's
// queue and quarantine commands reach the running queue manager, so that a
// hold or a delete never races a delivery in flight, and a released
// quarantined message is delivered at once. One JSON request line, one JSON answer
// line. With no daemon running the CLI works on the files itself. One op is
// not the queue's: "config-refresh", sent by the CLI after it applied a
// revision, puts that revision in force before the CLI returns.

import { chmodSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../log/logger.ts';
import { QueueError, type QueueManager } from './manager.ts';
import { QUEUE_ID } from './queue-id.ts';
import type { Quarantine } from './quarantine.ts';

export type ControlOp = 'retry' | 'hold' | 'release' | 'delete' | 'bounce' | 'quarantine-release' | 'quarantine-delete' | 'config-refresh';
export interface ControlRequest {
  op: ControlOp;
  /** A queue id, or null with op "retry" for every message. */
  id: string | null;
  /** Who asks (the admin's name, for the quarantine's log lines); absent: "administrator". */
  by?: string;
}
export type ControlAnswer = { ok: true; count: number } | { ok: false; error: string };

export const controlPath = (dataDir: string) => join(dataDir, 'control.sock');

/** Longest Unix socket path Linux takes (sun_path is 108 bytes, with the final NUL). */
export const MAX_SOCKET_PATH = 107;

/** Why the control socket cannot be bound in `dataDir`, or null. */
export function controlPathProblem(dataDir: string): string | null {
  const path = controlPath(dataDir);
  const bytes = Buffer.byteLength(path);
  if (bytes <= MAX_SOCKET_PATH) return null;
  return `the data directory's path is too long for its control socket: ${path} is ${bytes} bytes, and a Unix socket path can have at most ${MAX_SOCKET_PATH}; use a data directory with a path of at most ${MAX_SOCKET_PATH - 'control.sock'.length - 1} bytes (a symbolic link to it will do)`;
}

/** Carries out one request on a manager (the daemon's, or the CLI's own when none runs). */
export async function perform(manager: QueueManager, quarantine: Quarantine, req: ControlRequest): Promise<ControlAnswer> {
  try {
    if (req.id !== null && !QUEUE_ID.test(req.id)) return { ok: false, error: `"${String(req.id)}" is not a queue id` };
    if (req.id === null) {
      if (req.op !== 'retry') return { ok: false, error: `${req.op} needs a queue id` };
      return { ok: true, count: await manager.retry(null) };
    }
    switch (req.op) {
      case 'retry':
        return { ok: true, count: await manager.retry(req.id) };
      case 'hold':
        await manager.hold(req.id);
        break;
      case 'release':
        await manager.release(req.id);
        break;
      case 'delete':
        await manager.delete(req.id);
        break;
      case 'bounce':
        await manager.bounce(req.id);
        break;
      case 'quarantine-release':
        await quarantine.release(req.id, req.by);
        break;
      case 'quarantine-delete':
        await quarantine.delete(req.id, req.by);
        break;
      default:
        return { ok: false, error: `unknown operation ${String(req.op)}` };
    }
    return { ok: true, count: 1 };
  } catch (err) {
    if (err instanceof QueueError) return { ok: false, error: err.message };
    return { ok: false, error: `failed: ${(err as Error).message}` };
  }
}

/** What the control socket does beside the queue: `refreshConfig` takes the active revision and resolves with its number. */
export interface ControlExtras {
  refreshConfig?: () => Promise<number>;
}

export async function startControl(dataDir: string, manager: QueueManager, quarantine: Quarantine, logger: Logger, extras: ControlExtras = {}): Promise<{ close(): Promise<void> }> {
  const path = controlPath(dataDir);
  rmSync(path, { force: true }); // a stale socket of a crashed daemon (we hold the data-dir lock)
  const server: Server = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.length > 4096) return void sock.destroy();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let req: ControlRequest;
      try {
        req = JSON.parse(buf.slice(0, nl)) as ControlRequest;
      } catch {
        return void sock.end(JSON.stringify({ ok: false, error: 'bad request' }) + '\n');
      }
      if (req.op === 'config-refresh') {
        const refresh = extras.refreshConfig;
        const answer: Promise<ControlAnswer> = refresh ? refresh().then((n) => ({ ok: true, count: n }), (err: Error) => ({ ok: false, error: err.message })) : Promise.resolve({ ok: false, error: 'not supported' });
        return void answer.then((a) => sock.end(JSON.stringify(a) + '\n'));
      }
      void perform(manager, quarantine, req).then((answer) => {
        logger.log(req.op.startsWith('quarantine-') ? 'quarantine.admin' : 'queue.admin', { op: req.op, id: req.id, ok: answer.ok, error: answer.ok ? undefined : answer.error });
        sock.end(JSON.stringify(answer) + '\n');
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        rmSync(path, { force: true });
      }),
  };
}

/** Sends a request to the running daemon; null when no daemon listens. */
export function askDaemon(dataDir: string, req: ControlRequest, timeoutMs = 30_000): Promise<ControlAnswer | null> {
  // No daemon can run there (it refuses to start), and connecting would fail with EINVAL.
  if (controlPathProblem(dataDir)) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const sock = createConnection(controlPath(dataDir));
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('the daemon did not answer on its control socket'));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (d: string) => (buf += d));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(null);
      else reject(err);
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as ControlAnswer);
      } catch {
        reject(new Error('bad answer from the daemon'));
      }
    });
  });
}
