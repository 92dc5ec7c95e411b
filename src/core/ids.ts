import { CocoError } from './errors.js';

/** Agent, scene and entry ids: safe as folder names and URL segments, no path tricks. */
export const ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

export function assertValidId(id: unknown, what: string): string {
  if (!isValidId(id)) {
    throw new CocoError(
      'COCO_ERR_ID_INVALID',
      `${what} id ${JSON.stringify(id)} is invalid: use 1-64 characters of a-z, 0-9, "_" and "-", starting with a letter or digit`,
      { statusCode: 400, field: 'id' },
    );
  }
  return id;
}

/**
 * The global key of an entry: "{target id}.{entry id}". Agent and scene ids share one namespace,
 * and "." cannot occur in an id, so the key is unambiguous and URL-safe.
 */
export function entryKey(targetId: string, entryId: string): string {
  return `${targetId}.${entryId}`;
}

export function parseEntryKey(key: string): { targetId: string; entryId: string } | undefined {
  const dot = key.indexOf('.');
  if (dot < 0) return undefined;
  const targetId = key.slice(0, dot);
  const entryId = key.slice(dot + 1);
  return isValidId(targetId) && isValidId(entryId) ? { targetId, entryId } : undefined;
}
