import { markdownToText } from '../shared/markdown-to-text.js';
import { BODY_LIMIT_BYTES, BODY_RESERVE_BYTES, chooseMsgType, messageBody, splitForType, type FeishuMessageBody, type FeishuMsgType } from './format.js';

/**
 * The card a streaming reply is shown in (card JSON 2.0, the only kind card entities take): one
 * element with the reply, in streaming mode while the agent writes, then replaced by the finished
 * card. What the finished card shows is what a reply sent without a preview would have shown first:
 * markdown in a markdown element, plain text verbatim in a plain_text element (a markdown element
 * would read its `*` and `_`), at most a card's worth, the rest following as messages.
 */

/** The element the reply text is in, in both the streaming and the finished card. */
export const REPLY_ELEMENT_ID = 'reply';

/**
 * Typewriter pace of the client while streaming: 2 characters every 30 ms (~65 a second), above what a
 * model writes, so the card does not fall behind the text it was given. The platform's default (one
 * character at a time) would.
 */
const STREAMING_CONFIG = { print_frequency_ms: { default: 30 }, print_step: { default: 2 } };

/** The chat list shows a card by its summary; the finished card's is the start of the reply. */
const SUMMARY_CHARS = 60;
/** Room for the summary in the card's budget: SUMMARY_CHARS characters, escaped twice, in UTF-8. */
const SUMMARY_RESERVE_BYTES = SUMMARY_CHARS * 7;

/** The reply text one card holds, measured like a message body (the card JSON sits in a string in the request). */
export const CARD_TEXT_BUDGET = BODY_LIMIT_BYTES.interactive - BODY_RESERVE_BYTES - SUMMARY_RESERVE_BYTES - Buffer.byteLength(JSON.stringify(finishedCard('', 'text')), 'utf8');

/** The interactive message showing a card entity. */
export function cardMessage(cardId: string): FeishuMessageBody {
  return { msg_type: 'interactive', content: JSON.stringify({ type: 'card', data: { card_id: cardId } }) };
}

/** A card in streaming mode showing `markdown`, the reply so far. */
export function streamingCard(markdown: string): string {
  return JSON.stringify({
    schema: '2.0',
    config: { streaming_mode: true, width_mode: 'fill', streaming_config: STREAMING_CONFIG },
    body: { elements: [{ tag: 'markdown', element_id: REPLY_ELEMENT_ID, content: markdown }] },
  });
}

/** The finished card: streaming mode off, the reply as `type` renders it, summarised for the chat list. */
export function finishedCard(text: string, type: FeishuMsgType): string {
  const element = type === 'interactive' ? { tag: 'markdown', element_id: REPLY_ELEMENT_ID, content: text } : { tag: 'div', element_id: REPLY_ELEMENT_ID, text: { tag: 'plain_text', content: text } };
  return JSON.stringify({
    schema: '2.0',
    config: { streaming_mode: false, width_mode: 'fill', summary: { content: summaryOf(text, type) } },
    body: { elements: [element] },
  });
}

/**
 * What the streaming card shows for the reply so far: the part the finished card will hold (a card's
 * bytes, five tables), without markdown images (a card reads `![alt](x)` as an uploaded image key, and
 * an agent's image links are sent as images of their own).
 */
export function previewText(textSoFar: string): string {
  const text = textSoFar.replace(/!\[[^\]\n]*\]\([^)\n]*\)?/g, '').trimEnd();
  return splitForType(text, 'interactive', CARD_TEXT_BUDGET)[0] ?? '';
}

/** A finished reply shown in its preview card: the card's JSON, then the messages with the rest of the text. */
export interface StreamedReply {
  card: string;
  rest: FeishuMessageBody[];
}

/** The finished card for a reply chunk, split as renderMessages would: markdown only when it uses markup. */
export function streamedReply(text: string, format: 'text' | 'markdown'): StreamedReply {
  const type = chooseMsgType(text, format);
  const parts = splitForType(text, type, CARD_TEXT_BUDGET);
  return { card: finishedCard(parts[0] ?? '', type), rest: parts.slice(1).map((part) => messageBody(type, part)) };
}

function summaryOf(text: string, type: FeishuMsgType): string {
  const plain = (type === 'interactive' ? markdownToText(text) : text).replace(/\s+/g, ' ').trim();
  const chars = [...plain];
  return chars.length <= SUMMARY_CHARS ? plain : `${chars.slice(0, SUMMARY_CHARS - 1).join('')}…`;
}
