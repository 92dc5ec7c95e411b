/**
 * The long connection half of the fake Feishu (protocols.md §5): endpoint discovery, the WebSocket handshake with its
 * Handshake-* refusal headers, pbbp2 ping/pong carrying ClientConfig, event frames (optionally fragmented), ack
 * tracking and re-push of events not acked in time, one client per event in cluster mode.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { ApiAnswer } from './api.js';
import { decodeFrame, encodeFrame, headerOf, METHOD_CONTROL, METHOD_DATA, type Frame } from './frame.js';
import { Waiters } from '../waiters.js';

/** Seconds, as the real server sends them; ReconnectCount −1 = forever. */
export interface ClientConfig {
  PingInterval: number;
  ReconnectCount: number;
  ReconnectInterval: number;
  ReconnectNonce: number;
}

export const WS_PATH = '/ws/v2';

export interface LongConnectionOptions {
  appId: string;
  appSecret: string;
  clientConfig: ClientConfig;
  /** How long an event may go unacked before it is pushed again (real: 3 s). */
  ackTimeoutMs: number;
  /** Re-pushes after the first push; then the event counts as failed. */
  maxRetries: number;
  /** Which open connection gets an event: Feishu picks one at random. */
  routing: 'random' | 'round-robin';
  /** Open connections allowed per app (real: 50). */
  maxConnections: number;
  /** How long a discovered URL's ticket stays usable. */
  ticketTtlMs: number;
  /**
   * A new connection gets events only after its first frame (clients ping right away) or this long after the
   * handshake. The node SDK attaches its message handler a tick after 'open', so frames arriving in the same read
   * as the 101 answer would be lost.
   */
  readyDelayMs: number;
}

export interface ConnectionInfo {
  id: number;
  deviceId: string;
  openedAt: number;
  closedAt?: number;
  /** Pings received on this connection. */
  pings: number;
  open: boolean;
  /** Gets events: after the client's first frame or `readyDelayMs`, whichever comes first. */
  ready: boolean;
  /** Stalled by `stallConnections()`: open, but the server neither reads nor writes on it. */
  stalled: boolean;
}

export interface DeliveryAttempt {
  connectionId: number;
  at: number;
  traceId: string;
  /** SeqID of each fragment frame, in seq order. */
  seqIds: number[];
}

export interface AckRecord {
  connectionId: number;
  at: number;
  /** 200 = handled; the node SDK answers 500 when the handler threw. */
  code: number;
  /** The `data` field decoded from base64 (the handler's result, e.g. a card callback answer). */
  data?: string;
  bizRt?: string;
  /** The ack frame's headers as sent by the client. */
  headers: Record<string, string>;
}

export interface EventDelivery {
  /** The frame `message_id` header (not the IM message id): acks are matched on it. */
  readonly messageId: string;
  readonly eventId: string | undefined;
  readonly eventType: string | undefined;
  readonly event: unknown;
  readonly fragments: number;
  readonly attempts: DeliveryAttempt[];
  readonly acks: AckRecord[];
  /** `acked` after a code-200 ack; `failed` after the last retry timed out. */
  status: 'pending' | 'acked' | 'failed';
  /** Settles when acked, failed, or the fake closes; never rejects. */
  readonly done: Promise<EventDelivery>;
}

export interface PushEventOptions {
  /** Split the payload into this many `sum`/`seq` fragments (default 1). */
  fragments?: number;
  /** Send the fragments last-first, which clients must tolerate. */
  reverseFragments?: boolean;
  /** Push to this connection (when open) instead of the routing choice. */
  connectionId?: number;
}

export interface HandshakeRefusal {
  /** Handshake-Status: 403 and 514 with auth error 1000040350 are fatal to clients, others retryable. */
  status: number;
  msg?: string;
  autherrcode?: number;
}

interface Conn {
  info: ConnectionInfo;
  socket: WebSocket;
}

interface Pending {
  delivery: EventDelivery;
  payload: Buffer;
  opts: PushEventOptions;
  resolve: (d: EventDelivery) => void;
  timer?: NodeJS.Timeout;
}

