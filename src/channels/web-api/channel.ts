import { timingSafeEqual } from 'node:crypto';
import { EventEmitter, setMaxListeners } from 'node:events';
import { Channel, type ChannelContext, type FeedDelivery, type FeedEvent, type ReplyPreview } from '../../core/channel.js';
import { CocoError } from '../../core/errors.js';
import type { ChatMessage, OutgoingMessage, ReplyImage, SendContext, SendResult } from '../../core/message.js';
import { sha256 } from '../../core/hash.js';
import type { RateDecision, RateLimiter } from '../../core/rate-limiter.js';
import { UnansweredMessages } from '../shared/unanswered.js';
import { postCallback, type CallbackTarget } from './callback.js';
import type { WebApiChannelConfig } from './config.js';
import { SharedPartials } from './shared-partials.js';

/** What one SSE event / wait=true answer carries. */
export interface WebApiReply {
  seq: number;
  messageId: string;
  text: string;
  format: 'text' | 'markdown';
  chunk: { index: number; count: number };
  /** An image chunk: where to show it from (the agent's URL, or a data: URL of its bytes); `text` is its alt text. */
  image?: { url: string };
}

/**
 * What a `partial` SSE event carries: the reply to a message so far, while a streaming agent writes
 * it. Not stored and not resumable: the `reply` events that follow are the reply.
 */
export interface WebApiPartial {
  messageId: string;
  text: string;
}

/** Streams are local and cheap to write to: updates a tenth of a second apart read as live text. */
const PREVIEW_INTERVAL_MS = 100;
/** Distinct Authorization headers remembered as the entry's key (`Bearer k`, `Bearer  k `, …). */
const MAX_ACCEPTED_HEADERS = 8;

/**
 * The Web API: clients POST messages and read replies from a per-user SSE stream or a held
 * request. Replies are appended to a durable feed, keyed by idempotency key, so a retried send
 * never shows twice and a reconnecting client resumes with Last-Event-ID. With `callback_url`,
 * each reply is also POSTed, signed, to the client's service.
 */
export class WebApiChannel extends Channel<WebApiChannelConfig> {
  static override channelType = 'web_api';

  private config?: WebApiChannelConfig;
  private keyDigest?: Buffer;
  /**
   * Authorization headers that already passed the digest check, so a client's every request costs
   * a hash-set lookup instead of a SHA-256. A set compares strings only after their (per-process
   * seeded) hashes match, so how long a wrong key takes says nothing about the right one's letters.
   */
  private readonly acceptedHeaders = new Set<string>();
  private limiter?: RateLimiter;
  private callback?: CallbackTarget;
  /** Local wake-ups for waiting requests and streams; the store stays the source of truth. */
  readonly events = new EventEmitter().setMaxListeners(0);
  private readonly unanswered = new UnansweredMessages(this.ctx.signals, this.ctx.clock);
  private readonly closing = new AbortController();
  private unwatch?: () => void;
  /** With a shared store: partials to and from the other processes' streams. */
  private shared?: SharedPartials;

  constructor(ctx: ChannelContext) {
    super(ctx);
    // Every held ?wait=true request and open stream listens for the stop: many is normal, not a leak.
    setMaxListeners(0, this.closing.signal);
  }

  get settings(): WebApiChannelConfig {
    if (!this.config) throw new CocoError('COCO_ERR_CHANNEL_NOT_RUNNING', 'web_api channel not started', { statusCode: 503 });
    return this.config;
  }

  /** Aborts when the channel stops, ending held requests and streams. */
  get stopSignal(): AbortSignal {
    return this.closing.signal;
  }

  override async start(_sceneId: string, config: WebApiChannelConfig): Promise<void> {
    this.config = config;
    this.keyDigest = sha256(config.api_key);
    this.acceptedHeaders.clear();
    const perMinute = config.rate_limit_per_minute;
    this.limiter = this.ctx.rateLimiter('requests', { capacity: Math.max(1, Math.ceil(perMinute / 10)), perSecond: perMinute / 60 });
    // Replies other gateway processes store for this entry wake streams and held requests here too.
    this.unwatch = this.ctx.feed.watch((conversationId, replyTo) => this.announce(conversationId, replyTo));
    // A message finished without a reply (a hand-over, a blocked sender) lets its held request go.
    this.unanswered.start();
    this.unanswered.subscribe((messageId) => this.events.emit(`reply:${messageId}`));
    if (this.ctx.sharedStore) {
      this.shared = new SharedPartials(this.ctx.signals, this.ctx.clock, () => this.watchedHere(), (c, partial) => this.events.emit(previewEvent(c), partial));
      this.shared.start();
    }
    this.callback =
      config.callback_url && config.callback_secret
        ? { url: config.callback_url, secret: config.callback_secret, timeoutMs: config.callback_timeout_ms }
        : undefined;
  }

  /** Without a callback, a reply's delivery is its feed entry: the heartbeat appends it on completion. */
  override feedDelivery(): FeedDelivery | undefined {
    return this.callback ? undefined : this.delivery;
  }

  private readonly delivery: FeedDelivery = {
    payload: feedPayload,
    delivered: (_userId, context) => this.announce(context.conversationId, context.messageId),
  };

