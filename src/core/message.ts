/**
 * What every channel turns a platform message into. Field names follow the documented
 * CocoCat channel API (`channel_type`, `scene_id`, `user_id`, …) in TypeScript naming,
 * plus what real platforms need to answer in the right place.
 */
export interface ChatMessage {
  /** Registered channel type, e.g. "web_api", "feishu". */
  channelType: string;
  /** The agent or scene the entry feeds (the documented API calls it scene_id for both). */
  sceneId: string;
  /** Platform user id of the sender. */
  userId: string;
  /** Group or chat id; equals userId for direct messages. Order is kept per conversation. */
  conversationId: string;
  /** Text content: the message text, a voice transcript, or a short description of media. */
  content: string;
  msgType: MessageType;
  /** The platform's own message id: the dedup key. Redeliveries carry the same one. */
  msgId: string;
  /** When the platform says the message was sent, epoch milliseconds. */
  timestamp: number;
  isGroup: boolean;
  /** True in a group when the bot was @mentioned (always true in direct chats). */
  mentionsBot: boolean;
  userName?: string;
  media?: MediaRef[];
  /**
   * What the channel needs later to address the reply (a thread root, a token the platform
   * issued with the message). Stored with the message, handed back to `send()`. JSON only.
   */
  replyMeta?: Record<string, unknown>;
  /** The platform payload as received (JSON), for logs and debugging. Never holds secrets. */
  raw?: unknown;
}

export type MessageType = 'text' | 'image' | 'voice' | 'video' | 'file' | 'location' | 'link' | 'event';

export interface MediaRef {
  kind: 'image' | 'voice' | 'video' | 'file';
  /** A platform media id or URL; fetching it is the channel's business. */
  ref: string;
  /**
   * The per-file key that decrypts the download, where the platform encrypts media (iLink, WeCom
   * robots). Stored with the message so any gateway process can fetch it; the admin API masks it.
   */
  key?: string;
  mimeType?: string;
  name?: string;
  /**
   * The platform id of the message the media belongs to, when it is not the message that carries
   * the reference (an image in a message the user quoted); where the platform downloads by message.
   */
  messageId?: string;
}

/**
 * An image in an agent's answer: a URL the gateway downloads when it sends it, or the bytes
 * themselves (base64). Channels upload it to the platform and send it as a message of its own.
 */
export type ReplyImage =
  | { url: string; alt?: string }
  | { data: string; mimeType: string; alt?: string };

/**
 * A reply on its way out: one chunk, already split to the channel's limits. A chunk is text, or
 * one image (`image` set; `text` is then its alt text, often empty) for a channel that sends images.
 */
export interface OutgoingMessage {
  text: string;
  format: 'text' | 'markdown';
  image?: ReplyImage;
}

/** Where and how `send()` must deliver a reply. */
export interface SendContext {
  conversationId: string;
  isGroup: boolean;
  /** The platform message id being answered (threads, quoted replies). */
  inReplyTo: string;
  /** Our id of the inbound message being answered. */
  messageId: string;
  /** Stable across retries of this chunk: pass it to platforms that deduplicate (Feishu `uuid`). */
  idempotencyKey: string;
  chunk: { index: number; count: number };
  /** The inbound message's `replyMeta`. */
  replyMeta?: Record<string, unknown>;
}

export interface SendResult {
  /** The platform's id of the delivered message, when it gives one. */
  platformMessageId?: string;
}

/** What `onMessage` answers once the message is durably in the mailbox. */
export interface Accepted {
  /** Our id of the stored message (the existing one for a duplicate). */
  messageId: string;
  /** True when the same platform message had been accepted before; it is not processed again. */
  duplicate: boolean;
  /**
   * When the message was first accepted (epoch ms), by any gateway process sharing the store: a
   * channel learns from it how long a platform has been redelivering the message.
   */
  acceptedAt: number;
}

/** A user as people read them (notices, an owner's answers): their name and id, or the id. */
export function nameAndId(user: { userId: string; userName?: string }): string {
  return user.userName ? `${user.userName} (${user.userId})` : user.userId;
}
