import { defineChannel } from '../define.js';
import { WechatMpChannel } from './channel.js';
import { wechatMpConfigSchema, type WechatMpChannelConfig } from './config.js';
import { fetchWechatMpMedia } from './media.js';
import { registerWechatMpRoutes } from './routes.js';

export { WechatMpChannel, type WechatMpChannelConfig };

/** WeChat Official Account (公众号): signed/encrypted webhook in, customer-service (客服) API out. */
export const wechatMpChannel = defineChannel({
  type: 'wechat_mp',
  displayName: 'WeChat Official Account (公众号)',
  description: 'A subscription or service account: WeChat pushes messages to the webhook (plain, compatible or safe mode); replies go through the customer-service API.',
  translations: { zh: { displayName: '微信公众号', description: '订阅号或服务号：微信把消息推送到回调地址（明文、兼容或安全模式）；回复经客服消息接口发出。' } },
  configSchema: wechatMpConfigSchema,
  // WeChat shows markdown as raw symbols, and 客服 text is refused over 2048 bytes. Reply images
  // are uploaded as temporary media and sent as image messages (客服 or passive).
  capabilities: { receives: ['text', 'image', 'voice', 'video', 'location', 'link', 'event'], markdown: false, maxMessageBytes: 2048, sendsImages: true, streaming: false, typing: true, webhook: true },
  create: (ctx) => new WechatMpChannel(ctx),
  // A burst is answered once only through the 客服 API: a passive reply answers the one request held for it.
  mergesBurstsWith: (config) => config.reply_mode === 'customer_service',
  // Images a follower sends reach agents with `images: true` (media/get; WeChat keeps them 3 days).
  fetchMedia: fetchWechatMpMedia,
  routes: registerWechatMpRoutes,
  webhookPath: (entryKey) => `/webhooks/wechat_mp/${entryKey}`,
});
