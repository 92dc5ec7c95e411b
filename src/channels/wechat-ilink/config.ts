import { z } from 'zod';
import { secret, zh } from '../../config/schema.js';

/** The iLink bot API's public address (protocols: personal WeChat, iLink). */
export const ILINK_BASE_URL = 'https://ilinkai.weixin.qq.com/';
/** Where media users send are downloaded from (`{cdn}/download?encrypted_query_param=…`) and reply images uploaded to (`{cdn}/upload?…`). */
export const ILINK_CDN_BASE_URL = 'https://novac2c.cdn.weixin.qq.com/c2c';

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

export const ilinkConfigSchema = z
  .object({
    base_url: httpUrl
      .default(ILINK_BASE_URL)
      .describe('iLink API address. The QR login sets it to the one WeChat names for the bot; point it at a local fake (cococat simulate) for testing')
      .meta(zh('接口地址', 'iLink API 地址。扫码登录会把它设为微信为该机器人指定的地址；测试时可指向本地模拟服务（cococat simulate）')),
    bot_token: secret(z.string().regex(/^\S{1,2048}$/, 'must be the bot token without spaces').optional()).describe(
      'Bot token, written by the QR login (panel → the entry → Log in with WeChat). Long-lived; log in again when WeChat ends the session',
    ).meta(zh('Bot Token', '机器人 token，由扫码登录写入（面板 → 该接入 → 微信扫码登录）。长期有效；微信结束会话后需重新登录')),
    bot_id: z
      .string()
      .regex(/^\S{1,128}$/, 'must be the bot id without spaces')
      .optional()
      .describe('The bot\'s iLink id (…@im.bot), written by the QR login; shown in logs')
      .meta(zh('机器人 ID', '机器人的 iLink ID（…@im.bot），由扫码登录写入；显示在日志中')),
    route_tag: z
      .string()
      .regex(/^\S{1,128}$/, 'must have no spaces')
      .optional()
      .describe('SKRouteTag header sent with every call, only when WeChat gave the account one')
      .meta(zh('路由标签（SKRouteTag）', '每次调用都会发送的 SKRouteTag 请求头，仅在微信为该账号分配了路由标签时使用')),
    poll_timeout_seconds: z
      .number()
      .int()
      .min(5)
      .max(120)
      .default(35)
      .describe('How long a getupdates long poll may wait for messages before it is asked again (iLink holds ~35 s and may name another figure)')
      .meta(zh('长轮询超时（秒）', 'getupdates 长轮询等待消息的最长时间，到时重新发起（iLink 约保持 35 秒，也可能指定其他时长）')),
    show_typing: z
      .boolean()
      .default(true)
      .describe('Show "typing…" (对方正在输入) in the user\'s chat while the agent works on their message')
      .meta(zh('显示正在输入', '智能体处理用户消息期间，在用户的聊天中显示“对方正在输入”（typing…）')),
    cdn_base_url: httpUrl
      .default(ILINK_CDN_BASE_URL)
      .describe('WeChat\'s media CDN: images users send are downloaded from it (for agents with images: true), images in replies uploaded to it; point it at a local fake for testing')
      .meta(zh('媒体 CDN 地址', '微信的媒体 CDN：用户发送的图片从这里下载（用于设置了 images: true 的智能体），回复中的图片上传到这里；测试时可指向本地模拟服务')),
    api_timeout_seconds: z
      .number()
      .int()
      .min(1)
      .max(60)
      .default(15)
      .describe('Timeout of the other API calls (sending a reply)')
      .meta(zh('API 超时（秒）', '其他 API 调用（发送回复）的超时时间')),
  })
  .strict();

export type IlinkChannelConfig = z.infer<typeof ilinkConfigSchema>;
