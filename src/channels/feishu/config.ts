import { z } from 'zod';
import { secret } from '../../config/schema.js';

/** Base URLs of the two public clouds; a custom URL (a local fake, a private deployment) is taken as is. */
export const FEISHU_DOMAINS = {
  feishu: 'https://open.feishu.cn',
  lark: 'https://open.larksuite.com',
} as const;

export const feishuConfigSchema = z
  .object({
    app_id: z
      .string()
      // The official SDK refuses other ids for the long connection, and the platform only issues this form.
      .regex(/^cli_[0-9a-fA-F]{16}$/, 'must look like cli_ followed by 16 hex digits (开发者后台 → 凭证与基础信息)')
      .describe('App ID of the self-built app (开发者后台 → 凭证与基础信息), e.g. cli_a1b2c3d4e5f60718'),
    app_secret: secret(z.string().min(16, 'must be at least 16 characters')).describe(
      'App Secret from the same page; used for the tenant_access_token and the long connection',
    ),
    connection: z
      .enum(['websocket', 'webhook'])
      .default('websocket')
      .describe(
        'websocket: the gateway opens the long connection (长连接), no public URL needed; webhook: Feishu POSTs events to this gateway\'s public URL (事件与回调 → 请求地址)',
      ),
    encrypt_key: secret(z.string().min(1).optional()).describe(
      'Encrypt Key (事件与回调 → 加密策略). Webhook mode: when set, every push must arrive encrypted and signed (X-Lark-Signature)',
    ),
    verification_token: secret(z.string().min(1).optional()).describe(
      'Verification Token (事件与回调 → 加密策略); required in webhook mode, where every push must carry it',
    ),
    domain: z
      .union([z.enum(['feishu', 'lark']), z.url({ protocol: /^https?$/, error: 'must be feishu, lark or an http(s) URL' })])
      .default('feishu')
      .describe('feishu (open.feishu.cn), lark (open.larksuite.com, international), or the http(s) address of a fake platform for testing'),
    group_policy: z
      .enum(['mention', 'all', 'off'])
      .default('mention')
      .describe(
        'Which group messages are answered: mention (only when the bot is @mentioned), all (every message the app may read; needs the group-message permission), off (none). Direct chats are always answered',
      ),
    show_typing: z
      .boolean()
      .default(true)
      .describe(
        'While the agent works on a message (over 0.5 s), put a "Typing" (敲键盘) reaction on it, taken back when the agent is done; needs im:message or im:message.reactions:write_only',
      ),
    show_preview: z
      .boolean()
      .default(true)
      .describe(
        'When a streaming agent (e.g. openai) takes over a second to write its reply, show it in a card that fills in about once a second; the finished answer replaces it in the same card. Quicker replies go out as plain messages. Needs the cardkit:card:write permission (without it, replies go out as messages)',
      ),
    ping_interval_seconds: z
      .number()
      .int()
      .min(5)
      .max(600)
      .optional()
      .describe('Long connection: seconds between pings. Default: the interval the platform sends (120 s)'),
    ping_timeout_seconds: z
      .number()
      .int()
      .min(3)
      .max(300)
      .default(30)
      .describe('Long connection: when nothing arrives this long after a ping, the connection is taken as dead and reopened'),
    reconnect_max_delay_seconds: z
      .number()
      .int()
      .min(1)
      .max(600)
      .default(60)
      .describe('Long connection: the longest wait between reconnect attempts (the wait doubles from 1 s up to this)'),
    request_timeout_ms: z
      .number()
      .int()
      .min(1_000)
      .max(60_000)
      .default(15_000)
      .describe('Timeout of one Feishu API request (token, send, endpoint discovery)'),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.connection === 'webhook' && !config.verification_token) {
      ctx.addIssue({ code: 'custom', path: ['verification_token'], message: 'is required in webhook mode' });
    }
  });

export type FeishuChannelConfig = z.infer<typeof feishuConfigSchema>;

/** The API base URL for a `domain` setting, without a trailing slash. */
export function feishuBaseUrl(domain: FeishuChannelConfig['domain']): string {
  if (domain === 'feishu' || domain === 'lark') return FEISHU_DOMAINS[domain];
  return domain.replace(/\/+$/, '');
}
