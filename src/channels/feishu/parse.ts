import { z } from 'zod';
import { firstIssue } from '../../config/schema.js';
import { CocoError } from '../../core/errors.js';
import type { ChatMessage, MediaRef, MessageType } from '../../core/message.js';

/**
 * Inbound Feishu/Lark events: the schema 2.0 envelope of `im.message.receive_v1` (the same JSON over
 * the webhook and the long connection) turned into what the channel needs to build a ChatMessage.
 */

export const MESSAGE_EVENT = 'im.message.receive_v1';
/** A message was recalled (撤回) by its sender, or by a group owner or manager. */
export const RECALL_EVENT = 'im.message.recalled_v1';

const invalid = (field: string, message: string, cause?: unknown) =>
  new CocoError('COCO_ERR_REQUEST_INVALID', `${field}: ${message}`, { statusCode: 400, field, channel: 'feishu', cause });

// Ids may come as "" or null when the app lacks the permission to see them: both mean absent.
const optionalId = z
  .string()
  .nullish()
  .transform((v) => (v ? v : undefined));

const userIdSchema = z.object({ open_id: optionalId, user_id: optionalId, union_id: optionalId });

const headerSchema = z.object({
  event_id: z.string().min(1),
  event_type: z.string().min(1),
  create_time: optionalId,
  token: z.string().nullish(),
  app_id: optionalId,
  tenant_key: optionalId,
});

const envelopeSchema = z.object({ schema: z.literal('2.0'), header: headerSchema, event: z.record(z.string(), z.unknown()).optional() });

const recallEventSchema = z.object({ message_id: z.string().min(1), chat_id: optionalId, recall_type: z.string().optional() });

const mentionSchema = z.object({ key: z.string().min(1), id: userIdSchema.nullish(), name: z.string().nullish(), tenant_key: optionalId });

const messageEventSchema = z.object({
  sender: z.object({
    sender_id: userIdSchema,
    sender_type: z.string().min(1),
    tenant_key: optionalId,
  }),
  message: z.object({
    message_id: z.string().min(1),
    root_id: optionalId,
    parent_id: optionalId,
    thread_id: optionalId,
    create_time: optionalId,
    chat_id: z.string().min(1),
    chat_type: z.string().min(1),
    message_type: z.string().min(1),
    content: z.string(),
    mentions: z.array(mentionSchema).nullish(),
  }),
});

/** Known chat types; a new one the platform adds is kept as given and treated as a group. */
export type FeishuChatType = 'p2p' | 'group' | 'topic_group' | (string & {});

/** Who the bot is, to tell a mention of the bot from a mention of someone else. */
export interface BotIdentity {
  /** The bot's open_id (GET /open-apis/bot/v3/info): the reliable way. */
  openId?: string;
  /** The bot's name, compared with the mention's name when the open_id is not known. */
  name?: string;
}

export interface FeishuMention {
  key: string;
  name?: string;
  openId?: string;
  userId?: string;
  unionId?: string;
  isBot: boolean;
}

export interface FeishuSender {
  openId: string;
  userId?: string;
  unionId?: string;
  tenantKey?: string;
}

/** One inbound chat message, normalized. */
export interface FeishuInbound {
  eventId: string;
  appId?: string;
  tenantKey?: string;
  messageId: string;
  chatId: string;
  chatType: FeishuChatType;
  isGroup: boolean;
  sender: FeishuSender;
  rootId?: string;
  parentId?: string;
  threadId?: string;
  /** Feishu's message_type (text, post, image, …). */
  messageType: string;
  msgType: MessageType;
  /** Readable text: mentions resolved, rich text flattened, media described. */
  text: string;
  media: MediaRef[];
  mentions: FeishuMention[];
  mentionsBot: boolean;
  /** The message @mentions everyone (@所有人). Not counted as a mention of the bot. */
  mentionsAll: boolean;
  /** When the message was sent, epoch ms. */
  createTime: number;
  /** The envelope as received, without the verification token. */
  raw: unknown;
}