  override async send(reply: OutgoingMessage, userId: string, context: SendContext): Promise<SendResult> {
    const payload = feedPayload(reply, userId, context);
    const { seq } = await this.ctx.feed.append({
      conversationId: context.conversationId,
      idempotencyKey: context.idempotencyKey,
      replyTo: context.messageId,
      payload,
    });
    this.announce(context.conversationId, context.messageId);
    // The feed entry is kept when the callback fails: the outbox's retry appends nothing new and posts again.
    if (this.callback) {
      const { messageId, text, format, chunk } = payload;
      const image = 'image' in payload ? { image: payload.image } : {};
      const body = { messageId, userId, conversationId: context.conversationId, text, format, chunk, ...image, seq };
      await postCallback(this.callback, body, context.idempotencyKey, this.ctx.clock.now());
    }
    return { platformMessageId: String(seq) };
  }

  override finishedWithoutReply(messageId: string): void {
    this.unanswered.heard(messageId);
  }

  /** The gateway finished the message without any reply: a request waiting for one gets none. */
  isUnanswered(messageId: string): boolean {
    return this.unanswered.has(messageId);
  }

  override async stop(): Promise<void> {
    this.unwatch?.();
    this.unanswered.stop();
    this.shared?.stop();
    this.closing.abort();
    this.events.removeAllListeners();
  }

  /**
   * Partial replies go to the open streams of the conversation: this process's, and (with a shared
   * store) those other processes say they have open, or the request that sent the message and
   * streams its answer (the message says so), wherever it is held. With none, the agent does not stream.
   */
  override startPreview(message: ChatMessage, messageId: string): ReplyPreview | undefined {
    const conversationId = message.conversationId;
    const event = previewEvent(conversationId);
    const shared = this.shared;
    const askedFor = message.replyMeta?.streamed === true;
    const elsewhere = () => shared !== undefined && (askedFor || shared.watchedElsewhere(conversationId));
    if (this.events.listenerCount(event) === 0 && !elsewhere()) return undefined;
    return {
      intervalMs: PREVIEW_INTERVAL_MS,
      update: (text) => {
        this.events.emit(event, { messageId, text } satisfies WebApiPartial);
        if (elsewhere()) shared!.publish(conversationId, messageId, text);
      },
      stop: () => undefined,
    };
  }

  /** Calls `onPartial` with the partial replies of a conversation until the returned function is called. */
  watchPartials(conversationId: string, onPartial: (partial: WebApiPartial) => void): () => void {
    const event = previewEvent(conversationId);
    if (this.events.listenerCount(event) === 0) this.shared?.opened(conversationId);
    this.events.on(event, onPartial);
    return () => {
      this.events.off(event, onPartial);
      if (this.events.listenerCount(event) === 0) this.shared?.closed(conversationId);
    };
  }

  /** The conversations with partials watched in this process now. */
  private watchedHere(): string[] {
    return this.events
      .eventNames()
      .filter((name): name is string => typeof name === 'string' && name.startsWith(PREVIEW_PREFIX) && this.events.listenerCount(name) > 0)
      .map((name) => name.slice(PREVIEW_PREFIX.length));
  }

  private announce(conversationId: string, messageId: string): void {
    this.shared?.done(messageId);
    this.events.emit(`conversation:${conversationId}`);
    this.events.emit(`reply:${messageId}`);
  }

  /** Constant-time check of a bearer token against the entry's key. */
  authorize(header: string | undefined): boolean {
    if (!this.keyDigest || header === undefined) return false;
    if (this.acceptedHeaders.has(header)) return true;
    if (!header.startsWith('Bearer ') || !timingSafeEqual(sha256(header.slice(7).trim()), this.keyDigest)) return false;
    // Spellings of the one key (spaces around it): a few at most, so the set stays bounded.
    if (this.acceptedHeaders.size < MAX_ACCEPTED_HEADERS) this.acceptedHeaders.add(header);
    return true;
  }

  takeRateToken(): RateDecision | Promise<RateDecision> {
    return this.limiter ? this.limiter.take() : { ok: true };
  }

  async readReplies(conversationId: string, afterSeq: number, limit = 100): Promise<WebApiReply[]> {
    return (await this.ctx.feed.read(conversationId, afterSeq, limit)).map(toReply);
  }

  async repliesTo(messageId: string): Promise<WebApiReply[]> {
    return (await this.ctx.feed.repliesTo(messageId)).map(toReply);
  }
}

/** What the feed keeps of a reply chunk (WebApiReply without its seq). */
function feedPayload(reply: OutgoingMessage, userId: string, context: SendContext) {
  const payload = { messageId: context.messageId, userId, text: reply.text, format: reply.format, chunk: context.chunk };
  return reply.image ? { ...payload, image: { url: imageUrl(reply.image) } } : payload;
}

/** A browser shows either as an <img src>: no upload step, and nothing for the gateway to serve later. */
function imageUrl(image: ReplyImage): string {
  return 'url' in image ? image.url : `data:${image.mimeType};base64,${image.data}`;
}

function toReply(event: FeedEvent): WebApiReply {
  const p = event.payload as Omit<WebApiReply, 'seq'>;
  const reply = { seq: event.seq, messageId: p.messageId, text: p.text, format: p.format, chunk: p.chunk };
  return p.image ? { ...reply, image: p.image } : reply;
}

const PREVIEW_PREFIX = 'preview:';

function previewEvent(conversationId: string): string {
  return `${PREVIEW_PREFIX}${conversationId}`;
}
