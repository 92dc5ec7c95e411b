/**
 * CocoCat's public API, grouped by audience.
 * @module
 */

// ── Running a gateway in your own process ───────────────────────────────────────────────────
export { Gateway, type GatewayOptions } from './gateway.js';
export { buildServer, type BuildServerOptions } from './server/build-server.js';
export { createDemoWorkspace } from './config/demo-workspace.js';
export { checkWorkspace } from './config/check.js';

// ── Writing a channel ───────────────────────────────────────────────────────────────────────
export { Channel, type ChannelContext, type ChannelFeed, type FeedEvent, type MessageHandler } from './core/channel.js';
export type { Accepted, ChatMessage, MediaRef, MessageType, OutgoingMessage, SendContext, SendResult } from './core/message.js';
export { defineChannel, type ChannelCapabilities, type ChannelDefinition, type ChannelRoutesHost } from './channels/define.js';
export { ChannelRegistry } from './channels/registry.js';
export { secret } from './config/schema.js';
export { splitText } from './channels/shared/split-text.js';
export { markdownToText } from './channels/shared/markdown-to-text.js';
export { TokenBucket } from './channels/shared/token-bucket.js';

// ── Writing an agent or a store ─────────────────────────────────────────────────────────────
export type { Agent, AgentReply, AgentRequest, AgentTurn } from './agents/agent.js';
export type { Store } from './store/store.js';

// ── Errors and time ─────────────────────────────────────────────────────────────────────────
export { CocoError, ErrorCodes, isCocoError, type ErrorCode } from './core/errors.js';
export { ManualClock, systemClock, type Clock } from './core/clock.js';
