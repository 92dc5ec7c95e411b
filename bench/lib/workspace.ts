import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeWorkspace, removeWorkspace, TEST_API_KEY, webApiEntry } from '../../test/helpers/workspace.js';

export { removeWorkspace };
export const API_KEY = TEST_API_KEY;
/** The web_api entry of every benchmark workspace: agent "bench", entry id "web_api". */
export const ENTRY = 'bench.web_api';
/** The schema's maximum; bursts of a tenth of it (100 000) with 16 667 tokens/s refill. */
const RATE_LIMIT_PER_MINUTE = 1_000_000;

/** A workspace with one agent and one web_api entry whose rate limit will not get in the way; `settings` go to cococat.yaml. */
export function benchWorkspace(profile: Record<string, unknown> = { provider: 'echo' }, settings: Record<string, unknown> = {}): string {
  return makeWorkspace({
    settings,
    agents: { bench: { profile, entries: [webApiEntry({ rate_limit_per_minute: RATE_LIMIT_PER_MINUTE })] } },
  });
}

/** A fresh copy of `template` in a new temp folder. */
export function copyWorkspace(template: string): string {
  const root = mkdtempSync(join(tmpdir(), 'cococat-bench-'));
  cpSync(template, root, { recursive: true });
  return root;
}

export const authHeaders = {
  authorization: `Bearer ${API_KEY}`,
  'content-type': 'application/json',
};
