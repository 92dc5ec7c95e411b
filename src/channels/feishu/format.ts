import { sha256Hex } from '../../core/hash.js';
import { splitText } from '../shared/split-text.js';
import { markdownToText } from '../shared/markdown-to-text.js';
import { splitAtTables } from './card-tables.js';

/**
 * Outbound rendering: which msg_type a reply goes out as, its `content` string (JSON inside the JSON
 * body), and the split into messages that fit Feishu's request-size limits.
 *
 * Markdown goes out as an interactive card (JSON 2.0) with one markdown element. Why a 2.0 card: its
 * markdown element renders headings, tables, quotes and fenced code, which neither the 1.0 card
 * markdown element nor the post `md` tag do (those drop headings and tables). The cost: clients older
 * than 7.20 (2024) show an "upgrade" placeholder instead of the content.
 */

export type FeishuMsgType = 'text' | 'interactive';

/** What goes into the send/reply request besides the addressing: `content` is already a JSON string. */
export interface FeishuMessageBody {
  msg_type: FeishuMsgType | 'image';
  content: string;
  /** A card's markdown: sent as plain text instead should Feishu refuse the card for its content. */
  markdown?: string;
}

/** An image message: the `image_key` an upload (`POST /open-apis/im/v1/images`, image_type message) handed out. */
export function imageMessage(imageKey: string): FeishuMessageBody {
  return { msg_type: 'image', content: JSON.stringify({ image_key: imageKey }) };
}

/** Request-body limits the platform enforces: text 150 KB, card (and post) 30 KB. Decimal KB, the smaller reading. */
export const BODY_LIMIT_BYTES: Record<FeishuMsgType, number> = { text: 150_000, interactive: 30_000 };

/** Room kept for the rest of the request body: receive_id, uuid, reply_in_thread, keys and quotes (~250 bytes). */
export const BODY_RESERVE_BYTES = 1_024;

/** Feishu deduplicates sends by `uuid` (at most 50 characters) for one hour. */
export const UUID_MAX_LENGTH = 50;

// What each ASCII character costs once JSON-encoded twice (content string inside the request body).
const ASCII_COST = Array.from({ length: 128 }, (_, c) => Buffer.byteLength(JSON.stringify(JSON.stringify(String.fromCharCode(c))), 'utf8') - 6);

/**
 * Bytes `text` takes in the request body once encoded into `content` and the body: JSON-escaped
 * twice (a quote costs 4, a line break 3), other characters as UTF-8. Additive, so the splitter can
 * sum it per character.
 */
export function encodedBytes(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += ASCII_COST[c]!;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && text.charCodeAt(i + 1) >= 0xdc00 && text.charCodeAt(i + 1) <= 0xdfff) {
      n += 4;
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) n += 7; // a lone surrogate is written as \udXXX, its backslash escaped again
    else n += 3;
  }
  return n;
}

