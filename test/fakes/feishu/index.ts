/** The fake Feishu/Lark open platform: see README.md. */
export { FakeFeishu, type FakeFeishuOptions, type FakeWebhookOptions, type EventOptions, type ImageEventOptions, type FileEventOptions, type PostEventOptions } from './server.js';
export type { ApiCall, ApiCounters, FakeReaction, MessageRead, RateLimit, ReactionCall, ResourceCall, ScriptedFailure, SentMessage, UploadCall, UploadedImage, UserMessageContent } from './api.js';
export { CARD_CALLS_PER_SECOND, CARD_ERRORS, STREAMING_LIMIT_MS, textOf, type CardCall, type CardCallKind, type CardChange, type FakeCard } from './cards.js';
export { DEGRADED_CARD_CONTENT, EMOJI_TYPES, IMAGE_UPLOAD_LIMIT, RICH_BODY_LIMIT, TEXT_BODY_LIMIT } from './api.js';
export { parseMultipart, type FormPart } from '../multipart.js';
export { decrypt, encrypt, sign } from './crypto.js';
export {
  DEFAULT_GROUP,
  DEFAULT_USER,
  messageEvent,
  newAppId,
  newChatId,
  newEventId,
  newMessageId,
  newOpenId,
  p2pChatIdOf,
  userIdOf,
  type EventContext,
  type EventEnvelope,
  type Mention,
  type MessageBody,
  type MessageEventOptions,
  type PostElement,
  type ReceiveMessageEvent,
  type UserId,
} from './events.js';
export { decodeFrame, encodeFrame, headerOf, METHOD_CONTROL, METHOD_DATA, type Frame, type FrameHeader } from './frame.js';
export { WS_PATH, type AckRecord, type ClientConfig, type ConnectionInfo, type DeliveryAttempt, type EventDelivery, type HandshakeRefusal, type PushEventOptions } from './long-connection.js';
export { REAL_RETRY_SCHEDULE_MS, type UrlVerificationResult, type WebhookAttempt, type WebhookResult } from './webhook.js';
