// Compiles src/ to dist/, copies the SQL migrations, and builds the web panel (panel/ → dist/panel/)
// with Vite. With --if-stale, each part is skipped when its output is newer than every one of its
// sources (so `npm start` builds only what changed). --panel-only builds just the panel.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
const marker = join(dist, 'src', 'cli', 'main.js');

function newest(dir) {
  let latest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    latest = Math.max(latest, st.isDirectory() ? newest(path) : st.mtimeMs);
  }
  return latest;
}

const ifStale = process.argv.includes('--if-stale');
const panelOnly = process.argv.includes('--panel-only');

function stale(output, inputs) {
  return !ifStale || !existsSync(output) || statSync(output).mtimeMs < Math.max(...inputs);
}

if (!panelOnly) buildServer();
await buildPanel();

function buildServer() {
  const inputs = [newest(src), newest(join(root, 'test', 'fakes')), statSync(join(root, 'package.json')).mtimeMs, statSync(join(root, 'tsconfig.build.json')).mtimeMs];
  if (!stale(marker, inputs)) return;
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  cpSync(src, join(dist, 'src'), { recursive: true, filter: (path) => statSync(path).isDirectory() || path.endsWith('.sql') });
  // tsc leaves unchanged outputs alone; bump the marker so --if-stale sees a fresh build.
  const now = new Date();
  utimesSync(marker, now, now);
  console.log(`built ${relative(root, dist)}/`);
}

async function buildPanel() {
  const panel = join(root, 'panel');
  const output = join(dist, 'panel', 'index.html');
  const inputs = [newest(join(panel, 'src')), newest(join(panel, 'public')), statSync(join(panel, 'index.html')).mtimeMs, statSync(join(panel, 'vite.config.ts')).mtimeMs];
  if (!stale(output, inputs)) return;
  // Always React's production build, even when called from a test runner that set NODE_ENV=test.
  process.env.NODE_ENV = 'production';
  const { build } = await import('vite');
  await build({ configFile: join(panel, 'vite.config.ts'), mode: 'production', logLevel: 'warn' });
  console.log(`built ${relative(root, join(dist, 'panel'))}/ (${bundleSizes(join(dist, 'panel', 'assets'))})`);
}

/** Raw and gzip size of the panel's JS and CSS, the figures a phone on a slow link cares about. */
function bundleSizes(dir) {
  const totals = {};
  for (const name of readdirSync(dir)) {
    const kind = name.split('.').pop();
    if (kind !== 'js' && kind !== 'css') continue;
    const bytes = readFileSync(join(dir, name));
    const t = (totals[kind] ??= { raw: 0, gzip: 0 });
    t.raw += bytes.length;
    t.gzip += gzipSync(bytes, { level: 9 }).length;
  }
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  return Object.entries(totals)
    .map(([kind, t]) => `${kind} ${kb(t.raw)}, ${kb(t.gzip)} gzip`)
    .join('; ');
}