export type LarkEvent =
  | { kind: 'url_verification'; challenge: string }
  | { kind: 'message'; eventId: string; message: FeishuInbound }
  /** A recall: the message that is gone, and who took it back (message_owner, group_owner, group_manager, enterprise_manager). */
  | { kind: 'recalled'; eventId: string; messageId: string; chatId?: string; recallType?: string }
  /** Valid, but nothing to hand to an agent: acknowledge it and move on. */
  | { kind: 'ignored'; eventId: string; eventType: string; reason: string };

/**
 * Classifies a decrypted webhook payload or a long-connection event. Malformed input is a CocoError
 * REQUEST_INVALID (400) whose message starts with the dotted field path (e.g. `event.message.chat_id`).
 */
export function parseLarkEvent(payload: unknown, bot: BotIdentity = {}): LarkEvent {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw invalid('body', 'is not a JSON object');
  const body = payload as Record<string, unknown>;

  if (body.type === 'url_verification') {
    if (typeof body.challenge !== 'string' || body.challenge === '') throw invalid('challenge', 'is missing');
    return { kind: 'url_verification', challenge: body.challenge };
  }
  if (body.schema === undefined) {
    // Schema 1.0 (legacy) events carry a uuid and type "event_callback"; the message shape differs too.
    if (body.type === 'event_callback') {
      const inner = body.event as { type?: unknown } | undefined;
      return {
        kind: 'ignored',
        eventId: typeof body.uuid === 'string' ? body.uuid : '',
        eventType: typeof inner?.type === 'string' ? inner.type : 'unknown',
        reason: 'schema 1.0 events are not handled: subscribe to im.message.receive_v1 (schema 2.0) in the developer console',
      };
    }
    throw invalid('schema', 'is missing: not a Feishu schema 2.0 event');
  }

  const envelope = validate(envelopeSchema, payload, []);
  const { header } = envelope;
  if (header.event_type === RECALL_EVENT) {
    const recall = validate(recallEventSchema, envelope.event ?? {}, ['event']);
    return { kind: 'recalled', eventId: header.event_id, messageId: recall.message_id, ...compact({ chatId: recall.chat_id, recallType: recall.recall_type }) };
  }
  if (header.event_type !== MESSAGE_EVENT) {
    return { kind: 'ignored', eventId: header.event_id, eventType: header.event_type, reason: `${header.event_type} is not a message event` };
  }
  const event = validate(messageEventSchema, envelope.event ?? {}, ['event']);
  // Messages sent by bots or apps (including our own replies in some setups) are never answered.
  if (event.sender.sender_type !== 'user') {
    return { kind: 'ignored', eventId: header.event_id, eventType: header.event_type, reason: `sent by a ${event.sender.sender_type}, not a user` };
  }
  const openId = event.sender.sender_id.open_id;
  if (!openId) throw invalid('event.sender.sender_id.open_id', 'is missing');

  const m = event.message;
  const createTime = Number(m.create_time ?? header.create_time);
  if (!Number.isSafeInteger(createTime) || createTime <= 0) throw invalid('event.message.create_time', 'is not a time in milliseconds');

  const mentions = (m.mentions ?? []).map((mention) => toMention(mention, bot));
  const content = describe(m.message_type, parseContent(m.content), mentions);
  // The verification token is a secret, and raw payloads end up in logs and the store.
  const { token: _token, ...rawHeader } = body.header as Record<string, unknown>;

  return {
    kind: 'message',
    eventId: header.event_id,
    message: {
      eventId: header.event_id,
      ...(header.app_id ? { appId: header.app_id } : {}),
      ...(header.tenant_key ? { tenantKey: header.tenant_key } : {}),
      messageId: m.message_id,
      chatId: m.chat_id,
      chatType: m.chat_type,
      isGroup: m.chat_type !== 'p2p',
      sender: compact({ openId, userId: event.sender.sender_id.user_id, unionId: event.sender.sender_id.union_id, tenantKey: event.sender.tenant_key }),
      ...compact({ rootId: m.root_id, parentId: m.parent_id, threadId: m.thread_id }),
      messageType: m.message_type,
      msgType: content.msgType,
      text: content.text,
      media: content.media,
      mentions,
      mentionsBot: mentions.some((x) => x.isBot),
      mentionsAll: mentions.some((x) => x.key === AT_ALL) || /@_all\b/.test(m.content),
      createTime,
      raw: { ...body, header: rawHeader },
    },
  };
}

