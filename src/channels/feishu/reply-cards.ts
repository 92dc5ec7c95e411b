import type { ChannelState, ReplyPreview } from '../../core/channel.js';
import type { Clock } from '../../core/clock.js';
import { CocoError, describeError } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
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
 *   mode and sends it where the reply goes (one interactive message naming the card_id). Later
 *   texts replace the card's reply element, which the client types out. One request per card at a
 *   time; the newest text waits, the ones between are never needed. All of the entry's cards share
 *   one budget of card calls (Feishu allows 1 000 a minute per API).
 * - `send()` of the reply's first chunk finishes the card (`finish`): the whole card replaced by the
 *   finished one, streaming mode off. The rest of a long reply follows as messages.
 * - Best effort until then: a refused preview only means the reply goes out as a message of its own.
 *   A card that was shown but cannot be finished is reported, and the reply sent as a message.
 *
 * A shown card is also noted in the entry's channel state (shared by the processes sharing the
 * store), so the answer finishes it even when another process sends it, or the agent runs again
 * after a restart: the card then fills in from where it was. Its calls' sequences come from the
 * clock (10 ms steps since the card was made, never less than the last one plus one), so a process
 * that did not make the card still goes past every sequence used on it.
 */

/** Permission refusals: the app cannot use card entities until someone grants cardkit:card:write. */
const NO_PERMISSION = new Set([99991672, 99991679]);
/** Cards untouched this long are forgotten (their reply will not come through this process). */
const CARD_IDLE_MS = 30 * 60_000;
const MAX_CARDS = 2_000;
/** A sequence step: 10 ms of the clock (14 days of them stay below 2^31). */
const SEQUENCE_STEP_MS = 10;
/** A card picked up from the channel state goes this far past its clock sequence: 10 s of clock difference between processes. */
const SEQUENCE_MARGIN = 1_000;
/** Shown cards are noted in this many channel-state slots (a message's slot is a hash of its id; a newer card takes an older one's). */
const STATE_SLOTS = 4_096;

/** Where the card message goes, as the channel sends any reply there. */
export type SendCard = (cardId: string, uuid: string) => Promise<string | undefined>;

interface CardState {
  /** Our id of the message the card answers. */
  forMessage: string;
  /** Sends the card message for this reply (where the reply goes). */
  sendCard: SendCard;
  cardId?: string;
  /** The message showing the card, once sent. */
  messageId?: string;
  /** When the card was made (epoch ms): its sequences count from here. */
  createdAt: number;
  /** The last sequence used on the card; every call takes a larger one. */
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

/** What the channel state keeps of a shown card, under its message's slot. */
interface NotedCard {
  /** Our id of the message the card answers (a slot is shared by many). */
  for: string;
  cardId: string;
  messageId: string;
  createdAt: number;
}

export interface ReplyCardsDeps {
  cardKit: FeishuCardKit;
  /** Where shown cards are noted for other processes and restarts. */
  state: ChannelState;
  /** The budget of card calls, shared by the processes sharing the store. */
  limiter: RateLimiter;
  clock: Clock;
  log: Logger;
  /** The least time between two texts of one card. */
  intervalMs: number;
  /** How long the agent must have been writing before its reply gets a card. */
  openDelayMs: number;
  /** Withdraws (撤回) one of the bot's messages. */
  withdraw(messageId: string): Promise<void>;
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
      state = this.newState(messageId, sendCard);
      this.cards.set(messageId, state);
      // A card this reply already has (made before a restart, or by another process) fills in from where it was.
      const s = state;
      s.inFlight = this.restore(messageId, s).finally(() => {
        s.inFlight = undefined;
        this.pump(s);
      });
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
   * Shows the finished reply (the card JSON `render` gives, asked for only then) in the card the
   * preview opened, if one is showing: the card's message id, or undefined when there is no card to
   * finish (the reply then goes out as messages). Throws a retryable send error when Feishu could not
   * be reached; the outbox tries again.
   */
  async finish(messageId: string, render: () => string): Promise<string | undefined> {
    let s = this.cards.get(messageId);
    if (!s) {
      s = this.newState(messageId, async () => undefined);
      s.live = false;
      await this.restore(messageId, s);
      if (s.cardId === undefined) return undefined;
      this.cards.set(messageId, s);
    }
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
      await this.deps.cardKit.update(s.cardId, render(), this.nextSequence(s));
    } catch (err) {
      // Unreachable, failing, rate-limited (or no token): the outbox tries again.
      if (!(err instanceof FeishuApiError) || err.status === 0 || err.status >= 500) throw sendError(err);
      if (isRateLimited(err)) throw sendError(err, (err.resetSeconds ?? 1) * 1000);
      // Feishu will not take it (the card expired, or was withdrawn): the reply goes as a message after all.
      this.deps.log.warn({ err: describeError(err), cardId: s.cardId, msgId: s.messageId }, 'feishu: the reply card could not be finished; the reply is sent as a message');
      this.forget(messageId);
      await this.clearNote(messageId);
      return undefined;
    }
    s.finished = true;
    s.touchedAt = this.deps.clock.now();
    return s.messageId;
  }

