import type { Clock } from './clock.js';
import type { TransportStatus } from './entry-status.js';
import type { Logger } from './logger.js';
import type { RateLimit, RateLimiter } from './rate-limiter.js';
import type { Accepted, ChatMessage, OutgoingMessage, SendContext, SendResult } from './message.js';

/** Hands a parsed message to the gateway; resolves once it is durably stored (or a known duplicate). */
export type MessageHandler = (message: ChatMessage) => Promise<Accepted>;

/**
 * A durable, append-only stream per conversation that a channel may keep, for platforms where
 * the gateway itself is the delivery target (the Web API's SSE stream). Appends with the same
 * idempotency key are stored once, which makes `send()` exactly-once even when retried.
 */
export interface ChannelFeed {
  append(item: { conversationId: string; idempotencyKey: string; replyTo: string; payload: unknown }): Promise<{ seq: number; duplicate: boolean }>;
  read(conversationId: string, afterSeq: number, limit: number): Promise<FeedEvent[]>;
  /** Replies already stored for one inbound message (our message id). */
  repliesTo(messageId: string): Promise<FeedEvent[]>;
  /**
   * Calls `listener` when another gateway process sharing the store appends to this feed (its own
   * appends are the channel's to announce), so held requests and streams here wake at once. Best
   * effort: keep a slow poll of the store as well. Returns an unsubscribe.
   */
  watch(listener: (conversationId: string, replyTo: string) => void): () => void;
}

export interface FeedEvent {
  seq: number;
  conversationId: string;
  replyTo: string;
  payload: unknown;
  createdAt: number;
}

/**
 * Small values a channel keeps across restarts, and across processes when the store is shared
 * (a long-poll cursor). Each entry has its own names.
 */
export interface ChannelState {
  get(name: string): Promise<string | undefined>;
  /** Resolves once the value is durable. */
  set(name: string, value: string): Promise<void>;
}

/**
 * Short-lived news between the gateway processes sharing a store (PostgreSQL): what one process's
 * channel instance tells the same entry's instances elsewhere (a reply being written, a stream
 * opened). Nothing is kept, and delivery is best effort. With a store of one process, nothing goes.
 */
export interface ChannelSignals {
  /** Sends `body` under `topic` to this entry's instances in the other processes; false when it did not go. */
  send(topic: string, body: string): boolean;
  /** Calls `listener` with what the entry's instances in other processes send. Returns an unsubscribe. */
  listen(listener: (topic: string, body: string) => void): () => void;
}

/** What the gateway gives each channel instance. */
export interface ChannelContext {
  /** Global key "{target}.{entry}", used in URLs, logs and the store. */
  readonly entryKey: string;
  readonly entryId: string;
  readonly log: Logger;
  readonly clock: Clock;
  readonly feed: ChannelFeed;
  readonly state: ChannelState;
  readonly signals: ChannelSignals;
  /**
   * Other gateway processes share the store (PostgreSQL) and receive part of this entry's traffic:
   * state a channel keeps in memory (per-user counters, say) is then partial, not authoritative.
   */
  readonly sharedStore: boolean;
  /**
   * A limiter for requests to this entry, named per kind of request. In one process it is a token
   * bucket in memory; with a shared store every process draws from one bucket in the store, so the
   * limit holds for the whole deployment.
   */
  rateLimiter(name: string, limit: RateLimit): RateLimiter;
  /**
   * Report that a running channel broke (a socket died for good, credentials were revoked).
   * The SceneKeeper marks the entry `error` and restarts it with backoff.
   */
  reportError(error: unknown): void;
}

/**
 * How a channel whose delivery is a write to its own feed (the Web API without a callback URL) lets
 * the heartbeat deliver a reply in the transaction that stores it. The message is then never
 * finished without its reply readable, and one commit does what the outbox and `send()` took three for.
 */
export interface FeedDelivery {
  /** What `send()` would append to the feed for this chunk. */
  payload(reply: OutgoingMessage, userId: string, context: SendContext): unknown;
  /** Called after the commit for each chunk now in the feed: wake whoever waits for it. */
  delivered(userId: string, context: SendContext): void;
}

/** A typing indicator shown while the agent works on a message; `stop()` may be called more than once. */
export interface Typing {
  stop(): void;
}

/**
 * A reply shown while the agent writes it (`capabilities.streaming`). Only a preview: the reply
 * itself still goes out once, through `send()` or the feed, after the agent finished, and replaces
 * it. Best effort: nothing it does may throw, and a platform refusing it changes nothing else.
 */
export interface ReplyPreview {
  /** The least time between two updates the platform copes with; the heartbeat holds updates back to it. */
  readonly intervalMs: number;
  /** The whole reply so far (not a delta); an attempt after a failed one starts again from its first words. */
  update(textSoFar: string): void;
  /** No more updates (the reply follows, or the run was given up); may be called more than once. */
  stop(): void;
}

/**
 * One platform protocol. Subclasses implement `start`, `send` and `stop`; the SceneKeeper wires
 * `onMessage` and `sceneId`. A channel acknowledges the platform only after `onMessage` resolved.
 */
export abstract class Channel<Config = unknown> {
  /** The registered channel type; set by each subclass. */
  static channelType: string;
  /** The agent or scene this instance feeds. */
  sceneId = '';
  /** Set by the SceneKeeper before `start()`. */
  onMessage: MessageHandler = async () => {
    throw new Error('Channel.onMessage called before the channel was wired');
  };

  constructor(protected readonly ctx: ChannelContext) {}

  /**
   * Connects to the platform with a validated config. Resolves when ready to receive, rejects
   * with a clear reason otherwise. Must not hang: the SceneKeeper gives up after its start timeout.
   */
  abstract start(sceneId: string, config: Config): Promise<void>;

  /**
   * Delivers one reply chunk to the conversation it answers. Throws a `CocoError`
   * (`COCO_ERR_CHANNEL_SEND`) with `retryable` and `retryAfterMs` set as the platform says.
   */
  abstract send(reply: OutgoingMessage, userId: string, context: SendContext): Promise<SendResult>;

  /** Disconnects and releases everything; idempotent. */
  abstract stop(): Promise<void>;

  /**
   * For a channel whose `send()` only appends to its feed: how the heartbeat appends a reply itself
   * (see FeedDelivery). Asked for every reply; undefined, the default, sends through the outbox.
   */
  feedDelivery(): FeedDelivery | undefined {
    return undefined;
  }

  /**
   * Shows "typing…" to the user while the agent works on `message` (`capabilities.typing`). Best
   * effort: it must not throw, and a platform refusing it changes nothing else. None by default.
   */
  startTyping(_message: ChatMessage): Typing | undefined {
    return undefined;
  }

  /**
   * Shows the reply to `message` (stored as `messageId`) while the agent writes it
   * (`capabilities.streaming`), when someone can see it now: the heartbeat then asks a streaming
   * agent for its text as it comes. Undefined, the default, runs the agent without streaming.
   * Must not throw.
   */
  startPreview(_message: ChatMessage, _messageId: string): ReplyPreview | undefined {
    return undefined;
  }

  /**
   * The gateway finished `messageId` with no reply, and the agent will send none (a hand-over to a
   * person, a sender `access` refuses): a channel holding the platform's request open for the answer
   * can let it go now. Called in the process that finished the message, which may not be the one
   * holding the request (`UnansweredMessages` passes it on). Must not throw. Nothing by default.
   */
  finishedWithoutReply(_messageId: string): void {}

  /** The state of the link to the platform, shown with the entry's status; none by default. */
  transportStatus(): TransportStatus | undefined {
    return undefined;
  }
}
