/**
 * Bursts: a profile's `debounce` answers the messages a user sends in a row once, after they pause,
 * instead of each on its own. The mailbox keeps every message; the heartbeat holding a conversation's
 * head reads the queued ones after it, and answers them all with one reply once the burst is over.
 */
import type { Debounce } from '../config/schema.js';
import type { ChatMessage } from './message.js';

/** How long a burst may grow when the profile does not say: four pauses' worth. */
const MAX_WAIT_PAUSES = 4;

/**
 * When the burst that starts with a message received at `firstAt` is over: `quiet_ms` after its last
 * message arrived, but no later than `max_wait_ms` after the first (someone typing without pause
 * still gets an answer).
 */
export function burstEndsAt(debounce: Debounce, firstAt: number, arrivals: readonly number[]): number {
  const last = Math.max(firstAt, ...arrivals);
  return Math.min(last + debounce.quiet_ms, firstAt + (debounce.max_wait_ms ?? MAX_WAIT_PAUSES * debounce.quiet_ms));
}

/**
 * The burst as the one message the agent answers. It is the newest message (the reply goes where
 * an answer to it would go: its thread, its reply token) with the text and media of all of them,
 * oldest first. In a group, each line says who wrote it when several people did.
 */
export function mergeBurst(messages: readonly ChatMessage[]): ChatMessage {
  const newest = messages.at(-1);
  if (!newest) throw new Error('a burst has at least one message');
  if (messages.length === 1) return newest;
  const severalSenders = new Set(messages.map((m) => m.userId)).size > 1;
  const line = (m: ChatMessage) => (severalSenders ? `${m.userName ?? m.userId}: ${m.content}` : m.content);
  const media = messages.flatMap((m) => m.media ?? []);
  const merged: ChatMessage = {
    ...newest,
    content: messages.filter((m) => m.content.trim() !== '').map(line).join('\n'),
    msgType: messages.every((m) => m.msgType === newest.msgType) ? newest.msgType : 'text',
    mentionsBot: messages.some((m) => m.mentionsBot),
  };
  if (media.length > 0) merged.media = media;
  else delete merged.media;
  return merged;
}
