import { z } from 'zod';
import { secret, zh } from '../../config/schema.js';

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
      .describe('App ID of the self-built app (开发者后台 → 凭证与基础信息), e.g. cli_a1b2c3d4e5f60718')
      .meta(zh('App ID', '自建应用的 App ID（开发者后台 → 凭证与基础信息），例如 cli_a1b2c3d4e5f60718')),
    app_secret: secret(z.string().min(16, 'must be at least 16 characters')).describe(
      'App Secret from the same page; used for the tenant_access_token and the long connection',
    ).meta(zh('App Secret', '同一页面上的 App Secret；用于获取 tenant_access_token 和建立长连接')),
    connection: z
      .enum(['websocket', 'webhook'])
      .default('websocket')
      .describe(
        'websocket: the gateway opens the long connection (长连接), no public URL needed; webhook: Feishu POSTs events to this gateway\'s public URL (事件与回调 → 请求地址)',
      )
      .meta(zh('连接方式', 'websocket：由网关建立长连接，无需公网地址；webhook：飞书把事件 POST 到本网关的公网地址（事件与回调 → 请求地址）')),
    encrypt_key: secret(z.string().min(1).optional()).describe(
      'Encrypt Key (事件与回调 → 加密策略). Webhook mode: when set, every push must arrive encrypted and signed (X-Lark-Signature)',
    ).meta(zh('Encrypt Key', 'Encrypt Key（事件与回调 → 加密策略）。webhook 模式：设置后，每次推送都必须加密并带签名（X-Lark-Signature）')),
    verification_token: secret(z.string().min(1).optional()).describe(
      'Verification Token (事件与回调 → 加密策略); required in webhook mode, where every push must carry it',
    ).meta(zh('Verification Token', 'Verification Token（事件与回调 → 加密策略）；webhook 模式下必填，每次推送都必须携带它')),
    domain: z
      .union([z.enum(['feishu', 'lark']), z.url({ protocol: /^https?$/, error: 'must be feishu, lark or an http(s) URL' })])
      .default('feishu')
      .describe('feishu (open.feishu.cn), lark (open.larksuite.com, international), or the http(s) address of a fake platform for testing')
      .meta(zh('平台域名', 'feishu（open.feishu.cn）、lark（open.larksuite.com，国际版），或用于测试的模拟平台的 http(s) 地址')),
    group_policy: z
      .enum(['mention', 'all', 'off'])
      .default('mention')
      .describe(
        'Which group messages are answered: mention (only when the bot is @mentioned), all (every message the app may read; needs the group-message permission), off (none). Direct chats are always answered',
      )
      .meta(zh('群消息策略', '回复哪些群消息：mention（仅在机器人被 @ 时）、all（应用可读取的所有消息；需要群消息权限）、off（都不回复）。单聊消息始终回复')),
    show_typing: z
      .boolean()
      .default(true)
      .describe(
        'While the agent works on a message (over 0.5 s), put a "Typing" (敲键盘) reaction on it, taken back when the agent is done; needs im:message or im:message.reactions:write_only',
      )
      .meta(zh('显示正在输入', '智能体处理一条消息期间（超过 0.5 秒），在该消息上添加“敲键盘”（Typing）表情回复，处理完后撤回；需要 im:message 或 im:message.reactions:write_only 权限')),
    show_preview: z
      .boolean()
      .default(true)
      .describe(
        'When a streaming agent (e.g. openai) takes over a second to write its reply, show it in a card that fills in about once a second; the finished answer replaces it in the same card. Quicker replies go out as plain messages. Needs the cardkit:card:write permission (without it, replies go out as messages)',
      )
      .meta(zh('显示回复预览', '流式输出的智能体（如 openai）写回复超过一秒时，在一张卡片中显示回复，约每秒更新一次；最终答案在同一张卡片中替换它。较快的回复以普通消息发出。需要 cardkit:card:write 权限（没有该权限时，回复以消息发出）')),
    ping_interval_seconds: z
      .number()
      .int()
      .min(5)
      .max(600)
      .optional()
      .describe('Long connection: seconds between pings. Default: the interval the platform sends (120 s)')
      .meta(zh('Ping 间隔（秒）', '长连接：两次 ping 之间的秒数。默认：平台下发的间隔（120 秒）')),
    ping_timeout_seconds: z
      .number()
      .int()
      .min(3)
      .max(300)
      .default(30)
      .describe('Long connection: when nothing arrives this long after a ping, the connection is taken as dead and reopened')
      .meta(zh('Ping 超时（秒）', '长连接：发出 ping 后这么长时间内什么都没收到，即认为连接已断开并重新建立')),
    reconnect_max_delay_seconds: z
      .number()
      .int()
      .min(1)
      .max(600)
      .default(60)
      .describe('Long connection: the longest wait between reconnect attempts (the wait doubles from 1 s up to this)')
      .meta(zh('最长重连等待（秒）', '长连接：两次重连尝试之间的最长等待时间（等待时间从 1 秒起逐次翻倍，直到此值）')),
    request_timeout_ms: z
      .number()
      .int()
      .min(1_000)
      .max(60_000)
      .default(15_000)
      .describe('Timeout of one Feishu API request (token, send, endpoint discovery)')
      .meta(zh('请求超时（毫秒）', '单次飞书 API 请求的超时时间（获取 token、发送消息、端点发现）')),
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
