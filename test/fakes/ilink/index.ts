/** The fake personal-WeChat iLink bot platform. See README.md. */
export { FakeIlink, SESSION_TIMEOUT } from './server.js';
export { fullUserId, ilinkItem, ITEM_TYPE } from './items.js';
export { decryptEcb, encryptEcb, keyOfAesKey, paddedSize, type HostedMedia, type KeyForm } from './cdn.js';
export type { UploadUrlForm } from './upload.js';
export { MAX_MSGS_PER_UPDATE } from './inbound.js';
export type {
  CdnMedia,
  Failure,
  FakeIlinkOptions,
  IlinkCall,
  IlinkEndpoint,
  MessageItem,
  QrSession,
  QrStatus,
  SentMessage,
  TypingCall,
  UploadedMedia,
  WeixinMessage,
} from './types.js';
