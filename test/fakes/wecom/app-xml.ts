/**
 * XML of the WeCom self-built app callback (protocols.md §2.2): the plaintext message a member sends to the app
 * and the encrypted envelope it travels in. Parsing and CDATA come from the WeChat OA fake, which shares the format.
 */
import { randomBytes } from 'node:crypto';
import { cdata, parseFlatXml } from '../wechat-mp/xml.js';

export { cdata, parseFlatXml };

/** A message or event a member sends to the app. */
export type WecomAppMessage =
  | { type: 'text'; content: string }
  | { type: 'image'; picUrl: string; mediaId: string }
  | { type: 'voice'; mediaId: string; format?: string }
  | { type: 'video'; mediaId: string; thumbMediaId: string }
  | { type: 'location'; x: number; y: number; scale: number; label: string }
  | { type: 'link'; title: string; description: string; url: string; picUrl?: string }
  | { type: 'event'; event: string; eventKey?: string };

const mediaId = (): string => randomBytes(24).toString('base64url');

/** Builders with plausible defaults, so a test only states what it cares about. */
export const wecomMessage = {
  text: (content: string): WecomAppMessage => ({ type: 'text', content }),
  image: (picUrl = 'https://wework.qpic.cn/wwpic/fake/0', id = mediaId()): WecomAppMessage => ({ type: 'image', picUrl, mediaId: id }),
  voice: (id = mediaId(), format = 'amr'): WecomAppMessage => ({ type: 'voice', mediaId: id, format }),
  video: (id = mediaId(), thumbMediaId = mediaId()): WecomAppMessage => ({ type: 'video', mediaId: id, thumbMediaId }),
  location: (x = 23.134521, y = 113.358803, scale = 15, label = '广州市天河区'): WecomAppMessage => ({ type: 'location', x, y, scale, label }),
  link: (url = 'https://example.com/a', title = '标题', description = '描述', picUrl = 'https://example.com/p.png'): WecomAppMessage => ({
    type: 'link',
    title,
    description,
    url,
    picUrl,
  }),
  /** The member followed the app (members "subscribe" by being in its visible range and opening it). */
  subscribe: (): WecomAppMessage => ({ type: 'event', event: 'subscribe' }),
  /** The member opened the app's chat; WeCom sends it with an empty EventKey. */
  enterAgent: (): WecomAppMessage => ({ type: 'event', event: 'enter_agent', eventKey: '' }),
  /** A custom-menu click. */
  click: (eventKey: string): WecomAppMessage => ({ type: 'event', event: 'click', eventKey }),
  event: (event: string, eventKey?: string): WecomAppMessage => ({ type: 'event', event, eventKey }),
};

/** Strings in CDATA, integers bare, as WeCom writes them. */
type Field = [name: string, value: string | number | bigint];

const element = ([name, value]: Field): string => `<${name}>${typeof value === 'string' ? cdata(value) : String(value)}</${name}>`;

export const xmlOf = (fields: Field[]): string => `<xml>${fields.map(element).join('')}</xml>`;

/** The decrypted message: WeCom puts AgentID last; events carry no MsgId (dedup by FromUserName + CreateTime). */
export function appMessageXml(corpId: string, user: string, createTime: number, agentId: number, message: WecomAppMessage, msgId: string | undefined): string {
  const head: Field[] = [
    ['ToUserName', corpId],
    ['FromUserName', user],
    ['CreateTime', createTime],
    ['MsgType', message.type],
  ];
  const tail: Field[] = [...(msgId === undefined ? [] : ([['MsgId', BigInt(msgId)]] as Field[])), ['AgentID', agentId]];
  switch (message.type) {
    case 'text':
      return xmlOf([...head, ['Content', message.content], ...tail]);
    case 'image':
      return xmlOf([...head, ['PicUrl', message.picUrl], ['MediaId', message.mediaId], ...tail]);
    case 'voice':
      return xmlOf([...head, ['MediaId', message.mediaId], ['Format', message.format ?? 'amr'], ...tail]);
    case 'video':
      return xmlOf([...head, ['MediaId', message.mediaId], ['ThumbMediaId', message.thumbMediaId], ...tail]);
    case 'location':
      return xmlOf([...head, ['Location_X', message.x], ['Location_Y', message.y], ['Scale', message.scale], ['Label', message.label], ...tail]);
    case 'link':
      return xmlOf([...head, ['Title', message.title], ['Description', message.description], ['Url', message.url], ['PicUrl', message.picUrl ?? ''], ...tail]);
    case 'event':
      return xmlOf([...head, ['Event', message.event], ...(message.eventKey === undefined ? [] : ([['EventKey', message.eventKey]] as Field[])), ...tail]);
  }
}

/** The POST body: only ToUserName, AgentID (as CDATA, like the wechatpy vector) and Encrypt travel in clear. */
export const envelopeXml = (corpId: string, agentId: number, encrypt: string): string =>
  `<xml><ToUserName>${cdata(corpId)}</ToUserName><AgentID>${cdata(String(agentId))}</AgentID><Encrypt>${cdata(encrypt)}</Encrypt></xml>`;
