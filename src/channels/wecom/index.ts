import { defineChannel } from '../define.js';
import { WecomChannel } from './channel.js';
import { wecomConfigSchema, type WecomChannelConfig } from './config.js';
import { fetchWecomMedia } from './media.js';
import { registerWecomRoutes } from './routes.js';

export { WecomChannel, type WecomChannelConfig };

/** WeCom self-built app (企业微信自建应用): encrypted callbacks in, message/send out. */
export const wecomChannel = defineChannel({
  type: 'wecom',
  displayName: 'WeCom self-built app (企业微信自建应用)',
  description: 'A self-built app of a WeCom company: WeCom pushes encrypted messages to the webhook; replies go through message/send, paced per member.',
  translations: { zh: { displayName: '企业微信自建应用', description: '企业微信的自建应用：企业微信把加密消息推送到回调地址；回复经 message/send 发出，按成员限速。' } },
  configSchema: wecomConfigSchema,
  // No maxMessageBytes: send() splits each reply itself into messages of at most 2048 bytes. Reply
  // images are uploaded as temporary media and sent as image messages.
  capabilities: { receives: ['text', 'image', 'voice', 'video', 'location', 'link', 'event'], markdown: true, sendsImages: true, streaming: false, typing: false, webhook: true, mergesBursts: true },
  create: (ctx) => new WecomChannel(ctx),
  // Images a member sends reach agents with `images: true` (media/get; media ids are valid 3 days).
  fetchMedia: fetchWecomMedia,
  routes: registerWecomRoutes,
  webhookPath: (entryKey) => `/webhooks/wecom/${entryKey}`,
});