function validate<T extends z.ZodType>(schema: T, value: unknown, prefix: string[]): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const { field, message } = firstIssue(result.error, prefix);
  throw invalid(field, message);
}

function compact<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

const AT_ALL = '@_all';

function toMention(raw: z.output<typeof mentionSchema>, bot: BotIdentity): FeishuMention {
  const openId = raw.id?.open_id;
  const name = raw.name ?? undefined;
  // Without the bot's open_id the name is the only clue; with it, the name is ignored (users can share it).
  const isBot = raw.key !== AT_ALL && (bot.openId ? openId === bot.openId : bot.name !== undefined && name?.trim() === bot.name.trim());
  return compact({ key: raw.key, name, openId, userId: raw.id?.user_id, unionId: raw.id?.union_id, isBot });
}

function parseContent(content: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch {
    throw invalid('event.message.content', 'is not a JSON string');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('event.message.content', 'is not a JSON object');
  return value as Record<string, unknown>;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

interface Described {
  msgType: MessageType;
  text: string;
  media: MediaRef[];
}

function describe(type: string, c: Record<string, unknown>, mentions: FeishuMention[]): Described {
  switch (type) {
    case 'text': {
      if (typeof c.text !== 'string') throw invalid('event.message.content.text', 'is missing');
      return { msgType: 'text', text: resolveMentions(c.text, mentions), media: [] };
    }
    case 'post': {
      const media: MediaRef[] = [];
      return { msgType: 'text', text: resolveMentions(postText(c, mentions, media), mentions), media };
    }
    case 'image': {
      const key = str(c.image_key);
      return { msgType: 'image', text: '[image]', media: key ? [{ kind: 'image', ref: key }] : [] };
    }
    case 'audio': {
      const key = str(c.file_key);
      const ms = typeof c.duration === 'number' && c.duration > 0 ? c.duration : undefined;
      return { msgType: 'voice', text: ms ? `[voice message, ${Math.round(ms / 1000)} s]` : '[voice message]', media: key ? [{ kind: 'voice', ref: key }] : [] };
    }
    case 'media': {
      const key = str(c.file_key);
      const name = str(c.file_name);
      return { msgType: 'video', text: name ? `[video: ${name}]` : '[video]', media: key ? [{ kind: 'video', ref: key, ...(name ? { name } : {}) }] : [] };
    }
    case 'file': {
      const key = str(c.file_key);
      const name = str(c.file_name);
      return { msgType: 'file', text: name ? `[file: ${name}]` : '[file]', media: key ? [{ kind: 'file', ref: key, ...(name ? { name } : {}) }] : [] };
    }
    case 'location': {
      const name = str(c.name);
      const at = `(${str(c.latitude) ?? '?'}, ${str(c.longitude) ?? '?'})`;
      return { msgType: 'location', text: name ? `[location] ${name} ${at}` : `[location] ${at}`, media: [] };
    }
    case 'sticker':
      return { msgType: 'text', text: '[sticker]', media: [] };
    case 'interactive':
      return { msgType: 'text', text: cardText(c) || '[card]', media: [] };
    default:
      // Cards, shared chats, red packets, calendar invites…: described, not dropped.
      return { msgType: 'text', text: `[${type} message]`, media: [] };
  }
}

/**
 * What a message of `type` with `content` (its JSON string) says, as the agent reads it: for a
 * message fetched from the API (a quoted one) rather than pushed as an event. Never throws: content
 * that is not what its type promises is described by the type.
 */
export function describeContent(type: string, content: string, mentions: FeishuMention[]): string {
  return readContent(type, content, mentions).text;
}

/** Like describeContent, with the media the content names (images, files: by key). */
export function readContent(type: string, content: string, mentions: FeishuMention[]): { text: string; media: MediaRef[] } {
  try {
    const { text, media } = describe(type, parseContent(content), mentions);
    return { text, media };
  } catch {
    return { text: `[${type} message]`, media: [] };
  }
}

/**
 * The words of a card: its header, and the text of its elements, in order, whatever the nesting
 * (columns, panels, forms). Both card JSON (1.0 `elements`, 2.0 `body.elements`) and the flattened
 * form the API gives of a card without `card_msg_content_type` (rows of `{tag, text}`).
 */
function cardText(card: unknown): string {
  const out: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const child of node) walk(child);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const n = node as Record<string, unknown>;
    const own = typeof n.content === 'string' ? n.content : typeof n.text === 'string' ? n.text : undefined;
    if (own !== undefined && own.trim() !== '') out.push(own.trim());
    if (typeof n.title === 'string' && n.title.trim() !== '') out.push(n.title.trim());
    for (const key of ['header', 'title', 'subtitle', 'text', 'body', 'elements', 'columns', 'fields', 'actions']) {
      if (typeof n[key] === 'object') walk(n[key]);
    }
  };
  walk(card);
  return out.join('\n');
}

