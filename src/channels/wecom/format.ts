import { CocoError } from '../../core/errors.js';
import { markdownToText } from '../shared/markdown-to-text.js';
import { splitText } from '../shared/split-text.js';
import { TEXT_LIMIT_BYTES } from './config.js';

/**
 * Outbound rendering for the WeCom self-built app: which msgtype a reply goes out as, its content in
 * WeCom's markdown subset, the split into messages of at most 2048 bytes, and the message/send body.
 *
 * WeCom's app markdown renders headings, bold, links, quotes, inline code and `<font color="info|
 * comment|warning">`; there are no lists, tables, images, italics or code blocks (they show as raw
 * symbols). Unsupported bits are converted; a reply with a fenced code block goes as plain text, since
 * code lines would be read as markup (a `# comment` line becomes a heading).
 *
 * message/send cuts content over 2048 bytes without an error, so every message is split to fit first.
 * Deterministic: the same reply gives the same messages, so a retry sends identical requests.
 */

export { TEXT_LIMIT_BYTES };

export type WecomMsgType = 'text' | 'markdown';

/** One message as it goes out: `content` is at most TEXT_LIMIT_BYTES UTF-8 bytes. */
export interface WecomMessage {
  msgtype: WecomMsgType;
  content: string;
}

const FENCE = /^ {0,3}(```|~~~)/m;
const FENCE_LINE = /^ {0,3}(```|~~~)/;
const HEADING = /^ {0,3}#{1,6}[ \t]+\S/m;
const QUOTE = /^ {0,3}>[ \t]?\S/m;
const LINK = /\[[^\]\n]+\]\([^)\s]+\)/;
const BOLD = /\*\*[^*\n]+\*\*|(?<![\w_])__[^_\n]+__(?![\w_])/;
const INLINE_CODE = /`[^`\n]+`/;
const FONT = /<font\s+color\s*=\s*(["']?)[a-z]+\1\s*>/i;
const FONT_OPEN = new RegExp(FONT.source, 'gi');
const FONT_CLOSE = /<\/font\s*>/gi;

/** Whether a reply uses markup WeCom's app markdown renders (a text message would show it as raw symbols). */
export function looksLikeWecomMarkdown(text: string): boolean {
  return [HEADING, QUOTE, LINK, BOLD, INLINE_CODE, FONT].some((re) => re.test(text));
}

/**
 * The msgtype a reply goes out as: markdown only when the reply is markdown, markdown is enabled,
 * it uses markup WeCom renders, and it has no fenced code block.
 */
export function chooseMsgType(text: string, format: 'text' | 'markdown', markdownEnabled: boolean): WecomMsgType {
  return format === 'markdown' && markdownEnabled && !FENCE.test(text) && looksLikeWecomMarkdown(text) ? 'markdown' : 'text';
}

/** Plain text of a markdown reply: the shared conversion, plus WeCom's `<font>` tags removed. */
export function toPlainText(markdown: string): string {
  return markdownToText(markdown.replace(FONT_OPEN, '').replace(FONT_CLOSE, ''));
}

const HEADING_LINE = /^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;
const QUOTE_LINE = /^( {0,3}>+[ \t]?)(.*)$/;
const RULE = /^ {0,3}([-*_])([ \t]*\1){2,}[ \t]*$/;
// A table's delimiter row: pipes, dashes, colons and spaces only (`|---|:-:|`).
const isTableSeparator = (line: string) => line.includes('|') && line.includes('-') && /^[ \t|:-]+$/.test(line);
const TABLE_ROW = /^[ \t]*\|.*\|[ \t]*$/;
const BULLET = /^([ \t]*)[-*+][ \t]+/;

/**
 * A markdown reply in WeCom's subset: headings, bold, links, quotes, inline code and font tags stay;
 * tables become lines of cells, images become links, list bullets become "•", italics, strikethrough
 * and rules go. Code inside fences (not expected here: chooseMsgType sends those as text) stays verbatim.
 */
export function toWecomMarkdown(markdown: string): string {
  const out: string[] = [];
  let inFence = false;
  for (const line of markdown.replace(/\r\n?/g, '\n').split('\n')) {
    if (FENCE_LINE.test(line)) {
      inFence = !inFence;
      continue;
    }
    if (inFence) {
      out.push(line);
      continue;
    }
    if (isTableSeparator(line)) continue;
    if (RULE.test(line)) {
      out.push('');
      continue;
    }
    out.push(convertLine(line));
  }
  return out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function convertLine(line: string): string {
  const heading = HEADING_LINE.exec(line);
  if (heading) return `${heading[1]!} ${inline(heading[2]!)}`;
  const quote = QUOTE_LINE.exec(line);
  if (quote) return `${quote[1]!}${inline(quote[2]!)}`;
  if (TABLE_ROW.test(line)) {
    return line
      .trim()
      .slice(1, -1)
      .split('|')
      .map((cell) => inline(cell.trim()))
      .join('  |  ');
  }
  return inline(line.replace(BULLET, '$1• '));
}

/** Inline markup outside code spans (code spans are supported and kept verbatim, backticks included). */
function inline(text: string): string {
  return text
    .split(/(`+[^`]*`+)/)
    .map((part, i) => (i % 2 === 1 ? part : inlineOutsideCode(part)))
    .join('');
}

