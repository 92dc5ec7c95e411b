/** The bot's append-only inbound log (what getupdates delivers) and the context tokens it hands out. */
import { randomBytes, randomInt } from 'node:crypto';
import { fullUserId } from './items.js';
import type { MessageItem, WeixinMessage } from './types.js';
import { encodeCursor, decodeCursor, randomToken } from './wire.js';

/** getupdates never returns more than this many messages at once. */
export const MAX_MSGS_PER_UPDATE = 100;

export interface ContextToken {
  /** Full id of the user whose message carried it. */
  user: string;
  replies: number;
}

export class InboundLog {
  readonly messages: WeixinMessage[] = [];
  readonly contextTokens = new Map<string, ContextToken>();
  /** Users who wrote to the bot or confirmed a login: the only valid `to_user_id`s. */
  readonly knownUsers = new Set<string>();
  private readonly sessionIds = new Map<string, string>();
  // Safe integers well below 2^53, so JSON numbers survive any client.
  private nextMessageId = 7_000_000_000_000 + randomInt(0, 1_000_000) * 1000;
  private nextItemId = 1;

  constructor(private readonly botId: string) {}

  add(user: string, content: string | MessageItem[], groupId?: string): WeixinMessage {
    const from = fullUserId(user);
    const now = Date.now();
    const items = typeof content === 'string' ? [{ type: 1, text_item: { text: content } }] : content;
    const messageId = this.nextMessageId++;
    const contextToken = randomToken(24);
    const message: WeixinMessage = {
      seq: this.messages.length + 1,
      message_id: messageId,
      from_user_id: from,
      to_user_id: this.botId,
      client_id: randomBytes(12).toString('hex'),
      create_time_ms: now,
      update_time_ms: now,
      session_id: this.sessionId(from),
      ...(groupId === undefined ? {} : { group_id: groupId }),
      message_type: 1,
      message_state: 2,
      item_list: items.map((item) => ({ create_time_ms: now, msg_id: String(this.nextItemId++), ...structuredClone(item) })),
      context_token: contextToken,
    };
    this.messages.push(message);
    this.knownUsers.add(from);
    this.contextTokens.set(contextToken, { user: from, replies: 0 });
    return structuredClone(message);
  }

  /** Appends a message handed out before, unchanged but for its place in the log. */
  repeat(message: WeixinMessage): void {
    this.messages.push({ ...structuredClone(message), seq: this.messages.length + 1 });
  }

  /** The log position a cursor names (0 for empty or unreadable cursors). */
  positionOf(cursor: string): number {
    return decodeCursor(cursor, this.messages.length);
  }

  /** Up to 100 messages from `position`, and the cursor after them (`cursor` itself when there are none). */
  read(position: number, cursor: string): { msgs: WeixinMessage[]; next: string } {
    const msgs = this.messages.slice(position, position + MAX_MSGS_PER_UPDATE);
    return { msgs: structuredClone(msgs), next: msgs.length === 0 ? cursor : encodeCursor(position + msgs.length) };
  }

  private sessionId(user: string): string {
    let id = this.sessionIds.get(user);
    if (id === undefined) {
      id = randomBytes(8).toString('hex');
      this.sessionIds.set(user, id);
    }
    return id;
  }
}
