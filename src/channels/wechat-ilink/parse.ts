import type { ChatMessage, MediaRef, MessageType } from '../../core/message.js';

/**
 * Inbound messages of the iLink bot API (`getupdates` → `msgs[]`, protocols: personal WeChat):
 * a user's message to the bot, turned into what the channel needs. iLink bots are direct chats
 * only; the reply must echo the message's `context_token`, so it travels with the message.
 */

/** message_type of a user's message (2 is the bot's own). */
const USER_MESSAGE = 1;
/** message_state of a message still being written (streamed); only finished ones are answered. */
const GENERATING = 1;

const ITEM_TEXT = 1;
const ITEM_IMAGE = 2;
const ITEM_VOICE = 3;
const ITEM_FILE = 4;
const ITEM_VIDEO = 5;

/** What `send()` needs to answer a message; stored with it as `replyMeta`. */
export interface IlinkReplyMeta {
  contextToken: string;
}

export interface IlinkInbound {
  /** iLink's message_id: the dedup key. */
  msgId: string;
  /** The sender's full id (…@im.wechat), used as is to reply. */
  userId: string;
  contextToken: string;
  createdAt: number;
  msgType: MessageType;
  text: string;
  media: MediaRef[];
}

export type ParsedUpdate = { kind: 'message'; message: IlinkInbound } | { kind: 'skip'; reason: string };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const idOf = (v: unknown): string | undefined => (typeof v === 'number' && Number.isFinite(v) ? String(v) : str(v));

/** One entry of `msgs[]`: a message to answer, or why it is not one. */
export function parseUpdate(raw: unknown): ParsedUpdate {
  if (!isRecord(raw)) return { kind: 'skip', reason: 'not an object' };
  if (raw.message_type !== USER_MESSAGE) return { kind: 'skip', reason: `message_type ${String(raw.message_type)} is not a user's message` };
  if (raw.message_state === GENERATING) return { kind: 'skip', reason: 'message still being written' };
  const msgId = idOf(raw.message_id);
  if (!msgId) return { kind: 'skip', reason: 'no message_id' };
  const userId = str(raw.from_user_id);
  if (!userId) return { kind: 'skip', reason: `message ${msgId}: no from_user_id` };
  const contextToken = str(raw.context_token);
  if (!contextToken) return { kind: 'skip', reason: `message ${msgId}: no context_token, a reply could not be delivered` };
  const items = Array.isArray(raw.item_list) ? raw.item_list.filter(isRecord) : [];
  const content = describeItems(items);
  if (!content.text) return { kind: 'skip', reason: `message ${msgId}: no item CocoCat reads` };
  const createdAt = typeof raw.create_time_ms === 'number' ? raw.create_time_ms : 0;
  return { kind: 'message', message: { msgId, userId, contextToken, createdAt, ...content } };
}

/** The readable text of a message's items (text, voice transcript, media described), and its media. */
function describeItems(items: Record<string, unknown>[]): { msgType: MessageType; text: string; media: MediaRef[] } {
  const parts: string[] = [];
  const media: MediaRef[] = [];
  let msgType: MessageType | undefined;
  for (const item of items) {
    const one = describeItem(item);
    if (!one) continue;
    msgType ??= one.msgType;
    if (one.msgType === 'text') msgType = 'text';
    parts.push(one.text);
    if (one.media) media.push(one.media);
  }
  return { msgType: msgType ?? 'text', text: parts.join('\n').trim(), media };
}

function describeItem(item: Record<string, unknown>): { msgType: MessageType; text: string; media?: MediaRef } | undefined {
  switch (item.type) {
    case ITEM_TEXT: {
      const text = isRecord(item.text_item) ? str(item.text_item.text) : undefined;
      if (text === undefined) return undefined;
      const quote = quoted(item.ref_msg);
      // A quoted image is the agent's to see too ("what does this say?").
      return { msgType: 'text', text: quote ? `${text}\n${quote.text}` : text, ...(quote?.image ? { media: quote.image } : {}) };
    }
    case ITEM_IMAGE:
      return { msgType: 'image', text: '[image]', media: mediaRef('image', item.image_item) };
    case ITEM_VOICE: {
      const voice = isRecord(item.voice_item) ? item.voice_item : {};
      // WeChat transcribes voice messages; the transcript is what the agent reads.
      const transcript = str(voice.text);
      const seconds = typeof voice.playtime === 'number' ? Math.round(voice.playtime / 1000) : undefined;
      return { msgType: 'voice', text: transcript ?? (seconds ? `[voice message, ${seconds} s]` : '[voice message]'), media: mediaRef('voice', voice) };
    }
    case ITEM_FILE: {
      const file = isRecord(item.file_item) ? item.file_item : {};
      const name = str(file.file_name);
      return { msgType: 'file', text: name ? `[file: ${name}]` : '[file]', media: mediaRef('file', file, name) };
    }
    case ITEM_VIDEO:
      return { msgType: 'video', text: '[video]', media: mediaRef('video', item.video_item) };
    default:
      return undefined;
  }
}

/** A quoted message, as "> title: text" under the reply, with its image when it is one. */
function quoted(ref: unknown): { text: string; image?: MediaRef } | undefined {
  if (!isRecord(ref)) return undefined;
  const inner = isRecord(ref.message_item) ? describeItem(ref.message_item) : undefined;
  const title = str(ref.title);
  const text = [title, inner?.text].filter(Boolean).join(': ');
  if (!text) return undefined;
  return { text: `> ${text.replace(/\n/g, '\n> ')}`, ...(inner?.media?.kind === 'image' ? { image: inner.media } : {}) };
}

/**
 * iLink media live AES-128-ECB encrypted on its CDN. The reference is the download URL iLink gave
 * (`full_url`, which newer servers send and the official plugin prefers) or else the download
 * parameter (`encrypt_query_param`, fetched from the configured CDN). The key is the image's own
 * `aeskey` (hex) when it has one, else the media's `aes_key` (base64); media.ts reads both forms.
 */
function mediaRef(kind: MediaRef['kind'], item: unknown, name?: string): MediaRef | undefined {
  if (!isRecord(item) || !isRecord(item.media)) return undefined;
  const fullUrl = str(item.media.full_url);
  const ref = (fullUrl && /^https?:\/\//i.test(fullUrl) ? fullUrl : undefined) ?? str(item.media.encrypt_query_param);
  const key = str(item.aeskey) ?? str(item.media.aes_key);
  return ref ? { kind, ref, ...(key ? { key } : {}), ...(name ? { name } : {}) } : undefined;
}

/** The ChatMessage for the mailbox: the conversation is the user (iLink bots have direct chats only). */
export function toChatMessage(m: IlinkInbound, now: number): Omit<ChatMessage, 'sceneId'> {
  const replyMeta: IlinkReplyMeta = { contextToken: m.contextToken };
  return {
    channelType: 'wechat_ilink',
    userId: m.userId,
    conversationId: m.userId,
    content: m.text,
    msgType: m.msgType,
    msgId: m.msgId,
    timestamp: m.createdAt || now,
    isGroup: false,
    mentionsBot: true,
    ...(m.media.length ? { media: m.media } : {}),
    replyMeta: { ...replyMeta },
  };
}
