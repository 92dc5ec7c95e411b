import { defineChannel } from '../define.js';
import { FeishuChannel } from './channel.js';
import { feishuConfigSchema, type FeishuChannelConfig } from './config.js';
import { fetchFeishuMedia } from './media.js';
import { fetchFeishuQuote } from './quote.js';
import { registerFeishuRoutes } from './routes.js';

export { FeishuChannel, type FeishuChannelConfig };

/** Feishu/Lark self-built app: long connection or event webhook in, im/v1 messages out. */
export const feishuChannel = defineChannel({
  type: 'feishu',
  displayName: '飞书 / Lark',
  description:
    'A Feishu (飞书) or Lark self-built app bot in direct chats and groups: events over the long connection (no public URL needed) or the event webhook; replies (text, cards and images) through the message API, threaded under the asking message in groups.',
  translations: { zh: { description: '飞书或 Lark 自建应用机器人，用于单聊和群聊：事件经长连接（无需公网地址）或事件回调送达；回复（文本、卡片和图片）经消息 API 发出，群聊中回复在提问消息的话题下。' } },
  configSchema: feishuConfigSchema,
  // No maxMessageBytes: send() splits to Feishu's request limits itself, keeping code fences whole.
  capabilities: { receives: ['text', 'image', 'voice', 'video', 'file', 'location'], markdown: true, groups: true, threads: true, sendsImages: true, streaming: true, typing: true, webhook: false, mergesBursts: true, recalls: true },
  // Recalls: a message recalled (im.message.recalled_v1) before its agent answers gets no answer.
  // sendsImages: an agent's images go out after its text, each uploaded (im/v1/images) and sent as an image message.
  // Streaming: the reply shown in a card while the agent writes it, finished in that card (show_preview).
  // Typing: a "Typing" reaction on the user's message while the agent works (show_typing).
  create: (ctx) => new FeishuChannel(ctx),
  // Images users send (also in rich text), for agents with `images: true`: by message id and key, any process.
  fetchMedia: fetchFeishuMedia,
  // A reply names its parent only: the agent gets the parent's words as a quote under the user's text.
  fetchQuote: fetchFeishuQuote,
  routes: registerFeishuRoutes,
  webhookPath: (entryKey, config) => (config.connection === 'webhook' ? `/webhooks/feishu/${entryKey}` : undefined),
});
