import { backoffDelay } from '../../core/backoff.js';
import type { Clock } from '../../core/clock.js';
import type { TransportStatus } from '../../core/entry-status.js';
import { CocoError, describeError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';

/**
 * A platform long connection run by an SDK client and supervised here, shared by the channels
 * whose SDKs give up reconnecting (after a count, or silently) or wait without jitter. Each
 * connection is one session; when it closes or goes silent the session is thrown away and a new
 * one opened after a jittered, growing wait, forever. The subclass opens, closes and watches a
 * session and says how a failed attempt is to be treated.
 */

export interface SupervisedSession {
  connectedAt: number;
  closed: boolean;
}

export interface SupervisorOptions {
  clock: Clock;
  log: Logger;
  /** Cap of the wait between two failed attempts. */
  maxDelayMs: number;
  /** The connection ended for good (credentials refused, taken over): the entry must show an error. */
  onFatal(error: CocoError): void;
}

/** transient: retry with the usual backoff; slow: retry, but only at the cap; refused: waiting will not fix it. */
export type AttemptFailure = 'transient' | 'slow' | 'refused';

/** Why a connection attempt failed, and so how the supervisor treats it. */
export class ConnectError extends Error {
  constructor(
    message: string,
    readonly kind: AttemptFailure = 'transient',
  ) {
    super(message);
  }
}

/** A drop after a working connection is retried at once, spread over this much so clients do not stampede. */
const FIRST_RETRY_SPREAD_MS = 500;
/** Backoff attempt number that always lands on the cap. */
const AT_CAP = 64;

export abstract class SupervisedConnection<S extends SupervisedSession, O extends SupervisorOptions> {
  protected session?: S;
  protected stopped = false;
  protected readonly stopping = new AbortController();
  /** Ends the connection attempt in progress, if any (stop() must not leave one behind). */
  protected cancelAttempt?: () => void;
  private cancelWatchdog?: () => void;
  private reconnecting = false;
  protected readonly status: TransportStatus = { kind: 'websocket', state: 'connecting', reconnects: 0, failedAttempts: 0, eventsReceived: 0 };

  constructor(protected readonly opts: O) {}

  /** The channel type, for log lines and errors. */
  protected abstract readonly channel: string;
  /** Opens one session; rejects when the attempt fails. */
  protected abstract connect(): Promise<S>;
  /** Closes a session for good; must not throw. */
  protected abstract close(session: S): void;
  /** Runs every `watchTickMs()`: calls `lost()` when the current session is dead. */
  protected abstract watch(): void;
  protected abstract watchTickMs(): number;

  /** Why losing this session ends the connection for good, if it does (default: never). */
  protected finalLoss(_session: S, _reason: string): string | undefined {
    return undefined;
  }

  /**
   * One connection attempt, settled once: `begin(settle)` wires the SDK client and calls `settle()`
   * once connected or `settle(error)` when the attempt failed; later calls are ignored. A failure
   * runs `teardown()` before rejecting; success resolves with `connected()`. The attempt also fails
   * after `timeout.ms`, and when stop() cancels it.
   */
  protected attempt(opts: {
    timeout: { ms: number; message: string };
    begin(settle: (err?: ConnectError) => void): void;
    teardown(): void;
    connected(): S;
  }): Promise<S> {
    return new Promise<S>((resolve, reject) => {
      let settled = false;
      const settle = (err?: ConnectError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.cancelAttempt = undefined;
        if (err) {
          opts.teardown();
          reject(err);
          return;
        }
        resolve(opts.connected());
      };
      const timer = setTimeout(() => settle(new ConnectError(opts.timeout.message)), opts.timeout.ms);
      this.cancelAttempt = () => settle(new ConnectError('stopped'));
      try {
        opts.begin(settle);
      } catch (err) {
        settle(new ConnectError(describeError(err)));
      }
    });
  }

  /** How a failed attempt is treated: a ConnectError says; anything else is worth another try. */
  private classify(err: unknown): AttemptFailure {
    return err instanceof ConnectError ? err.kind : 'transient';
  }

  /** Opens the first connection; rejects with the reason when it fails (the SceneKeeper retries the entry). */
  async start(): Promise<void> {
    let session: S;
    try {
      session = await this.connect();
    } catch (err) {
      this.status.lastError = { message: describeError(err), at: this.opts.clock.now() };
      throw new CocoError('COCO_ERR_CHANNEL_START', `${this.channel}: long connection: ${describeError(err)}`, {
        channel: this.channel,
        retryable: this.classify(err) !== 'refused',
        cause: err,
      });
    }
    if (this.stopped) {
      this.close(session);
      return;
    }
    this.adopt(session);
    this.cancelWatchdog = this.opts.clock.every(this.watchTickMs(), () => this.watch());
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping.abort();
    this.cancelAttempt?.();
    this.cancelWatchdog?.();
    if (this.session) this.close(this.session);
    this.session = undefined;
    this.status.state = 'stopped';
    this.status.connectedSince = undefined;
    this.status.nextAttemptAt = undefined;
  }

  transportStatus(): TransportStatus {
    return { ...this.status, ...(this.status.lastError ? { lastError: { ...this.status.lastError } } : {}) };
  }

  protected adopt(session: S): void {
    this.session = session;
    Object.assign(this.status, { state: 'connected', connectedSince: session.connectedAt, failedAttempts: 0, lastFrameAt: this.opts.clock.now() });
    this.status.nextAttemptAt = undefined;
  }

  /** A session ended (closed, silent, given up by the SDK): throw it away and reconnect, unless the loss is final. */
  protected lost(session: S, reason: string): void {
    if (session.closed) return;
    this.close(session);
    if (this.stopped || session !== this.session) return;
    this.session = undefined;
    const now = this.opts.clock.now();
    Object.assign(this.status, { lastDisconnectedAt: now, lastError: { message: reason, at: now } });
    this.status.connectedSince = undefined;
    const final = this.finalLoss(session, reason);
    if (final !== undefined) return this.giveUp(final);
    this.status.state = 'reconnecting';
    this.opts.log.warn({ reason }, `${this.channel} long connection lost; reconnecting`);
    void this.reconnect();
  }

  private giveUp(message: string, cause?: unknown): void {
    this.status.state = 'stopped';
    this.cancelWatchdog?.();
    this.opts.log.error({ err: message }, `${this.channel} long connection ended`);
    this.opts.onFatal(new CocoError('COCO_ERR_CHANNEL_START', `${this.channel}: ${message}`, { channel: this.channel, retryable: true, cause }));
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      let failures = 0;
      let slow = false;
      while (!this.stopped) {
        const delay =
          failures === 0 ? Math.round(Math.random() * FIRST_RETRY_SPREAD_MS) : backoffDelay({ baseMs: 1_000, capMs: this.opts.maxDelayMs, jitter: 0.5 }, slow ? AT_CAP : failures);
        this.status.nextAttemptAt = this.opts.clock.now() + delay;
        try {
          await this.opts.clock.sleep(delay, this.stopping.signal);
        } catch {
          return;
        }
        let session: S;
        try {
          session = await this.connect();
        } catch (err) {
          if (this.stopped) return;
          failures++;
          const message = describeError(err);
          this.status.failedAttempts = failures;
          this.status.lastError = { message, at: this.opts.clock.now() };
          const failure = this.classify(err);
          // Not something waiting fixes: the entry shows the error and the SceneKeeper restarts it slowly.
          if (failure === 'refused') return this.giveUp(`long connection: ${message}`, err);
          slow = failure === 'slow';
          this.opts.log.warn({ err: message, attempt: failures }, `${this.channel} long connection attempt failed`);
          continue;
        }
        if (this.stopped) {
          this.close(session);
          return;
        }
        this.adopt(session);
        this.status.reconnects++;
        this.opts.log.info({ reconnects: this.status.reconnects }, `${this.channel} long connection re-established`);
        return;
      }
    } finally {
      this.reconnecting = false;
    }
  }
}
