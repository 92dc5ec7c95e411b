import { z } from 'zod';
import { firstIssue } from '../../config/schema.js';
import { CocoError } from '../../core/errors.js';
import type { ChatMessage, MediaRef, MessageType } from '../../core/message.js';

/**
 * Inbound frames of the WeCom intelligent robot's long connection, as `@wecom/aibot-node-sdk` hands
 * them over (`{cmd, headers: {req_id}, body}`; types in the SDK's `types/message.ts` and `types/event.ts`,
 * protocols.md §3): `aibot_msg_callback` messages and `aibot_event_callback` events, turned into what
 * the channel needs. The reply to a message must carry its req_id, so it travels with the message.
 */

export const MESSAGE_CALLBACK = 'aibot_msg_callback';
export const EVENT_CALLBACK = 'aibot_event_callback';

const CHANNEL = 'wecom_bot';

const invalid = (field: string, message: string) =>
  new CocoError('COCO_ERR_REQUEST_INVALID', `${field}: ${message}`, { statusCode: 400, field, channel: CHANNEL });

const mediaSchema = z.object({ url: z.string().min(1), aeskey: z.string().min(1).optional() });
const textSchema = z.object({ content: z.string() });
const mixedSchema = z.object({
  msg_item: z.array(z.object({ msgtype: z.string().min(1), text: textSchema.optional(), image: mediaSchema.optional() })),
});
// Seconds in what WeCom and the SDK's examples send; a number or a numeric string is accepted.
const timeSchema = z.union([z.number(), z.string().regex(/^\d{1,16}$/).transform(Number)]).optional();

const messageSchema = z.object({
  msgid: z.string().min(1),
  aibotid: z.string().optional(),
  chatid: z.string().min(1).optional(),
  chattype: z.string().min(1),
  from: z.object({ userid: z.string().min(1) }),
  create_time: timeSchema,
  msgtype: z.string().min(1),
  text: textSchema.optional(),
  image: mediaSchema.optional(),
  mixed: mixedSchema.optional(),
  voice: textSchema.optional(),
  file: mediaSchema.optional(),
  video: mediaSchema.optional(),
  quote: z.record(z.string(), z.unknown()).optional(),
});

const eventSchema = z.object({
  msgid: z.string().min(1).optional(),
  aibotid: z.string().optional(),
  chatid: z.string().min(1).optional(),
  chattype: z.string().min(1).optional(),
  // disconnected_event comes without a sender.
  from: z.object({ userid: z.string().min(1), corpid: z.string().optional() }).optional(),
  create_time: timeSchema,
  event: z.object({ eventtype: z.string().min(1), event_key: z.string().optional(), task_id: z.string().optional() }),
});

/** A media item of a message: the download URL (valid 5 min) and its per-file key (`MediaRef.key`, for media.ts). */
export interface WecomBotMedia {
  kind: 'image' | 'file' | 'video';
  url: string;
  aeskey?: string;
}

/** One inbound robot message, normalized. */
export interface WecomBotInbound {
  /** The callback's req_id: every reply frame to this message must carry it. */
  reqId: string;
  msgId: string;
  aibotId?: string;
  /** single or group (a new chat type WeCom adds is kept as given and treated as a group). */
  chatType: string;
  isGroup: boolean;
  /** The group's chatid; absent in direct chats. */
  chatId?: string;
  userId: string;
  /** WeCom's msgtype (text, image, mixed, voice, file, video, …). */
  msgtype: string;
  msgType: MessageType;
  /** Readable text: the robot's @mention removed, a voice transcript, media described, a quote appended. */
  text: string;
  media: WecomBotMedia[];
  /** Always true: WeCom forwards a group message to the robot only when it is @mentioned. */
  mentionsBot: boolean;
  /** When the message was sent (epoch ms), or when it arrived if WeCom gave no time. */
  createTime: number;
  /** The body as received without media keys and response_url (raw ends up in logs; the keys travel in `media`). */
  raw: unknown;
}

