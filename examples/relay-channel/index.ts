import { defineChannel } from '../../src/channels/define.js';
import { RelayChannel } from './channel.js';
import { relayConfigSchema, type RelayChannelConfig } from './config.js';

export { RelayChannel, type RelayChannelConfig };

/** Declares the channel: type, name, config schema, capabilities and class. No routes: it polls. */
export const relayChannel = defineChannel({
  type: 'relay',
  displayName: 'Relay (example)',
  description: 'Example channel: long-polls a simple HTTP platform for messages and posts replies back.',
  configSchema: relayConfigSchema,
  capabilities: { receives: ['text'], markdown: false, maxMessageBytes: 4_000, streaming: false, typing: false, webhook: false },
  create: (ctx) => new RelayChannel(ctx),
});
