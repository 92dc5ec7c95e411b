/**
 * A reply as the outbox's chunks: what the heartbeat stores for an agent's answer, and what an
 * operator's reply from the panel becomes. Both must fit the channel the same way.
 */
import type { AgentReply } from '../agents/agent.js';
import type { ChannelCapabilities } from '../channels/define.js';
import { markdownToText } from '../channels/shared/markdown-to-text.js';
import { charLength, splitText } from '../channels/shared/split-text.js';
import type { NewOutbound } from '../store/store.js';
import type { ChatMessage, ReplyImage } from './message.js';

/**
 * The reply's text split to the channel's limits, then one chunk per image. A channel that cannot
 * send images gets their links in the text instead (an image given as bytes has none: it is named in
 * the text, so the user learns that something is missing). Chunk `i`'s idempotency key is
 * `{keyPrefix}:{i}`; they answer message `to` (our id) and expire `maxAgeMs` after `now`.
 */
export function replyChunks(
  to: { id: string; entryKey: string; channelType: string; message: ChatMessage },
  reply: Pick<AgentReply, 'text' | 'format' | 'images'>,
  caps: ChannelCapabilities | undefined,
  o: { now: number; maxAgeMs: number; keyPrefix: string },
): NewOutbound[] {
  const images = reply.images ?? [];
  const sendsImages = caps?.sendsImages === true;
  const text = sendsImages || images.length === 0 ? reply.text : [reply.text, ...images.map(imageAsText)].filter((t) => t.length > 0).join('\n');
  const outFormat = reply.format === 'markdown' && caps?.markdown ? 'markdown' : 'text';
  // A platform that shows markdown as raw symbols gets readable plain text instead.
  const body = reply.format === 'markdown' && outFormat === 'text' ? markdownToText(text) : text;
  const parts: { text: string; image?: ReplyImage }[] = (
    caps?.maxMessageChars ? splitText(body, caps.maxMessageChars, { measure: charLength }) : splitText(body, caps?.maxMessageBytes)
  ).map((part) => ({ text: part }));
  // An answer that is only images sends no empty text before them.
  if (sendsImages && images.length > 0 && parts.length === 1 && parts[0]!.text.trim() === '') parts.length = 0;
  if (sendsImages) for (const image of images) parts.push({ text: image.alt ?? '', image });
  return parts.map((part, index) => ({
    entryKey: to.entryKey,
    channelType: to.channelType,
    conversationId: to.message.conversationId,
    userId: to.message.userId,
    idempotencyKey: `${o.keyPrefix}:${index}`,
    text: part.text,
    format: part.image ? 'text' : outFormat,
    ...(part.image ? { image: part.image } : {}),
    chunkIndex: index,
    chunkCount: parts.length,
    replyTo: to.id,
    inReplyTo: to.message.msgId,
    isGroup: to.message.isGroup,
    replyMeta: to.message.replyMeta,
    availableAt: o.now,
    expiresAt: o.now + o.maxAgeMs,
  }));
}

/** What the agent reads of a reply next time (its own answer, or an operator's): the text, and that images went. */
export function historyText(reply: Pick<AgentReply, 'text' | 'images'>): string {
  const n = reply.images?.length ?? 0;
  return n === 0 ? reply.text : `${reply.text}${reply.text ? '\n' : ''}[sent ${n} image(s)]`;
}

/** An image as a line of text, for a channel that cannot send images. */
function imageAsText(image: ReplyImage): string {
  if ('url' in image) return image.alt ? `${image.alt}: ${image.url}` : image.url;
  return `[${image.alt ? `image "${image.alt}"` : 'an image'} this chat cannot show]`;
}
