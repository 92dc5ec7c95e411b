import type { EventDispatcher, Logger as SdkLogger, WSClient } from '@larksuiteoapi/node-sdk';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { FeishuApiError, FeishuHttp } from './api.js';
import { decodeFrame, encodePing, METHOD_CONTROL } from './frame.js';
import { ConnectError, SupervisedConnection, type SupervisorOptions } from '../shared/supervised-connection.js';

/**
 * The long connection (长连接, protocols.md §5), run by the official SDK's WSClient and supervised
 * here. The SDK alone gives up silently: after a fatal discovery code, after its retry count, or
 * with a socket that stays open while nothing arrives. So each connection is one WSClient with its
 * own reconnect loop off; this supervisor pings, watches what comes back, and on any sign of death
 * throws the client away and opens a new one after a jittered, growing wait, forever.
 */

export type LarkSdk = typeof import('@larksuiteoapi/node-sdk');

export interface LongConnectionOptions extends SupervisorOptions {
  sdk: LarkSdk;
  appId: string;
  appSecret: string;
  baseUrl: string;
  /** Endpoint discovery and WebSocket handshake, each. */
  timeoutMs: number;
  /** Our ping interval; unset: the interval the platform hands out (discovery and pongs). */
  pingIntervalMs?: number;
  /** A ping not answered by any frame within this long means the connection is dead. */
  pingTimeoutMs: number;
  /** One event (the parsed JSON). Resolving acks it; rejecting makes the platform push it again. */
  onEvent(payload: unknown): Promise<void>;
}

/** The platform's ping interval before it says otherwise (the SDKs' default). */
const DEFAULT_PING_INTERVAL_MS = 120_000;
/** Discovery answers meaning the app itself is refused: 514 auth failed, 403 forbidden. */
const REFUSED_CODES = new Set([403, 514]);
/** Discovery answers worth retrying at the usual pace: 1 busy, 1000040343 internal error. */
const TRANSIENT_CODES = new Set([1, 1000040343]);

interface Session {
  client: WSClient;
  /** The SDK's socket, when its internals let us see it (the watchdog needs it). */
  socket?: SocketLike;
  service?: number;
  connectedAt: number;
  lastPingAt: number;
  /** The oldest ping not followed by any inbound frame yet. */
  unansweredSince?: number;
  closed: boolean;
}

/** What we use of a `ws` WebSocket. */
interface SocketLike {
  url: string;
  readyState: number;
  on(event: 'message', fn: (data: Buffer | ArrayBuffer | Buffer[]) => void): unknown;
  on(event: 'close', fn: () => void): unknown;
  send(data: Buffer): void;
}

export class LongConnection extends SupervisedConnection<Session, LongConnectionOptions> {
  protected readonly channel = 'feishu';
  private platformPingMs?: number;
  private internalsMissing = false;

  protected watchTickMs(): number {
    return Math.max(100, Math.min(1_000, Math.floor(this.opts.pingTimeoutMs / 3)));
  }

  /** Counts an event (any type) for the status: events are arriving. */
  private noteEvent(): void {
    const now = this.opts.clock.now();
    this.status.lastEventAt = now;
    this.status.eventsReceived++;
    this.noteFrame(now);
  }

  private noteFrame(now: number): void {
    this.status.lastFrameAt = now;
    if (this.session) this.session.unansweredSince = undefined;
  }

  /** The watchdog: the SDK's own view, then our ping and its answer. */
  protected watch(): void {
    const session = this.session;
    if (!session || this.stopped) return;
    const now = this.opts.clock.now();
    const state = session.client.getConnectionStatus().state;
    if (state !== 'connected') return this.lost(session, `the SDK reports the connection ${state}`);
    if (session.unansweredSince !== undefined && now - session.unansweredSince > this.opts.pingTimeoutMs) {
      return this.lost(session, `no answer to a ping within ${Math.round(this.opts.pingTimeoutMs / 1000)} s`);
    }
    const interval = this.opts.pingIntervalMs ?? this.platformPingMs ?? DEFAULT_PING_INTERVAL_MS;
    if (session.socket && session.service !== undefined && now - session.lastPingAt >= interval && session.socket.readyState === 1) {
      try {
        session.socket.send(encodePing(session.service));
        session.lastPingAt = now;
        session.unansweredSince ??= now;
      } catch (err) {
        this.lost(session, `ping failed: ${describeError(err)}`);
      }
    }
  }

