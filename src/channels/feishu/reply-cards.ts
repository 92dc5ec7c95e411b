import type { ReplyPreview } from '../../core/channel.js';
import type { Clock } from '../../core/clock.js';
import { CocoError, describeError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { RateLimiter } from '../../core/rate-limiter.js';
import { FeishuApiError, isRateLimited, sendError } from './api.js';
import type { FeishuCardKit } from './card-kit.js';
import { previewText, REPLY_ELEMENT_ID, streamingCard } from './streaming-card.js';

/**
 * Streaming replies on Feishu (show_preview): the reply shown in a card while the agent writes it,
 * and finished in that same card, so the user sees one message that fills in, never a preview and
 * then the answer again.
 *
 * - A reply that is done within `openDelayMs` of its first words gets no card: it goes out as a
 *   message, as without a preview. Past that, the text so far creates a card entity in streaming
 *   mode and sends it where the reply goes (one interactive message naming the card_id). Later texts replace the card's reply element, which the
 *   client types out. One request per card at a time; the newest text waits, the ones between are
 *   never needed. All entries' cards of the app share one budget of card calls (Feishu allows 1 000 a
 *   minute per API).
 * - `send()` of the reply's first chunk finishes the card (`finish`): the whole card replaced by the
 *   finished one, streaming mode off. The rest of a long reply follows as messages.
 * - Best effort until then: a refused preview only means the reply goes out as a message of its own.
 *   A card that was shown but cannot be finished is reported, and the reply sent as a message.
 *
 * The cards live in this process's memory: a reply sent by another process, or after a restart,
 * goes out as a message, and the card keeps what it showed until Feishu ends its streaming mode.
 */

/** Permission refusals: the app cannot use card entities until someone grants cardkit:card:write. */
const NO_PERMISSION = new Set([99991672, 99991679]);
/** Cards untouched this long are forgotten (their reply will not come through this process). */
const CARD_IDLE_MS = 30 * 60_000;
const MAX_CARDS = 2_000;

/** Where the card message goes, as the channel sends any reply there. */
export type SendCard = (cardId: string, uuid: string) => Promise<string | undefined>;

interface CardState {
  /** Sends the card message for this reply (where the reply goes). */
  sendCard: SendCard;
  cardId?: string;
  /** The message showing the card, once sent. */
  messageId?: string;
  /** The last sequence used on the card; every call takes the next one. */
  sequence: number;
  /** The newest text not shown yet. */
  pending?: string;
  inFlight?: Promise<void>;
  /** Previews are welcome (between startPreview and stop or finish). */
  live: boolean;
  /** The card could not be created or sent: the reply goes as a message. */
  failed: boolean;
  /** The finished card is shown (an earlier try of the same chunk did it). */
  finished: boolean;
  /** No call before this time (a rate limit), and the timer that comes back then. */
  notBefore: number;
  cancelTimer?: () => void;
  touchedAt: number;
}

export interface ReplyCardsDeps {
  cardKit: FeishuCardKit;
  /** The budget of card calls, shared by the processes sharing the store. */
  limiter: RateLimiter;
  clock: Clock;
  log: Logger;
  /** The least time between two texts of one card. */
  intervalMs: number;
  /** How long the agent must have been writing before its reply gets a card. */
  openDelayMs: number;
}

export class ReplyCards {
  /** By our id of the message being answered. */
  private readonly cards = new Map<string, CardState>();
  private disabled = false;

  constructor(private readonly deps: ReplyCardsDeps) {}

  /** A preview for the reply to `messageId`, shown through `sendCard`; undefined once the app turned out to lack the permission. */
  preview(messageId: string, sendCard: SendCard): ReplyPreview | undefined {
    if (this.disabled) return undefined;
    this.forgetIdle();
    let state = this.cards.get(messageId);
    if (!state) {
      state = { sendCard, sequence: 0, live: true, failed: false, finished: false, notBefore: 0, touchedAt: this.deps.clock.now() };
      this.cards.set(messageId, state);
    }
    const s = state;
    // A new run of the agent (a retry) writes into the same card, from its first words.
    s.live = !s.finished;
    return {
      intervalMs: this.deps.intervalMs,
      update: (textSoFar) => {
        if (!s.live || s.failed) return;
        const text = previewText(textSoFar);
        if (text === '') return;
        s.pending = text;
        s.touchedAt = this.deps.clock.now();
        // The first words wait: a reply done before the card would open goes as a plain message.
        if (s.cardId === undefined && s.notBefore === 0) s.notBefore = s.touchedAt + this.deps.openDelayMs;
        this.pump(s);
      },
      stop: () => {
        s.live = false;
        s.pending = undefined;
        s.cancelTimer?.();
      },
    };
  }

  /**
   * Shows the finished reply in the card the preview opened, if one is showing: the card's message id,
   * or undefined when there is no card to finish (the reply then goes out as messages). Throws a
   * retryable send error when Feishu could not be reached; the outbox tries again.
   */
  async finish(messageId: string, cardJson: string): Promise<string | undefined> {
    const s = this.cards.get(messageId);
    if (!s) return undefined;
    s.live = false;
    s.pending = undefined;
    s.cancelTimer?.();
    await s.inFlight;
    if (s.finished) return s.messageId;
    if (!s.cardId || !s.messageId || s.failed) {
      this.cards.delete(messageId);
      return undefined;
    }
    try {
      await this.deps.cardKit.update(s.cardId, cardJson, ++s.sequence);
    } catch (err) {
      // Unreachable, failing, rate-limited (or no token): the outbox tries again.
      if (!(err instanceof FeishuApiError) || err.status === 0 || err.status >= 500) throw sendError(err);
      if (isRateLimited(err)) throw sendError(err, (err.resetSeconds ?? 1) * 1000);
      // Feishu will not take it (the card expired, or was withdrawn): the reply goes as a message after all.
      this.deps.log.warn({ err: describeError(err), cardId: s.cardId, msgId: s.messageId }, 'feishu: the reply card could not be finished; the reply is sent as a message');
      this.cards.delete(messageId);
      return undefined;
    }
    s.finished = true;
    s.touchedAt = this.deps.clock.now();
    return s.messageId;
  }

  /** The reply to `messageId` is delivered in full: its card is done with. */
  forget(messageId: string): void {
    this.cards.get(messageId)?.cancelTimer?.();
    this.cards.delete(messageId);
  }

  /** The channel stopped: no more calls. */
  close(): void {
    for (const s of this.cards.values()) {
      s.live = false;
      s.cancelTimer?.();
    }
    this.cards.clear();
  }

  /** Shows the newest pending text, one request at a time, within the rate budget. */
  private pump(s: CardState): void {
    if (s.inFlight || !s.live || s.failed || s.pending === undefined || this.disabled) return;
    const wait = s.notBefore - this.deps.clock.now();
    if (wait > 0) {
      s.cancelTimer ??= this.deps.clock.timeout(wait, () => {
        s.cancelTimer = undefined;
        this.pump(s);
      });
      return;
    }
    const text = s.pending;
    s.pending = undefined;
    s.inFlight = this.show(s, text)
      .catch((err: unknown) => this.previewFailed(s, err))
      .finally(() => {
        s.inFlight = undefined;
        this.pump(s);
      });
  }

  private async show(s: CardState, text: string): Promise<void> {
    const slot = await this.deps.limiter.take();
    if (!slot.ok) {
      s.pending ??= text;
      s.notBefore = this.deps.clock.now() + slot.retryAfterMs;
      return;
    }
    if (s.cardId === undefined) {
      const cardId = await this.deps.cardKit.create(streamingCard(text));
      s.cardId = cardId;
      // The uuid makes the card's message once-only, so a retried send never shows two cards.
      s.messageId = await s.sendCard(cardId, `card-${cardId}`.slice(0, 50));
      if (s.messageId === undefined) throw new CocoError('COCO_ERR_CHANNEL_SEND', 'feishu: the card message has no message_id', { channel: 'feishu' });
      return;
    }
    if (!s.live) return;
    await this.deps.cardKit.streamText(s.cardId, REPLY_ELEMENT_ID, text, ++s.sequence);
  }

  private previewFailed(s: CardState, err: unknown): void {
    const code = err instanceof FeishuApiError ? err.code : undefined;
    if (code !== undefined && NO_PERMISSION.has(code)) {
      this.disabled = true;
      this.deps.log.warn(
        { err: describeError(err) },
        'feishu show_preview: Feishu refused the streaming card; the app needs the cardkit:card:write permission (权限管理 → 创建与更新卡片). Replies go out as messages until the entry restarts',
      );
    } else {
      this.deps.log.debug({ err: describeError(err), cardId: s.cardId }, 'feishu reply preview refused');
    }
    if (err instanceof FeishuApiError && isRateLimited(err) && (s.messageId !== undefined || s.cardId === undefined)) {
      // A later text may still go once the limit lets it.
      s.notBefore = this.deps.clock.now() + (err.resetSeconds ?? 1) * 1000;
      return;
    }
    if (s.messageId === undefined) s.failed = true;
    else s.live = false; // shown, but no more updates: the finished card still replaces it
  }

  private forgetIdle(): void {
    const now = this.deps.clock.now();
    if (this.cards.size < MAX_CARDS) {
      for (const [id, s] of this.cards) if (now - s.touchedAt > CARD_IDLE_MS && !s.inFlight) this.forget(id);
      return;
    }
    // Full: the oldest go first.
    for (const id of [...this.cards.keys()].slice(0, Math.ceil(MAX_CARDS / 10))) this.forget(id);
  }
}
