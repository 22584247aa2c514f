// The entry point of an SMTP worker process (forked by src/process/pool.ts with the primary's Node and flags).

import { runWorker } from './worker.ts';

runWorker().catch((err: unknown) => {
  process.stderr.write(`mailwarden worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(70);
});
