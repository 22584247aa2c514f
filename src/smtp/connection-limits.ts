// Counts open connections in total and per client address, so that one
// client cannot take every slot. Pure bookkeeping: src/smtp/connection-gate.ts
// asks at the TCP accept and says what happens to a connection beyond a limit.

export type LimitHit = 'max_connections' | 'max_connections_per_client';

export class ConnectionLimits {
  private total = 0;
  private readonly perClient = new Map<string, number>();

  /**
   * Takes a slot in the total and, when `client` is given, one of that
   * client's; null when taken, else the limit that was hit (nothing taken then).
   */
  acquire(client: string | null, maxTotal: number, maxPerClient: number): LimitHit | null {
    if (this.total >= maxTotal) return 'max_connections';
    if (client !== null && this.count(client) >= maxPerClient) return 'max_connections_per_client';
    this.total++;
    if (client !== null) this.perClient.set(client, this.count(client) + 1);
    return null;
  }

  /** A client's slot for a connection counted in the total already (a proxy's, once its header names the client). */
  acquireClient(client: string, maxPerClient: number): LimitHit | null {
    if (this.count(client) >= maxPerClient) return 'max_connections_per_client';
    this.perClient.set(client, this.count(client) + 1);
    return null;
  }

  releaseTotal(): void {
    if (this.total > 0) this.total--;
  }

  releaseClient(client: string): void {
    const mine = this.count(client);
    if (mine <= 1) this.perClient.delete(client);
    else this.perClient.set(client, mine - 1);
  }

  count(client: string): number {
    return this.perClient.get(client) ?? 0;
  }

  get open(): number {
    return this.total;
  }
}