  private newState(forMessage: string, sendCard: SendCard): CardState {
    const now = this.deps.clock.now();
    return { forMessage, sendCard, createdAt: now, sequence: 0, live: true, failed: false, finished: false, notBefore: 0, touchedAt: now };
  }

  /** The next sequence of the card: its clock step, and always above the last one used here. */
  private nextSequence(s: CardState): number {
    s.sequence = Math.max(s.sequence + 1, Math.floor((this.deps.clock.now() - s.createdAt) / SEQUENCE_STEP_MS) + 1);
    return s.sequence;
  }

  /** Notes a shown card in the channel state; best effort (without it only this process can finish the card). */
  private async note(s: CardState): Promise<void> {
    const noted: NotedCard = { for: s.forMessage, cardId: s.cardId!, messageId: s.messageId!, createdAt: s.createdAt };
    try {
      await this.deps.state.set(slotOf(s.forMessage), JSON.stringify(noted));
    } catch (err) {
      this.deps.log.debug({ err: describeError(err), cardId: s.cardId }, 'feishu reply card not noted in the channel state');
    }
  }

  /** Takes over the card noted for `forMessage`, if any: its sequences then start past what any process used. */
  private async restore(forMessage: string, s: CardState): Promise<void> {
    let noted: NotedCard | undefined;
    try {
      noted = await this.readNote(forMessage);
    } catch (err) {
      this.deps.log.debug({ err: describeError(err) }, 'feishu reply card: the channel state could not be read');
      return;
    }
    if (!noted) return;
    s.cardId = noted.cardId;
    s.messageId = noted.messageId;
    s.createdAt = noted.createdAt;
    s.sequence = Math.floor((this.deps.clock.now() - noted.createdAt) / SEQUENCE_STEP_MS) + SEQUENCE_MARGIN;
  }

  /** The reply to `messageId` is delivered in full: its card is done with. */
  async delivered(messageId: string): Promise<void> {
    this.forget(messageId);
    await this.clearNote(messageId);
  }

  /**
   * The card's note is cleared, so a later reply to the same message (a retry from the dead letters) is
   * sent anew; a note of another message that took the slot since is left alone.
   */
  private async clearNote(messageId: string): Promise<void> {
    try {
      if ((await this.readNote(messageId)) !== undefined) await this.deps.state.set(slotOf(messageId), '');
    } catch (err) {
      this.deps.log.debug({ err: describeError(err) }, 'feishu reply card note not cleared');
    }
  }

  /** The note of `forMessage`'s card, if its slot holds one. Throws when the state cannot be read. */
  private async readNote(forMessage: string): Promise<NotedCard | undefined> {
    const value = await this.deps.state.get(slotOf(forMessage));
    let noted: Partial<NotedCard> | undefined;
    try {
      noted = value ? (JSON.parse(value) as Partial<NotedCard>) : undefined;
    } catch {
      return undefined;
    }
    if (noted?.for !== forMessage || typeof noted.cardId !== 'string' || typeof noted.messageId !== 'string' || typeof noted.createdAt !== 'number') return undefined;
    return noted as NotedCard;
  }

  private forget(messageId: string): void {
    this.cards.get(messageId)?.cancelTimer?.();
    this.cards.delete(messageId);
  }

  /**
   * The message was finished without a reply (its sender recalled it while the agent wrote): a card
   * this process opened with part of an answer is withdrawn, so none of it stays. Best effort; a card
   * another process opened is left.
   */
  async abandon(messageId: string): Promise<void> {
    const s = this.cards.get(messageId);
    if (!s) return;
    s.live = false;
    s.pending = undefined;
    s.cancelTimer?.();
    await s.inFlight;
    this.cards.delete(messageId);
    if (!s.finished && s.messageId) await this.deps.withdraw(s.messageId);
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
      await this.note(s);
      return;
    }
    if (!s.live) return;
    await this.deps.cardKit.streamText(s.cardId, REPLY_ELEMENT_ID, text, this.nextSequence(s));
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

/** The channel-state name of a message's card note: one of STATE_SLOTS, so the notes never outgrow a fixed number of rows. */
function slotOf(messageId: string): string {
  return `reply-card:${parseInt(sha256Hex(messageId).slice(0, 8), 16) % STATE_SLOTS}`;
}
