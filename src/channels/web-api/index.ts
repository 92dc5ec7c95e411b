import { readInlineMedia } from '../../core/media.js';
import { defineChannel } from '../define.js';
import { WebApiChannel } from './channel.js';
import { webApiConfigSchema, type WebApiChannelConfig } from './config.js';
import { registerWebApiRoutes } from './routes.js';

export { WebApiChannel, type WebApiChannelConfig };

/** Declares the channel: type, name, config schema, capabilities, class, routes and (inline) media. */
export const webApiChannel = defineChannel({
  type: 'web_api',
  displayName: 'Web API',
  description:
    'HTTP API for your own apps: POST a message, get the reply in the response (?wait=true), from a per-user SSE stream, or as a signed POST to your callback URL.',
  translations: { zh: { description: '供你自己的应用调用的 HTTP API：POST 一条消息，回复在响应中返回（?wait=true），或从每个用户的 SSE 流获取，或以签名 POST 发到你的回调地址。' } },
  configSchema: webApiConfigSchema,
  capabilities: { receives: ['text', 'image'], markdown: true, sendsImages: true, streaming: true, typing: false, webhook: false },
  create: (ctx) => new WebApiChannel(ctx),
  routes: registerWebApiRoutes,
  // Images come inline with the message (`images`), so reading one is decoding it.
  // The images are in the message itself (data: URLs), which the gateway reads without the channel.
  fetchMedia: (media, ctx) => Promise.resolve(readInlineMedia(media, ctx.maxBytes)),
});
