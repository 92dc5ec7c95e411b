import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkWorkspace } from '../../config/check.js';
import { formatProblem } from '../../config/workspace.js';

/** Prints every problem of a workspace; returns the exit code (1 when there is any). */
export function checkCommand(dir: string, env: Record<string, string | undefined>): number {
  const root = resolve(dir);
  if (!existsSync(root)) {
    console.error(`✗ ${root} does not exist; create a workspace with "cococat init ${dir}"`);
    return 2;
  }
  const { snapshot, problems } = checkWorkspace(root, env);
  for (const p of problems) console.error(`✗ ${formatProblem(p)}`);
  const summary = `${snapshot.agents.size} agent(s), ${snapshot.scenes.size} scene(s), ${snapshot.entries.length} entr${snapshot.entries.length === 1 ? 'y' : 'ies'}`;
  if (problems.length > 0) {
    console.error(`${problems.length} problem(s) in ${root} (${summary})`);
    return 1;
  }
  console.log(`✓ ${root}: ${summary}; no problems`);
  return 0;
}
