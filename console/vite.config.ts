/**
 * The console's build: Preact pages bundled by Vite into dist/console, which
 * the gateway serves under /console (src/gateway/routes/console.ts). Nothing
 * is loaded from elsewhere: scripts, styles and the chart library are in the
 * bundle, so the page's Content-Security-Policy allows only the gateway.
 */
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  plugins: [preact()],
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    // No inline script or data: URL module: the policy allows neither.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:3000' } },
});
