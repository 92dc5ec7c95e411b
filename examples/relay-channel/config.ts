import { z } from 'zod';
import { secret } from '../../src/config/schema.js';

// Every field has help text: it becomes the panel form's hint and the admin API's JSON Schema description.
export const relayConfigSchema = z
  .object({
    base_url: z.string().url().describe('Root of the relay platform API, e.g. https://relay.example.com/api'),
    token: secret(z.string().min(1)).describe(
      'Bot token, sent as "Authorization: Bearer <token>". Use ${ENV_NAME} to read it from the environment',
    ),
    poll_timeout_ms: z
      .number()
      .int()
      .min(1_000)
      .max(60_000)
      .default(25_000)
      .describe('How long one long poll waits for new messages before asking again'),
  })
  .strict();

export type RelayChannelConfig = z.infer<typeof relayConfigSchema>;
