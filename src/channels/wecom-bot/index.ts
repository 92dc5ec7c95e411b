import { defineChannel } from '../define.js';
import { WecomBotChannel } from './channel.js';
import { wecomBotConfigSchema, type WecomBotChannelConfig } from './config.js';
import { fetchWecomBotMedia } from './media.js';

export { WecomBotChannel, type WecomBotChannelConfig };

/** WeCom intelligent robot (智能机器人): the official long connection in, streamed replies out. */
export const wecomBotChannel = defineChannel({
  type: 'wecom_bot',
  displayName: '企业微信智能机器人 / WeCom AI bot',
  description:
    'A WeCom intelligent robot (智能机器人) in direct chats and groups (when @mentioned), over the official long connection (no public URL needed); replies stream back on the message, longer ones continue as markdown messages, images as image messages.',
  translations: { zh: { displayName: '企业微信智能机器人', description: '企业微信智能机器人，用于单聊和群聊（被 @ 时），经官方长连接（无需公网地址）；回复以流式消息回到原消息上，较长的以 markdown 消息接续，图片以图片消息发送。' } },
  configSchema: wecomBotConfigSchema,
  // No maxMessageBytes: send() splits into the stream and follow-up messages itself, keeping code fences whole.
  capabilities: { receives: ['text', 'image', 'voice', 'video', 'file', 'event'], markdown: true, groups: true, threads: false, sendsImages: true, streaming: true, typing: true, webhook: false, mergesBursts: true },
  // WeCom keeps one connection per robot: with several gateway processes, one runs it at a time.
  exclusive: true,
  create: (ctx) => new WecomBotChannel(ctx),
  // Images (and files) a member sent: the message's URL, decrypted with its per-file aeskey.
  fetchMedia: fetchWecomBotMedia,
  // A member's image URL is served for 5 minutes: images are kept with the message on arrival.
  mediaLifetimeMs: 5 * 60_000,
});
