import { z } from 'zod';
import { secret, zh } from '../../config/schema.js';

export const wechatMpConfigSchema = z
  .object({
    app_id: z
      .string()
      .regex(/^wx[0-9a-f]{16}$/, 'must look like wx followed by 16 hex digits (公众号后台 → 设置与开发 → 基本配置)')
      .describe('AppID (开发者ID) of the official account')
      .meta(zh('AppID', '公众号的 AppID（开发者ID）')),
    app_secret: secret(z.string().min(16, 'must be at least 16 characters')).describe(
      'AppSecret (开发者密码), for the access token of the customer-service (客服) API',
    ).meta(zh('AppSecret', 'AppSecret（开发者密码），用于获取客服 API 的 access token')),
    token: secret(
      z.string().regex(/^[A-Za-z0-9]{3,32}$/, 'must be 3-32 letters or digits, the same as the Token set in the WeChat console'),
    ).describe('Token (令牌) from 服务器配置: every request WeChat sends is signed with it')
      .meta(zh('Token', '服务器配置中的 Token（令牌）：微信发来的每个请求都用它签名')),
    encoding_aes_key: secret(z.string().regex(/^[A-Za-z0-9+/]{43}$/, 'must be the 43-character EncodingAESKey from the console').optional()).describe(
      'EncodingAESKey (消息加解密密钥); required in compatible and safe mode',
    ).meta(zh('消息加解密密钥（EncodingAESKey）', 'EncodingAESKey（消息加解密密钥）；兼容模式和安全模式下必填')),
    mode: z
      .enum(['plain', 'compatible', 'safe'])
      .default('safe')
      .describe('消息加解密方式 as set in the console: plain (明文), compatible (兼容) or safe (安全). In safe mode unencrypted requests are refused')
      .meta(zh('消息加解密方式', '与后台设置一致的消息加解密方式：plain（明文）、compatible（兼容）或 safe（安全）。安全模式下拒绝未加密的请求')),
    reply_mode: z
      .enum(['auto', 'customer_service', 'passive'])
      .default('auto')
      .describe(
        'auto: answer in the HTTP response when the reply is ready within passive_wait_ms, else through the 客服 API (and passively after a 48001); customer_service: always the 客服 API; passive: only in the response (accounts without 客服 permission)',
      )
      .meta(zh('回复方式', 'auto：回复在 passive_wait_ms 内就绪时直接在 HTTP 响应中回复，否则通过客服 API 发送（收到 48001 后改为被动回复）；customer_service：始终使用客服 API；passive：只在响应中回复（适用于没有客服权限的账号）')),
    passive_wait_ms: z
      .number()
      .int()
      .min(100)
      .max(4_800)
      .default(4_500)
      .describe('How long one WeChat request is held for the reply; WeChat gives up on a request after 5 s')
      .meta(zh('被动回复等待（毫秒）', '每个微信请求为等待回复而保持的时长；微信在 5 秒后放弃该请求')),
    thinking_text: z
      .string()
      .min(1)
      .max(600)
      .default('正在思考中，请稍后发送任意消息获取回复。')
      .describe('Passive mode: the answer to WeChat\'s last try when the reply is not ready; the reply is handed out on the next message')
      .meta(zh('思考中提示语', '被动模式：回复尚未就绪时，对微信最后一次重试的应答；回复会在用户发来下一条消息时送出')),
    welcome_text: z.string().max(2_000).optional().describe('Sent to a user who follows the account (subscribe event)')
      .meta(zh('关注欢迎语', '发送给关注公众号的用户（subscribe 事件）')),
    forward_events: z.boolean().default(false).describe('Also send events other than subscribe (menu clicks, scans) to the agent')
      .meta(zh('转发事件', '把 subscribe 以外的事件（菜单点击、扫码）也发给智能体')),
    show_typing: z
      .boolean()
      .default(true)
      .describe('Show "对方正在输入" while the agent works on a message (客服 typing; not with reply_mode passive)')
      .meta(zh('显示正在输入', '智能体处理消息期间显示“对方正在输入”（客服输入状态；reply_mode 为 passive 时不可用）')),
    timestamp_window_seconds: z
      .number()
      .int()
      .min(30)
      .max(86_400)
      .default(300)
      .describe('Requests whose timestamp is further than this from now are refused as replays')
      .meta(zh('时间戳容差（秒）', '时间戳与当前时间相差超过此值的请求视为重放，予以拒绝')),
    api_base_url: z
      .string()
      .url()
      .default('https://api.weixin.qq.com')
      .describe('WeChat API address; point it at a local fake (cococat simulate) for testing')
      .meta(zh('接口地址', '微信 API 地址；测试时可指向本地模拟服务（cococat simulate）')),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.mode !== 'plain' && !config.encoding_aes_key) {
      ctx.addIssue({ code: 'custom', path: ['encoding_aes_key'], message: `is required in ${config.mode} mode` });
    }
  });

export type WechatMpChannelConfig = z.infer<typeof wechatMpConfigSchema>;
