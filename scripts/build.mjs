// Compiles src/ to dist/ and copies the SQL migrations. With --if-stale, does nothing when
// dist/ is newer than every source file (so `npm start` builds only when needed).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
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

if (process.argv.includes('--if-stale') && existsSync(marker)) {
  const built = statSync(marker).mtimeMs;
  const inputs = Math.max(newest(src), newest(join(root, 'test', 'fakes')), statSync(join(root, 'package.json')).mtimeMs, statSync(join(root, 'tsconfig.build.json')).mtimeMs);
  if (built >= inputs) process.exit(0);
}

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
cpSync(src, join(dist, 'src'), { recursive: true, filter: (path) => statSync(path).isDirectory() || path.endsWith('.sql') });
const touched = marker;
// tsc leaves unchanged outputs alone; bump the marker so --if-stale sees a fresh build.
const now = new Date();
import('node:fs').then(({ utimesSync }) => utimesSync(touched, now, now));
console.log(`built ${relative(root, dist)}/`);
