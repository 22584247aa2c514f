// Vite build of the web admin UI: `vite build web` (or `make web`) writes
// web/dist, which the admin listener serves (src/api/ui.ts). Everything is
// bundled: no CDN, no inline script (the server's CSP forbids it).

import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

export default defineConfig({
  plugins: [preact()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // One small app: a single JS file and a single CSS file.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
});
