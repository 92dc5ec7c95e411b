import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import type { ChatMessage, MediaRef } from './message.js';

/**
 * Quoted messages. Some platforms send only the id of the message a user answers (a Feishu reply
 * names its parent); the channel type's `fetchQuote` reads its words before the agent runs, and the
 * agent gets them under the user's text as a markdown quote, the way channels that receive the
 * quote with the message (WeCom robots, personal WeChat) put it. "Translate this" then has a "this".
 */

/** What a channel's `fetchQuote` gets besides the message: the entry's resolved config. */
export interface QuoteContext<Config = unknown> {
  /** The entry's resolved config, resolved when read (read it only for a message that quotes something). */
  readonly config: Config;
  clock: Clock;
  log: Logger;
  /** Aborted when the gateway gives up on the message (lease lost, shutdown). */
  signal: AbortSignal;
}

/** What a quoted message holds: its words, and its images and files (for agents that take them). */
export interface QuotedMessage {
  text: string;
  /** References to download as the quoting message's own, each naming the message it belongs to (`messageId`). */
  media?: MediaRef[];
}

/** Reads what a message quotes, for one entry; undefined when it quotes nothing. */
export type QuoteFetcher = (message: ChatMessage, signal: AbortSignal) => Promise<QuotedMessage | undefined>;

/** A quote is context, not the question: a long one (a whole report) is cut to this many characters. */
export const MAX_QUOTE_CHARS = 2_000;

/** `quote` as a markdown quote block, cut to MAX_QUOTE_CHARS; empty for an empty quote. */
export function quoteBlock(quote: string): string {
  const chars = [...quote.trim()];
  const text = chars.length > MAX_QUOTE_CHARS ? `${chars.slice(0, MAX_QUOTE_CHARS - 1).join('').trimEnd()}…` : chars.join('');
  if (text === '') return '';
  return text
    .split('\n')
    .map((line) => (line === '' ? '>' : `> ${line}`))
    .join('\n');
}

/** `content` with a quote block (quoteBlock) under it. */
export function withQuote(content: string, block: string): string {
  if (block === '') return content;
  return content.trim() === '' ? block : `${content}\n\n${block}`;
}
