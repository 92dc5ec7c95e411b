import { CocoError } from '../../core/errors.js';
import type { ChatMessage, MediaRef, MessageType } from '../../core/message.js';
import { MAX_XML_BYTES, parseTencentXml, type TencentXmlFields } from '../shared/tencent-xml.js';

/** WeChat messages are a few KB; anything near this is not from WeChat. */
export const MAX_BODY_BYTES = MAX_XML_BYTES;

/** The flat fields of a WeChat `<xml>` document (all values as strings). */
export type WechatFields = TencentXmlFields;

/** The shared Tencent XML reader (DTDs refused, size capped), with errors marked as wechat_mp's. */
export function parseWechatXml(body: string): WechatFields {
  return parseTencentXml(body, { channel: 'wechat_mp' });
}

function invalid(field: string, message: string): CocoError {
  return new CocoError('COCO_ERR_REQUEST_INVALID', `${field}: ${message}`, { statusCode: 400, field, channel: 'wechat_mp' });
}

function required(fields: WechatFields, name: string): string {
  const value = fields[name];
  if (value === undefined || value === '') throw invalid(name, 'is missing');
  return value;
}

/** What an inbound WeChat message becomes, with the key WeChat's redeliveries share. */
export interface ParsedWechatMessage {
  message: Omit<ChatMessage, 'sceneId'>;
  /** MsgId for messages; FromUserName + CreateTime for events (they have no MsgId). */
  dedupKey: string;
  /** The event name for events (lower case), e.g. "subscribe". */
  event?: string;
}

/** Maps WeChat's XML fields to a ChatMessage. Unknown message types are described, not dropped. */
export function toChatMessage(fields: WechatFields): ParsedWechatMessage {
  const user = required(fields, 'FromUserName');
  const createTime = Number(required(fields, 'CreateTime'));
  if (!Number.isSafeInteger(createTime)) throw invalid('CreateTime', 'is not a number');
  const type = required(fields, 'MsgType').toLowerCase();
  // Built as one literal rather than spread from a shared base: spreads cost ~4 µs per webhook.
  const message = (msgType: MessageType, msgId: string, content: string, media?: MediaRef[]): ParsedWechatMessage['message'] => ({
    channelType: 'wechat_mp', userId: user, conversationId: user, content, msgType, msgId, timestamp: createTime * 1000,
    isGroup: false, mentionsBot: true, ...(media ? { media } : undefined), raw: fields,
  });

  if (type === 'event') {
    const event = required(fields, 'Event').toLowerCase();
    const key = fields.EventKey ? ` ${fields.EventKey}` : '';
    return { message: message('event', `${user}:${createTime}`, `[event ${event}${key}]`), dedupKey: `${user}:${createTime}`, event };
  }
  const msgId = required(fields, 'MsgId');
  if (!/^\d{1,20}$/.test(msgId)) throw invalid('MsgId', 'is not a message id');
  const { msgType, content, media } = describe(type, fields);
  return { message: message(msgType, msgId, content, media), dedupKey: msgId };
}

/** A media reference when the message names one (an empty MediaId is none). */
const mediaOf = (kind: MediaRef['kind'], ref: string | undefined): { media?: MediaRef[] } => (ref ? { media: [{ kind, ref }] } : {});

function describe(type: string, f: WechatFields): { msgType: MessageType; content: string; media?: MediaRef[] } {
  switch (type) {
    case 'text':
      return { msgType: 'text', content: f.Content ?? '' };
    case 'image':
      // MediaId (valid 3 days, downloaded through media/get) is the reference; PicUrl only when there is none.
      return { msgType: 'image', content: '[image]', ...mediaOf('image', f.MediaId || f.PicUrl) };
    case 'voice':
      // With speech recognition on (接收语音识别结果), WeChat sends the transcript: that is the message.
      return f.Recognition
        ? { msgType: 'voice', content: f.Recognition, media: [{ kind: 'voice', ref: f.MediaId ?? '' }] }
        : { msgType: 'voice', content: '[voice message]', media: [{ kind: 'voice', ref: f.MediaId ?? '' }] };
    case 'video':
    case 'shortvideo':
      return { msgType: 'video', content: '[video]', media: [{ kind: 'video', ref: f.MediaId ?? '' }] };
    case 'location':
      return { msgType: 'location', content: `[location] ${f.Label ?? ''} (${f.Location_X ?? '?'}, ${f.Location_Y ?? '?'})`.trim() };
    case 'link':
      return { msgType: 'link', content: `[link] ${f.Title ?? ''} ${f.Url ?? ''}`.trim() };
    default:
      return { msgType: 'text', content: `[${type} message]` };
  }
}
