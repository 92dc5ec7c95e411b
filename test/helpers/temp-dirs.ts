import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

export interface TempDirs {
  /** Creates a new folder under the OS temp folder, e.g. `make('cococat-sim-')`. */
  make(prefix: string): string;
  /** Adopts a folder made elsewhere (by makeWorkspace, the product or a child process); returns it. */
  track(dir: string): string;
}

/**
 * Temp folders owned by the calling test file: each one made or tracked is removed after the
 * test, whether it passed or not. Call it once at the top of the file (or of a describe block).
 * Kept apart from workspace.ts because bench/ imports that outside vitest.
 */
export function tempDirs(): TempDirs {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return {
    make(prefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    track(dir) {
      dirs.push(dir);
      return dir;
    },
  };
}
