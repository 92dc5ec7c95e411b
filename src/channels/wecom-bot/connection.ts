import type { WSClient, WsFrame } from '@wecom/aibot-node-sdk';
import type { Logger } from '../../core/logger.js';
import { ConnectError, SupervisedConnection, type SupervisorOptions } from '../shared/supervised-connection.js';

/**
 * The robot's long connection, run by the official SDK's WSClient and supervised here. The SDK's own
 * reconnect loop is switched off (it gives up after a count, and its waits carry no jitter): each
 * connection is one WSClient; when it closes or goes silent for longer than the liveness timeout it is
 * thrown away and a new one opened after a jittered, growing wait, forever. A takeover (another
 * connection for the same robot) is different: reconnecting would take the robot back and the two
 * would flap, so it ends the connection for good and is reported as the entry's error.
 */

export type WecomBotSdk = typeof import('@wecom/aibot-node-sdk');

export interface BotConnectionOptions extends SupervisorOptions {
  sdk: WecomBotSdk;
  botId: string;
  secret: string;
  wsUrl: string;
  heartbeatIntervalMs: number;
  /** Nothing at all arriving for this long means the connection is dead. */
  livenessTimeoutMs: number;
  /** One callback frame (message or event), as the SDK emitted it. */
  onFrame(frame: WsFrame): void;
}

/** Subscribe answered within this long, or the attempt failed. */
const CONNECT_TIMEOUT_MS = 10_000;

interface Session {
  client: WSClient;
  connectedAt: number;
  lastFrameAt: number;
  closed: boolean;
  /** A disconnected_event arrived: this robot is now served by another connection. */
  takenOver: boolean;
  /** Inbound frames are seen (the SDK's socket was reachable), so silence can be judged. */
  watched: boolean;
}

export class BotConnection extends SupervisedConnection<Session, BotConnectionOptions> {
  protected readonly channel = 'wecom_bot';
  private internalsMissing = false;

  protected watchTickMs(): number {
    return Math.max(100, Math.min(1_000, Math.floor(this.opts.livenessTimeoutMs / 5)));
  }

  /** Reconnecting after a takeover would take the robot back from the other host, which would do the same: a flap. */
  protected override finalLoss(session: Session, reason: string): string | undefined {
    return session.takenOver ? reason : undefined;
  }

  /** The live client, or undefined while (re)connecting or after a takeover. */
  get client(): WSClient | undefined {
    const s = this.session;
    return s && !s.closed && s.client.isConnected ? s.client : undefined;
  }

  /** When the current connection was established (req_ids of callbacks are bound to their connection's robot, not to it). */
  get connectedSince(): number | undefined {
    return this.session?.connectedAt;
  }

  private noteFrame(session: Session): void {
    const now = this.opts.clock.now();
    session.lastFrameAt = now;
    if (session === this.session) this.status.lastFrameAt = now;
  }

  protected watch(): void {
    const session = this.session;
    if (!session || this.stopped || session.closed || !session.watched) return;
    const silent = this.opts.clock.now() - session.lastFrameAt;
    if (silent > this.opts.livenessTimeoutMs) this.lost(session, `nothing received for ${Math.round(silent / 1000)} s (no ping answer)`);
  }

  protected close(session: Session): void {
    session.closed = true;
    try {
      session.client.removeAllListeners();
      session.client.disconnect();
    } catch {
      // Closing a half-open client must not take the supervisor down with it.
    }
  }