  protected close(session: Session): void {
    session.closed = true;
    try {
      session.client.close({ force: true });
    } catch {
      // Closing a half-open client must not take the supervisor down with it.
    }
  }

  /** One WSClient: endpoint discovery, handshake. Resolves once connected; rejects with a ConnectError. */
  protected connect(): Promise<Session> {
    const { sdk, clock, timeoutMs } = this.opts;
    let discovery: { code?: unknown; msg?: unknown } | undefined;
    const http = new FeishuHttp(timeoutMs, (path, body) => {
      if (!path.endsWith('/callback/ws/endpoint')) return;
      discovery = (body ?? {}) as typeof discovery;
      const ping = (body as { data?: { ClientConfig?: { PingInterval?: unknown } } } | undefined)?.data?.ClientConfig?.PingInterval;
      if (typeof ping === 'number' && ping > 0) this.platformPingMs = ping * 1000;
    });
    const dispatcher = rawDispatcher(sdk, async (payload) => {
      this.noteEvent();
      await this.opts.onEvent(payload);
    });

    let client: WSClient;
    return this.attempt({
      // start() does nothing at all for an app id the SDK does not like; never wait forever.
      timeout: { ms: timeoutMs * 2 + 1_000, message: `no connection within ${Math.round((timeoutMs * 2) / 1000)} s` },
      begin: (settle) => {
        client = new sdk.WSClient({
          appId: this.opts.appId,
          appSecret: this.opts.appSecret,
          domain: this.opts.baseUrl,
          httpInstance: http,
          logger: sdkLogger(this.opts.log),
          loggerLevel: sdk.LoggerLevel.warn,
          // Reconnecting is ours: the SDK's loop waits minutes between tries and stops on the first fatal code.
          autoReconnect: false,
          handshakeTimeoutMs: timeoutMs,
          // The SDK's own pong watchdog is the backstop; ours (above) fires first.
          wsConfig: { pingTimeout: Math.ceil((this.opts.pingTimeoutMs * 2) / 1000) },
          onReady: () => settle(),
          onError: (err) => settle(classify(discovery, err)),
        });
        client.start({ eventDispatcher: dispatcher }).catch((err: unknown) => settle(new ConnectError(describeError(err))));
      },
      teardown: () => {
        try {
          client?.close({ force: true });
        } catch {
          // already down
        }
      },
      connected: () => {
        const now = clock.now();
        const session: Session = { client, connectedAt: now, lastPingAt: now, closed: false };
        this.watchSocket(session);
        return session;
      },
    });
  }

  /** Watches the SDK's socket: every inbound frame proves life, pongs carry the ping interval, close means lost. */
  private watchSocket(session: Session): void {
    const socket = sdkSocket(session.client);
    if (!socket) {
      // Without the socket only the SDK's state and its own pong watchdog remain.
      if (!this.internalsMissing) this.opts.log.warn('feishu: the SDK socket is not reachable; ping supervision falls back to the SDK');
      this.internalsMissing = true;
      return;
    }
    session.socket = socket;
    const service = Number(new URL(socket.url).searchParams.get('service_id'));
    if (Number.isSafeInteger(service)) session.service = service;
    socket.on('message', (data) => {
      if (session.closed) return;
      this.noteFrame(this.opts.clock.now());
      session.unansweredSince = undefined;
      try {
        const frame = decodeFrame(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));
        if (frame.method !== METHOD_CONTROL || frame.headers.type !== 'pong' || !frame.payload) return;
        const ping = (JSON.parse(frame.payload.toString('utf8')) as { PingInterval?: unknown }).PingInterval;
        if (typeof ping === 'number' && ping > 0) this.platformPingMs = ping * 1000;
      } catch {
        // The SDK reports frames it cannot read; here a frame is proof of life either way.
      }
    });
    socket.on('close', () => this.lost(session, 'the socket closed'));
  }
}

