// The next hop of every relay: Postfix's smtp-sink on 127.0.0.1, run with -c
// so it prints "sess=.. quit=.. mesg=N" (separated by carriage returns) each
// time something happens. We read that running counter to know when the sink
// has all the messages of a run (end-to-end time).

import { start, stopGroup, type Spawned } from './procs.ts';
import { freePort, waitForGreeting } from './net.ts';

export const SMTP_SINK = '/usr/sbin/smtp-sink';

export class Sink {
  readonly port: number;
  count = 0;
  private readonly proc: Spawned;
  private partial = '';
  private exited = false;
  private waiters: { n: number; resolve: () => void }[] = [];

  private constructor(port: number, proc: Spawned) {
    this.port = port;
    this.proc = proc;
    proc.child.stdout?.setEncoding('latin1');
    proc.child.stdout?.on('data', (d: string) => this.onData(d));
    proc.exited.then(() => { this.exited = true; });
  }

  /** The command line, for the report (the port is a placeholder). */
  static commandLine(): string {
    return `${SMTP_SINK} ${process.getuid?.() === 0 ? '-u nobody ' : ''}-c 127.0.0.1:<sink port> 1024`;
  }

  static async start(): Promise<Sink> {
    const port = await freePort();
    const args = [...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), '-c', `127.0.0.1:${port}`, '1024'];
    const proc = start('smtp-sink', SMTP_SINK, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const sink = new Sink(port, proc);
    await waitForGreeting(port, 10_000, () => !sink.exited);
    return sink;
  }

  private onData(d: string): void {
    const parts = (this.partial + d).split('\r');
    this.partial = parts.pop() ?? '';
    let max = this.count;
    for (const p of parts) {
      const m = /mesg=(\d+)/.exec(p);
      if (m) max = Math.max(max, Number(m[1]));
    }
    if (max !== this.count) {
      this.count = max;
      this.waiters = this.waiters.filter((w) => {
        if (this.count >= w.n) { w.resolve(); return false; }
        return true;
      });
    }
  }

  /** Resolves true once the counter reaches n, false at the time limit. */
  waitFor(n: number, timeoutMs: number): Promise<boolean> {
    if (this.count >= n) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== entry);
        resolve(false);
      }, timeoutMs);
      const entry = { n, resolve: () => { clearTimeout(timer); resolve(true); } };
      this.waiters.push(entry);
    });
  }

  async stop(): Promise<void> {
    await stopGroup(this.proc.pid, 2000);
  }
}
