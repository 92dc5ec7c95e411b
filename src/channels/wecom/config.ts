import { z } from 'zod';
import { secret, zh } from '../../config/schema.js';

/** The public WeCom API; a custom URL (a local fake, a private deployment's proxy) is taken as is. */
export const WECOM_API_BASE_URL = 'https://qyapi.weixin.qq.com';

/**
 * WeCom's documented cap is 30 messages per member per minute and 1000 per hour, per app. Messages over
 * it are answered errcode 0 and never shown, so the only defence is to stay under it: a little margin
 * covers clock skew between our window and WeCom's.
 */
export const MEMBER_LIMIT_PER_MINUTE = 30;
export const MEMBER_LIMIT_PER_HOUR = 1_000;

/** message/send cuts text and markdown content over this many UTF-8 bytes without an error. */
export const TEXT_LIMIT_BYTES = 2_048;

export const wecomConfigSchema = z
  .object({
    corp_id: z
      .string()
      .regex(/^w[wx][0-9a-fA-F]{16}$/, 'must look like ww followed by 16 hex digits (管理后台 → 我的企业 → 企业信息 → 企业ID)')
      .describe('CorpID (企业ID), from 管理后台 → 我的企业 → 企业信息, e.g. ww1a2b3c4d5e6f7a8b')
      .meta(zh('企业 ID', '企业ID（CorpID），在 管理后台 → 我的企业 → 企业信息 查看，例如 ww1a2b3c4d5e6f7a8b')),
    agent_id: z
      .number()
      .int('must be a whole number')
      .min(1)
      .max(2_147_483_647)
      .describe('AgentId of the self-built app (应用管理 → the app → AgentId), e.g. 1000002; pushes for any other app are refused')
      .meta(zh('AgentId', '自建应用的 AgentId（应用管理 → 该应用 → AgentId），例如 1000002；其他应用的推送会被拒绝')),
    secret: secret(z.string().min(16, 'must be at least 16 characters')).describe(
      'Secret of the app (应用管理 → the app → Secret), for the access token of message/send',
    ).meta(zh('应用 Secret', '应用的 Secret（应用管理 → 该应用 → Secret），用于获取 message/send 的 access token')),
    token: secret(
      z.string().regex(/^[A-Za-z0-9]{1,32}$/, 'must be 1-32 letters or digits, the same as the Token set under 接收消息 → 设置API接收'),
    ).describe('Token from the app\'s 接收消息 → 设置API接收: every callback is signed with it')
      .meta(zh('回调 Token', '应用的 接收消息 → 设置API接收 中的 Token：每个回调都用它签名')),
    encoding_aes_key: secret(z.string().regex(/^[A-Za-z0-9+/]{43}$/, 'must be the 43-character EncodingAESKey from 设置API接收')).describe(
      'EncodingAESKey from the same page: every callback arrives encrypted with it',
    ).meta(zh('消息加解密密钥（EncodingAESKey）', '同一页面上的 EncodingAESKey：每个回调都用它加密')),
    api_base_url: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .default(WECOM_API_BASE_URL)
      .describe('WeCom API address; point it at a local fake (cococat simulate) for testing')
      .meta(zh('接口地址', '企业微信 API 地址；测试时可指向本地模拟服务（cococat simulate）')),
    timestamp_window_seconds: z
      .number()
      .int()
      .min(30)
      .max(86_400)
      .default(300)
      .describe('Callbacks whose timestamp is further than this from now are refused as replays')
      .meta(zh('时间戳容差（秒）', '时间戳与当前时间相差超过此值的回调视为重放，予以拒绝')),
    member_messages_per_minute: z
      .number()
      .int()
      .min(1)
      .max(MEMBER_LIMIT_PER_MINUTE)
      .default(28)
      .describe(
        'Replies sent to one member per minute at most. WeCom allows 30 per app and silently drops the rest (it still answers "ok"), so replies over this wait their turn instead of being lost',
      )
      .meta(zh('每成员每分钟限额', '每分钟最多发给同一成员的回复数。企业微信每个应用允许 30 条，超出的会被静默丢弃（接口仍返回“ok”），因此超过此值的回复会排队等候，而不会丢失')),
    member_messages_per_hour: z
      .number()
      .int()
      .min(1)
      .max(MEMBER_LIMIT_PER_HOUR)
      .default(950)
      .describe('Replies sent to one member per hour at most; WeCom allows 1000 and silently drops the rest')
      .meta(zh('每成员每小时限额', '每小时最多发给同一成员的回复数；企业微信允许 1000 条，超出的会被静默丢弃')),
    markdown: z
      .boolean()
      .default(true)
      .describe(
        'Send replies that use markdown as WeCom markdown messages (headings, bold, links, quotes, inline code). They render only in the WeCom app: members who read the app through WeChat (微信插件) see "unsupported message". Off: every reply is plain text',
      )
      .meta(zh('Markdown 消息', '把用了 markdown 的回复以企业微信 markdown 消息发送（标题、粗体、链接、引用、行内代码）。这类消息只在企业微信应用中显示：通过微信（微信插件）使用该应用的成员会看到“unsupported message”。关闭时：所有回复都以纯文本发送')),
    welcome_text: z
      .string()
      .min(1)
      .refine((text) => Buffer.byteLength(text, 'utf8') <= TEXT_LIMIT_BYTES, `must fit one WeCom message (${TEXT_LIMIT_BYTES} UTF-8 bytes)`)
      .optional()
      .describe('Sent to a member who opens the app\'s chat (enter_agent event) or joins its visible range (subscribe)')
      .meta(zh('欢迎语', '发送给打开应用聊天（enter_agent 事件）或加入应用可见范围（subscribe）的成员')),
    forward_events: z.boolean().default(false).describe('Also hand events other than enter_agent and subscribe (menu clicks, location reports) to the agent')
      .meta(zh('转发事件', '把 enter_agent 和 subscribe 以外的事件（菜单点击、上报地理位置）也交给智能体')),
    request_timeout_ms: z
      .number()
      .int()
      .min(1_000)
      .max(60_000)
      .default(15_000)
      .describe('Timeout of one WeCom API request (gettoken, message/send)')
      .meta(zh('请求超时（毫秒）', '单次企业微信 API 请求（gettoken、message/send）的超时时间')),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.member_messages_per_hour < config.member_messages_per_minute) {
      ctx.addIssue({ code: 'custom', path: ['member_messages_per_hour'], message: 'must be at least member_messages_per_minute' });
    }
  });

export type WecomChannelConfig = z.infer<typeof wecomConfigSchema>;

/** The API base URL without a trailing slash, ready for `${base}/cgi-bin/…`. */
export function wecomApiBaseUrl(config: Pick<WecomChannelConfig, 'api_base_url'>): string {
  return config.api_base_url.replace(/\/+$/, '');
}
