import { z } from 'zod';
import { secret, zh } from '../../src/config/schema.js';

// Every field has help text: it becomes the panel form's hint and the admin API's JSON Schema description;
// zh() gives its Chinese label and help, which the panel shows in Chinese.
export const relayConfigSchema = z
  .object({
    base_url: z
      .string()
      .url()
      .describe('Root of the relay platform API, e.g. https://relay.example.com/api')
      .meta(zh('接口地址', '中继平台 API 的根地址，例如 https://relay.example.com/api')),
    token: secret(z.string().min(1))
      .describe('Bot token, sent as "Authorization: Bearer <token>". Use ${ENV_NAME} to read it from the environment')
      .meta(zh('机器人 Token', '机器人的 Token，以 "Authorization: Bearer <token>" 发送。写成 ${ENV_NAME} 即从环境变量读取')),
    poll_timeout_ms: z
      .number()
      .int()
      .min(1_000)
      .max(60_000)
      .default(25_000)
      .describe('How long one long poll waits for new messages before asking again')
      .meta(zh('长轮询等待（毫秒）', '一次长轮询等待新消息多久后再次请求')),
  })
  .strict();

export type RelayChannelConfig = z.infer<typeof relayConfigSchema>;
