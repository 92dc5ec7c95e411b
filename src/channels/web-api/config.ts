import { z } from 'zod';
import { secret } from '../../config/schema.js';

export const webApiConfigSchema = z
  .object({
    api_key: secret(z.string().min(16, 'must be at least 16 characters')).describe(
      'Clients send it as "Authorization: Bearer <api_key>". Use ${ENV_NAME} to read it from the environment',
    ),
    body_limit_bytes: z
      .number()
      .int()
      .min(256)
      .max(1_048_576)
      .default(65_536)
      .describe('Largest accepted request body; bigger ones get 413'),
    rate_limit_per_minute: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(600)
      .describe('Requests per minute for this key, with bursts up to a tenth of it; over it: 429 with Retry-After'),
    wait_timeout_ms: z
      .number()
      .int()
      .min(100)
      .max(120_000)
      .default(30_000)
      .describe('How long ?wait=true holds the request for the reply before answering 202'),
  })
  .strict();

export type WebApiChannelConfig = z.infer<typeof webApiConfigSchema>;
