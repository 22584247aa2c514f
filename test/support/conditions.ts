// Waiting on state, never on a timer, for the load tests that kill and
// restart the daemon: code that changes shared state calls changed(), and
// waitFor(pred) resolves as soon as pred() holds (or fails after `ms`).

export function conditions(ctx: string): { changed(): void; waitFor(pred: () => boolean, what: string, ms: number): Promise<void> } {
  const waiters: { pred: () => boolean; done: () => void }[] = [];
  return {
    changed() {
      for (const w of [...waiters]) if (w.pred()) waiters.splice(waiters.indexOf(w), 1), w.done();
    },
    waitFor(pred, what, ms) {
      if (pred()) return Promise.resolve();
      return new Promise((done, fail) => {
        const waiter = { pred, done: () => (clearTimeout(timer), done()) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          fail(new Error(`${ctx}: timed out after ${ms} ms waiting for ${what}`));
        }, ms);
        waiters.push(waiter);
      });
    },
  };
}

/** A promise with its resolve function outside. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
