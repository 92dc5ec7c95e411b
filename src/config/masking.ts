import { z } from 'zod';
import { isReference } from './secrets.js';

/** What the admin API shows instead of a secret value. */
export const SECRET_MASK = '********';

/** Top-level config fields that a schema marks with `secret()`. */
export function secretFields(schema: z.ZodType): string[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, { 'x-secret'?: boolean }>;
    oneOf?: { properties?: Record<string, { 'x-secret'?: boolean }> }[];
    anyOf?: { properties?: Record<string, { 'x-secret'?: boolean }> }[];
  };
  const fields = new Set<string>();
  for (const branch of [json, ...(json.oneOf ?? []), ...(json.anyOf ?? [])]) {
    for (const [name, prop] of Object.entries(branch.properties ?? {})) if (prop['x-secret']) fields.add(name);
  }
  return [...fields];
}

export interface SecretState {
  set: boolean;
  /** "env": an ${ENV} reference, shown as is; "stored": kept in the vault or inline, never shown. */
  source?: 'env' | 'stored';
}

/**
 * Returns a copy safe to send to a browser: secret fields become SECRET_MASK, except `${ENV}`
 * references, which name a variable and hold no secret. `secrets` tells which fields are set.
 */
export function maskSecrets(config: Record<string, unknown>, fields: string[]) {
  const masked: Record<string, unknown> = { ...config };
  const secrets: Record<string, SecretState> = {};
  for (const field of fields) {
    const value = config[field];
    if (value === undefined || value === null || value === '') {
      secrets[field] = { set: false };
      continue;
    }
    if (isReference(value) && !value.startsWith('${secret:')) {
      secrets[field] = { set: true, source: 'env' };
      continue;
    }
    masked[field] = SECRET_MASK;
    secrets[field] = { set: true, source: 'stored' };
  }
  return { config: masked, secrets };
}