export type WecomBotFrame =
  | { kind: 'message'; reqId: string; message: WecomBotInbound }
  /** enter_chat (a welcome may answer it within 5 s, with this req_id), template_card_event, feedback_event, … */
  | {
      kind: 'event';
      reqId: string;
      eventType: string;
      msgId?: string;
      userId?: string;
      chatId?: string;
      chatType?: string;
      eventKey?: string;
      taskId?: string;
      createTime: number;
    }
  /** Another connection for this robot took over; WeCom closes this one. Reconnecting would take it back and flap. */
  | { kind: 'disconnected'; reqId: string; msgId?: string }
  /** Valid, but nothing to hand on (a response frame, a webhook-only stream refresh). */
  | { kind: 'ignored'; reqId?: string; reason: string };

export interface ParseOptions {
  /** The robot's name, to remove "@name" exactly; without it the first @word of a group message goes. */
  botName?: string;
  /** Now (epoch ms): the time of a message that carries none. */
  nowMs: number;
}

/**
 * Classifies a frame the SDK emitted. Malformed input is a CocoError REQUEST_INVALID whose message
 * starts with the dotted field path (e.g. `body.from.userid`).
 */
export function parseBotFrame(frame: unknown, options: ParseOptions): WecomBotFrame {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) throw invalid('frame', 'is not a JSON object');
  const { cmd, headers, body } = frame as { cmd?: unknown; headers?: { req_id?: unknown }; body?: unknown };
  const reqId = typeof headers?.req_id === 'string' && headers.req_id !== '' ? headers.req_id : undefined;
  if (cmd !== MESSAGE_CALLBACK && cmd !== EVENT_CALLBACK) {
    return { kind: 'ignored', ...(reqId ? { reqId } : {}), reason: `${typeof cmd === 'string' ? cmd : 'response'} frame is not a callback` };
  }
  if (!reqId) throw invalid('headers.req_id', 'is missing');
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('body', 'is not a JSON object');

  if (cmd === EVENT_CALLBACK) {
    const event = validate(eventSchema, body, ['body']);
    const type = event.event.eventtype;
    if (type === 'disconnected_event') return { kind: 'disconnected', reqId, ...compact({ msgId: event.msgid }) };
    return {
      kind: 'event',
      reqId,
      eventType: type,
      ...compact({
        msgId: event.msgid,
        userId: event.from?.userid,
        chatId: event.chatid,
        chatType: event.chattype,
        eventKey: event.event.event_key,
        taskId: event.event.task_id,
      }),
      createTime: epochMs(event.create_time, options.nowMs),
    };
  }

  const m = validate(messageSchema, body, ['body']);
  // Stream refreshes belong to webhook mode; on the long connection the stream needs no polling.
  if (m.msgtype === 'stream') return { kind: 'ignored', reqId, reason: 'stream refresh callbacks are answered only in webhook mode' };
  const isGroup = m.chattype !== 'single';
  if (isGroup && !m.chatid) throw invalid('body.chatid', 'is missing in a group message');
  const content = describe(m, isGroup, options.botName);
  const quote = m.quote ? quoteText(m.quote) : undefined;
  // A quoted image is the agent's to see too ("what does this say?"), kept on arrival like the message's own.
  const quoted = m.quote ? quoteMedia(m.quote) : [];
  return {
    kind: 'message',
    reqId,
    message: {
      reqId,
      msgId: m.msgid,
      ...compact({ aibotId: m.aibotid, chatId: m.chatid }),
      chatType: m.chattype,
      isGroup,
      userId: m.from.userid,
      msgtype: m.msgtype,
      msgType: content.msgType,
      text: quote ? `${content.text}\n\n${quote}`.trim() : content.text,
      media: [...content.media, ...quoted],
      mentionsBot: true,
      createTime: epochMs(m.create_time, options.nowMs),
      raw: redact(body),
    },
  };
}

function validate<T extends z.ZodType>(schema: T, value: unknown, prefix: string[]): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const { field, message } = firstIssue(result.error, prefix);
  throw invalid(field, message);
}

