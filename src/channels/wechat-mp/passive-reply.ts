import type { ChannelFeed } from '../../core/channel.js';
import { byteLength } from '../shared/split-text.js';

/** A passive reply is one text message; WeChat cuts (or refuses) more than this. */
const MAX_PASSIVE_BYTES = 2048;

interface ReplyPayload {
  text: string;
}
interface HandoutPayload {
  handedOutUpTo: number;
}

/**
 * Replies waiting to be answered passively live in the channel's durable feed, per user, so a
 * restart loses none: a reply item per chunk, and a hand-out marker once they went out in a response.
 */
export class PassiveReplies {
  constructor(private readonly feed: ChannelFeed) {}

  /** Stores a reply chunk for passive hand-out; idempotent per outbox chunk. */
  async store(userId: string, messageId: string, idempotencyKey: string, text: string): Promise<void> {
    const payload: ReplyPayload = { text };
    await this.feed.append({ conversationId: userId, idempotencyKey, replyTo: messageId, payload });
  }

  /** Whether a reply to this message has been stored. */
  async hasReplyTo(messageId: string): Promise<boolean> {
    return (await this.feed.repliesTo(messageId)).some((e) => isReply(e.payload));
  }

  /**
   * Takes the user's replies not handed out yet, oldest first, as many as fit in one passive
   * message, and marks them handed out before they are sent (a lost response is better than a double one).
   */
  async take(userId: string): Promise<string | undefined> {
    const events = await this.readAll(userId);
    let from = 0;
    events.forEach((e, i) => {
      if (isHandout(e.payload)) from = i + 1;
    });
    const pending = events.slice(from).filter((e) => isReply(e.payload));
    const taken: string[] = [];
    let size = 0;
    let upTo = 0;
    for (const e of pending) {
      const text = (e.payload as ReplyPayload).text;
      const extra = byteLength(text) + (taken.length > 0 ? 2 : 0);
      if (taken.length > 0 && size + extra > MAX_PASSIVE_BYTES) break;
      taken.push(text);
      size += extra;
      upTo = e.seq;
    }
    if (taken.length === 0) return undefined;
    const marker: HandoutPayload = { handedOutUpTo: upTo };
    await this.feed.append({ conversationId: userId, idempotencyKey: `handout:${upTo}`, replyTo: '', payload: marker });
    return taken.join('\n\n');
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
  return typeof (payload as ReplyPayload | null)?.text === 'string';
}

function isHandout(payload: unknown): payload is HandoutPayload {
  return typeof (payload as HandoutPayload | null)?.handedOutUpTo === 'number';
}