export class LongConnection {
  readonly protocolErrors: string[] = [];
  readonly deliveries: EventDelivery[] = [];
  /** Calls to /callback/ws/endpoint, with their answer code. */
  readonly discoveries: { at: number; code: number; headers: Record<string, string | string[] | undefined> }[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly conns = new Map<number, Conn>();
  private readonly pending = new Map<string, Pending>();
  private readonly tickets = new Map<string, { deviceId: string; expiresAt: number }>();
  private readonly serviceId = randomInt(10_000, 1_000_000);
  private nextConnId = 1;
  private nextSeq = 1;
  private nextLogId = randomInt(1_000_000, 9_000_000) * 1000;
  private roundRobin = 0;
  private refusal: (HandshakeRefusal & { left: number }) | undefined;
  private readonly endpointFailures: { code: number; msg?: string }[] = [];
  private readonly waiters = new Waiters('fake Feishu');
  private closed = false;

  constructor(
    private readonly opts: LongConnectionOptions,
    private readonly wsBase: () => string,
  ) {}

  get clientConfig(): ClientConfig {
    return this.opts.clientConfig;
  }

  setClientConfig(config: Partial<ClientConfig>): void {
    this.opts.clientConfig = { ...this.opts.clientConfig, ...config };
  }

  get connections(): ConnectionInfo[] {
    return [...this.conns.values()].map((c) => ({ ...c.info }));
  }

  get openConnections(): number {
    return [...this.conns.values()].filter((c) => c.info.open).length;
  }

  /** Open connections that get events. */
  get readyConnections(): number {
    return [...this.conns.values()].filter((c) => c.info.open && c.info.ready && !c.info.stalled).length;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  failNextEndpoint(code: number, times: number, msg?: string): void {
    for (let i = 0; i < times; i++) this.endpointFailures.push({ code, msg });
  }

  refuseHandshakes(refusal: HandshakeRefusal, times = Infinity): void {
    this.refusal = { ...refusal, left: times };
  }

  acceptHandshakes(): void {
    this.refusal = undefined;
  }

  /** `POST /callback/ws/endpoint`: credentials in, a one-connection URL and ClientConfig out. */
  handleEndpoint(body: Buffer, headers: Record<string, string | string[] | undefined>): ApiAnswer {
    const answer = (code: number, msg: string, data: unknown = {}): ApiAnswer => {
      this.discoveries.push({ at: Date.now(), code, headers });
      // `data` is always an object: the node SDK destructures data.URL before it looks at the code.
      return { status: 200, json: { code, msg, data } };
    };
    const scripted = this.endpointFailures.shift();
    if (scripted) return answer(scripted.code, scripted.msg ?? (scripted.code === 1 ? 'system busy' : 'scripted error'));
    let req: { AppID?: unknown; AppSecret?: unknown } = {};
    try {
      req = JSON.parse(body.toString('utf8')) as typeof req;
    } catch {
      return answer(1, 'system busy');
    }
    if (req.AppID !== this.opts.appId || req.AppSecret !== this.opts.appSecret) return answer(514, 'auth failed: invalid app_id or app_secret');
    if (this.openConnections >= this.opts.maxConnections) return answer(1000040350, 'exceed connection limit');
    // Real device ids are ~18-digit decimals; randomInt spans at most 2^48, so two halves.
    const deviceId = `${randomInt(1e8, 1e9)}${randomInt(1e8, 1e9)}`;
    const ticket = randomUUID();
    this.tickets.set(ticket, { deviceId, expiresAt: Date.now() + this.opts.ticketTtlMs });
    // device_id and service_id are never the first query key: the node SDK parses the whole URL with
    // querystring, which glues the first key to the URL prefix.
    const query = new URLSearchParams({ fpid: '493', aid: '552564', device_id: deviceId, access_key: randomBytes(16).toString('hex'), service_id: String(this.serviceId), ticket });
    return answer(0, 'ok', { URL: `${this.wsBase()}${WS_PATH}?${query.toString()}`, ClientConfig: { ...this.opts.clientConfig } });
  }

  /** The HTTP server's `upgrade` event. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname !== WS_PATH || this.closed) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (this.refusal && this.refusal.left > 0) {
      this.refusal.left--;
      const { status, msg, autherrcode } = this.refusal;
      return refuse(socket, status, msg ?? 'refused', autherrcode);
    }
    const ticket = this.tickets.get(url.searchParams.get('ticket') ?? '');
    if (!ticket || ticket.expiresAt < Date.now()) return refuse(socket, 514, 'ticket invalid or expired');
    if (this.openConnections >= this.opts.maxConnections) return refuse(socket, 514, 'exceed connection limit', 1000040350);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, ticket.deviceId));
  }

  private onConnection(socket: WebSocket, deviceId: string): void {
    const info: ConnectionInfo = { id: this.nextConnId++, deviceId, openedAt: Date.now(), pings: 0, open: true, ready: false, stalled: false };
    const conn: Conn = { info, socket };
    this.conns.set(info.id, conn);
    const readyTimer = this.opts.readyDelayMs > 0 ? setTimeout(() => this.markReady(conn), this.opts.readyDelayMs) : undefined;
    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (info.stalled) return;
      this.markReady(conn);
      this.onMessage(conn, data, isBinary);
    });
    socket.on('close', () => {
      clearTimeout(readyTimer);
      this.markClosed(conn);
    });
    socket.on('error', (err) => this.protocolError(`connection ${info.id}: ${err.message}`));
    // 0: events go out in the same tick as the 101 answer.
    if (this.opts.readyDelayMs <= 0) this.markReady(conn);
    this.notify();
  }

  private markReady(conn: Conn): void {
    if (conn.info.ready || !conn.info.open) return;
    conn.info.ready = true;
    // Events that found no connection go out as soon as one is ready.
    for (const p of this.pending.values()) if (p.timer === undefined) this.dispatch(p);
    this.notify();
  }

  private markClosed(conn: Conn): void {
    if (!conn.info.open) return;
    conn.info.open = false;
    conn.info.closedAt = Date.now();
    this.notify();
  }

  private protocolError(message: string): void {
    this.protocolErrors.push(message);
    this.notify();
  }

  private onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    const id = conn.info.id;
    if (!isBinary) {
      this.protocolError(`connection ${id}: text frame (the protocol is binary pbbp2 only)`);
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(toBuffer(data));
    } catch (err) {
      this.protocolError(`connection ${id}: undecodable frame: ${(err as Error).message}`);
      return;
    }
    if (frame.service !== this.serviceId) this.protocolError(`connection ${id}: frame service ${frame.service}, expected ${this.serviceId}`);
    const type = headerOf(frame, 'type');
    if (frame.method === METHOD_CONTROL) {
      if (type !== 'ping') {
        this.protocolError(`connection ${id}: control frame of type ${String(type)}`);
        return;
      }
      conn.info.pings++;
      const pong: Frame = {
        SeqID: 0,
        LogID: 0,
        service: this.serviceId,
        method: METHOD_CONTROL,
        headers: [{ key: 'type', value: 'pong' }],
        payload: Buffer.from(JSON.stringify(this.opts.clientConfig), 'utf8'),
      };
      conn.socket.send(encodeFrame(pong));
      this.notify();
      return;
    }
    if (frame.method === METHOD_DATA) {
      this.onAck(conn, frame);
      return;
    }
    this.protocolError(`connection ${id}: frame method ${frame.method}`);
  }

  private onAck(conn: Conn, frame: Frame): void {
    const messageId = headerOf(frame, 'message_id') ?? '';
    const p = this.pending.get(messageId);
    const delivery = p?.delivery ?? this.deliveries.find((d) => d.messageId === messageId);
    if (!delivery) {
      this.protocolError(`connection ${conn.info.id}: ack for unknown message_id ${messageId}`);
      return;
    }
    let body: { code?: unknown; data?: unknown } = {};
    try {
      body = JSON.parse(Buffer.from(frame.payload ?? new Uint8Array()).toString('utf8')) as typeof body;
    } catch {
      this.protocolError(`connection ${conn.info.id}: ack payload for ${messageId} is not JSON`);
    }
    const headers = Object.fromEntries(frame.headers.map((h) => [h.key, h.value]));
    const ack: AckRecord = {
      connectionId: conn.info.id,
      at: Date.now(),
      code: typeof body.code === 'number' ? body.code : -1,
      ...(typeof body.data === 'string' ? { data: Buffer.from(body.data, 'base64').toString('utf8') } : {}),
      ...(headers.biz_rt === undefined ? {} : { bizRt: headers.biz_rt }),
      headers,
    };
    delivery.acks.push(ack);
    // Only a 200 ack settles the event; anything else is treated like no ack and the event is pushed again.
    if (ack.code === 200 && p && delivery.status === 'pending') {
      delivery.status = 'acked';
      this.settle(p);
    }
    this.notify();
  }

  pushEvent(event: unknown, opts: PushEventOptions = {}): EventDelivery {
    if (this.closed) throw new Error('fake Feishu is closed');
    const payload = Buffer.from(JSON.stringify(event), 'utf8');
    const fragments = Math.max(1, Math.min(opts.fragments ?? 1, payload.length));
    const header = (event as { header?: { event_id?: string; event_type?: string } } | undefined)?.header;
    let resolve!: (d: EventDelivery) => void;
    const done = new Promise<EventDelivery>((r) => (resolve = r));
    const delivery: EventDelivery = {
      messageId: randomUUID().replaceAll('-', ''),
      eventId: header?.event_id,
      eventType: header?.event_type,
      event,
      fragments,
      attempts: [],
      acks: [],
      status: 'pending',
      done,
    };
    this.deliveries.push(delivery);
    const p: Pending = { delivery, payload, opts, resolve };
    this.pending.set(delivery.messageId, p);
    this.dispatch(p);
    return delivery;
  }

  private pick(opts: PushEventOptions): Conn | undefined {
    const open = [...this.conns.values()].filter((c) => c.info.open && c.info.ready && !c.info.stalled && c.socket.readyState === c.socket.OPEN);
    if (opts.connectionId !== undefined) {
      const chosen = open.find((c) => c.info.id === opts.connectionId);
      if (chosen) return chosen;
    }
    if (!open.length) return undefined;
    if (this.opts.routing === 'round-robin') return open[this.roundRobin++ % open.length];
    return open[randomInt(open.length)];
  }

  /** Sends the event (all its fragments) to one connection and arms the ack timer; waits for a connection if none. */
  private dispatch(p: Pending): void {
    const conn = this.pick(p.opts);
    if (!conn) {
      p.timer = undefined;
      return;
    }
    const { delivery, payload } = p;
    const n = delivery.fragments;
    const size = Math.ceil(payload.length / n);
    const traceId = randomBytes(8).toString('hex');
    const frames: Frame[] = [];
    for (let seq = 0; seq < n; seq++) {
      frames.push({
        SeqID: this.nextSeq++,
        LogID: this.nextLogId++,
        service: this.serviceId,
        method: METHOD_DATA,
        headers: [
          { key: 'type', value: 'event' },
          { key: 'message_id', value: delivery.messageId },
          { key: 'sum', value: String(n) },
          { key: 'seq', value: String(seq) },
          { key: 'trace_id', value: traceId },
        ],
        payload: payload.subarray(seq * size, Math.min(payload.length, (seq + 1) * size)),
      });
    }
    delivery.attempts.push({ connectionId: conn.info.id, at: Date.now(), traceId, seqIds: frames.map((f) => f.SeqID) });
    for (const f of p.opts.reverseFragments ? [...frames].reverse() : frames) conn.socket.send(encodeFrame(f));
    p.timer = setTimeout(() => this.onAckTimeout(p), this.opts.ackTimeoutMs);
    this.notify();
  }

  private onAckTimeout(p: Pending): void {
    if (p.delivery.status !== 'pending') return;
    if (p.delivery.attempts.length > this.opts.maxRetries) {
      p.delivery.status = 'failed';
      this.settle(p);
      this.notify();
      return;
    }
    this.dispatch(p);
  }

  private settle(p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    this.pending.delete(p.delivery.messageId);
    p.resolve(p.delivery);
  }

  /** Drops settled deliveries from `deliveries` (pending ones stay), for long runs. */
  forgetSettled(): void {
    const pending = this.deliveries.filter((d) => d.status === 'pending');
    this.deliveries.splice(0, this.deliveries.length, ...pending);
  }

  /** Sends any bytes (or text) to open connections, for malformed-frame tests. */
  sendRaw(data: Buffer | string, connectionId?: number): number {
    const targets = [...this.conns.values()].filter((c) => c.info.open && (connectionId === undefined || c.info.id === connectionId));
    for (const c of targets) c.socket.send(data);
    return targets.length;
  }

  /**
   * Leaves every open socket open but dead, like a half-open TCP connection or a server that hung:
   * frames from the client (pings, acks) are ignored and nothing is sent to it. Returns how many.
   */
  stallConnections(): number {
    let n = 0;
    for (const c of this.conns.values()) {
      if (!c.info.open || c.info.stalled) continue;
      c.info.stalled = true;
      n++;
    }
    this.notify();
    return n;
  }

  /** Kills every open socket without a close handshake, like a network drop; returns how many. */
  dropConnections(): number {
    let n = 0;
    for (const c of this.conns.values()) {
      if (!c.info.open) continue;
      c.socket.terminate();
      // 'close' fires a tick later; the drop is effective now.
      this.markClosed(c);
      n++;
    }
    return n;
  }

  /** Resolves once `predicate` holds; re-checked on every connection, ping, push and ack. */
  until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return this.waiters.until(predicate, timeoutMs, what);
  }

  notify(): void {
    this.waiters.notify();
  }

  close(): void {
    this.closed = true;
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.resolve(p.delivery);
    }
    this.pending.clear();
    for (const c of this.conns.values()) if (c.info.open) c.socket.terminate();
    this.wss.close();
  }
}

function refuse(socket: Duplex, status: number, msg: string, autherrcode?: number): void {
  const http = status >= 400 && status <= 599 ? status : 400;
  const lines = [
    `HTTP/1.1 ${http} ${STATUS_CODES[http] ?? 'Handshake Refused'}`,
    `Handshake-Status: ${status}`,
    `Handshake-Msg: ${msg.replace(/[^\x20-\x7e]/g, '?')}`,
    ...(autherrcode === undefined ? [] : [`Handshake-Autherrcode: ${autherrcode}`]),
    'Content-Length: 0',
    'Connection: close',
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n`);
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
