import { z } from 'zod';
import { secret } from '../../config/schema.js';

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
      .describe('CorpID (企业ID), from 管理后台 → 我的企业 → 企业信息, e.g. ww1a2b3c4d5e6f7a8b'),
    agent_id: z
      .number()
      .int('must be a whole number')
      .min(1)
      .max(2_147_483_647)
      .describe('AgentId of the self-built app (应用管理 → the app → AgentId), e.g. 1000002; pushes for any other app are refused'),
    secret: secret(z.string().min(16, 'must be at least 16 characters')).describe(
      'Secret of the app (应用管理 → the app → Secret), for the access token of message/send',
    ),
    token: secret(
      z.string().regex(/^[A-Za-z0-9]{1,32}$/, 'must be 1-32 letters or digits, the same as the Token set under 接收消息 → 设置API接收'),
    ).describe('Token from the app\'s 接收消息 → 设置API接收: every callback is signed with it'),
    encoding_aes_key: secret(z.string().regex(/^[A-Za-z0-9+/]{43}$/, 'must be the 43-character EncodingAESKey from 设置API接收')).describe(
      'EncodingAESKey from the same page: every callback arrives encrypted with it',
    ),
    api_base_url: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .default(WECOM_API_BASE_URL)
      .describe('WeCom API address; point it at a local fake (cococat simulate) for testing'),
    timestamp_window_seconds: z
      .number()
      .int()
      .min(30)
      .max(86_400)
      .default(300)
      .describe('Callbacks whose timestamp is further than this from now are refused as replays'),
    member_messages_per_minute: z
      .number()
      .int()
      .min(1)
      .max(MEMBER_LIMIT_PER_MINUTE)
      .default(28)
      .describe(
        'Replies sent to one member per minute at most. WeCom allows 30 per app and silently drops the rest (it still answers "ok"), so replies over this wait their turn instead of being lost',
      ),
    member_messages_per_hour: z
      .number()
      .int()
      .min(1)
      .max(MEMBER_LIMIT_PER_HOUR)
      .default(950)
      .describe('Replies sent to one member per hour at most; WeCom allows 1000 and silently drops the rest'),
    markdown: z
      .boolean()
      .default(true)
      .describe(
        'Send replies that use markdown as WeCom markdown messages (headings, bold, links, quotes, inline code). They render only in the WeCom app: members who read the app through WeChat (微信插件) see "unsupported message". Off: every reply is plain text',
      ),
    welcome_text: z
      .string()
      .min(1)
      .refine((text) => Buffer.byteLength(text, 'utf8') <= TEXT_LIMIT_BYTES, `must fit one WeCom message (${TEXT_LIMIT_BYTES} UTF-8 bytes)`)
      .optional()
      .describe('Sent to a member who opens the app\'s chat (enter_agent event) or joins its visible range (subscribe)'),
    forward_events: z.boolean().default(false).describe('Also hand events other than enter_agent and subscribe (menu clicks, location reports) to the agent'),
    request_timeout_ms: z
      .number()
      .int()
      .min(1_000)
      .max(60_000)
      .default(15_000)
      .describe('Timeout of one WeCom API request (gettoken, message/send)'),
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