/**
 * Replaces `@_user_N` placeholders: a mention of the bot goes (with the space around it), any other
 * becomes `@Name`. Longest key first, so `@_user_1` never eats the start of `@_user_10`.
 */
function resolveMentions(text: string, mentions: FeishuMention[]): string {
  const byKey = new Map(mentions.map((x) => [x.key, x]));
  // @所有人 often comes without an entry in `mentions`.
  if (!byKey.has(AT_ALL)) byKey.set(AT_ALL, { key: AT_ALL, isBot: false });
  const keys = [...byKey.keys()].sort((a, b) => b.length - a.length).map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const pattern = new RegExp(`[ \\t]*(${keys.join('|')})(?!\\d)[ \\t]*`, 'g');
  const out = text.replace(pattern, (match: string, key: string, offset: number, whole: string) => {
    const mention = byKey.get(key)!;
    const before = offset === 0 ? '\n' : whole[offset - 1];
    const after = whole[offset + match.length] ?? '\n';
    const lead = match.slice(0, match.indexOf(key));
    const trail = match.slice(match.indexOf(key) + key.length);
    if (mention.isBot) return before === '\n' || after === '\n' ? '' : ' ';
    return `${lead}${mention.key === AT_ALL ? '@all' : `@${mention.name ?? mention.key}`}${trail}`;
  });
  return out.trim();
}

const LOCALES = ['zh_cn', 'en_us', 'ja_jp'];

/** A post body, possibly wrapped in a locale key; the platform sends one locale per message. */
function unwrapPost(c: Record<string, unknown>): { title?: unknown; content?: unknown } | undefined {
  if ('title' in c || 'content' in c) return c;
  for (const key of [...LOCALES, ...Object.keys(c)]) {
    const inner = c[key];
    if (typeof inner === 'object' && inner !== null && !Array.isArray(inner)) return inner as Record<string, unknown>;
  }
  return undefined;
}

/** Rich text (post) as plain text: the title, then one line per paragraph. */
function postText(c: Record<string, unknown>, mentions: FeishuMention[], media: MediaRef[]): string {
  const post = unwrapPost(c);
  if (!post) return '[rich text message]';
  const lines: string[] = [];
  const title = str(post.title);
  if (title) lines.push(title);
  for (const paragraph of Array.isArray(post.content) ? post.content : []) {
    if (!Array.isArray(paragraph)) continue;
    let line = '';
    let afterBlock = false;
    for (const el of paragraph) {
      if (typeof el !== 'object' || el === null) continue;
      const tag = (el as { tag?: unknown }).tag;
      const part = postElement(el as Record<string, unknown>, mentions, media);
      // Code blocks and rules stand on their own lines, whatever sits next to them in the paragraph.
      const block = tag === 'code_block' || tag === 'hr';
      if ((block || afterBlock) && line !== '' && part !== '') line += '\n';
      line += part;
      afterBlock = block;
    }
    lines.push(line);
  }
  const text = lines.join('\n').trim();
  return text === '' ? '[rich text message]' : text;
}

