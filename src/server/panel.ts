import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/**
 * The built panel (`dist/panel`, from `panel/` by scripts/build.mjs). Found from this file's place
 * both when running from src/ (tests, tsx) and from dist/src/ (npm start).
 */
export function panelDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) {
      const built = join(dir, 'dist', 'panel');
      return existsSync(join(built, 'index.html')) ? built : undefined;
    }
    dir = dirname(dir);
  }
  return undefined;
}

/**
 * Our own origin for everything that runs or connects: no script, style, font or request elsewhere,
 * and no page can frame it. Inline styles are allowed for React's `style` props; scripts are not.
 *
 * Images are the exception: the chat shows an agent's reply image from the link the agent gave, on a
 * host no list could name ahead (its service, a CDN, a signed storage URL), or as a data: URL. An
 * image runs no code and reads nothing of the page, and `referrer-policy: no-referrer` keeps the
 * panel's address from that host; what it learns is that the image was viewed. A page served over
 * HTTPS gets a plain-http image upgraded or blocked by the browser (mixed content).
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: https: http:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>CocoCat</title>
<p>The web panel is not built. Run <code>npm run build</code> (or <code>npm start</code>, which builds it), then reload.</p>`;

/** Serves the panel at `/`: hashed assets cached for a year, index.html never cached. */
export async function registerPanel(app: FastifyInstance, dir = panelDir()): Promise<void> {
  // Registered in its own scope (see buildServer): only the panel's answers get these headers.
  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
  });
  if (!dir) {
    app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(NOT_BUILT));
    return;
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    index: ['index.html'],
    wildcard: true,
    // Our own header below: @fastify/static's would be max-age=0 for everything.
    cacheControl: false,
    setHeaders(res, path) {
      res.setHeader('cache-control', path.includes(`${join('panel', 'assets')}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
}
