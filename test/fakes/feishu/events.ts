/**
 * Builders for schema 2.0 `im.message.receive_v1` events (protocols.md §4.4), shaped like real pushes: ids with the
 * real prefixes, `content` as a JSON *string*, millisecond timestamps as strings, mentions as `@_user_N` placeholders.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface UserId {
  open_id: string;
  union_id: string;
  user_id: string;
}

export interface Mention {
  key: string;
  id: UserId;
  name: string;
  tenant_key: string;
}

export interface ReceiveMessageEvent {
  schema: '2.0';
  header: { event_id: string; event_type: string; create_time: string; token: string; app_id: string; tenant_key: string };
  event: {
    sender: { sender_id: UserId; sender_type: 'user'; tenant_key: string };
    message: {
      message_id: string;
      root_id?: string;
      parent_id?: string;
      thread_id?: string;
      create_time: string;
      update_time: string;
      chat_id: string;
      chat_type: 'p2p' | 'group' | 'topic_group';
      message_type: string;
      content: string;
      mentions?: Mention[];
      user_agent?: string;
    };
  };
}

/** Any schema 2.0 event (the long connection and webhooks carry other types too). */
export interface EventEnvelope {
  schema: '2.0';
  header: { event_id: string; event_type: string; create_time: string; token: string; app_id: string; tenant_key: string };
  event: Record<string, unknown>;
}

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
export const newEventId = (): string => hex(16);
export const newMessageId = (): string => `om_${hex(16)}`;
export const newChatId = (): string => `oc_${hex(16)}`;
export const newOpenId = (): string => `ou_${hex(16)}`;
/** An app id the official SDK accepts (`^cli_[0-9a-fA-F]{16}$`). */
export const newAppId = (): string => `cli_${hex(8)}`;

/** Deterministic per open_id, so the same user always gets the same union_id, user_id and p2p chat. */
const derive = (prefix: string, seed: string, len = 32): string => `${prefix}${createHash('sha256').update(seed).digest('hex').slice(0, len)}`;
export const userIdOf = (openId: string): UserId => ({ open_id: openId, union_id: derive('on_', openId), user_id: derive('', `uid:${openId}`, 8) });
/** The bot's 1:1 chat with a user; real p2p chat ids are stable per (app, user) pair. */
export const p2pChatIdOf = (appId: string, openId: string): string => derive('oc_', `p2p:${appId}:${openId}`);

export interface EventContext {
  appId: string;
  tenantKey: string;
  verificationToken: string;
  /** The bot's own open_id, used by `mentionBot`. */
  botOpenId: string;
  botName: string;
}

export interface MessageEventOptions {
  /** Sender's open_id; default a fixed test user. */
  from?: string;
  chatType?: 'p2p' | 'group' | 'topic_group';
  /** Default: the sender's p2p chat, or a fixed test group for group chats. */
  chatId?: string;
  /** Mention the bot first (`@_user_1`), as group messages that reach a bot usually do. */
  mentionBot?: boolean;
  /** Further users mentioned, after the bot. */
  mentions?: { openId: string; name: string }[];
  rootId?: string;
  parentId?: string;
  threadId?: string;
  messageId?: string;
  eventId?: string;
  /** Milliseconds; default now. */
  createTime?: number;
}

export type MessageBody =
  | { type: 'text'; text: string }
  | { type: 'post'; title?: string; content: PostElement[][] }
  | { type: 'image'; imageKey?: string }
  | { type: 'file'; fileKey?: string; fileName: string }
  | { type: 'audio'; fileKey?: string; durationMs: number }
  | { type: 'raw'; messageType: string; content: unknown };

export type PostElement =
  | { tag: 'text'; text: string; style?: string[] }
  | { tag: 'a'; text: string; href: string }
  | { tag: 'at'; user_id: string; user_name?: string }
  | { tag: 'img'; image_key: string }
  | { tag: 'md'; text: string }
  | Record<string, unknown> & { tag: string };