function compact<T extends Record<string, unknown>>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** Seconds or milliseconds (told apart by size: 1e11 s is the year 5138) to epoch ms. */
function epochMs(time: number | undefined, nowMs: number): number {
  if (time === undefined || !Number.isFinite(time) || time <= 0) return nowMs;
  return time < 1e11 ? time * 1000 : time;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Removes the robot's @mention from group text. With the name known, every "@name" standing alone
 * goes (a mention mid-sentence leaves one space); without it, only a leading @word. WeCom puts a
 * space or U+2005 after a mention; both count as whitespace here.
 */
export function stripMention(text: string, botName?: string): string {
  if (botName) {
    const pattern = new RegExp(`(^|\\s)@${escapeRegExp(botName)}(?=\\s|$)`, 'g');
    return text
      .replace(pattern, '$1')
      .replace(/[ \t\u2005]{2,}/g, ' ')
      .trim();
  }
  return text.replace(/^\s*@\S+(?:\s+|$)/, '').trim();
}

interface Described {
  msgType: MessageType;
  text: string;
  media: WecomBotMedia[];
}

function mediaItem(kind: WecomBotMedia['kind'], m: { url: string; aeskey?: string | undefined }): WecomBotMedia {
  return { kind, url: m.url, ...(m.aeskey ? { aeskey: m.aeskey } : {}) };
}

function describe(m: z.output<typeof messageSchema>, isGroup: boolean, botName: string | undefined): Described {
  const clean = (text: string) => (isGroup ? stripMention(text, botName) : text.trim());
  switch (m.msgtype) {
    case 'text':
      if (!m.text) throw invalid('body.text', 'is missing');
      return { msgType: 'text', text: clean(m.text.content), media: [] };
    case 'image':
      if (!m.image) throw invalid('body.image', 'is missing');
      return { msgType: 'image', text: '[image]', media: [mediaItem('image', m.image)] };
    case 'mixed': {
      if (!m.mixed) throw invalid('body.mixed', 'is missing');
      const media: WecomBotMedia[] = [];
      const parts: string[] = [];
      let firstText = true;
      for (const item of m.mixed.msg_item) {
        if (item.msgtype === 'image' && item.image) {
          media.push(mediaItem('image', item.image));
          parts.push('[image]');
        } else if (item.msgtype === 'text' && item.text) {
          // The mention leads the first text item only.
          const text = firstText ? clean(item.text.content) : item.text.content.trim();
          firstText = false;
          if (text !== '') parts.push(text);
        }
      }
      return { msgType: media.length > 0 && parts.every((p) => p === '[image]') ? 'image' : 'text', text: parts.join('\n'), media };
    }
    case 'voice':
      // WeCom transcribes voice before pushing it: the transcript is the message.
      if (!m.voice) throw invalid('body.voice', 'is missing');
      return { msgType: 'voice', text: m.voice.content.trim() || '[voice message]', media: [] };
    case 'file':
      if (!m.file) throw invalid('body.file', 'is missing');
      return { msgType: 'file', text: '[file]', media: [mediaItem('file', m.file)] };
    case 'video':
      if (!m.video) throw invalid('body.video', 'is missing');
      return { msgType: 'video', text: '[video]', media: [mediaItem('video', m.video)] };
    default:
      return { msgType: 'text', text: `[${m.msgtype} message]`, media: [] };
  }
}

/** The message a user quoted, as a markdown quote block: the agent needs it to make sense of "translate this". */
function quoteText(quote: Record<string, unknown>): string | undefined {
  const type = typeof quote.msgtype === 'string' ? quote.msgtype : undefined;
  const inner = type ? (quote[type] as Record<string, unknown> | undefined) : undefined;
  let text: string | undefined;
  if ((type === 'text' || type === 'voice') && typeof inner?.content === 'string') text = inner.content.trim();
  else if (type === 'mixed' && Array.isArray(inner?.msg_item)) {
    text = (inner.msg_item as { msgtype?: unknown; text?: { content?: unknown } }[])
      .map((item) => (item.msgtype === 'text' && typeof item.text?.content === 'string' ? item.text.content.trim() : item.msgtype === 'image' ? '[image]' : ''))
      .filter((t) => t !== '')
      .join('\n');
  } else if (type) text = `[${type}]`;
  if (!text) return undefined;
  return text
    .split('\n')
    .map((line) => `> ${line}`)
    .join('\n');
}

/** The images of a quoted message (an image, or the images of a mixed one), to download like the message's own. */
function quoteMedia(quote: Record<string, unknown>): WecomBotMedia[] {
  const image = (value: unknown): WecomBotMedia[] => {
    const v = value as { url?: unknown; aeskey?: unknown } | undefined;
    return typeof v?.url === 'string' && v.url !== '' ? [mediaItem('image', { url: v.url, ...(typeof v.aeskey === 'string' ? { aeskey: v.aeskey } : {}) })] : [];
  };
  if (quote.msgtype === 'image') return image(quote.image);
  const items = (quote.mixed as { msg_item?: unknown } | undefined)?.msg_item;
  if (quote.msgtype !== 'mixed' || !Array.isArray(items)) return [];
  return items.flatMap((item: { msgtype?: unknown; image?: unknown }) => (item.msgtype === 'image' ? image(item.image) : []));
}

const REDACTED_KEYS = new Set(['aeskey', 'response_url']);

/** A copy without per-file keys and the one-shot response_url. */
function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => !REDACTED_KEYS.has(k)).map(([k, v]) => [k, redact(v)]));
}

