import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { writeFileAtomic } from '../../src/config/atomic-write.js';

export interface WorkspaceSpec {
  settings?: Record<string, unknown>;
  agents?: Record<string, { profile: Record<string, unknown>; entries?: unknown[] }>;
  scenes?: Record<string, { scene: Record<string, unknown>; entries?: unknown[] }>;
  secrets?: Record<string, string>;
}

export const TEST_API_KEY = 'test-key-0123456789abcdef';

/** A web_api entry with the test key. */
export function webApiEntry(extra: Record<string, unknown> = {}, id?: string): Record<string, unknown> {
  return { ...(id ? { id } : {}), type: 'channel', channel: 'web_api', enabled: true, config: { api_key: TEST_API_KEY, ...extra } };
}

/** Writes a workspace into a new temp folder and returns its path. */
export function makeWorkspace(spec: WorkspaceSpec): string {
  const root = mkdtempSync(join(tmpdir(), 'cococat-ws-'));
  writeWorkspace(root, spec);
  return root;
}

export function writeWorkspace(root: string, spec: WorkspaceSpec): void {
  mkdirSync(join(root, 'data'), { recursive: true });
  writeFileAtomic(join(root, 'cococat.yaml'), stringify(spec.settings ?? {}));
  for (const [id, agent] of Object.entries(spec.agents ?? {})) {
    writeFileAtomic(join(root, 'agents', id, 'profile.yaml'), stringify(agent.profile));
    if (agent.entries) writeFileAtomic(join(root, 'agents', id, 'entries.json'), JSON.stringify({ entries: agent.entries }, null, 2));
  }
  for (const [id, scene] of Object.entries(spec.scenes ?? {})) {
    writeFileAtomic(join(root, 'scenes', id, 'scene.yaml'), stringify(scene.scene));
    if (scene.entries) writeFileAtomic(join(root, 'scenes', id, 'entries.json'), JSON.stringify({ entries: scene.entries }, null, 2));
  }
  if (spec.secrets) writeFileAtomic(join(root, 'data', 'secrets.json'), JSON.stringify(spec.secrets), 0o600);
}

export function removeWorkspace(root: string): void {
  rmSync(root, { recursive: true, force: true });
}
