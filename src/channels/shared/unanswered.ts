import type { ChannelSignals } from '../../core/channel.js';
import type { Clock } from '../../core/clock.js';

/** How long a message is remembered: past any platform's hold (WeChat retries for 15 s). */
const KEEP_MS = 5 * 60_000;
/** At most this many are remembered; the oldest go first. */
const MAX_IDS = 10_000;
const TOPIC = 'unanswered';

/**
 * Messages the gateway finished without a reply (a hand-over, a sender `access` refuses): a channel
 * that holds the platform's request, or its client's, open for the answer lets it go at once
 * instead of waiting out its time, and never answers it with a placeholder. Heard in this process
 * from the heartbeat (`Channel.finishedWithoutReply`), and from the other processes sharing the
 * store through the entry's signals (best effort: a missed one only costs the wait).
 */
export class UnansweredMessages {
  /** Message id → when it was heard; insertion order is age order. */
  private readonly ids = new Map<string, number>();
  private readonly listeners = new Set<(messageId: string) => void>();
  private unlisten?: () => void;

  constructor(
    private readonly signals: ChannelSignals,
    private readonly clock: Clock,
  ) {}

  start(): void {
    this.unlisten = this.signals.listen((topic, body) => {
      if (topic === TOPIC) this.add(body);
    });
  }

  /** Stops listening to the other processes, and drops every subscriber. */
  stop(): void {
    this.unlisten?.();
    this.listeners.clear();
  }

  /** The heartbeat finished `messageId` here without a reply: told to the other processes too. */
  heard(messageId: string): void {
    this.add(messageId);
    this.signals.send(TOPIC, messageId);
  }

  has(messageId: string): boolean {
    const at = this.ids.get(messageId);
    return at !== undefined && this.clock.now() - at < KEEP_MS;
  }

  /** Calls `listener` with each message heard from now on. Returns an unsubscribe. */
  subscribe(listener: (messageId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private add(messageId: string): void {
    const now = this.clock.now();
    this.ids.delete(messageId);
    this.ids.set(messageId, now);
    for (const [id, at] of this.ids) {
      if (this.ids.size <= MAX_IDS && now - at < KEEP_MS) break;
      this.ids.delete(id);
    }
    for (const listener of this.listeners) listener(messageId);
  }
}
