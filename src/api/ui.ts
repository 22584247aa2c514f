// Serves the web UI's built files (web/dist, made by `npm run build:web`)
// from the admin listener; until it is built, a short page that says how.

import type { FastifyInstance } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';

const DIST = resolve(import.meta.dirname, '../../web/dist');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
};

export function registerUi(app: FastifyInstance): void {
  app.get('/*', async (req, reply) => {
    const path = decodeURIComponent((req.url.split('?')[0] ?? '/').replace(/^\/+/, ''));
    if (path.startsWith('api/')) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'no such API route' });
    void reply.header('x-content-type-options', 'nosniff').header('x-frame-options', 'DENY').header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
    const file = normalize(join(DIST, path || 'index.html'));
    // A file that is not there is a 404; a path without an extension is a
    // client-side route and gets the app's page. Nothing outside dist.
    if (extname(file) && !(file.startsWith(DIST + '/') && existsSync(file))) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
    const target = extname(file) ? file : join(DIST, 'index.html');
    if (!existsSync(target)) return reply.type('text/html; charset=utf-8').send('<!doctype html><title>mailwarden</title><p>The web UI is not built yet: run <code>make web</code>. The REST API is at <code>/api</code> (OpenAPI: <code>/api/openapi.json</code>).</p>');
    return reply.type(TYPES[extname(target)] ?? 'application/octet-stream').send(readFileSync(target));
  });
}