/** Why a connection attempt failed, from the discovery answer we saw (the SDK's own message is vaguer). */
function classify(discovery: { code?: unknown; msg?: unknown } | undefined, err: Error): ConnectError {
  const code = typeof discovery?.code === 'number' ? discovery.code : undefined;
  const msg = typeof discovery?.msg === 'string' ? discovery.msg : '';
  if (code === undefined || code === 0) return new ConnectError(describeError(err).replace(/ and autoReconnect is disabled$/, ''), 'transient');
  if (REFUSED_CODES.has(code)) {
    return new ConnectError(
      `endpoint discovery refused the app (${code} ${msg}): check app_id and app_secret, and that the app receives events over the long connection (事件与回调 → 订阅方式)`,
      'refused',
    );
  }
  if (code === 1000040350) return new ConnectError(`endpoint discovery: ${code} ${msg || 'too many connections'} (at most 50 per app)`, 'slow');
  return new ConnectError(`endpoint discovery answered ${code} ${msg}`.trim(), TRANSIENT_CODES.has(code) ? 'transient' : 'slow');
}

/** An EventDispatcher that hands every event over as received, before the SDK's own flattening. */
function rawDispatcher(sdk: LarkSdk, handle: (payload: unknown) => Promise<void>): EventDispatcher {
  class RawDispatcher extends sdk.EventDispatcher {
    override async invoke(data: unknown): Promise<undefined> {
      await handle(data);
      // Nothing to return: the ack carries no data for message events.
      return undefined;
    }
  }
  return new RawDispatcher({ loggerLevel: sdk.LoggerLevel.warn, logger: silentSdkLogger });
}

/**
 * The SDK's socket. It is not public: the SDK keeps it in `wsConfig`. When a future SDK moves it,
 * this returns undefined and the supervisor falls back to the SDK's state and its pong watchdog.
 */
function sdkSocket(client: WSClient): SocketLike | undefined {
  const internals = client as unknown as { wsConfig?: { getWSInstance?: () => unknown } };
  const socket = internals.wsConfig?.getWSInstance?.() as Partial<SocketLike> | null | undefined;
  if (!socket || typeof socket.on !== 'function' || typeof socket.send !== 'function' || typeof socket.url !== 'string') return undefined;
  return socket as SocketLike;
}

const silentSdkLogger: SdkLogger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {}, trace: () => {} };

/**
 * The SDK's log lines, sanitized: connection URLs carry a ticket and access key, and request errors
 * may carry a bearer token. API errors are logged by the channel itself, so the SDK's copy goes to debug.
 */
export function sdkLogger(log: Logger): SdkLogger {
  // The SDK's logger proxy hands its arguments over as one array, sometimes holding another.
  const text = (args: unknown[]): string =>
    args
      .flat(3)
      .map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : typeof a === 'number' || typeof a === 'boolean' ? String(a) : ''))
      .filter((s) => s !== '')
      .join(' ')
      .replace(/\b(wss?|https?):\/\/([^\s?"']+)\?[^\s"']*/g, '$1://$2?…')
      .replace(/Bearer\s+\S+/gi, 'Bearer …')
      .replace(/\b(access_key|ticket|token|secret|app_secret|AppSecret)=[^&\s"']+/gi, '$1=…');
  const isApiError = (args: unknown[]) => args.flat(3).some((a) => a instanceof FeishuApiError);
  return {
    error: (...args: unknown[]) => (isApiError(args) ? log.debug({ sdk: 'lark' }, text(args)) : log.warn({ sdk: 'lark' }, text(args))),
    warn: (...args: unknown[]) => log.warn({ sdk: 'lark' }, text(args)),
    info: (...args: unknown[]) => log.debug({ sdk: 'lark' }, text(args)),
    debug: (...args: unknown[]) => log.trace({ sdk: 'lark' }, text(args)),
    trace: () => {},
  };
}
