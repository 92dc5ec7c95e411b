/** The fake WeCom (企业微信) platform: self-built app and intelligent robot. See README.md. */
export { FakeWecom, newEncodingAesKey, type BotMessage, type FakeWecomOptions } from './server.js';
export { CONTENT_LIMIT_BYTES, truncateUtf8, type ApiCounters, type DeliveredMessage, type DroppedMessage, type RateWindow, type SendCall } from './api.js';
export { appMessageXml, envelopeXml, parseFlatXml, wecomMessage, type WecomAppMessage } from './app-xml.js';
export { forge, type AppPushOptions, type AppPushResult, type AppTamper, type PushAttempt, type VerifyResult } from './callback.js';
export {
  BOT_CMD,
  BOT_ERR,
  STREAM_CONTENT_LIMIT_BYTES,
  type BotConnectionInfo,
  type BotDelivery,
  type BotReplyRecord,
  type BotSend,
  type BotSentMessage,
  type BotStream,
  type CloseReason,
} from './bot.js';
export {
  DEFAULT_BOT_GROUP,
  DEFAULT_BOT_USER,
  encryptMedia,
  newMsgId,
  TINY_PNG,
  type BotChatType,
  type BotContent,
  type BotEventOptions,
  type BotMessageOptions,
} from './bot-messages.js';
export type { BotWebhookPushOptions, BotWebhookResult, ResponseUrlPost, WebhookExchange } from './bot-webhook.js';
