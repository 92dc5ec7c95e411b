/**
 * Bodies of the intelligent robot's callbacks (protocols.md §3.1–3.2, and the official SDK's `types/message.ts` and
 * `types/event.ts`): `aibot_msg_callback` messages and `aibot_event_callback` events. The same bodies are the
 * plaintext JSON of webhook mode.
 */
import { createCipheriv, randomBytes } from 'node:crypto';

export type BotChatType = 'single' | 'group';

/** What a user sends to the robot. Media bytes are served encrypted by the fake at the message's `url`. */
export type BotContent =
  | { type: 'text'; content: string }
  | { type: 'image'; data?: Buffer }
  | { type: 'mixed'; items: ({ type: 'text'; content: string } | { type: 'image'; data?: Buffer })[] }
  | { type: 'voice'; content: string }
  | { type: 'file'; data?: Buffer; fileName?: string }
  | { type: 'video'; data?: Buffer };

export interface BotMessageOptions {
  /** The sender's userid (default `DEFAULT_BOT_USER`). */
  from?: string;
  /** Default `single`. */
  chatType?: BotChatType;
  /** Group chat id (default `DEFAULT_BOT_GROUP`); ignored in single chats, which carry no chatid. */
  chatId?: string;
  /**
   * Group messages reach the robot when it is @-mentioned; the text then starts with `@<botName> `. Default true in
   * groups. `false` builds a group message without the mention, which the real platform is not seen to deliver.
   */
  mention?: boolean;
  msgid?: string;
  /** Unix seconds; default now. */
  createTime?: number;
  /** The message the user quoted, in callback form (`{msgtype, text?: {content}, …}`). */
  quote?: Record<string, unknown>;
  /** Webhook mode only: a one-shot URL for a proactive reply. */
  responseUrl?: string;
}

export interface BotEventOptions {
  from?: string;
  chatType?: BotChatType;
  chatId?: string;
  msgid?: string;
  createTime?: number;
  /** `from.corpid` (sent for robots used across corps; internal robots get none). */
  corpId?: string;
  /** Extra fields of `event` (e.g. `event_key`, `task_id` for template_card_event). */
  fields?: Record<string, unknown>;
}

export const DEFAULT_BOT_USER = 'zhangsan';
export const DEFAULT_BOT_GROUP = 'wrkSFfCgAAfakegroup0001';

/** A 1×1 transparent PNG. */
export const TINY_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

export const newMsgId = (): string => randomBytes(16).toString('hex');

/** Serves the bytes of one media item; returns its download URL and (long connection only) its per-file aeskey. */
export type MediaHost = (data: Buffer, fileName?: string) => { url: string; aeskey?: string };


export interface BotContext {
  botId: string;
  botName: string;
  host: MediaHost;
}

export function botMessageBody(ctx: BotContext, content: BotContent, opts: BotMessageOptions = {}): Record<string, unknown> {
  const chatType = opts.chatType ?? 'single';
  const mention = chatType === 'group' && (opts.mention ?? true);
  const prefix = mention ? `@${ctx.botName} ` : '';
  const body: Record<string, unknown> = {
    msgid: opts.msgid ?? newMsgId(),
    aibotid: ctx.botId,
    ...(chatType === 'group' ? { chatid: opts.chatId ?? DEFAULT_BOT_GROUP } : {}),
    chattype: chatType,
    from: { userid: opts.from ?? DEFAULT_BOT_USER },
    create_time: opts.createTime ?? Math.floor(Date.now() / 1000),
    ...(opts.responseUrl === undefined ? {} : { response_url: opts.responseUrl }),
    msgtype: content.type,
  };
  switch (content.type) {
    case 'text':
      body.text = { content: `${prefix}${content.content}` };
      break;
    case 'voice':
      // Voice arrives already transcribed.
      body.voice = { content: content.content };
      break;
    case 'image':
      body.image = ctx.host(content.data ?? TINY_PNG);
      break;
    case 'file':
      body.file = ctx.host(content.data ?? Buffer.from('file contents\n'), content.fileName ?? 'file.txt');
      break;
    case 'video':
      body.video = ctx.host(content.data ?? Buffer.from('not really a video'), 'video.mp4');
      break;
    case 'mixed': {
      let first = true;
      body.mixed = {
        msg_item: content.items.map((item) => {
          if (item.type === 'image') return { msgtype: 'image', image: ctx.host(item.data ?? TINY_PNG) };
          const text = first ? `${prefix}${item.content}` : item.content;
          first = false;
          return { msgtype: 'text', text: { content: text } };
        }),
      };
      break;
    }
  }
  if (opts.quote) body.quote = opts.quote;
  return body;
}

export function botEventBody(ctx: { botId: string }, eventtype: string, opts: BotEventOptions = {}): Record<string, unknown> {
  const chatType = opts.chatType;
  return {
    msgid: opts.msgid ?? newMsgId(),
    create_time: opts.createTime ?? Math.floor(Date.now() / 1000),
    aibotid: ctx.botId,
    ...(chatType === 'group' ? { chatid: opts.chatId ?? DEFAULT_BOT_GROUP } : {}),
    ...(chatType === undefined ? {} : { chattype: chatType }),
    from: { userid: opts.from ?? DEFAULT_BOT_USER, ...(opts.corpId === undefined ? {} : { corpid: opts.corpId }) },
    msgtype: 'event',
    event: { eventtype, ...opts.fields },
  };
}

/**
 * Media files are AES-256-CBC encrypted with a per-file key: IV = key[0:16], PKCS#7 padded to 32 bytes
 * (the SDK's `decryptFile`). The key travels base64-encoded as `aeskey`.
 */
export function encryptMedia(data: Buffer, key: Buffer = randomBytes(32)): { encrypted: Buffer; aeskey: string } {
  const n = 32 - (data.length % 32);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16)).setAutoPadding(false);
  const encrypted = Buffer.concat([cipher.update(Buffer.concat([data, Buffer.alloc(n, n)])), cipher.final()]);
  return { encrypted, aeskey: key.toString('base64') };
}
