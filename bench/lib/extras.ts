// The figures outside the matrix, each against a fresh relay and sink:
//  - latency: p50/p99 of the time from the final "." to the 250, measured by
//    bench/client.ts (20 sessions reusing their connections), any relay;
//  - idle: mailwarden's RSS with 1,000 idle connections open (from
//    127.0.0.2.. so the per-client limit of 100 is not reached);
//  - big: mailwarden's RSS increase while one 50,000,000-octet message goes
//    through it, from the client until the sink has it.

import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, start, stopGroup } from './procs.ts';
import { rssBytes, Sampler } from './procfs.ts';
import { summarize } from './stats.ts';
import { Sink } from './sink.ts';
import type { Relay, RelayInstance } from '../relays/types.ts';

export const CLIENT = join(import.meta.dirname, '..', 'client.ts');

export interface LatencyResult { relay: string; p50?: number; p99?: number; count?: number; error?: string; args: string[] }
export interface IdleResult { relay: string; baseline?: number; withIdle?: number; greeted?: number; error?: string; args: string[] }
export interface BigResult { relay: string; baseline?: number; peak?: number; growth?: number; acceptSeconds?: number; e2eSeconds?: number; error?: string; args: string[] }

async function withRelay<T>(relay: Relay, dir: string, fn: (inst: RelayInstance, sink: Sink) => Promise<T>, env?: NodeJS.ProcessEnv): Promise<T> {
  let sink: Sink | undefined;
  let inst: RelayInstance | undefined;
  try {
    sink = await Sink.start();
    inst = await relay.start(join(dir, 'relay'), sink.port, env ? { env } : {});
    return await fn(inst, sink);
  } finally {
    await inst?.stop().catch(() => {});
    await sink?.stop().catch(() => {});
  }
}

function lastJson(text: string): Record<string, unknown> {
  const line = text.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`no result from the client: ${text.slice(0, 300)}`);
  return JSON.parse(line) as Record<string, unknown>;
}

/** Median of a few RSS readings over `ms`. */
async function steadyRss(roots: () => number[], ms = 1000, n = 5): Promise<number> {
  const v: number[] = [];
  for (let i = 0; i < n; i++) {
    v.push(rssBytes(roots()));
    await sleep(ms / n);
  }
  return summarize(v)!.median;
}

export function latencyArgs(port: number | string, count: number, warmup: number): string[] {
  return ['latency', '--port', String(port), '--sessions', '20', '--count', String(count), '--warmup', String(warmup), '--size', '1024', '--timeout-ms', '180000'];
}

/** `env`: the relay's environment (the slow-disk shim). */
export async function latency(relay: Relay, dir: string, count: number, warmup: number, env?: NodeJS.ProcessEnv): Promise<LatencyResult> {
  const args = latencyArgs('<port>', count, warmup);
  try {
    return await withRelay(relay, dir, async (inst, sink) => {
      const r = await run('latency client', process.execPath, [CLIENT, ...latencyArgs(inst.port, count, warmup)], { timeoutMs: 200_000 });
      const o = lastJson(r.stdout);
      if (o.error) throw new Error(String(o.error));
      if (Number(o.errorCount) > 0) throw new Error(`${o.errorCount} sessions failed: ${JSON.stringify(o.errors)}`);
      await sink.waitFor(count + warmup, 60_000);
      return { relay: relay.id, p50: Number(o.p50), p99: Number(o.p99), count: Number(o.count), args };
    }, env);
  } catch (e) {
    return { relay: relay.id, error: (e as Error).message, args };
  }
}

export function idleArgs(port: number | string, count: number): string[] {
  return ['idle', '--port', String(port), '--count', String(count), '--per-source', '50', '--timeout-ms', '90000'];
}

export async function idle(relay: Relay, dir: string, count: number): Promise<IdleResult> {
  const args = idleArgs('<port>', count);
  try {
    return await withRelay(relay, dir, async (inst) => {
      await sleep(1000);
      const baseline = await steadyRss(() => inst.roots());
      const c = start('idle client', process.execPath, [CLIENT, ...idleArgs(inst.port, count)], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        let text = '';
        c.child.stdout?.setEncoding('utf8');
        const line = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('the idle client did not report within 60 s')), 60_000);
          c.child.stdout?.on('data', (d: string) => {
            text += d;
            if (text.includes('\n')) { clearTimeout(timer); resolve(text.split('\n')[0]!); }
          });
          void c.exited.then(() => { clearTimeout(timer); reject(new Error(`the idle client exited: ${text}`)); });
        });
        const o = JSON.parse(line) as { greeted?: number; error?: string; codes?: object; failureCount?: number; failures?: string[] };
        if (o.error) throw new Error(o.error);
        await sleep(2000);
        const withIdle = await steadyRss(() => inst.roots());
        const res: IdleResult = { relay: relay.id, baseline, withIdle, greeted: o.greeted ?? 0, args };
        if ((o.greeted ?? 0) < count) res.error = `only ${o.greeted} of ${count} connections greeted with 220: ${JSON.stringify(o.codes)} ${JSON.stringify(o.failures ?? [])}`;
        return res;
      } finally {
        await stopGroup(c.pid, 2000);
      }
    });
  } catch (e) {
    return { relay: relay.id, error: (e as Error).message, args };
  }
}

export function bigArgs(port: number | string, bytes: number): string[] {
  return ['big', '--port', String(port), '--bytes', String(bytes), '--timeout-ms', '180000'];
}

export async function big(relay: Relay, dir: string, bytes: number): Promise<BigResult> {
  const args = bigArgs('<port>', bytes);
  try {
    return await withRelay(relay, dir, async (inst, sink) => {
      await sleep(1000);
      const baseline = await steadyRss(() => inst.roots());
      const sampler = new Sampler(() => inst.roots(), 50, 0);
      const t0 = performance.now();
      try {
        const r = await run('big client', process.execPath, [CLIENT, ...bigArgs(inst.port, bytes)], { timeoutMs: 200_000 });
        const acceptSeconds = (performance.now() - t0) / 1000;
        const o = lastJson(r.stdout);
        if (o.error) throw new Error(String(o.error));
        if (o.code !== 250) throw new Error(`end of data: ${String(o.reply)}`);
        if (!(await sink.waitFor(1, 180_000))) throw new Error('the sink did not get the message within 180 s');
        const e2eSeconds = (performance.now() - t0) / 1000;
        await sleep(300);
        const peak = sampler.stop();
        return { relay: relay.id, baseline, peak, growth: peak - baseline, acceptSeconds, e2eSeconds, args };
      } finally {
        sampler.stop();
      }
    });
  } catch (e) {
    return { relay: relay.id, error: (e as Error).message, args };
  }
}
