import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
/** Where a running gateway is, for `npm run panel:dev` (the dev server proxies the API to it). */
const gateway = process.env.COCOCAT_URL ?? 'http://127.0.0.1:8787';

export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/panel', import.meta.url)),
    emptyOutDir: true,
    // Everything is served by the gateway itself: no CDN, no third-party host.
    assetsInlineLimit: 4096,
    sourcemap: false,
  },
  server: {
    port: 5173,
    strictPort: true,
    proxy: { '/api': { target: gateway, changeOrigin: false }, '/webhooks': { target: gateway } },
  },
});
