// Counts open connections in total and per client address, so that one
// client cannot take every slot (421 4.7.0 beyond either limit).

export class ConnectionLimits {
  private total = 0;
  private readonly perClient = new Map<string, number>();

  /** Takes a slot; false when a limit is reached (nothing taken then). */
  acquire(client: string, maxTotal: number, maxPerClient: number): 'ok' | 'total' | 'client' {
    const mine = this.perClient.get(client) ?? 0;
    if (this.total >= maxTotal) return 'total';
    if (mine >= maxPerClient) return 'client';
    this.total++;
    this.perClient.set(client, mine + 1);
    return 'ok';
  }

  release(client: string): void {
    const mine = this.perClient.get(client) ?? 0;
    if (mine <= 0) return;
    this.total--;
    if (mine === 1) this.perClient.delete(client);
    else this.perClient.set(client, mine - 1);
  }

  get open(): number {
    return this.total;
  }
}
