import { defineChannel } from '../../src/channels/define.js';
import { RelayChannel } from './channel.js';
import { relayConfigSchema, type RelayChannelConfig } from './config.js';
import { fetchRelayMedia } from './media.js';

export { RelayChannel, type RelayChannelConfig };

/** Declares the channel: type, name, config schema, capabilities, class and media download. No routes: it polls. */
export const relayChannel = defineChannel({
  type: 'relay',
  displayName: 'Relay (example)',
  description: 'Example channel: long-polls a simple HTTP platform for messages and posts replies back.',
  // The panel in Chinese shows these instead.
  translations: { zh: { displayName: '中继（示例）', description: '示例渠道：长轮询一个简单的 HTTP 平台获取消息，并把回复发回去。' } },
  configSchema: relayConfigSchema,
  capabilities: { receives: ['text', 'image'], markdown: false, maxMessageBytes: 4_000, sendsImages: false, streaming: false, typing: false, webhook: false, mergesBursts: true },
  create: (ctx) => new RelayChannel(ctx),
  // Images users send reach agents with `images: true`.
  fetchMedia: fetchRelayMedia,
});