export type GroupPolicy = 'mention' | 'all' | 'off';

/** Direct chats are always answered; in groups the policy decides. */
export function shouldAnswer(message: Pick<WecomBotInbound, 'isGroup' | 'mentionsBot'>, policy: GroupPolicy): boolean {
  if (!message.isGroup) return true;
  if (policy === 'off') return false;
  return policy === 'all' || message.mentionsBot;
}

/** The conversation (and FIFO unit): the group's chatid, or the user in a direct chat. */
export function conversationKey(message: Pick<WecomBotInbound, 'chatId' | 'userId' | 'isGroup'>): string {
  return message.isGroup && message.chatId ? message.chatId : message.userId;
}

/** What `send()` gets back with the reply (ChatMessage.replyMeta). */
export interface WecomBotReplyMeta {
  [key: string]: unknown;
  /** The callback's req_id: stream frames answering the message carry it. */
  reqId: string;
  msgId: string;
  chatType: string;
  /** Where a proactive aibot_send_msg goes: the group's chatid, or the user's userid in a direct chat. */
  sendTo: string;
  userId: string;
  /**
   * When the callback arrived (epoch ms, our clock). WeCom takes stream frames for a message only for
   * a while (6 min in webhook mode); past that, or after a restart, the reply goes proactively.
   */
  receivedAt: number;
}

export function replyMetaOf(message: WecomBotInbound, receivedAtMs: number): WecomBotReplyMeta {
  return {
    reqId: message.reqId,
    msgId: message.msgId,
    chatType: message.chatType,
    sendTo: conversationKey(message),
    userId: message.userId,
    receivedAt: receivedAtMs,
  };
}

/** The ChatMessage for an inbound message (the SceneKeeper adds sceneId). Dedup key: msgid. */
export function toChatMessage(message: WecomBotInbound, receivedAtMs: number): Omit<ChatMessage, 'sceneId'> {
  // The per-file aeskey decrypts the download (media.ts); the store keeps it, the admin API and logs mask it.
  const media: MediaRef[] = message.media.map((m) => ({ kind: m.kind, ref: m.url, ...(m.aeskey ? { key: m.aeskey } : {}) }));
  return {
    channelType: CHANNEL,
    userId: message.userId,
    conversationId: conversationKey(message),
    content: message.text,
    msgType: message.msgType,
    msgId: message.msgId,
    timestamp: message.createTime,
    isGroup: message.isGroup,
    mentionsBot: message.mentionsBot,
    ...(media.length > 0 ? { media } : {}),
    replyMeta: replyMetaOf(message, receivedAtMs),
    raw: message.raw,
  };
}
