import type { ChannelFeed } from '../../core/channel.js';
import { byteLength } from '../shared/split-text.js';

/** A passive reply is one text message; WeChat cuts (or refuses) more than this. */
const MAX_PASSIVE_BYTES = 2048;
/**
 * WeChat keeps uploaded media 3 days; an image waiting longer for the user's next message is
 * skipped (an hour's margin), as a passive reply with a dead MediaId shows the user an error.
 */
const MEDIA_KEPT_MS = 3 * 86_400_000 - 3_600_000;

/** What one passive reply carries: text, or one image uploaded before (its media_id). */
export type PassiveContent = { text: string } | { mediaId: string };

type ReplyPayload = PassiveContent;
interface HandoutPayload {
  handedOutUpTo: number;
}

/**
 * Replies waiting to be answered passively live in the channel's durable feed, per user, so a
 * restart loses none: a reply item per chunk (text, or an uploaded image), and a hand-out marker
 * once they went out in a response.
 */
export class PassiveReplies {
  constructor(private readonly feed: ChannelFeed) {}

  /** Stores a reply chunk for passive hand-out; idempotent per outbox chunk. */
  async store(userId: string, messageId: string, idempotencyKey: string, content: PassiveContent): Promise<void> {
    const payload: ReplyPayload = content;
    await this.feed.append({ conversationId: userId, idempotencyKey, replyTo: messageId, payload });
  }

  /** Whether a reply to this message has been stored. */
  async hasReplyTo(messageId: string): Promise<boolean> {
    return (await this.feed.repliesTo(messageId)).some((e) => isReply(e.payload));
  }

  /**
   * Takes what the next passive reply carries and marks it handed out before it is sent (a lost
   * response is better than a double one): the user's oldest texts not handed out yet, as many as
   * fit in one message, or an image on its own (a passive reply is one message; the texts before it
   * go first). `now` is for skipping images WeChat no longer keeps.
   */
  async take(userId: string, now: number): Promise<PassiveContent | undefined> {
    const events = await this.readAll(userId);
    // By the marker's seq, not its place: replies stored after what a marker covers but before the
    // marker itself (one that did not fit, a reply stored while the response was written) are still due.
    let handedOut = 0;
    for (const e of events) if (isHandout(e.payload)) handedOut = Math.max(handedOut, e.payload.handedOutUpTo);
    const pending = events.filter((e) => e.seq > handedOut && isReply(e.payload));
    const taken: string[] = [];
    let image: string | undefined;
    let size = 0;
    let upTo = 0;
    for (const e of pending) {
      const payload = e.payload as ReplyPayload;
      if ('mediaId' in payload) {
        if (taken.length > 0) break;
        upTo = e.seq;
        if (now - e.createdAt > MEDIA_KEPT_MS) continue;
        image = payload.mediaId;
        break;
      }
      const extra = byteLength(payload.text) + (taken.length > 0 ? 2 : 0);
      if (taken.length > 0 && size + extra > MAX_PASSIVE_BYTES) break;
      taken.push(payload.text);
      size += extra;
      upTo = e.seq;
    }
    if (upTo === 0) return undefined;
    const marker: HandoutPayload = { handedOutUpTo: upTo };
    await this.feed.append({ conversationId: userId, idempotencyKey: `handout:${upTo}`, replyTo: '', payload: marker });
    if (image !== undefined) return { mediaId: image };
    return taken.length > 0 ? { text: taken.join('\n\n') } : undefined;
  }

  private async readAll(userId: string) {
    const all = [];
    let after = 0;
    for (;;) {
      const page = await this.feed.read(userId, after, 500);
      all.push(...page);
      if (page.length < 500) return all;
      after = page[page.length - 1]!.seq;
    }
  }
}

function isReply(payload: unknown): payload is ReplyPayload {
  const p = payload as { text?: unknown; mediaId?: unknown } | null;
  return typeof p?.text === 'string' || typeof p?.mediaId === 'string';
}

function isHandout(payload: unknown): payload is HandoutPayload {
  return typeof (payload as HandoutPayload | null)?.handedOutUpTo === 'number';
}
