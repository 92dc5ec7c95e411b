import { z } from 'zod';
import { secret, zh } from '../../config/schema.js';

export const webApiConfigSchema = z
  .object({
    api_key: secret(z.string().min(16, 'must be at least 16 characters')).describe(
      'Clients send it as "Authorization: Bearer <api_key>". Use ${ENV_NAME} to read it from the environment',
    ).meta(zh('API 密钥', '客户端以 "Authorization: Bearer <api_key>" 的形式发送它。可用 ${ENV_NAME} 从环境变量读取')),
    body_limit_bytes: z
      .number()
      .int()
      .min(256)
      .max(1_048_576)
      .default(65_536)
      .describe('Largest accepted request body; bigger ones get 413')
      .meta(zh('请求体上限（字节）', '可接受的最大请求体；超出的请求返回 413')),
    rate_limit_per_minute: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(600)
      .describe('Requests per minute for this key, with bursts up to a tenth of it; over it: 429 with Retry-After')
      .meta(zh('每分钟限额', '此密钥每分钟的请求数，突发上限为该值的十分之一；超出时返回 429 并带 Retry-After')),
    wait_timeout_ms: z
      .number()
      .int()
      .min(100)
      .max(120_000)
      .default(30_000)
      .describe('How long ?wait=true holds the request for the reply before answering 202')
      .meta(zh('等待回复超时（毫秒）', '?wait=true 时请求为等待回复而保持的时长，超时则返回 202')),
    callback_url: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .optional()
      .describe(
        'Optional: also POST every reply chunk as signed JSON to this URL of your service (retried on 5xx, 408, 429 and network errors). SSE and ?wait=true keep working',
      )
      .meta(zh('回调地址', '可选：同时把每个回复片段以签名 JSON 的形式 POST 到你服务的这个 URL（遇到 5xx、408、429 和网络错误时重试）。SSE 和 ?wait=true 照常可用')),
    callback_secret: secret(z.string().min(16, 'must be at least 16 characters').optional()).describe(
      'Required with callback_url: signs each callback (X-CocoCat-Signature: sha256=HMAC-SHA256(secret, timestamp + "." + body), X-CocoCat-Timestamp)',
    ).meta(zh('回调签名密钥', '设置 callback_url 时必填：为每次回调签名（X-CocoCat-Signature: sha256=HMAC-SHA256(secret, timestamp + "." + body)，X-CocoCat-Timestamp）')),
    callback_timeout_ms: z
      .number()
      .int()
      // The HTTP client checks its timeouts about once a second: a smaller figure would not be honoured.
      .min(1_000)
      .max(60_000)
      .default(10_000)
      .describe('How long one callback POST may take; no answer by then counts as a failure and is retried')
      .meta(zh('回调超时（毫秒）', '单次回调 POST 允许的最长时间；届时仍无应答即算作失败并重试')),
  })
  .strict()
  .superRefine((config, ctx) => {
    // An unsigned callback would let anyone who learns the URL forge replies.
    if (config.callback_url && !config.callback_secret) {
      ctx.addIssue({ code: 'custom', path: ['callback_secret'], message: 'is required when callback_url is set' });
    }
  });

export type WebApiChannelConfig = z.infer<typeof webApiConfigSchema>;
