import { z } from 'zod';
import { secret } from '../../config/schema.js';

/** The iLink bot API's public address (protocols: personal WeChat, iLink). */
export const ILINK_BASE_URL = 'https://ilinkai.weixin.qq.com/';
/** Where media users send are downloaded from (`{cdn}/download?encrypted_query_param=…`) and reply images uploaded to (`{cdn}/upload?…`). */
export const ILINK_CDN_BASE_URL = 'https://novac2c.cdn.weixin.qq.com/c2c';

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

export const ilinkConfigSchema = z
  .object({
    base_url: httpUrl
      .default(ILINK_BASE_URL)
      .describe('iLink API address. The QR login sets it to the one WeChat names for the bot; point it at a local fake (cococat simulate) for testing'),
    bot_token: secret(z.string().regex(/^\S{1,2048}$/, 'must be the bot token without spaces').optional()).describe(
      'Bot token, written by the QR login (panel → the entry → Log in with WeChat). Long-lived; log in again when WeChat ends the session',
    ),
    bot_id: z
      .string()
      .regex(/^\S{1,128}$/, 'must be the bot id without spaces')
      .optional()
      .describe('The bot\'s iLink id (…@im.bot), written by the QR login; shown in logs'),
    route_tag: z
      .string()
      .regex(/^\S{1,128}$/, 'must have no spaces')
      .optional()
      .describe('SKRouteTag header sent with every call, only when WeChat gave the account one'),
    poll_timeout_seconds: z
      .number()
      .int()
      .min(5)
      .max(120)
      .default(35)
      .describe('How long a getupdates long poll may wait for messages before it is asked again (iLink holds ~35 s and may name another figure)'),
    show_typing: z
      .boolean()
      .default(true)
      .describe('Show "typing…" (对方正在输入) in the user\'s chat while the agent works on their message'),
    cdn_base_url: httpUrl
      .default(ILINK_CDN_BASE_URL)
      .describe('WeChat\'s media CDN: images users send are downloaded from it (for agents with images: true), images in replies uploaded to it; point it at a local fake for testing'),
    api_timeout_seconds: z
      .number()
      .int()
      .min(1)
      .max(60)
      .default(15)
      .describe('Timeout of the other API calls (sending a reply)'),
  })
  .strict();

export type IlinkChannelConfig = z.infer<typeof ilinkConfigSchema>;