  /** One WSClient: open, subscribe. Resolves once authenticated; rejects with a ConnectError. */
  protected connect(): Promise<Session> {
    const { sdk, clock } = this.opts;
    const client = new sdk.WSClient({
      botId: this.opts.botId,
      secret: this.opts.secret,
      wsUrl: this.opts.wsUrl,
      heartbeatInterval: this.opts.heartbeatIntervalMs,
      // Reconnecting is ours (jittered, never giving up); the SDK's loop stops after a count.
      maxReconnectAttempts: 0,
      maxAuthFailureAttempts: 0,
      logger: sdkLogger(this.opts.log),
    });
    const now = clock.now();
    const session: Session = { client, connectedAt: now, lastFrameAt: now, closed: false, takenOver: false, watched: false };
    const onCallback = (frame: WsFrame) => {
      if (session.closed) return;
      this.noteFrame(session);
      this.status.eventsReceived++;
      this.status.lastEventAt = this.opts.clock.now();
      const body = frame.body as { event?: { eventtype?: unknown } } | undefined;
      if (body?.event?.eventtype === 'disconnected_event') session.takenOver = true;
      this.opts.onFrame(frame);
    };
    client.on('message', onCallback);
    client.on('event', onCallback);

    let authError: string | undefined;
    return this.attempt({
      timeout: { ms: CONNECT_TIMEOUT_MS, message: `no subscription within ${CONNECT_TIMEOUT_MS / 1000} s` },
      begin: (settle) => {
        client.on('authenticated', () => settle());
        client.on('error', (err: Error) => {
          if (/Authentication failed/.test(err.message)) authError = err.message;
          if (authError) settle(new ConnectError(`${authError}: check bot_id and secret (智能机器人 → API 模式 → 长连接)`, 'refused'));
        });
        client.on('disconnected', (reason: string) =>
          settle(authError === undefined ? new ConnectError(`closed before subscribing (${reason})`) : new ConnectError(authError, 'refused')),
        );
        client.connect();
      },
      teardown: () => {
        session.closed = true;
        try {
          client.removeAllListeners();
          client.disconnect();
        } catch {
          // already down
        }
      },
      connected: () => {
        session.connectedAt = session.lastFrameAt = clock.now();
        client.on('disconnected', (reason: string) =>
          this.lost(session, session.takenOver ? `another connection took over this robot (disconnected_event): ${reason}` : `the connection closed (${reason})`),
        );
        this.watchSocket(session);
        return session;
      },
    });
  }

  /** Every inbound frame (ping answers included) proves the connection alive; the SDK hides them, its socket does not. */
  private watchSocket(session: Session): void {
    const internals = session.client as unknown as { wsManager?: { ws?: { on?: (e: string, fn: () => void) => unknown } | null } };
    const socket = internals.wsManager?.ws;
    if (!socket || typeof socket.on !== 'function') {
      // Without the socket only callbacks count; a quiet robot would look dead, so the SDK's own ping check stays the judge.
      if (!this.internalsMissing) this.opts.log.warn('wecom_bot: the SDK socket is not reachable; liveness falls back to the SDK');
      this.internalsMissing = true;
      return;
    }
    session.watched = true;
    socket.on('message', () => {
      if (!session.closed) this.noteFrame(session);
    });
  }
}

/** The SDK's log lines without secrets: the subscribe frame carries the secret, callbacks carry user content. */
export function sdkLogger(log: Logger) {
  const text = (args: unknown[]): string =>
    args
      .map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : typeof a === 'number' || typeof a === 'boolean' ? String(a) : ''))
      .filter((s) => s !== '')
      .join(' ')
      .replace(/("?secret"?\s*[:=]\s*"?)[^",\s}]+/gi, '$1…')
      .replace(/body=\{.*$/s, 'body=…');
  return {
    debug: (message: string, ...args: unknown[]) => log.trace({ sdk: 'wecom-aibot' }, text([message, ...args])),
    info: (message: string, ...args: unknown[]) => log.debug({ sdk: 'wecom-aibot' }, text([message, ...args])),
    warn: (message: string, ...args: unknown[]) => log.debug({ sdk: 'wecom-aibot' }, text([message, ...args])),
    error: (message: string, ...args: unknown[]) => log.debug({ sdk: 'wecom-aibot' }, text([message, ...args])),
  };
}