function postElement(el: Record<string, unknown>, mentions: FeishuMention[], media: MediaRef[]): string {
  switch (el.tag) {
    case 'text':
    case 'md':
      return typeof el.text === 'string' ? el.text : '';
    case 'a': {
      const text = str(el.text);
      const href = str(el.href);
      if (text && href && text !== href) return `${text} (${href})`;
      return href ?? text ?? '';
    }
    case 'at': {
      const id = str(el.user_id);
      if (id === 'all' || id === AT_ALL) return '@all';
      // In posts the at element names the user by open_id (or, in some payloads, by placeholder key).
      // A known mention becomes its placeholder, so resolveMentions strips or names it like in text.
      const mention = mentions.find((x) => x.openId === id || x.key === id);
      if (mention) return mention.key;
      const name = str(el.user_name);
      return name ? `@${name}` : `@${id ?? 'someone'}`;
    }
    case 'img': {
      const key = str(el.image_key);
      if (key) media.push({ kind: 'image', ref: key });
      return '[image]';
    }
    case 'media': {
      const key = str(el.file_key);
      if (key) media.push({ kind: 'video', ref: key });
      return '[video]';
    }
    case 'emotion':
      return `[${str(el.emoji_type) ?? 'emoji'}]`;
    case 'code_block': {
      const code = typeof el.text === 'string' ? el.text.replace(/\n$/, '') : '';
      return `\`\`\`${(str(el.language) ?? '').toLowerCase()}\n${code}\n\`\`\``;
    }
    case 'hr':
      return '---';
    default:
      return typeof el.text === 'string' ? el.text : '';
  }
}

export type GroupPolicy = 'mention' | 'all' | 'off';

/** Direct chats are always answered; in groups the policy decides. */
export function shouldAnswer(message: Pick<FeishuInbound, 'isGroup' | 'mentionsBot'>, policy: GroupPolicy): boolean {
  if (!message.isGroup) return true;
  if (policy === 'all') return true;
  if (policy === 'off') return false;
  return message.mentionsBot;
}

/**
 * The conversation a message belongs to, which is also the FIFO unit: the chat. In a group that
 * means one queue and one history for the whole group (replies come in the order asked, and the agent
 * sees what others said); a p2p chat_id is per user and bot. Per-thread keys would allow parallel
 * topics but split the history, so they are not the default.
 */
export function conversationKey(message: Pick<FeishuInbound, 'chatId'>): string {
  return message.chatId;
}

/** What `send()` gets back with the reply (ChatMessage.replyMeta): where and how to answer. */
export interface FeishuReplyMeta {
  [key: string]: unknown;
  chatId: string;
  chatType: string;
  /** The message to reply to (quoted in groups; threads continue through it). */
  messageId: string;
  /** Answer inside the thread: the message is in a thread, or the chat is a topic group. */
  replyInThread: boolean;
  threadId?: string;
  rootId?: string;
  /** The message this one answers (a quote, or the one before it in a thread): its words go to the agent. */
  parentId?: string;
  senderOpenId: string;
}

export function replyMetaOf(message: FeishuInbound): FeishuReplyMeta {
  return {
    chatId: message.chatId,
    chatType: message.chatType,
    messageId: message.messageId,
    replyInThread: message.threadId !== undefined || message.chatType === 'topic_group',
    ...compact({ threadId: message.threadId, rootId: message.rootId, parentId: message.parentId }),
    senderOpenId: message.sender.openId,
  };
}

/** The ChatMessage for an inbound message (the SceneKeeper adds sceneId). */
export function toChatMessage(message: FeishuInbound): Omit<ChatMessage, 'sceneId'> {
  return {
    channelType: 'feishu',
    userId: message.sender.openId,
    conversationId: conversationKey(message),
    content: message.text,
    msgType: message.msgType,
    // Redeliveries of an event (webhook retries, long-connection re-pushes) carry the same message_id.
    msgId: message.messageId,
    timestamp: message.createTime,
    isGroup: message.isGroup,
    mentionsBot: message.isGroup ? message.mentionsBot : true,
    ...(message.media.length > 0 ? { media: message.media } : {}),
    replyMeta: replyMetaOf(message),
    raw: message.raw,
  };
}
