import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Builds the panel bundle once before any test file runs (when its sources changed), so the
 * tests that load `/` exercise the production bundle and no two test files build it at once.
 */
export default function setup(): void {
  const root = join(import.meta.dirname, '..');
  execFileSync(process.execPath, ['scripts/build.mjs', '--if-stale', '--panel-only'], { cwd: root, stdio: 'inherit' });
}
