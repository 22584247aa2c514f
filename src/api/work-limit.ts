// How much settings work (validation, diff, apply: the checker's thread) one
// admin account may have in flight at once. The checker runs one job at a
// time; without this, one viewer's scripted burst would queue ahead of every
// other admin's Apply. Beyond the limit: 429 with Retry-After.

export class WorkLimitExceeded extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`at most ${limit} settings checks at a time per account; wait for the ones running`);
    this.name = 'WorkLimitExceeded';
    this.limit = limit;
  }
}

export class WorkLimiter {
  private readonly running = new Map<string, number>();
  private readonly perAccount: number;

  constructor(perAccount = 2) {
    this.perAccount = perAccount;
  }

  async run<T>(account: string, work: () => Promise<T>): Promise<T> {
    const n = this.running.get(account) ?? 0;
    if (n >= this.perAccount) throw new WorkLimitExceeded(this.perAccount);
    this.running.set(account, n + 1);
    try {
      return await work();
    } finally {
      const left = (this.running.get(account) ?? 1) - 1;
      if (left > 0) this.running.set(account, left);
      else this.running.delete(account);
    }
  }
}