function inlineOutsideCode(text: string): string {
  return (
    text
      .replace(/!\[([^\]]*)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g, (_m, alt: string, url: string) => (alt ? `[${alt}](${url})` : url))
      .replace(/(^|[^\w_])__(?=\S)(.+?)(?<=\S)__(?![\w_])/g, '$1**$2**')
      // Single markers only: a `*` next to another `*` belongs to bold, which WeCom renders.
      .replace(/(^|[^\w*])\*(?![*\s])(.+?)(?<![*\s])\*(?![\w*])/g, '$1$2')
      .replace(/(^|[^\w_])_(?![_\s])(.+?)(?<![_\s])_(?![\w_])/g, '$1$2')
      .replace(/~~(?=\S)(.+?)(?<=\S)~~/g, '$1')
  );
}

/**
 * The messages one reply goes out as, each at most TEXT_LIMIT_BYTES of content, cut at a paragraph,
 * then a line, then a sentence end (。！？… or . ! ? before a space), then a space, never inside a
 * character. Nothing is dropped but the whitespace at each cut. Whitespace-only: none.
 */
export function renderMessages(text: string, format: 'text' | 'markdown', options: { markdown: boolean }): WecomMessage[] {
  if (text.trim() === '') return [];
  const msgtype = chooseMsgType(text, format, options.markdown);
  const content = msgtype === 'markdown' ? toWecomMarkdown(text) : format === 'markdown' ? toPlainText(text) : text;
  if (content.trim() === '') return [];
  return splitText(content, TEXT_LIMIT_BYTES).map((part) => ({ msgtype, content: part }));
}

export interface MessageSendBody {
  touser: string;
  msgtype: WecomMsgType | 'image';
  agentid: number;
  text?: { content: string };
  markdown?: { content: string };
  /** An image uploaded as temporary media (media/upload). */
  image?: { media_id: string };
  safe: 0;
  enable_duplicate_check: 0;
}

/**
 * Body of POST /cgi-bin/message/send?access_token=… to one member. WeCom's duplicate check stays off:
 * it compares content, so it would also swallow a reply that rightly repeats an earlier one ("好的").
 */
export function messageSendBody(toUser: string, agentId: number, message: WecomMessage): MessageSendBody {
  const content = { content: message.content };
  return {
    touser: singleMember(toUser),
    msgtype: message.msgtype,
    agentid: agentId,
    ...(message.msgtype === 'text' ? { text: content } : { markdown: content }),
    safe: 0,
    enable_duplicate_check: 0,
  };
}

/** Body of message/send for an image message: `{"msgtype":"image","image":{"media_id"}}` to one member. */
export function imageSendBody(toUser: string, agentId: number, mediaId: string): MessageSendBody {
  return { touser: singleMember(toUser), msgtype: 'image', agentid: agentId, image: { media_id: mediaId }, safe: 0, enable_duplicate_check: 0 };
}

/** touser takes "a|b" lists and "@all": a reply must reach exactly the member who asked. */
function singleMember(toUser: string): string {
  if (toUser === '' || toUser === '@all' || /[|,\s]/.test(toUser)) {
    throw new CocoError('COCO_ERR_CHANNEL_SEND', `touser: "${toUser}" is not a single member UserID`, { channel: 'wecom', field: 'touser' });
  }
  return toUser;
}
