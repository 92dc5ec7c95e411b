import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { isValidId, entryKey } from '../core/ids.js';
import { withLanguageDefaults } from './language-defaults.js';
import {
  issueFields,
  agentProfileSchema,
  entriesFileSchema,
  entrySchema,
  sceneSchema,
  settingsSchema,
  type AgentProfile,
  type SceneConfig,
  type Settings,
} from './schema.js';

/** One thing wrong in the workspace, named by file and field. */
export interface Problem {
  file: string;
  field?: string;
  message: string;
}

export interface AgentSpec {
  id: string;
  file: string;
  /** As written: `${…}` references are resolved only when the agent is created. */
  profile: AgentProfile;
}

export interface SceneSpec {
  id: string;
  file: string;
  scene: SceneConfig;
}

export interface EntrySpec {
  /** Global key "{target}.{id}". */
  key: string;
  id: string;
  target: { kind: 'agent' | 'scene'; id: string };
  channel: string;
  enabled: boolean;
  /** As written (references unresolved); validated against the channel schema at start. */
  config: Record<string, unknown>;
  file: string;
  /** Position in the file's entries array, for messages that name the field. */
  index: number;
}

export interface WorkspaceSnapshot {
  root: string;
  settings: Settings;
  agents: Map<string, AgentSpec>;
  scenes: Map<string, SceneSpec>;
  entries: EntrySpec[];
  problems: Problem[];
}

export const SETTINGS_FILE = 'cococat.yaml';

/** Reads the whole workspace. Never throws for content: every problem is collected, the rest loads. */
export function loadWorkspace(root: string): WorkspaceSnapshot {
  const problems: Problem[] = [];
  const rel = (path: string) => relative(root, path) || path;

  const settingsPath = join(root, SETTINGS_FILE);
  const rawSettings = existsSync(settingsPath) ? readStructured(settingsPath, rel, problems) : {};
  const settings = validate(settingsSchema, rawSettings ?? {}, rel(settingsPath), problems) ?? settingsSchema.parse({});

  const agents = new Map<string, AgentSpec>();
  const scenes = new Map<string, SceneSpec>();
  const entries: EntrySpec[] = [];

  for (const id of listTargetDirs(join(root, 'agents'), 'agents', problems)) {
    const file = join(root, 'agents', id, 'profile.yaml');
    if (!existsSync(file)) {
      problems.push({ file: rel(file), message: 'missing: every agent folder needs a profile.yaml' });
      continue;
    }
    const raw = readStructured(file, rel, problems);
    const profile = validate(agentProfileSchema, raw, rel(file), problems);
    if (profile) agents.set(id, { id, file: rel(file), profile: withLanguageDefaults(raw, profile) });
    entries.push(...readEntries(root, 'agent', id, rel, problems));
  }

  for (const { id, file, profile } of agents.values()) {
    failoverProblems(id, profile.failover, agents).forEach((p) => problems.push({ file, ...p }));
  }

  for (const id of listTargetDirs(join(root, 'scenes'), 'scenes', problems)) {
    const file = join(root, 'scenes', id, 'scene.yaml');
    if (agents.has(id)) {
      problems.push({ file: rel(file), message: `scene id "${id}" is also an agent id; agent and scene ids must be distinct` });
      continue;
    }
    if (!existsSync(file)) {
      problems.push({ file: rel(file), message: 'missing: every scene folder needs a scene.yaml' });
      continue;
    }
    const scene = validate(sceneSchema, readStructured(file, rel, problems), rel(file), problems);
    if (scene) {
      scene.roster.forEach((agentId, i) => {
        if (!agents.has(agentId)) problems.push({ file: rel(file), field: `roster.${i}`, message: `agent "${agentId}" does not exist` });
      });
      scenes.set(id, { id, file: rel(file), scene });
    }
    entries.push(...readEntries(root, 'scene', id, rel, problems));
  }

  return { root, settings, agents, scenes, entries, problems };
}

/** A failover list names other agents of the workspace. */
export function failoverProblems(id: string, failover: readonly string[] | undefined, agents: ReadonlyMap<string, unknown>): { field: string; message: string }[] {
  return (failover ?? []).flatMap((other, i) => {
    if (other === id) return [{ field: `failover.${i}`, message: 'an agent cannot be its own failover' }];
    return agents.has(other) ? [] : [{ field: `failover.${i}`, message: `agent "${other}" does not exist` }];
  });
}

function listTargetDirs(dir: string, what: string, problems: Problem[]): string[] {
  if (!existsSync(dir)) return [];
  const ids: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.') || !statSync(join(dir, name)).isDirectory()) continue;
    if (!isValidId(name)) {
      problems.push({ file: `${what}/${name}`, message: 'folder name is not a valid id (a-z, 0-9, "_", "-"; up to 64)' });
      continue;
    }
    ids.push(name);
  }
  return ids;
}

function readEntries(root: string, kind: 'agent' | 'scene', targetId: string, rel: (p: string) => string, problems: Problem[]): EntrySpec[] {
  const path = join(root, kind === 'agent' ? 'agents' : 'scenes', targetId, 'entries.json');
  if (!existsSync(path)) return [];
  const file = rel(path);
  const parsed = validate(entriesFileSchema, readStructured(path, rel, problems), file, problems);
  if (!parsed) return [];
  const seen = new Set<string>();
  const out: EntrySpec[] = [];
  parsed.entries.forEach((raw, index) => {
    const entry = validate(entrySchema, raw, file, problems, `entries.${index}`);
    if (!entry) return;
    const id = entry.id ?? entry.channel;
    if (!isValidId(id)) {
      problems.push({ file, field: `entries.${index}.channel`, message: `"${id}" cannot serve as the entry id; set an "id"` });
      return;
    }
    if (seen.has(id)) {
      problems.push({ file, field: `entries.${index}.id`, message: `entry id "${id}" is used twice in this file; give each entry its own "id"` });
      return;
    }
    seen.add(id);
    out.push({
      key: entryKey(targetId, id),
      id,
      target: { kind, id: targetId },
      channel: entry.channel,
      enabled: entry.enabled,
      config: entry.config,
      file,
      index,
    });
  });
  return out;
}

function readStructured(path: string, rel: (p: string) => string, problems: Problem[]): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    problems.push({ file: rel(path), message: `cannot read: ${(err as Error).message}` });
    return undefined;
  }
  try {
    return path.endsWith('.json') ? JSON.parse(text) : (parseYaml(text) ?? {});
  } catch (err) {
    problems.push({ file: rel(path), message: `not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}` });
    return undefined;
  }
}

/** Validates with zod; on failure records one problem per issue with the field path. */
export function validate<S extends z.ZodType>(
  schema: S,
  value: unknown,
  file: string,
  problems: Problem[],
  prefix?: string,
): z.infer<S> | undefined {
  if (value === undefined) return undefined;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    for (const { field, message } of issueFields(issue, prefix ? [prefix] : [])) problems.push({ file, field: field || undefined, message });
  }
  return undefined;
}

export function formatProblem(p: Problem): string {
  return `${p.file}${p.field ? `: ${p.field}` : ''}: ${p.message}`;
}
