/** XML building and parsing for the fake WeChat Official Account, shaped like the real pushes (protocols.md §1.2). */

/** A message or event a user sends to the Official Account. */
export type WechatMpPushMessage =
  | { type: 'text'; content: string }
  | { type: 'image'; picUrl: string; mediaId: string }
  | { type: 'voice'; mediaId: string; format?: string; recognition?: string }
  | { type: 'video'; mediaId: string; thumbMediaId: string }
  | { type: 'location'; x: number; y: number; scale: number; label: string }
  | { type: 'link'; title: string; description: string; url: string }
  | { type: 'event'; event: string; eventKey?: string };

/** A field value: strings go in CDATA, numbers are written bare (as WeChat does). */
type Field = [name: string, value: string | number | bigint];

export const cdata = (text: string): string => `<![CDATA[${text.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;

const element = ([name, value]: Field): string => `<${name}>${typeof value === 'string' ? cdata(value) : String(value)}</${name}>`;

/** Real pushes put each element on its own line. */
export const xmlOf = (fields: Field[]): string => `<xml>\n${fields.map(element).join('\n')}\n</xml>`;

/** The plaintext message fields in WeChat's order; MsgId (a 64-bit integer, bare) only on messages. */
export function messageFields(toUser: string, fromUser: string, createTime: number, message: WechatMpPushMessage, msgId: string | undefined): Field[] {
  const head: Field[] = [
    ['ToUserName', toUser],
    ['FromUserName', fromUser],
    ['CreateTime', createTime],
    ['MsgType', message.type],
  ];
  const id: Field[] = msgId === undefined ? [] : [['MsgId', BigInt(msgId)]];
  switch (message.type) {
    case 'text':
      return [...head, ['Content', message.content], ...id];
    case 'image':
      return [...head, ['PicUrl', message.picUrl], ['MediaId', message.mediaId], ...id];
    case 'voice':
      return [
        ...head,
        ['MediaId', message.mediaId],
        ['Format', message.format ?? 'amr'],
        ...(message.recognition === undefined ? [] : ([['Recognition', message.recognition]] as Field[])),
        ...id,
      ];
    case 'video':
      return [...head, ['MediaId', message.mediaId], ['ThumbMediaId', message.thumbMediaId], ...id];
    case 'location':
      return [...head, ['Location_X', message.x], ['Location_Y', message.y], ['Scale', message.scale], ['Label', message.label], ...id];
    case 'link':
      return [...head, ['Title', message.title], ['Description', message.description], ['Url', message.url], ...id];
    case 'event':
      return [...head, ['Event', message.event], ...(message.eventKey === undefined ? [] : ([['EventKey', message.eventKey]] as Field[]))];
  }
}

const LEAF_RE = /<([A-Za-z_][\w.-]*)>((?:<!\[CDATA\[[\s\S]*?\]\]>)+|[^<]*)<\/\1>/g;
const CDATA_RE = /<!\[CDATA\[([\s\S]*?)\]\]>/g;

const unescape = (text: string): string =>
  text.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e] ?? '');

/**
 * Flat parse of a WeChat XML document: every leaf element by name (nested ones such as `<Image><MediaId>` are
 * flattened to `MediaId`). Returns undefined when the text is not an `<xml>` document.
 */
export function parseFlatXml(text: string): Record<string, string> | undefined {
  const trimmed = text.trim();
  if (!/^<xml>[\s\S]*<\/xml>$/.test(trimmed)) return undefined;
  const fields: Record<string, string> = {};
  for (const match of trimmed.matchAll(LEAF_RE)) {
    const [, name = '', body = ''] = match;
    fields[name] = body.startsWith('<![CDATA[') ? [...body.matchAll(CDATA_RE)].map((m) => m[1] ?? '').join('') : unescape(body.trim());
  }
  return fields;
}
