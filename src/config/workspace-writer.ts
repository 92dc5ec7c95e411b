import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import type { z } from 'zod';
import { CocoError } from '../core/errors.js';
import { assertValidId } from '../core/ids.js';
import { writeFileAtomic } from './atomic-write.js';
import { SECRET_MASK } from './masking.js';
import { firstIssue } from './schema.js';
import { isReference, resolveReferences, type SecretVault } from './secrets.js';

export type TargetKind = 'agent' | 'scene';

/** Where a target's files live; the id is validated before it becomes part of a path. */
export function targetDir(root: string, kind: TargetKind, id: string): string {
  assertValidId(id, kind);
  return join(root, kind === 'agent' ? 'agents' : 'scenes', id);
}

export function targetFile(kind: TargetKind): string {
  return kind === 'agent' ? 'profile.yaml' : 'scene.yaml';
}

/** Reads a file as JSON/YAML for editing; a broken file is a 409 the user must fix on disk. */
export function readRaw(path: string): unknown {
  try {
    const text = readFileSync(path, 'utf8');
    return path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (cause) {
    throw new CocoError('COCO_ERR_CONFIG_PARSE', `${path} cannot be read or parsed; fix it on disk first`, { cause, statusCode: 409, file: path });
  }
}

export function readEntriesRaw(root: string, kind: TargetKind, id: string): Record<string, unknown>[] {
  const path = join(targetDir(root, kind, id), 'entries.json');
  if (!existsSync(path)) return [];
  const raw = readRaw(path) as { entries?: unknown };
  return Array.isArray(raw?.entries) ? (raw.entries as Record<string, unknown>[]) : [];
}

/** entries.json in its documented shape: {"entries": [...]}. */
export function writeEntries(path: string, entries: unknown[]): void {
  writeFileAtomic(path, `${JSON.stringify({ entries }, null, 2)}\n`);
}

export function writeEntriesRaw(root: string, kind: TargetKind, id: string, entries: unknown[]): void {
  writeEntries(join(targetDir(root, kind, id), 'entries.json'), entries);
}

export function writeYaml(path: string, value: unknown): void {
  writeFileAtomic(path, stringify(value));
}

export function removeTarget(root: string, kind: TargetKind, id: string): void {
  rmSync(targetDir(root, kind, id), { recursive: true, force: true });
}

/**
 * Applies a write of a config object with secret fields:
 * - SECRET_MASK or an absent field keeps the stored value (the browser never had it);
 * - `${ENV}` and `${secret:…}` references are kept as written;
 * - a new literal goes into the vault under `vaultPrefix.field`, and the file gets the reference;
 * - null clears the field.
 * Then validates against the schema with references resolved; errors name the field.
 */
export function mergeSecrets(
  incoming: Record<string, unknown>,
  previous: Record<string, unknown> | undefined,
  fields: string[],
  vault: SecretVault,
  vaultPrefix: string,
): { value: Record<string, unknown>; vaultWrites: [string, string][]; vaultDeletes: string[] } {
  const value: Record<string, unknown> = { ...incoming };
  const vaultWrites: [string, string][] = [];
  const vaultDeletes: string[] = [];
  for (const field of fields) {
    const next = incoming[field];
    if (next === undefined || next === SECRET_MASK) {
      if (previous?.[field] !== undefined) value[field] = previous[field];
      else delete value[field];
    } else if (next === null) {
      delete value[field];
    } else if (typeof next === 'string' && !isReference(next)) {
      const name = `${vaultPrefix}.${field}`;
      vaultWrites.push([name, next]);
      value[field] = `\${secret:${name}}`;
    }
    // A stored secret that the new value no longer references is removed from the vault.
    const old = previous?.[field];
    const oldName = typeof old === 'string' ? /^\$\{secret:([^}]+)\}$/.exec(old)?.[1] : undefined;
    if (oldName && value[field] !== old && !vaultWrites.some(([name]) => name === oldName)) vaultDeletes.push(oldName);
  }
  return { value, vaultWrites, vaultDeletes };
}

/** Validates a config whose references may point at vault values not written yet. */
export function validateWithPending<S extends z.ZodType>(
  schema: S,
  value: Record<string, unknown>,
  pending: [string, string][],
  ctx: { env: Record<string, string | undefined>; vault: SecretVault; file: string },
  fieldPrefix = '',
): z.infer<S> {
  const pendingMap = new Map(pending);
  const vault = { get: (name: string) => pendingMap.get(name) ?? ctx.vault.get(name) } as SecretVault;
  let resolved: Record<string, unknown>;
  try {
    resolved = resolveReferences(value, { env: ctx.env, vault, file: ctx.file });
  } catch (err) {
    if (err instanceof CocoError) {
      throw new CocoError(err.code, err.message, { statusCode: 400, field: `${fieldPrefix}${err.field ?? ''}` });
    }
    throw err;
  }
  const result = schema.safeParse(resolved);
  if (!result.success) {
    const issue = firstIssue(result.error);
    const field = `${fieldPrefix}${issue.field}` || undefined;
    throw new CocoError('COCO_ERR_CONFIG_INVALID', `${field ?? 'config'}: ${issue.message}`, {
      statusCode: 400,
      field,
      cause: result.error,
    });
  }
  return result.data;
}
