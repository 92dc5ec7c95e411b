import { z } from 'zod';
import { ID_PATTERN } from '../core/ids.js';

/**
 * Marks a config field as a secret: write-only in the admin API and panel, masked in every
 * response, never logged. In JSON Schema it shows as `"writeOnly": true, "x-secret": true`.
 */
export function secret<T extends z.ZodType>(schema: T): T {
  return schema.meta({ writeOnly: true, 'x-secret': true }) as T;
}

export const idSchema = z
  .string()
  .regex(ID_PATTERN, 'must be 1-64 characters of a-z, 0-9, "_" and "-", starting with a letter or digit');

// ── agents/{id}/profile.yaml ────────────────────────────────────────────────────────────────

const profileBase = {
  name: z.string().min(1).max(200).optional().describe('Display name'),
  system_prompt: z.string().max(100_000).optional().describe('Instructions given to the model before every conversation'),
  history_window: z
    .number()
    .int()
    .min(0)
    .max(200)
    .default(20)
    .describe('How many earlier turns of the conversation the agent sees'),
  timeout_ms: z.number().int().min(100).max(600_000).default(60_000).describe('Give up on one attempt after this long'),
  retries: z.number().int().min(0).max(10).default(2).describe('Retries after a failed attempt, with backoff'),
  fallback_reply: z
    .string()
    .min(1)
    .max(2_000)
    .default('Sorry, I cannot answer right now. Please try again in a moment.')
    .describe('Sent when the agent still fails after all retries, so the user is never left in silence'),
};

export const echoProfileSchema = z
  .object({
    provider: z.literal('echo'),
    ...profileBase,
    prefix: z.string().max(200).default('').describe('Text put before the echoed message'),
  })
  .strict();

export const openaiProfileSchema = z
  .object({
    provider: z.literal('openai'),
    ...profileBase,
    model: z.string().min(1).describe('Model name, e.g. gpt-4o-mini, deepseek-chat, qwen-plus'),
    base_url: z
      .string()
      .url()
      .optional()
      .describe('Any OpenAI-compatible chat-completions endpoint; default https://api.openai.com/v1'),
    api_key: secret(z.string().min(1).optional()).describe('API key; defaults to the OPENAI_API_KEY environment variable'),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();

export const httpProfileSchema = z
  .object({
    provider: z.literal('http'),
    ...profileBase,
    url: z.string().url().describe('Your agent service; receives a signed POST with the conversation'),
    secret: secret(z.string().min(16).optional()).describe(
      'Shared secret for the X-CocoCat-Signature HMAC-SHA256 header (at least 16 characters)',
    ),
  })
  .strict();

export const agentProfileSchema = z.discriminatedUnion('provider', [echoProfileSchema, openaiProfileSchema, httpProfileSchema]);

export type AgentProfile = z.infer<typeof agentProfileSchema>;
export type EchoProfile = z.infer<typeof echoProfileSchema>;
export type OpenAIProfile = z.infer<typeof openaiProfileSchema>;
export type HttpProfile = z.infer<typeof httpProfileSchema>;
