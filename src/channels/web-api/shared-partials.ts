import { randomUUID } from 'node:crypto';
import type { ChannelSignals } from '../../core/channel.js';
import type { Clock } from '../../core/clock.js';

/**
 * Partial replies across the gateway processes sharing a store: a user's stream may be open on one
 * process while another runs the agent. Two kinds of signal (nothing stored, best effort):
 *
 * - Presence: a process with open streams of a conversation says so (`watch`) when the first opens,
 *   again every REFRESH_MS while any is open, and `unwatch` when the last closes. Other processes
 *   count a conversation as watched until EXPIRES_MS after the last word of each watching process,
 *   so a process that died stops counting by itself.
 * - Text: the process running the agent sends what is new of the reply (`partial`: the message id,
 *   the offset where the new text starts, the new text). A receiver that missed a piece skips the
 *   rest of that attempt until the next starts again from offset 0.
 */

/** How often a watching process repeats that it watches (a process that just started hears it within this). */
export const REFRESH_MS = 5_000;
/** A watch not repeated within this long no longer counts (the process stopped or lost its link). */
export const EXPIRES_MS = 12_000;
/**
 * Characters of reply text per partial signal: even at 7 bytes each (a control character, escaped in
 * the body and again in the notification) a piece stays under the signal's 7 800-byte limit.
 */
const PIECE_CHARS = 1_000;
/** Conversation ids per presence signal: well under the signal's size limit. */
const IDS_PER_SIGNAL = 50;
/** Reply texts kept per direction (sent, received) for the offsets; the oldest are dropped first. */
const MAX_TEXTS = 1_000;

interface PartialSignal {
  /** Conversation, message id, offset of `t` in the text so far, the text from there. */
  c: string;
  m: string;
  o: number;
  t: string;
}

export class SharedPartials {
  /** This channel instance, so a process's watches are counted apart from another's. */
  private readonly origin = randomUUID();
  /** Conversation → watching process → until when its watch counts. */
  private readonly remote = new Map<string, Map<string, number>>();
  private readonly sent = new Map<string, string>();
  private readonly received = new Map<string, string>();
  /** Messages whose reply is stored: a partial of theirs arriving late is not shown after it. */
  private readonly finished = new Map<string, string>();
  private unlisten?: () => void;
  private cancelRefresh?: () => void;

  constructor(
    private readonly signals: ChannelSignals,
    private readonly clock: Clock,
    /** The conversations with streams open in this process now. */
    private readonly watchedHere: () => string[],
    /** Shows a partial from another process on this process's streams. */
    private readonly show: (conversationId: string, partial: { messageId: string; text: string }) => void,
  ) {}

  start(): void {
    this.unlisten = this.signals.listen((topic, body) => this.receive(topic, body));
    this.cancelRefresh = this.clock.every(REFRESH_MS, () => this.announce('watch', this.watchedHere()));
  }

  stop(): void {
    this.unlisten?.();
    this.cancelRefresh?.();
    this.announce('unwatch', this.watchedHere());
  }

  /** The first stream of `conversationId` opened here. */
  opened(conversationId: string): void {
    this.announce('watch', [conversationId]);
  }

  /** The last stream of `conversationId` here closed. */
  closed(conversationId: string): void {
    this.announce('unwatch', [conversationId]);
  }

  /** Another process has a stream of the conversation open. */
  watchedElsewhere(conversationId: string): boolean {
    const watchers = this.remote.get(conversationId);
    if (!watchers) return false;
    const now = this.clock.now();
    for (const [origin, until] of watchers) if (until <= now) watchers.delete(origin);
    if (watchers.size === 0) this.remote.delete(conversationId);
    return watchers.size > 0;
  }

  /** Sends the reply so far to the other processes: what is new since the last text sent for it, in pieces that fit a signal. */
  publish(conversationId: string, messageId: string, text: string): void {
    const before = this.sent.get(messageId);
    let o = before !== undefined && text.startsWith(before) ? before.length : 0;
    while (o < text.length) {
      let end = Math.min(text.length, o + PIECE_CHARS);
      if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end--; // never half a character
      const signal: PartialSignal = { c: conversationId, m: messageId, o, t: text.slice(o, end) };
      if (!this.signals.send('partial', JSON.stringify(signal))) {
        this.sent.delete(messageId); // the next text starts again from offset 0
        return;
      }
      o = end;
      remember(this.sent, messageId, text.slice(0, end));
    }
  }

  /** The reply to `messageId` is stored: its texts are no longer needed. */
  done(messageId: string): void {
    this.sent.delete(messageId);
    this.received.delete(messageId);
    remember(this.finished, messageId, '');
  }

  private announce(topic: 'watch' | 'unwatch', conversationIds: string[]): void {
    for (let i = 0; i < conversationIds.length; i += IDS_PER_SIGNAL) {
      this.signals.send(topic, JSON.stringify({ o: this.origin, c: conversationIds.slice(i, i + IDS_PER_SIGNAL) }));
    }
  }

  private receive(topic: string, body: string): void {
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      return;
    }
    if (topic === 'partial') return this.receivePartial(value as Partial<PartialSignal>);
    const { o, c } = value as { o?: unknown; c?: unknown };
    if (typeof o !== 'string' || !Array.isArray(c)) return;
    for (const conversationId of c) {
      if (typeof conversationId !== 'string') continue;
      let watchers = this.remote.get(conversationId);
      if (topic === 'unwatch') {
        watchers?.delete(o);
        if (watchers?.size === 0) this.remote.delete(conversationId);
        continue;
      }
      if (topic !== 'watch') return;
      if (!watchers) this.remote.set(conversationId, (watchers = new Map()));
      watchers.set(o, this.clock.now() + EXPIRES_MS);
    }
  }

  private receivePartial(p: Partial<PartialSignal>): void {
    if (typeof p.c !== 'string' || typeof p.m !== 'string' || typeof p.o !== 'number' || typeof p.t !== 'string') return;
    if (this.finished.has(p.m)) return;
    const known = p.o === 0 ? '' : this.received.get(p.m);
    if (known === undefined || known.length !== p.o) return; // a piece was missed: wait for the next attempt
    const text = known + p.t;
    remember(this.received, p.m, text);
    this.show(p.c, { messageId: p.m, text });
  }
}

function remember(texts: Map<string, string>, messageId: string, text: string): void {
  texts.delete(messageId);
  texts.set(messageId, text);
  if (texts.size > MAX_TEXTS) texts.delete(texts.keys().next().value!);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
