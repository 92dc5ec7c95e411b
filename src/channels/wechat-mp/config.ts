import { z } from 'zod';
import { secret } from '../../config/schema.js';

export const wechatMpConfigSchema = z
  .object({
    app_id: z
      .string()
      .regex(/^wx[0-9a-f]{16}$/, 'must look like wx followed by 16 hex digits (公众号后台 → 设置与开发 → 基本配置)')
      .describe('AppID (开发者ID) of the official account'),
    app_secret: secret(z.string().min(16, 'must be at least 16 characters')).describe(
      'AppSecret (开发者密码), for the access token of the customer-service (客服) API',
    ),
    token: secret(
      z.string().regex(/^[A-Za-z0-9]{3,32}$/, 'must be 3-32 letters or digits, the same as the Token set in the WeChat console'),
    ).describe('Token (令牌) from 服务器配置: every request WeChat sends is signed with it'),
    encoding_aes_key: secret(z.string().regex(/^[A-Za-z0-9+/]{43}$/, 'must be the 43-character EncodingAESKey from the console').optional()).describe(
      'EncodingAESKey (消息加解密密钥); required in compatible and safe mode',
    ),
    mode: z
      .enum(['plain', 'compatible', 'safe'])
      .default('safe')
      .describe('消息加解密方式 as set in the console: plain (明文), compatible (兼容) or safe (安全). In safe mode unencrypted requests are refused'),
    reply_mode: z
      .enum(['auto', 'customer_service', 'passive'])
      .default('auto')
      .describe(
        'auto: answer in the HTTP response when the reply is ready within passive_wait_ms, else through the 客服 API (and passively after a 48001); customer_service: always the 客服 API; passive: only in the response (accounts without 客服 permission)',
      ),
    passive_wait_ms: z
      .number()
      .int()
      .min(100)
      .max(4_800)
      .default(4_500)
      .describe('How long one WeChat request is held for the reply; WeChat gives up on a request after 5 s'),
    thinking_text: z
      .string()
      .min(1)
      .max(600)
      .default('正在思考中，请稍后发送任意消息获取回复。')
      .describe('Passive mode: the answer to WeChat\'s last try when the reply is not ready; the reply is handed out on the next message'),
    welcome_text: z.string().max(2_000).optional().describe('Sent to a user who follows the account (subscribe event)'),
    forward_events: z.boolean().default(false).describe('Also send events other than subscribe (menu clicks, scans) to the agent'),
    show_typing: z
      .boolean()
      .default(true)
      .describe('Show "对方正在输入" while the agent works on a message (客服 typing; not with reply_mode passive)'),
    timestamp_window_seconds: z
      .number()
      .int()
      .min(30)
      .max(86_400)
      .default(300)
      .describe('Requests whose timestamp is further than this from now are refused as replays'),
    api_base_url: z
      .string()
      .url()
      .default('https://api.weixin.qq.com')
      .describe('WeChat API address; point it at a local fake (cococat simulate) for testing'),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.mode !== 'plain' && !config.encoding_aes_key) {
      ctx.addIssue({ code: 'custom', path: ['encoding_aes_key'], message: `is required in ${config.mode} mode` });
    }
  });

export type WechatMpChannelConfig = z.infer<typeof wechatMpConfigSchema>;
