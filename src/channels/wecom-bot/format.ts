import { sha256Hex } from '../../core/hash.js';
import { splitText } from '../shared/split-text.js';

/**
 * Outbound rendering for the WeCom intelligent robot. A reply to a message goes as one `stream`
 * message (aibot_respond_msg with the callback's req_id): frames with the same stream id, each
 * carrying the whole content so far, the last with `finish: true`. Content is markdown (the robot
 * renders lists, tables, quotes and code blocks, unlike the self-built app).
 *
 * A stream shows at most STREAM_CONTENT_LIMIT_BYTES, and a callback gets one stream; what does not
 * fit goes after it as proactive markdown messages (aibot_send_msg), never cut off.
 */

/** `stream.content` limit: "最长不超过 20480 个字节" (SDK types and README). */
export const STREAM_CONTENT_LIMIT_BYTES = 20_480;

/**
 * Proactive (aibot_send_msg) markdown: the long-connection docs state no limit; the robot webhook's
 * markdown limit is 4096 bytes (refused with 40058 when over), so follow-ups are cut to that.
 */
export const SEND_MARKDOWN_LIMIT_BYTES = 4_096;

/**
 * The stream id of a reply: derived from a key that is stable across retries (the outbound item's
 * idempotency key), so a retried delivery continues the same stream instead of opening a second one,
 * which WeCom refuses for the same req_id. 39 characters, shaped like the SDK's own ids.
 */
export function streamIdFor(key: string): string {
  return `stream_${sha256Hex(`wecom_bot stream\n${key}`).slice(0, 32)}`;
}

/** How one reply goes out: the stream's content, then follow-up messages for what did not fit. */
export interface ReplyPlan {
  /** Content of the stream's final frame; at most STREAM_CONTENT_LIMIT_BYTES. */
  stream: string;
  /** Proactive markdown messages to the same chat, in order; each at most SEND_MARKDOWN_LIMIT_BYTES. */
  followUps: string[];
}

/** Code blocks closed and reopened across a cut, and a cut table's header rows repeated: both still render. */
const MARKDOWN_SPLIT = { fences: true, tables: true };

/**
 * Splits a reply for a stream plus follow-ups, cutting at paragraphs, lines, then sentence ends, and
 * keeping fenced code blocks and tables readable across a cut (MARKDOWN_SPLIT).
 * Deterministic, so a retry plans the same messages. Whitespace-only text: an empty stream, no follow-ups
 * (the stream must still be finished, or the user sees it spinning).
 */
export function planReply(text: string): ReplyPlan {
  if (text.trim() === '') return { stream: '', followUps: [] };
  const [first = '', ...rest] = splitText(text, STREAM_CONTENT_LIMIT_BYTES, MARKDOWN_SPLIT);
  const followUps = rest.flatMap((part) => splitText(part, SEND_MARKDOWN_LIMIT_BYTES, MARKDOWN_SPLIT));
  return { stream: first, followUps };
}

/** Follow-ups only, for a reply that can no longer be streamed (its req_id expired, or after a restart). */
export function planProactive(text: string): string[] {
  if (text.trim() === '') return [];
  return splitText(text, SEND_MARKDOWN_LIMIT_BYTES, MARKDOWN_SPLIT);
}

/** Body of an aibot_respond_msg stream frame (what the SDK's replyStream sends). */
export function streamReplyBody(id: string, content: string, finish: boolean) {
  return { msgtype: 'stream' as const, stream: { id, finish, content } };
}

/** Body of aibot_send_msg without `chatid` (the SDK's sendMessage(chatid, body) adds it). */
export function markdownMessageBody(content: string) {
  return { msgtype: 'markdown' as const, markdown: { content } };
}

/** Body of aibot_respond_welcome_msg for an enter_chat event (replyWelcome). */
export function welcomeTextBody(content: string) {
  return { msgtype: 'text' as const, text: { content } };
}
