import { CocoError } from '../../core/errors.js';
import type { ChatMessage, MediaRef, MessageType } from '../../core/message.js';
import { parseTencentXml, type TencentXmlFields } from '../shared/tencent-xml.js';
import type { WecomChannelConfig } from './config.js';

/**
 * Decrypted WeCom app callbacks (protocols.md §2.2, doc path/96467 and its event pages) turned into
 * ChatMessages. The XML is the same flat `<xml>` as WeChat OA's and goes through the shared reader.
 */

/** The shared Tencent XML reader (DTDs refused, size capped), with errors marked as wecom's. */
export function parseWecomXml(body: string): TencentXmlFields {
  return parseTencentXml(body, { channel: 'wecom' });
}

const invalid = (field: string, message: string) =>
  new CocoError('COCO_ERR_REQUEST_INVALID', `${field}: ${message}`, { statusCode: 400, field, channel: 'wecom' });

function required(fields: TencentXmlFields, name: string): string {
  const value = fields[name];
  if (value === undefined || value === '') throw invalid(name, 'is missing');
  return value;
}

/** What an inbound WeCom message becomes, with the key WeCom's retries share. */
export interface ParsedWecomMessage {
  message: Omit<ChatMessage, 'sceneId'>;
  /**
   * MsgId for messages (a 64-bit decimal, kept as a string: as a JS number it loses digits). Events have
   * none: FromUserName + CreateTime + Event, the event name so that two events of one second stay apart.
   */
  dedupKey: string;
  /** For events: the event name in lower case (subscribe, enter_agent, click, view, location, …). */
  event?: string;
  /** For events: EventKey when WeCom sends one (the menu key of click, the URL of view). */
  eventKey?: string;
}

/** Events that open a conversation: the channel answers them with `welcome_text`, not with the agent. */
export const WELCOME_EVENTS: ReadonlySet<string> = new Set(['subscribe', 'enter_agent']);

/**
 * Maps a decrypted callback to a ChatMessage. The message must be for this app: ToUserName must be the
 * CorpID and AgentID this entry's agent_id (one company's apps often share a Token and EncodingAESKey,
 * so a push meant for another app decrypts fine and only AgentID tells it apart). Events WeCom sends
 * without an AgentID (company-wide ones such as contact changes) pass; every message carries one.
 * Unknown message types are described, not dropped.
 */
export function toChatMessage(fields: TencentXmlFields, config: Pick<WecomChannelConfig, 'corp_id' | 'agent_id'>): ParsedWecomMessage {
  const toUser = required(fields, 'ToUserName');
  if (toUser !== config.corp_id) throw invalid('ToUserName', `${toUser} is not this entry's corp_id ${config.corp_id}`);
  const user = required(fields, 'FromUserName');
  const createTimeText = required(fields, 'CreateTime');
  if (!/^\d{1,12}$/.test(createTimeText)) throw invalid('CreateTime', 'is not a Unix time in seconds');
  const createTime = Number(createTimeText);
  const type = required(fields, 'MsgType').toLowerCase();

  const agentId = fields.AgentID?.trim();
  if (agentId === undefined || agentId === '') {
    if (type !== 'event') throw invalid('AgentID', 'is missing');
  } else if (agentId !== String(config.agent_id)) {
    throw invalid('AgentID', `${agentId} is not this entry's agent_id ${config.agent_id}: the push is for another app`);
  }

  const base = { channelType: 'wecom', userId: user, conversationId: user, timestamp: createTime * 1000, isGroup: false, mentionsBot: true, raw: fields };

  if (type === 'event') {
    const event = required(fields, 'Event').toLowerCase();
    const eventKey = fields.EventKey ? fields.EventKey : undefined;
    const key = `${user}:${createTime}:${event}`;
    return {
      message: { ...base, msgType: 'event', msgId: key, content: `[event ${event}${eventKey === undefined ? '' : ` ${eventKey}`}]` },
      dedupKey: key,
      event,
      ...(eventKey === undefined ? {} : { eventKey }),
    };
  }
  const msgId = required(fields, 'MsgId');
  if (!/^\d{1,20}$/.test(msgId)) throw invalid('MsgId', 'is not a message id');
  const { msgType, content, media } = describe(type, fields);
  return { message: { ...base, msgType, msgId, content, ...(media ? { media } : {}) }, dedupKey: msgId };
}

function describe(type: string, f: TencentXmlFields): { msgType: MessageType; content: string; media?: MediaRef[] } {
  const mediaOf = (kind: MediaRef['kind'], ref: string | undefined) => (ref ? [{ kind, ref }] : undefined);
  switch (type) {
    case 'text':
      return { msgType: 'text', content: f.Content ?? '' };
    case 'image': {
      // MediaId (valid 3 days, fetched through media/get) is the reference; PicUrl only when there is none.
      const media = mediaOf('image', f.MediaId || f.PicUrl);
      return { msgType: 'image', content: '[image]', ...(media ? { media } : {}) };
    }
    case 'voice': {
      const media = mediaOf('voice', f.MediaId);
      const format = f.Format ? ` (${f.Format})` : '';
      return { msgType: 'voice', content: `[voice message${format}]`, ...(media ? { media } : {}) };
    }
    case 'video': {
      const media = mediaOf('video', f.MediaId);
      return { msgType: 'video', content: '[video]', ...(media ? { media } : {}) };
    }
    case 'location': {
      const at = `(${f.Location_X || '?'}, ${f.Location_Y || '?'})`;
      return { msgType: 'location', content: f.Label ? `[location] ${f.Label} ${at}` : `[location] ${at}` };
    }
    case 'link': {
      const parts = [f.Title, f.Description, f.Url].filter((p): p is string => p !== undefined && p !== '');
      return { msgType: 'link', content: ['[link]', ...parts].join(' ') };
    }
    default:
      return { msgType: 'text', content: `[${type} message]` };
  }
}
