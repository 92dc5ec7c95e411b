import type { GatewayMetrics } from '../ops/metrics.js';
import { noticeText } from '../ops/notice-texts.js';
import type { Notice } from '../ops/notifier.js';
import type { NewOutbound, OutboundItem, Store } from '../store/store.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import type { Channel } from './channel.js';
import type { Clock } from './clock.js';
import type { OutgoingMessage, SendContext } from './message.js';
import { describeError, isCocoError } from './errors.js';
import { lazyChild, type Logger } from './logger.js';
import { WorkLoop } from './work-loop.js';

export interface OutboxDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  metrics: GatewayMetrics;
  /** The running channel of an entry, if it is running. */
  channelOf(entryKey: string): Channel | undefined;
  onSent(entryKey: string): void;
  /** Entries another gateway process runs: their chunks are left for its outbox to claim. */
  skipEntries?(): readonly string[];
  /** Tells people (ops/notifier.ts) about a reply given up on. */
  notify?(notice: Notice): void;
  concurrency: number;
  leaseMs: number;
  /** Failed sends of one chunk before it is dead-lettered (an entry that is down does not count: max age does). */
  maxAttempts?: number;
  backoff?: BackoffPolicy;
  owner: string;
  tickMs?: number;
}

const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 300_000, jitter: 0.5 };
/** Replies handed over at completion and still being sent, per unit of concurrency, before new ones wait in the outbox. */
const HAND_OVER_PER_SLOT = 4;
/** A platform's Retry-After is honoured up to this; longer waits fall back to our own schedule. */
const MAX_RETRY_AFTER_MS = 15 * 60_000;

/**
 * Delivers reply chunks through `Channel.send()`, in order per conversation, retrying transient
 * failures with jittered backoff and giving up visibly (dead letter) on permanent errors or age.
 */
export class OutboxSender {
  private readonly loop: WorkLoop<OutboundItem>;
  private readonly handedOver = new Set<Promise<void>>();

  constructor(private readonly deps: OutboxDeps) {
    this.loop = new WorkLoop({
      name: 'outbox',
      clock: deps.clock,
      log: deps.log,
      concurrency: deps.concurrency,
      tickMs: deps.tickMs ?? 1_000,
      claim: (limit) =>
        deps.store.claimOutbound({ now: deps.clock.now(), leaseMs: deps.leaseMs, limit, owner: deps.owner, skipEntries: deps.skipEntries?.() }),
      process: async (item) => {
        await this.deliver(item);
      },
    });
  }

  start(): void {
    this.loop.start();
  }

  wake(): void {
    this.loop.wake();
  }

  /**
   * Whether a reply completed now may be handed straight to this sender. A slow or stalled platform
   * would otherwise gather hand-overs without bound (the heartbeat answers on regardless); past the
   * limit, replies wait in the outbox, where the loop's concurrency bounds them.
   */
  get takesHandOver(): boolean {
    return this.handedOver.size < HAND_OVER_PER_SLOT * this.deps.concurrency;
  }

  /**
   * Delivers, in order, chunks the store leased to this process when their reply was stored
   * (no claim round trip). If one fails, it is rescheduled and the rest go back in line behind it.
   */
  deliverNow(items: OutboundItem[]): void {
    const run = (async () => {
      for (const [i, item] of items.entries()) {
        if (await this.deliver(item)) continue;
        for (const rest of items.slice(i + 1)) {
          const now = this.deps.clock.now();
          await this.deps.store.retryOutbound(rest.id, rest.leaseToken, { now, availableAt: now, error: 'waiting for an earlier chunk' });
        }
        this.wake();
        return;
      }
    })().catch((err: unknown) => this.deps.log.error({ err: describeError(err) }, 'outbox: delivery failed'));
    this.handedOver.add(run);
    void run.finally(() => this.handedOver.delete(run));
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    await Promise.allSettled([...this.handedOver]);
  }

