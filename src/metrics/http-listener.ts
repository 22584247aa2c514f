// The metrics listener (`metrics: {address, port}`): plain HTTP without
// authentication, GET /metrics only, for a monitoring network. apply() binds,
// moves or closes it to match the settings, so an Apply that changes
// `metrics` takes effect at once; a bind that fails is logged
// (`metrics.listen_failed`) and never stops the daemon or its mail. A scraper
// gets bounded service: a few connections, a few scrapes at a time, short
// timeouts.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../log/logger.ts';
import type { MetricsListenerSettings } from '../config/document.ts';

/** Scrapes served at once; more get 503 (Prometheus retries at its next interval). */
const MAX_SCRAPES = 4;
const MAX_CONNECTIONS = 32;

export type Exposition = () => Promise<{ contentType: string; body: string }>;

export class MetricsListener {
  private readonly expose: Exposition;
  private readonly logger: Logger;
  private server: Server | null = null;
  /** The settings the server was started for, and the port it got (differs when port is 0). */
  private current: { wanted: MetricsListenerSettings; port: number } | null = null;
  private busy = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(expose: Exposition, logger: Logger) {
    this.expose = expose;
    this.logger = logger;
  }

  /** Where it listens now, or null. */
  get bound(): { address: string; port: number } | null {
    return this.current ? { address: this.current.wanted.address, port: this.current.port } : null;
  }

  /** The URL of /metrics, or null. */
  get url(): string | null {
    const b = this.bound;
    return b ? `http://${b.address.includes(':') ? `[${b.address}]` : b.address}:${b.port}/metrics` : null;
  }

  /** Listens as `wanted` says (null: not at all); changes nothing when it already does. Never rejects. */
  apply(wanted: MetricsListenerSettings | null): Promise<void> {
    const next = this.chain.then(() => this.reconcile(wanted));
    this.chain = next.catch(() => {});
    return this.chain;
  }

  close(): Promise<void> {
    return this.apply(null);
  }

  private async reconcile(wanted: MetricsListenerSettings | null): Promise<void> {
    const now = this.current?.wanted;
    if (wanted && now && wanted.address === now.address && wanted.port === now.port) return;
    if (!wanted && !this.server) return;
    if (this.server) {
      const old = this.server;
      this.server = null;
      this.current = null;
      old.closeAllConnections();
      await new Promise<void>((done) => old.close(() => done()));
      this.logger.log('metrics.stopped', { address: now?.address, port: now?.port });
    }
    if (!wanted) return;
    const server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 }, (req, res) => this.handle(req, res));
    server.maxConnections = MAX_CONNECTIONS;
    server.maxHeadersCount = 50;
    try {
      const port = await new Promise<number>((done, fail) => {
        server.once('error', fail);
        server.listen(wanted.port, wanted.address, () => {
          server.off('error', fail);
          const a = server.address();
          done(typeof a === 'object' && a ? a.port : wanted.port);
        });
      });
      server.on('error', (err) => this.logger.log('metrics.error', { error: err.message }));
      this.server = server;
      this.current = { wanted: { ...wanted }, port };
      this.logger.log('listening', { listener: 'metrics', address: wanted.address, port });
    } catch (err) {
      server.close();
      this.logger.log('metrics.listen_failed', { address: wanted.address, port: wanted.port, error: (err as Error).message, note: 'no metrics listener until the setting changes or the daemon restarts; GET /metrics on the admin listener still answers' });
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return text(res, 404, 'not found: the metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return text(res, 405, 'method not allowed\n');
    }
    if (this.busy >= MAX_SCRAPES) {
      res.setHeader('retry-after', '1');
      return text(res, 503, 'too many scrapes at once\n');
    }
    this.busy++;
    this.expose().then(
      ({ contentType, body }) => {
        this.busy--;
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        this.busy--;
        this.logger.log('metrics.error', { error: err instanceof Error ? err.message : String(err) });
        text(res, 500, 'the metrics could not be collected\n');
      },
    );
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}
