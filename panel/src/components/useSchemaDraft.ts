import { useCallback, useState } from 'react';
import { ApiError } from '../api';
import { initialDraft, initialSecretModes, toValue, type Draft, type FieldErrors, type SecretModes } from './schema';
import type { JsonSchema, SecretState } from './types';

/** Form state for a SchemaForm: what the inputs hold, secret modes, and errors per field. */
export function useSchemaDraft(schema: JsonSchema | undefined, stored?: Record<string, unknown>, secrets?: Record<string, SecretState>) {
  const [draft, setDraft] = useState<Draft>(() => (schema ? initialDraft(schema, stored) : {}));
  const [modes, setModes] = useState<SecretModes>(() => (schema ? initialSecretModes(schema, secrets) : {}));
  const [errors, setErrors] = useState<FieldErrors>({});

  const reset = useCallback((next: JsonSchema, nextStored?: Record<string, unknown>, nextSecrets?: Record<string, SecretState>) => {
    setDraft(initialDraft(next, nextStored));
    setModes(initialSecretModes(next, nextSecrets));
    setErrors({});
  }, []);

  const onDraft = useCallback((name: string, value: string | boolean) => {
    setDraft((d) => ({ ...d, [name]: value }));
    // The message was about the old value; the next submit checks the new one.
    setErrors((e) => (name in e ? omit(e, name) : e));
  }, []);

  const onSecretMode = useCallback((name: string, mode: SecretModes[string]) => {
    setModes((m) => ({ ...m, [name]: mode }));
    setErrors((e) => (name in e ? omit(e, name) : e));
  }, []);

  /** The value to send, or undefined (and the errors shown) when a field is wrong. */
  const validate = (): Record<string, unknown> | undefined => {
    if (!schema) return undefined;
    const { value, errors: found } = toValue(schema, draft, modes);
    setErrors(found);
    return Object.keys(found).length > 0 ? undefined : value;
  };

  return { draft, modes, errors, setErrors, onDraft, onSecretMode, validate, reset };
}

function omit(errors: FieldErrors, name: string): FieldErrors {
  const { [name]: _, ...rest } = errors;
  return rest;
}

/**
 * Where a failed save belongs: a field of this form (the server names it as a dotted path, under
 * `prefix` for nested bodies such as "config."), or the banner.
 */
export function placeError(err: unknown, prefix = ''): { field?: string; message: string } {
  if (!(err instanceof ApiError)) return { message: err instanceof Error ? err.message : String(err) };
  if (!err.field || !err.field.startsWith(prefix)) return { message: err.message, field: err.field && !prefix ? err.field : undefined };
  const path = err.field.slice(prefix.length);
  const field = path.split('.')[0] ?? path;
  // "config.api_key: must be …" → "must be …": the field is already named by its label.
  const message = err.message.replace(new RegExp(`^${escape(err.field)}:\\s*`), '').replace(new RegExp(`^${escape(path)}:\\s*`), '');
  return { field, message };
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