  private notifyDead(item: OutboundItem, error: string): void {
    this.deps.notify?.({
      event: 'dead_letter',
      text: noticeText.replyDead(item.userId, item.entryKey, error),
      entryKey: item.entryKey,
      messageId: item.replyTo,
    });
  }

  /** Sends one chunk; true when it was delivered and recorded. */
  private async deliver(item: OutboundItem): Promise<boolean> {
    const { store, clock, metrics } = this.deps;
    const log = lazyChild(this.deps.log, { entry: item.entryKey, messageId: item.replyTo, chunk: item.chunkIndex });
    const labels = { channel: item.channelType };
    if (clock.now() >= item.expiresAt) {
      const error = `COCO_ERR_OUTBOX_EXPIRED: not delivered within its max age (created ${new Date(item.createdAt).toISOString()})`;
      await store.deadLetterOutbound(item.id, item.leaseToken, { now: clock.now(), error });
      metrics.outboxDead.inc(labels);
      log.error('reply expired before delivery; dead-lettered');
      this.notifyDead(item, error);
      return false;
    }
    const channel = this.deps.channelOf(item.entryKey);
    if (!channel) {
      // The entry is stopped or failing; wait for it without burning attempts — max age bounds the wait.
      const delay = backoffDelay(this.deps.backoff ?? DEFAULT_BACKOFF, Math.min(item.attempts, 8));
      await store.retryOutbound(item.id, item.leaseToken, {
        now: clock.now(),
        availableAt: Math.min(clock.now() + delay, item.expiresAt),
        error: `entry ${item.entryKey} is not running`,
      });
      return false;
    }
    try {
      const result = await channel.send(outgoingOf(item), item.userId, sendContextOf(item));
      const ok = await store.markSent(item.id, item.leaseToken, { now: clock.now(), platformMessageId: result.platformMessageId });
      if (ok) {
        metrics.outboxSent.inc(labels);
        this.deps.onSent(item.entryKey);
      }
      return ok;
    } catch (err) {
      const error = isCocoError(err) ? `${err.code}: ${err.message}` : describeError(err);
      const retryable = isCocoError(err) ? err.retryable : true;
      if (!retryable || item.attempts >= (this.deps.maxAttempts ?? 10)) {
        await store.deadLetterOutbound(item.id, item.leaseToken, { now: clock.now(), error });
        metrics.outboxDead.inc(labels);
        log.error({ err: error, attempts: item.attempts }, 'reply dead-lettered');
        this.notifyDead(item, error);
        return false;
      }
      const ownDelay = backoffDelay(this.deps.backoff ?? DEFAULT_BACKOFF, item.attempts);
      const platformDelay = isCocoError(err) && err.retryAfterMs ? Math.min(err.retryAfterMs, MAX_RETRY_AFTER_MS) : 0;
      const delay = Math.max(ownDelay, platformDelay);
      await store.retryOutbound(item.id, item.leaseToken, { now: clock.now(), availableAt: clock.now() + delay, error });
      metrics.outboxRetries.inc(labels);
      log.warn({ err: error, attempts: item.attempts, retryInMs: delay }, 'send failed; will retry');
      return false;
    }
  }
}

/** What `Channel.send()` is told about a reply chunk, besides its text. */
/** A stored chunk as the channel's send() or feed takes it. */
export function outgoingOf(r: NewOutbound): OutgoingMessage {
  return r.image ? { text: r.text, format: r.format, image: r.image } : { text: r.text, format: r.format };
}

export function sendContextOf(item: NewOutbound): SendContext {
  return {
    conversationId: item.conversationId,
    isGroup: item.isGroup,
    inReplyTo: item.inReplyTo,
    messageId: item.replyTo,
    idempotencyKey: item.idempotencyKey,
    chunk: { index: item.chunkIndex, count: item.chunkCount },
    replyMeta: item.replyMeta,
  };
}