/** A fixed test user and group, so tests that do not care get stable ids. */
export const DEFAULT_USER = `ou_${'0'.repeat(27)}a11ce`;
export const DEFAULT_GROUP = `oc_${'0'.repeat(28)}9a0b`;

/** Builds one `im.message.receive_v1` event with fresh event_id and message_id (unless given). */
export function messageEvent(ctx: EventContext, body: MessageBody, opts: MessageEventOptions = {}): ReceiveMessageEvent {
  const from = opts.from ?? DEFAULT_USER;
  const chatType = opts.chatType ?? 'p2p';
  const chatId = opts.chatId ?? (chatType === 'p2p' ? p2pChatIdOf(ctx.appId, from) : DEFAULT_GROUP);
  const at = String(opts.createTime ?? Date.now());
  const mentioned = [...(opts.mentionBot ? [{ openId: ctx.botOpenId, name: ctx.botName }] : []), ...(opts.mentions ?? [])];
  const mentions: Mention[] = mentioned.map((m, i) => ({ key: `@_user_${i + 1}`, id: userIdOf(m.openId), name: m.name, tenant_key: ctx.tenantKey }));
  const [messageType, content] = contentOf(body, mentions);
  return {
    schema: '2.0',
    header: { event_id: opts.eventId ?? newEventId(), event_type: 'im.message.receive_v1', create_time: at, token: ctx.verificationToken, app_id: ctx.appId, tenant_key: ctx.tenantKey },
    event: {
      sender: { sender_id: userIdOf(from), sender_type: 'user', tenant_key: ctx.tenantKey },
      message: {
        message_id: opts.messageId ?? newMessageId(),
        ...(opts.rootId === undefined ? {} : { root_id: opts.rootId }),
        ...(opts.parentId === undefined ? {} : { parent_id: opts.parentId }),
        ...(opts.threadId === undefined ? {} : { thread_id: opts.threadId }),
        create_time: at,
        update_time: at,
        chat_id: chatId,
        chat_type: chatType,
        message_type: messageType,
        content: JSON.stringify(content),
        ...(mentions.length ? { mentions } : {}),
        user_agent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Lark/7.30.0',
      },
    },
  };
}

function contentOf(body: MessageBody, mentions: Mention[]): [string, unknown] {
  switch (body.type) {
    case 'text':
      // Mentions appear in the text as placeholders, in front like the client inserts them.
      return ['text', { text: [...mentions.map((m) => m.key), body.text].join(' ') }];
    case 'post': {
      const ats = mentions.map((m) => ({ tag: 'at', user_id: m.key, user_name: m.name }));
      const [first = [], ...rest] = body.content;
      return ['post', { title: body.title ?? '', content: ats.length ? [[...ats, ...first], ...rest] : body.content }];
    }
    case 'image':
      return ['image', { image_key: body.imageKey ?? `img_v3_${hex(12)}` }];
    case 'file':
      return ['file', { file_key: body.fileKey ?? `file_v3_${hex(12)}`, file_name: body.fileName }];
    case 'audio':
      return ['audio', { file_key: body.fileKey ?? `file_v3_${hex(12)}`, duration: body.durationMs }];
    case 'raw':
      return [body.messageType, body.content];
  }
}

/** An `im.message.recalled_v1` event: `messageId` in `chatId` was recalled (撤回), by its sender unless said. */
export function recallEvent(ctx: EventContext, messageId: string, chatId: string, recallType = 'message_owner'): Record<string, unknown> {
  const at = String(Date.now());
  return {
    schema: '2.0',
    header: { event_id: newEventId(), event_type: 'im.message.recalled_v1', create_time: at, token: ctx.verificationToken, app_id: ctx.appId, tenant_key: ctx.tenantKey },
    event: { message_id: messageId, chat_id: chatId, recall_time: at, recall_type: recallType },
  };
}