const FENCE = /^ {0,3}(```|~~~)/m;
const HEADING = /^ {0,3}#{1,6}[ \t]+\S/m;
const LIST = /^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S/m;
const QUOTE = /^ {0,3}>[ \t]?\S/m;
const TABLE_SEPARATOR = /^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t]*$/m;
const LINK = /\[[^\]\n]+\]\([^)\s]+\)/;
const EMPHASIS = /\*\*[^*\n]+\*\*|(?<![\w_])__[^_\n]+__(?![\w_])|~~[^~\n]+~~/;
const INLINE_CODE = /`[^`\n]+`/;

/** Whether a reply uses markdown that a text message would show as raw symbols. */
export function looksLikeMarkdown(text: string): boolean {
  return [FENCE, HEADING, LIST, QUOTE, TABLE_SEPARATOR, LINK, EMPHASIS, INLINE_CODE].some((re) => re.test(text));
}

/** Plain text (or markdown without any markup) goes as a text message: it reads and copies like one a person sent. */
export function chooseMsgType(text: string, format: 'text' | 'markdown'): FeishuMsgType {
  return format === 'markdown' && looksLikeMarkdown(text) ? 'interactive' : 'text';
}

/** `content` of a text message. */
export function textContent(text: string): string {
  return JSON.stringify({ text });
}

/** `content` of a card (JSON 2.0) showing `markdown`. Only documented fields: 2.0 cards refuse unknown ones. */
export function cardContent(markdown: string): string {
  return JSON.stringify({ schema: '2.0', config: { width_mode: 'fill' }, body: { elements: [{ tag: 'markdown', content: markdown }] } });
}

const contentOf = (type: FeishuMsgType, text: string) => (type === 'text' ? textContent(text) : cardContent(text));

/** One message of `type` showing `text` (already within the type's limit). */
export function messageBody(type: FeishuMsgType, text: string): FeishuMessageBody {
  return type === 'text' ? { msg_type: type, content: textContent(text) } : { msg_type: type, content: cardContent(text), markdown: text };
}

/** The text message sent instead of a card Feishu refused for its content: the same words, without markup. */
export function cardAsText(markdown: string): FeishuMessageBody {
  return messageBody('text', markdownToText(markdown));
}

/** Bytes a body spends around the reply text: the card or {"text"} skeleton, encoded into the body. */
function skeletonBytes(type: FeishuMsgType): number {
  return Buffer.byteLength(JSON.stringify(contentOf(type, '')), 'utf8');
}

/**
 * The parts of `text` that go out as messages (or cards) of `type`, each within `budget` (encoded
 * bytes). A card part keeps fenced code blocks whole (closed and reopened with the same language),
 * repeats a table's header rows after a cut inside it, and holds at most five tables (card-tables.ts).
 */
export function splitForType(text: string, type: FeishuMsgType, budget: number): string[] {
  const card = type === 'interactive';
  const parts = splitText(text, budget, { fences: card, tables: card, measure: encodedBytes });
  return card ? parts.flatMap((part) => splitAtTables(part)) : parts;
}

/**
 * The messages one reply chunk goes out as: usually one; more when the rendered body would pass the
 * limit (measured on the final request body, with BODY_RESERVE_BYTES to spare) or a card would hold
 * more tables than Feishu takes. Deterministic: the same input gives the same bodies, so a retry
 * sends identical requests. Whitespace-only: none.
 */
export function renderMessages(text: string, format: 'text' | 'markdown'): FeishuMessageBody[] {
  if (text.trim() === '') return [];
  const msgType = chooseMsgType(text, format);
  const budget = BODY_LIMIT_BYTES[msgType] - BODY_RESERVE_BYTES - skeletonBytes(msgType);
  return splitForType(text, msgType, budget).map((part) => messageBody(msgType, part));
}

/**
 * The `uuid` of message `index` of an outbound item: a hash of its idempotency key (stable across
 * retries) and the index, 40 hex characters (under the 50 allowed). A retry within the hour is then
 * dropped by Feishu instead of shown twice.
 */
export function chunkUuid(idempotencyKey: string, index: number): string {
  return sha256Hex(`${idempotencyKey}\n${index}`).slice(0, 40);
}

/** The `uuid` of the text message that stands in for a refused card: its own, so Feishu does not drop it as a repeat. */
export function standInUuid(cardUuid: string): string {
  return sha256Hex(`${cardUuid}\ntext`).slice(0, 40);
}

/** Body of POST /open-apis/im/v1/messages?receive_id_type=… */
export function createMessageBody(receiveId: string, message: FeishuMessageBody, uuid: string) {
  return { receive_id: receiveId, msg_type: message.msg_type, content: message.content, uuid };
}

/** Body of POST /open-apis/im/v1/messages/:message_id/reply */
export function replyMessageBody(message: FeishuMessageBody, uuid: string, replyInThread: boolean) {
  return { content: message.content, msg_type: message.msg_type, reply_in_thread: replyInThread, uuid };
}

/** Size of a request body as sent (JSON, UTF-8). */
export function requestBodyBytes(body: object): number {
  return Buffer.byteLength(JSON.stringify(body), 'utf8');
}
