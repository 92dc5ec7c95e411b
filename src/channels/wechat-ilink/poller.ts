import type { ChannelState } from '../../core/channel.js';
import type { Clock } from '../../core/clock.js';
import type { TransportStatus } from '../../core/entry-status.js';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { IlinkError, SESSION_EXPIRED, type IlinkApi } from './api.js';

/** Where the cursor lives in the entry's channel state. */
export const CURSOR_STATE = 'get_updates_buf';

/** iLink's own figures (protocols: personal WeChat): retry after 2 s, after 3 failures in a row wait 30 s, pause an hour on -14. */
const RETRY_MS = 2_000;
const BACKOFF_AFTER = 3;
const BACKOFF_MS = 30_000;
export const SESSION_PAUSE_MS = 3_600_000;
/** The client waits this much longer than iLink says it holds a poll, so iLink's own empty answer comes first. */
const POLL_MARGIN_MS = 5_000;

export interface PollerOptions {
  api: IlinkApi;
  state: ChannelState;
  clock: Clock;
  log: Logger;
  pollTimeoutMs: number;
  /** Stores one batch's messages; resolves once each is durable. A rejection keeps the cursor where it was. */
  onMessages(msgs: unknown[]): Promise<void>;
}

/**
 * The `getupdates` long poll. The cursor moves on (and is saved in the store) only after every
 * message of the batch it covers was stored, so a crash or a store failure makes iLink deliver the
 * batch again, and the mailbox's dedup drops what it already holds: none lost, none answered twice.
 */
export class IlinkPoller {
  private cursor = '';
  private pollMs: number;
  private failures = 0;
  private pausedUntil = 0;
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;
  readonly status: TransportStatus = { kind: 'long-poll', state: 'connecting', reconnects: 0, failedAttempts: 0, eventsReceived: 0 };

  constructor(private readonly opts: PollerOptions) {
    this.pollMs = opts.pollTimeoutMs;
  }

  /** Reads the saved cursor (a store failure fails the start) and starts polling. */
  async start(): Promise<void> {
    this.cursor = (await this.opts.state.get(CURSOR_STATE)) ?? '';
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    this.status.state = 'stopped';
  }

  /** Until when iLink said the session is over (-14): sends wait too. 0 when not paused. */
  sessionPausedUntil(): number {
    return this.pausedUntil > this.opts.clock.now() ? this.pausedUntil : 0;
  }

  /** A send was told the session is over: polls pause as well. */
  sessionExpired(error: IlinkError): void {
    this.pause(error);
  }

  private async run(): Promise<void> {
    const { clock, log } = this.opts;
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const wait = this.pausedUntil - clock.now();
      if (wait > 0 && !(await this.sleep(wait))) return;
      try {
        const updates = await this.opts.api.getUpdates(this.cursor, this.pollMs + POLL_MARGIN_MS, signal);
        this.alive(updates.msgs.length);
        if (updates.longPollMs) this.pollMs = updates.longPollMs;
        if (updates.msgs.length > 0 && !(await this.stored(updates.msgs))) continue;
        if (updates.cursor && updates.cursor !== this.cursor) await this.save(updates.cursor);
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof IlinkError && err.kind === 'api' && err.code === SESSION_EXPIRED) {
          this.pause(err);
          continue;
        }
        this.failures++;
        const delay = this.failures >= BACKOFF_AFTER ? BACKOFF_MS : RETRY_MS;
        this.lost(describeError(err), delay);
        log.warn({ err: describeError(err), failures: this.failures, retryInMs: delay }, 'wechat_ilink getupdates failed');
        if (!(await this.sleep(delay))) return;
      }
    }
  }

  /**
   * Hands a batch to the mailbox. When it cannot take one (the store is down), the cursor stays and
   * the same poll is asked again after a wait: iLink hands the batch out again, and what was stored
   * of it is dropped as a duplicate.
   */
  private async stored(msgs: unknown[]): Promise<boolean> {
    try {
      await this.opts.onMessages(msgs);
      return true;
    } catch (err) {
      if (this.stopping.signal.aborted) return false;
      this.opts.log.error({ err: describeError(err), batch: msgs.length }, 'wechat_ilink messages not stored; asking iLink for them again shortly');
      await this.sleep(RETRY_MS);
      return false;
    }
  }

  /** Saves the new cursor; if the store cannot take it the poll goes on, and a restart gets the batch again (deduplicated). */
  private async save(cursor: string): Promise<void> {
    this.cursor = cursor;
    try {
      await this.opts.state.set(CURSOR_STATE, cursor);
    } catch (err) {
      this.opts.log.warn({ err: describeError(err) }, 'wechat_ilink cursor not saved; after a restart iLink resends from the last saved one');
    }
  }

  private alive(events: number): void {
    const now = this.opts.clock.now();
    if (this.status.state !== 'connected') {
      if (this.status.state === 'reconnecting') this.status.reconnects++;
      this.status.state = 'connected';
      this.status.connectedSince = now;
      this.status.nextAttemptAt = undefined;
    }
    this.failures = 0;
    this.status.failedAttempts = 0;
    this.status.lastFrameAt = now;
    if (events > 0) {
      this.status.lastEventAt = now;
      this.status.eventsReceived += events;
    }
  }

  private lost(message: string, retryInMs: number): void {
    const now = this.opts.clock.now();
    if (this.status.state === 'connected') this.status.lastDisconnectedAt = now;
    this.status.state = 'reconnecting';
    this.status.failedAttempts = this.failures;
    this.status.lastError = { message, at: now };
    this.status.nextAttemptAt = now + retryInMs;
  }

  private pause(error: IlinkError): void {
    if (this.sessionPausedUntil()) return;
    this.pausedUntil = this.opts.clock.now() + SESSION_PAUSE_MS;
    this.failures = 0;
    this.lost(`session expired (${error.message}): calls paused for an hour; log in again with the QR code if it lasts`, SESSION_PAUSE_MS);
    this.opts.log.error({ err: error.message, until: new Date(this.pausedUntil).toISOString() }, 'wechat_ilink session expired; pausing an hour');
  }

  /** False when stop() ended the wait. */
  private async sleep(ms: number): Promise<boolean> {
    try {
      await this.opts.clock.sleep(ms, this.stopping.signal);
      return true;
    } catch {
      return false;
    }
  }
}
