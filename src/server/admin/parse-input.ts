import type { z } from 'zod';
import { firstIssue } from '../../config/schema.js';
import { CocoError } from '../../core/errors.js';

/** Parses a request's query or body; a 400 names the first field at fault (or the part, when none is). */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, part: 'query' | 'body'): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const { field, message } = firstIssue(result.error);
  throw new CocoError('COCO_ERR_REQUEST_INVALID', `${field || part}: ${message}`, { statusCode: 400, field: field || part });
}
