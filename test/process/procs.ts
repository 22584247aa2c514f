// Shared by the end-to-end tests of several processes (test/process/*.test.ts):
// the real daemon with `processes: 2` (its worker's pid from the
// process.started line), a raw session greeted and EHLO'd, one message sent
// on it, and which process served a log line (a worker's lines carry its pid,
// the primary's none).

import assert from 'node:assert/strict';
import { RawClient, relayDoc, startRelay, type LogLine, type Relay } from '../smtp/harness.ts';

type After = Parameters<typeof startRelay>[0];

/** The daemon with one SMTP worker process, ready; `extra` is merged over the test document. */
export async function twoProcesses(t: After, extra: Record<string, unknown> = {}, edit?: (doc: Record<string, unknown>) => void): Promise<{ relay: Relay; worker: number }> {
  const { doc, ports } = await relayDoc({ processes: 2, ...extra });
  edit?.(doc);
  const relay = await startRelay(t, doc, ports);
  t.after(async () => void (await relay.stop()));
  const started = await relay.waitLog((l) => l.event === 'process.started' && l.role === 'worker');
  return { relay, worker: started.pid as number };
}

/** 'primary', or the worker's pid. */
export const servedBy = (l: LogLine): number | 'primary' => (l.pid === undefined ? 'primary' : (l.pid as number));

/** Greeted and EHLO'd, from `src`. */
export async function session(port: number, src = '127.0.0.1'): Promise<RawClient> {
  const c = await RawClient.connect(port, src);
  assert.match((await c.reply()) ?? '', /^220 /);
  assert.match((await c.cmd('EHLO client.test.example')) ?? '', /^250/);
  return c;
}

/** MAIL, RCPT, DATA: the reply to the final dot (or to MAIL when that refuses). */
export async function sendOne(c: RawClient, subject: string, from = 'a@test.example', to = 'b@example.org'): Promise<string> {
  const mail = (await c.cmd(`MAIL FROM:<${from}>`)) ?? '(closed)';
  if (!mail.startsWith('250')) return mail;
  assert.match((await c.cmd(`RCPT TO:<${to}>`)) ?? '', /^250/);
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  return (await c.cmd(`Subject: ${subject}\r\n\r\nbody of ${subject}\r\n.`)) ?? '(closed)';
}

/**
 * Two sessions open at once, one in each process: the idle worker takes the
 * first, the primary the second (src/process/dispatch.ts), proved from their
 * connect lines (the n-th connect line from `src` is the n-th session).
 */
export async function onePerProcess(relay: Relay, worker: number, src: string, open: () => Promise<RawClient>): Promise<{ w: RawClient; p: RawClient }> {
  const fromSrc = (l: LogLine) => l.event === 'connect' && l.client === src;
  const before = relay.logs.filter(fromSrc).length;
  // Each session's connect line is awaited before the next opens: the n-th line is the n-th session.
  const a = await open();
  await relay.waitLogs(fromSrc, before + 1);
  const b = await open();
  await relay.waitLogs(fromSrc, before + 2);
  const by = relay.logs.filter(fromSrc).slice(before).map(servedBy);
  assert.deepEqual(new Set(by), new Set([worker, 'primary']), `two sessions at once are served by both processes: ${JSON.stringify(by)}`);
  return by[0] === worker ? { w: a, p: b } : { w: b, p: a };
}
