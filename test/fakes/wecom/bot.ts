/**
 * The intelligent robot's long connection (protocols.md §3.2), shaped by what the official `@wecom/aibot-node-sdk`
 * sends and expects: JSON text frames `{cmd?, headers: {req_id}, body?, errcode?, errmsg?}`; `aibot_subscribe` first;
 * `ping` heartbeats; `aibot_msg_callback` / `aibot_event_callback` pushes; replies with the callback's req_id, each
 * answered by an ack `{headers: {req_id}, errcode, errmsg}`; one live connection per robot (a newer one takes over and
 * the older gets `disconnected_event`).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { isRecord } from '../http.js';
import { botEventBody, encryptMedia } from './bot-messages.js';

export const BOT_CMD = {
  SUBSCRIBE: 'aibot_subscribe',
  PING: 'ping',
  RESPOND: 'aibot_respond_msg',
  RESPOND_WELCOME: 'aibot_respond_welcome_msg',
  RESPOND_UPDATE: 'aibot_respond_update_msg',
  SEND: 'aibot_send_msg',
  UPLOAD_INIT: 'aibot_upload_media_init',
  UPLOAD_CHUNK: 'aibot_upload_media_chunk',
  UPLOAD_FINISH: 'aibot_upload_media_finish',
  MSG_CALLBACK: 'aibot_msg_callback',
  EVENT_CALLBACK: 'aibot_event_callback',
} as const;

/**
 * Errcodes of refused frames. The platform documents none for the long connection; these follow WeCom's general
 * table (40001 bad secret, 40004 bad media type, 40005 bad file type, 40007 bad media_id, 40008 bad message type,
 * 40009 bad image size, 40058 bad parameter). errmsg says what exactly was wrong.
 */
export const BOT_ERR = { CREDENTIAL: 40001, MEDIA_TYPE: 40004, FILE_TYPE: 40005, MEDIA_ID: 40007, MSGTYPE: 40008, IMAGE_SIZE: 40009, PARAM: 40058 } as const;

/** Limits from the SDK's type docs and protocols.md §3.2. */
export const STREAM_CONTENT_LIMIT_BYTES = 20_480;
const MAX_MSG_ITEMS = 10;
const CHUNK_LIMIT_BYTES = 512 * 1024;
const MAX_CHUNKS = 100;
const MEDIA_TYPES = new Set(['file', 'image', 'voice', 'video']);
const MEDIA_URL_TTL_MS = 5 * 60_000;
/** An uploaded media_id is valid for 3 days. */
const MEDIA_ID_TTL_MS = 3 * 24 * 3600_000;
/** Images (an upload of type image, a stream's msg_item): JPG or PNG, at most 10 MB, over 5 bytes (素材管理 limits). */
const IMAGE_LIMIT_BYTES = 10 * 1024 * 1024;
const MIN_MEDIA_BYTES = 6;

export type CloseReason = 'client' | 'dropped' | 'taken-over' | 'auth-failed' | 'subscribe-timeout' | 'protocol' | 'fake-closed';

export interface BotConnectionInfo {
  id: number;
  openedAt: number;
  closedAt?: number;
  open: boolean;
  /** A successful `aibot_subscribe` happened on it. */
  subscribed: boolean;
  /** `bot_id` and any extra subscribe fields (`scene`, `plug_version`), secret left out. */
  subscribe?: Record<string, unknown>;
  pings: number;
  /** Pings left unanswered by `ignorePings`. */
  pingsIgnored: number;
  closeReason?: CloseReason;
}

/** One frame the client sent with a callback's (or its own) req_id, and how it was answered. */
export interface BotReplyRecord {
  cmd: string;
  reqId: string;
  body: Record<string, unknown>;
  connectionId: number;
  at: number;
  /** The ack's errcode; undefined when the ack was withheld. */
  errcode?: number;
  errmsg?: string;
}

export interface BotStream {
  id: string;
  /** Stream content is cumulative: each frame carries the whole text so far, so this is the last frame's. */
  content: string;
  finished: boolean;
  /** Accepted frames with this stream id. */
  frames: number;
  msgItem?: unknown[];
  /** The finishing frame's msg_item images, decoded (their md5 and type checked). */
  images?: BotImage[];
  feedback?: unknown;
}

/** An image the robot sent: in a stream's msg_item, or uploaded and sent by media_id. */
export interface BotImage {
  data: Buffer;
  mimeType: 'image/png' | 'image/jpeg';
}

export interface BotSend {
  connectionId: number;
  at: number;
  /** true once flushed to the socket, false if the socket died first; undefined while pending. */
  written?: boolean;
}

export interface BotDelivery {
  readonly reqId: string;
  readonly cmd: typeof BOT_CMD.MSG_CALLBACK | typeof BOT_CMD.EVENT_CALLBACK;
  readonly msgid: string;
  readonly body: Record<string, unknown>;
  /** For events. */
  readonly eventtype?: string;
  /** `queued`: no subscribed connection yet; `dropped`: none and the fake runs with `offline: 'drop'`. */
  status: 'queued' | 'sent' | 'dropped';
  /** Each write of the frame to a socket (more than one after `repush`); `written` once the socket took it or failed. */
  readonly sends: BotSend[];
  /** Every frame with this req_id, accepted or refused, in arrival order. */
  readonly replies: BotReplyRecord[];
  stream?: BotStream;
  /** What the user sees of the streamed reply (the last accepted content), or undefined before any. */
  readonly text: string | undefined;
  /** A stream frame with finish=true was accepted. */
  finished: boolean;
  /** The exchange is complete: a finished stream, or a template card / media / text reply, welcome or card update. */
  answered: boolean;
  readonly templateCards: unknown[];
  welcome?: Record<string, unknown>;
  readonly updates: Record<string, unknown>[];
  /** Settles when answered, dropped, or the fake closes. */
  readonly done: Promise<BotDelivery>;
}

/** A proactive `aibot_send_msg` the platform accepted. */
export interface BotSentMessage {
  chatid: string;
  msgtype: string;
  /** Markdown content, `[image <n> bytes <type>]` for an image, or `[msgtype:media_id]` for other media. */
  content: string;
  body: Record<string, unknown>;
  /** The uploaded file a media message referenced. */
  media?: UploadedMedia;
  at: number;
}

/** A file uploaded through aibot_upload_media_*. */
export interface UploadedMedia {
  type: string;
  filename?: string;
  data: Buffer;
  /** Epoch ms; the media_id is refused (40007) 3 days later. */
  createdAt: number;
}

export interface BotLongConnectionOptions {
  botId: string;
  secret: string;
  /** How long after the callback replies are accepted (real: 6 minutes for a stream). */
  streamTtlMs: number;
  /** Welcome replies to enter_chat (real: 5 s). */
  welcomeWindowMs: number;
  /** Card updates after template_card_event (real: 5 s). */
  updateWindowMs: number;
  /** A connection that has not subscribed by then is closed. */
  subscribeTimeoutMs: number;
  /** Callbacks while no connection is subscribed: kept and sent on the next subscribe, or dropped. */
  offline: 'queue' | 'drop';
  /** How long the taken-over connection stays open after its disconnected_event. */
  takeoverCloseDelayMs: number;
  /** Base URL of the HTTP server, for media download URLs. */
  baseUrl: () => string;
  notify: () => void;
}

interface Conn {
  info: BotConnectionInfo;
  socket: WebSocket;
  subscribeTimer?: NodeJS.Timeout;
}

interface Upload {
  type: string;
  filename: string;
  totalSize: number;
  totalChunks: number;
  md5?: string;
  chunks: Map<number, Buffer>;
}

type AckScript = { kind: 'withhold' } | { kind: 'fail'; errcode: number; errmsg: string };

class Delivery implements BotDelivery {
  status: BotDelivery['status'] = 'queued';
  readonly sends: BotSend[] = [];
  readonly replies: BotReplyRecord[] = [];
  stream?: BotStream;
  finished = false;
  answered = false;
  readonly templateCards: unknown[] = [];
  welcome?: Record<string, unknown>;
  readonly updates: Record<string, unknown>[] = [];
  readonly done: Promise<BotDelivery>;
  resolve!: (d: BotDelivery) => void;
  readonly frame: string;

  constructor(
    readonly reqId: string,
    readonly cmd: BotDelivery['cmd'],
    readonly body: Record<string, unknown>,
  ) {
    this.done = new Promise((r) => (this.resolve = r));
    this.frame = JSON.stringify({ cmd, headers: { req_id: reqId }, body });
  }

  get msgid(): string {
    return String(this.body.msgid ?? '');
  }

  get eventtype(): string | undefined {
    const e = this.body.event as { eventtype?: unknown } | undefined;
    return typeof e?.eventtype === 'string' ? e.eventtype : undefined;
  }

  get text(): string | undefined {
    return this.stream?.content;
  }

  get firstSentAt(): number | undefined {
    return this.sends[0]?.at;
  }

  complete(): void {
    this.answered = true;
    this.resolve(this);
  }
}

export class BotLongConnection {
  readonly deliveries: BotDelivery[] = [];
  readonly sent: BotSentMessage[] = [];
  /** Frames a real server would refuse or ignore, with why. */
  readonly protocolErrors: string[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly conns = new Map<number, Conn>();
  private readonly byReqId = new Map<string, Delivery>();
  private readonly queue: Delivery[] = [];
  private readonly pendingUploads = new Map<string, Upload>();
  private readonly media = new Map<string, UploadedMedia>();
  /** Every upload that produced a media_id (aibot_upload_media_finish accepted), in order. */
  readonly uploads: { mediaId: string; type: string; filename: string; bytes: number }[] = [];
  private readonly hosted = new Map<string, { data: Buffer; fileName?: string; expiresAt: number }>();
  /** How long a media URL is served (5 minutes, as WeCom's); 0 makes the next ones expired at once (HTTP 404). */
  mediaUrlTtlMs = MEDIA_URL_TTL_MS;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly listeners = new Set<(d: BotDelivery, r: BotReplyRecord) => void>();
  private readonly ackScript: AckScript[] = [];
  /** Refusals aimed at one cmd (`failNextRequests`), taken before the general script. */
  private readonly cmdFailures: { cmd: string; errcode: number; errmsg: string }[] = [];
  private readonly subscribeFailures: { errcode: number; errmsg: string }[] = [];
  private pingsToIgnore = 0;
  private currentId: number | undefined;
  private nextConnId = 1;
  private closed = false;

  constructor(private readonly opts: BotLongConnectionOptions) {}

  // ---- connections -------------------------------------------------------------------------------------------

  get connections(): BotConnectionInfo[] {
    return [...this.conns.values()].map((c) => ({ ...c.info }));
  }

  /** Connections accepted since start. */
  get connectionCount(): number {
    return this.conns.size;
  }

  get openConnections(): number {
    return [...this.conns.values()].filter((c) => c.info.open).length;
  }

  /** Open and subscribed: at most one per robot, the one callbacks go to. */
  get current(): BotConnectionInfo | undefined {
    const c = this.currentConn();
    return c && { ...c.info };
  }

  private currentConn(): Conn | undefined {
    const c = this.currentId === undefined ? undefined : this.conns.get(this.currentId);
    return c && c.info.open && c.info.subscribed && c.socket.readyState === c.socket.OPEN ? c : undefined;
  }

  /** The HTTP server's `upgrade` event: the robot endpoint is the root path, like wss://openws.work.weixin.qq.com. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    if (path !== '/' || this.closed) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
  }

  private onConnection(socket: WebSocket): void {
    const info: BotConnectionInfo = { id: this.nextConnId++, openedAt: Date.now(), open: true, subscribed: false, pings: 0, pingsIgnored: 0 };
    const conn: Conn = { info, socket };
    this.conns.set(info.id, conn);
    conn.subscribeTimer = setTimeout(() => {
      this.protocolError(conn, `no ${BOT_CMD.SUBSCRIBE} within ${this.opts.subscribeTimeoutMs} ms`);
      this.closeConn(conn, 'subscribe-timeout');
    }, this.opts.subscribeTimeoutMs);
    socket.on('message', (data: RawData, isBinary: boolean) => this.onFrame(conn, data, isBinary));
    socket.on('close', () => this.markClosed(conn, 'client'));
    socket.on('error', (err) => this.protocolError(conn, err.message));
    this.opts.notify();
  }

  private markClosed(conn: Conn, reason: CloseReason): void {
    clearTimeout(conn.subscribeTimer);
    if (!conn.info.open) return;
    conn.info.open = false;
    conn.info.closedAt = Date.now();
    conn.info.closeReason ??= reason;
    if (this.currentId === conn.info.id) this.currentId = undefined;
    this.opts.notify();
  }

  /** Close handshake (the client sees a clean close); `dropConnections` terminates instead. */
  private closeConn(conn: Conn, reason: CloseReason): void {
    conn.info.closeReason ??= reason;
    conn.socket.close(1000, reason);
    // A client that never answers the close handshake is cut after a second.
    this.later(() => conn.socket.terminate(), 1000);
    this.markClosed(conn, reason);
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private protocolError(conn: Conn, message: string): void {
    this.protocolErrors.push(`connection ${conn.info.id}: ${message}`);
    this.opts.notify();
  }

  private write(conn: Conn, frame: unknown, done?: (ok: boolean) => void): void {
    if (conn.socket.readyState !== conn.socket.OPEN) return done?.(false);
    conn.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame), (err) => done?.(!err));
  }

  /** Writes a callback frame and records the write on the delivery. */
  private writeDelivery(conn: Conn, d: Delivery): void {
    const send: BotSend = { connectionId: conn.info.id, at: Date.now() };
    d.sends.push(send);
    this.write(conn, d.frame, (ok) => {
      send.written = ok;
      this.opts.notify();
    });
  }

  private ack(conn: Conn, reqId: string, errcode: number, errmsg: string, body?: unknown): void {
    this.write(conn, { headers: { req_id: reqId }, errcode, errmsg, ...(body === undefined ? {} : { body }) });
  }

  // ---- frames from the client ---------------------------------------------------------------------------------

  private onFrame(conn: Conn, data: RawData, isBinary: boolean): void {
    if (!conn.info.open) return;
    if (isBinary) return this.protocolError(conn, 'binary frame (the protocol is JSON text frames)');
    let frame: { cmd?: unknown; headers?: { req_id?: unknown }; body?: unknown };
    try {
      frame = JSON.parse(rawText(data)) as typeof frame;
    } catch {
      return this.protocolError(conn, 'frame is not JSON');
    }
    if (!isRecord(frame)) return this.protocolError(conn, 'frame is not a JSON object');
    const cmd = typeof frame.cmd === 'string' ? frame.cmd : '';
    const reqId = typeof frame.headers?.req_id === 'string' ? frame.headers.req_id : '';
    const body = isRecord(frame.body) ? frame.body : {};
    if (!reqId) return this.protocolError(conn, `${cmd || 'frame'} without headers.req_id`);

    if (!conn.info.subscribed) {
      if (cmd !== BOT_CMD.SUBSCRIBE) {
        this.protocolError(conn, `${cmd || 'frame'} before ${BOT_CMD.SUBSCRIBE}`);
        this.ack(conn, reqId, BOT_ERR.PARAM, 'not subscribed');
        return this.closeConn(conn, 'protocol');
      }
      return this.subscribe(conn, reqId, body);
    }
    switch (cmd) {
      case BOT_CMD.SUBSCRIBE:
        // Subscribing again on a subscribed connection changes nothing.
        return this.ack(conn, reqId, 0, 'ok');
      case BOT_CMD.PING:
        conn.info.pings++;
        if (this.pingsToIgnore > 0) {
          this.pingsToIgnore--;
          conn.info.pingsIgnored++;
          return this.opts.notify();
        }
        this.ack(conn, reqId, 0, 'ok');
        return this.opts.notify();
      case BOT_CMD.RESPOND:
      case BOT_CMD.RESPOND_WELCOME:
      case BOT_CMD.RESPOND_UPDATE:
      case BOT_CMD.SEND:
      case BOT_CMD.UPLOAD_INIT:
      case BOT_CMD.UPLOAD_CHUNK:
      case BOT_CMD.UPLOAD_FINISH:
        return this.onRequest(conn, cmd, reqId, body);
      default:
        this.protocolError(conn, `unknown cmd ${JSON.stringify(cmd)}`);
        return this.ack(conn, reqId, BOT_ERR.PARAM, `unknown cmd ${cmd}`);
    }
  }

  private subscribe(conn: Conn, reqId: string, body: Record<string, unknown>): void {
    const scripted = this.subscribeFailures.shift();
    const bad =
      scripted ??
      (body.bot_id !== this.opts.botId
        ? { errcode: BOT_ERR.CREDENTIAL, errmsg: 'invalid bot_id' }
        : body.secret !== this.opts.secret
          ? { errcode: BOT_ERR.CREDENTIAL, errmsg: 'invalid secret' }
          : undefined);
    if (bad) {
      this.ack(conn, reqId, bad.errcode, bad.errmsg);
      this.closeConn(conn, 'auth-failed');
      return;
    }
    clearTimeout(conn.subscribeTimer);
    const { secret: _secret, ...rest } = body;
    conn.info.subscribed = true;
    conn.info.subscribe = rest;
    this.ack(conn, reqId, 0, 'ok');
    // One live connection per robot: the newest wins, the older ones are told and closed.
    for (const other of this.conns.values()) if (other !== conn && other.info.open && other.info.subscribed) this.kick(other);
    this.currentId = conn.info.id;
    const waiting = this.queue.splice(0);
    for (const d of waiting) this.dispatch(d);
    this.opts.notify();
  }

  /** Sends `disconnected_event` and closes the connection a little later (the SDK closes it itself on receipt). */
  private kick(conn: Conn): void {
    conn.info.closeReason = 'taken-over';
    const body = botEventBody({ botId: this.opts.botId }, 'disconnected_event');
    // No `from` is documented for this event; the SDK only reads event.eventtype.
    delete body.from;
    this.write(conn, { cmd: BOT_CMD.EVENT_CALLBACK, headers: { req_id: newReqId() }, body });
    if (this.currentId === conn.info.id) this.currentId = undefined;
    this.later(() => {
      if (conn.info.open) this.closeConn(conn, 'taken-over');
    }, this.opts.takeoverCloseDelayMs);
  }

  private onRequest(conn: Conn, cmd: string, reqId: string, body: Record<string, unknown>): void {
    const delivery = this.byReqId.get(reqId);
    const record: BotReplyRecord = { cmd, reqId, body, connectionId: conn.info.id, at: Date.now() };
    delivery?.replies.push(record);
    const aimed = this.cmdFailures.findIndex((f) => f.cmd === cmd);
    const script: AckScript | undefined = aimed >= 0 ? { kind: 'fail', ...this.cmdFailures.splice(aimed, 1)[0]! } : this.ackScript.shift();
    if (script?.kind === 'withhold') return this.opts.notify();
    let answer: { errcode: number; errmsg: string; body?: unknown };
    if (script?.kind === 'fail') answer = { errcode: script.errcode, errmsg: script.errmsg };
    else answer = this.apply(cmd, delivery, body);
    record.errcode = answer.errcode;
    record.errmsg = answer.errmsg;
    this.ack(conn, reqId, answer.errcode, answer.errmsg, answer.body);
    if (answer.errcode === 0 && delivery) for (const l of this.listeners) l(delivery, record);
    if (answer.errcode !== 0) this.protocolErrors.push(`connection ${conn.info.id}: ${cmd} ${reqId} refused: ${answer.errmsg}`);
    this.opts.notify();
  }

  /** Validates one request frame and applies it; the answer becomes its ack. */
  private apply(cmd: string, d: Delivery | undefined, body: Record<string, unknown>): { errcode: number; errmsg: string; body?: unknown } {
    const ok = { errcode: 0, errmsg: 'ok' };
    const param = (errmsg: string) => ({ errcode: BOT_ERR.PARAM, errmsg });
    switch (cmd) {
      case BOT_CMD.SEND:
        return this.applySend(body) ?? ok;
      case BOT_CMD.UPLOAD_INIT:
      case BOT_CMD.UPLOAD_CHUNK:
      case BOT_CMD.UPLOAD_FINISH:
        return this.applyUpload(cmd, body);
    }
    if (!d) return param('invalid req_id: no callback with this req_id');
    const since = Date.now() - (d.firstSentAt ?? Date.now());
    if (cmd === BOT_CMD.RESPOND_WELCOME) {
      if (d.eventtype !== 'enter_chat') return param('welcome replies answer enter_chat events only');
      if (since > this.opts.welcomeWindowMs) return param(`welcome reply later than ${this.opts.welcomeWindowMs} ms`);
      if (d.welcome) return param('welcome already sent');
      if (!(body.msgtype === 'text' && typeof (body.text as { content?: unknown } | undefined)?.content === 'string') && !(body.msgtype === 'template_card' && isRecord(body.template_card))) {
        return { errcode: BOT_ERR.MSGTYPE, errmsg: 'welcome must be text or template_card' };
      }
      d.welcome = body;
      d.complete();
      return ok;
    }
    if (cmd === BOT_CMD.RESPOND_UPDATE) {
      if (d.eventtype !== 'template_card_event') return param('card updates answer template_card_event only');
      if (since > this.opts.updateWindowMs) return param(`card update later than ${this.opts.updateWindowMs} ms`);
      if (body.response_type !== 'update_template_card' || !isRecord(body.template_card)) return param('response_type must be update_template_card with a template_card');
      d.updates.push(body);
      d.complete();
      return ok;
    }
    // aibot_respond_msg
    if (d.eventtype !== undefined && d.eventtype !== 'enter_chat') return param(`${d.eventtype} takes no aibot_respond_msg`);
    if (since > this.opts.streamTtlMs) return param(`reply later than ${this.opts.streamTtlMs} ms after the callback`);
    const msgtype = body.msgtype;
    if (msgtype === 'stream' || msgtype === 'stream_with_template_card') return this.applyStream(d, body) ?? ok;
    if (msgtype === 'template_card') {
      if (!isRecord(body.template_card)) return param('template_card missing');
      if (d.templateCards.length > 0) return param('a message takes one template card');
      d.templateCards.push(body.template_card);
      d.complete();
      return ok;
    }
    if (typeof msgtype === 'string' && MEDIA_TYPES.has(msgtype)) {
      const found = this.mediaOf(msgtype, body);
      if ('errcode' in found) return found;
      d.complete();
      return ok;
    }
    if (msgtype === 'markdown' || msgtype === 'text') {
      const content = (body[msgtype] as { content?: unknown } | undefined)?.content;
      if (typeof content !== 'string' || content === '') return param(`${msgtype}.content missing`);
      if (Buffer.byteLength(content) > STREAM_CONTENT_LIMIT_BYTES) return param(`content over ${STREAM_CONTENT_LIMIT_BYTES} bytes`);
      d.stream = { id: '', content, finished: true, frames: 1 };
      d.finished = true;
      d.complete();
      return ok;
    }
    return { errcode: BOT_ERR.MSGTYPE, errmsg: `msgtype ${String(msgtype)} not supported` };
  }

  private applyStream(d: Delivery, body: Record<string, unknown>): { errcode: number; errmsg: string } | undefined {
    const param = (errmsg: string) => ({ errcode: BOT_ERR.PARAM, errmsg });
    const s = body.stream;
    if (!isRecord(s) || typeof s.id !== 'string' || s.id === '') return param('stream.id missing');
    if (d.stream && d.stream.id !== s.id) return param(`stream.id ${s.id} differs from the first reply's ${d.stream.id}`);
    if (d.stream?.finished) return param('stream already finished');
    if (s.content !== undefined && typeof s.content !== 'string') return param('stream.content must be a string');
    if (typeof s.content === 'string' && Buffer.byteLength(s.content) > STREAM_CONTENT_LIMIT_BYTES) return param(`stream.content over ${STREAM_CONTENT_LIMIT_BYTES} bytes`);
    const finish = s.finish === true;
    let images: BotImage[] | undefined;
    if (s.msg_item !== undefined) {
      if (!finish) return param('stream.msg_item only with finish=true');
      if (!Array.isArray(s.msg_item) || s.msg_item.length > MAX_MSG_ITEMS) return param(`stream.msg_item takes at most ${MAX_MSG_ITEMS} items`);
      const decoded = msgItemImages(s.msg_item);
      if ('errcode' in decoded) return decoded;
      images = decoded;
    }
    if (body.msgtype === 'stream_with_template_card' && body.template_card !== undefined) {
      if (!isRecord(body.template_card)) return param('template_card must be an object');
      if (d.templateCards.length > 0) return param('a message takes one template card');
      d.templateCards.push(body.template_card);
    }
    const prev = d.stream;
    d.stream = {
      id: s.id,
      content: typeof s.content === 'string' ? s.content : (prev?.content ?? ''),
      finished: finish,
      frames: (prev?.frames ?? 0) + 1,
      ...(Array.isArray(s.msg_item) ? { msgItem: s.msg_item } : prev?.msgItem ? { msgItem: prev.msgItem } : {}),
      ...(images ? { images } : {}),
      ...(s.feedback !== undefined ? { feedback: s.feedback } : prev?.feedback !== undefined ? { feedback: prev.feedback } : {}),
    };
    if (finish) {
      d.finished = true;
      d.complete();
    }
    return undefined;
  }

  private applySend(body: Record<string, unknown>): { errcode: number; errmsg: string } | undefined {
    const param = (errmsg: string) => ({ errcode: BOT_ERR.PARAM, errmsg });
    const chatid = body.chatid;
    if (typeof chatid !== 'string' || chatid === '') return param('chatid missing');
    const msgtype = typeof body.msgtype === 'string' ? body.msgtype : '';
    let content: string;
    if (msgtype === 'markdown') {
      const c = (body.markdown as { content?: unknown } | undefined)?.content;
      if (typeof c !== 'string' || c === '') return param('markdown.content missing');
      if (Buffer.byteLength(c) > STREAM_CONTENT_LIMIT_BYTES) return param(`markdown.content over ${STREAM_CONTENT_LIMIT_BYTES} bytes`);
      content = c;
    } else if (msgtype === 'template_card') {
      if (!isRecord(body.template_card)) return param('template_card missing');
      content = '[template_card]';
    } else if (MEDIA_TYPES.has(msgtype)) {
      const found = this.mediaOf(msgtype, body);
      if ('errcode' in found) return found;
      this.sent.push({ chatid, msgtype, content: mediaLine(msgtype, found), body, media: found.media, at: Date.now() });
      return undefined;
    } else {
      return { errcode: BOT_ERR.MSGTYPE, errmsg: `msgtype ${msgtype} not supported` };
    }
    this.sent.push({ chatid, msgtype, content, body, at: Date.now() });
    return undefined;
  }

  /** The uploaded file `body[msgtype].media_id` names: 40007 when unknown, expired (3 days) or of another type. */
  private mediaOf(msgtype: string, body: Record<string, unknown>): { media: UploadedMedia; mediaId: string } | { errcode: number; errmsg: string } {
    const mediaId = (body[msgtype] as { media_id?: unknown } | undefined)?.media_id;
    if (typeof mediaId !== 'string' || mediaId === '') return { errcode: BOT_ERR.PARAM, errmsg: `${msgtype}.media_id missing` };
    const media = this.media.get(mediaId);
    if (!media) return { errcode: BOT_ERR.MEDIA_ID, errmsg: 'invalid media_id: unknown' };
    if (Date.now() - media.createdAt > MEDIA_ID_TTL_MS) return { errcode: BOT_ERR.MEDIA_ID, errmsg: 'invalid media_id: older than 3 days' };
    if (media.type !== msgtype) return { errcode: BOT_ERR.MEDIA_ID, errmsg: `invalid media_id: uploaded as ${media.type}, sent as ${msgtype}` };
    return { media, mediaId };
  }

  private applyUpload(cmd: string, body: Record<string, unknown>): { errcode: number; errmsg: string; body?: unknown } {
    const param = (errmsg: string) => ({ errcode: BOT_ERR.PARAM, errmsg });
    if (cmd === BOT_CMD.UPLOAD_INIT) {
      const { type, filename, total_size: size, total_chunks: chunks, md5 } = body;
      if (typeof type !== 'string' || !MEDIA_TYPES.has(type)) return { errcode: BOT_ERR.MEDIA_TYPE, errmsg: 'invalid media type: type must be file, image, voice or video' };
      if (typeof filename !== 'string' || filename === '') return param('filename missing');
      if (typeof size !== 'number' || size <= 0) return param('total_size missing');
      if (type === 'image' && (size < MIN_MEDIA_BYTES || size > IMAGE_LIMIT_BYTES)) {
        return { errcode: BOT_ERR.IMAGE_SIZE, errmsg: `invalid image size: ${size} bytes (an image is 6 bytes to 10 MB)` };
      }
      if (typeof chunks !== 'number' || !Number.isInteger(chunks) || chunks < 1 || chunks > MAX_CHUNKS) return param(`total_chunks must be 1..${MAX_CHUNKS}`);
      const uploadId = randomBytes(16).toString('hex');
      this.pendingUploads.set(uploadId, { type, filename, totalSize: size, totalChunks: chunks, ...(typeof md5 === 'string' ? { md5 } : {}), chunks: new Map() });
      return { errcode: 0, errmsg: 'ok', body: { upload_id: uploadId } };
    }
    const upload = typeof body.upload_id === 'string' ? this.pendingUploads.get(body.upload_id) : undefined;
    if (!upload) return param('invalid upload_id');
    if (cmd === BOT_CMD.UPLOAD_CHUNK) {
      const index = body.chunk_index;
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= upload.totalChunks) return param('chunk_index out of range');
      if (typeof body.base64_data !== 'string') return param('base64_data missing');
      const data = Buffer.from(body.base64_data, 'base64');
      if (data.length > CHUNK_LIMIT_BYTES) return param('chunk over 512 KB');
      upload.chunks.set(index, data);
      return { errcode: 0, errmsg: 'ok' };
    }
    const parts: Buffer[] = [];
    for (let i = 0; i < upload.totalChunks; i++) {
      const part = upload.chunks.get(i);
      if (!part) return param(`chunk ${i} missing`);
      parts.push(part);
    }
    const data = Buffer.concat(parts);
    if (data.length !== upload.totalSize) return param('total_size does not match the chunks');
    if (upload.md5 && createHash('md5').update(data).digest('hex') !== upload.md5) return param('md5 does not match');
    this.pendingUploads.delete(String(body.upload_id));
    if (upload.type === 'image' && !imageType(data)) return { errcode: BOT_ERR.FILE_TYPE, errmsg: 'invalid file type: an image must be JPG or PNG' };
    const mediaId = `3${randomBytes(24).toString('base64url')}`;
    this.media.set(mediaId, { type: upload.type, filename: upload.filename, data, createdAt: Date.now() });
    this.uploads.push({ mediaId, type: upload.type, filename: upload.filename, bytes: data.length });
    return { errcode: 0, errmsg: 'ok', body: { type: upload.type, media_id: mediaId, created_at: String(Math.floor(Date.now() / 1000)) } };
  }

  // ---- pushes to the client -----------------------------------------------------------------------------------

  /** Pushes a callback with a fresh req_id to the subscribed connection (or queues/drops it, per `offline`). */
  push(cmd: BotDelivery['cmd'], body: Record<string, unknown>): BotDelivery {
    if (this.closed) throw new Error('fake WeCom is closed');
    const d = new Delivery(newReqId(), cmd, body);
    this.deliveries.push(d);
    this.byReqId.set(d.reqId, d);
    this.dispatch(d);
    this.opts.notify();
    return d;
  }

  private dispatch(d: Delivery): void {
    const conn = this.currentConn();
    if (!conn) {
      if (this.opts.offline === 'drop') {
        d.status = 'dropped';
        d.resolve(d);
      } else {
        d.status = 'queued';
        this.queue.push(d);
      }
      return;
    }
    d.status = 'sent';
    this.writeDelivery(conn, d);
  }

  /** Writes the same frame (same req_id and msgid) again, as a duplicate delivery would. */
  repush(delivery: BotDelivery): boolean {
    const d = this.byReqId.get(delivery.reqId);
    const conn = this.currentConn();
    if (!d || !conn) return false;
    this.writeDelivery(conn, d);
    this.opts.notify();
    return true;
  }

  /** Any text to the subscribed connection (or all open ones), for malformed-frame tests. */
  sendRaw(data: string): number {
    const targets = [...this.conns.values()].filter((c) => c.info.open && c.info.subscribed);
    for (const c of targets) this.write(c, data);
    return targets.length;
  }

  /** Serves bytes encrypted with a fresh per-file key for `mediaUrlTtlMs`; returns the message's `{url, aeskey}`. */
  host(data: Buffer, fileName?: string): { url: string; aeskey: string } {
    const { encrypted, aeskey } = encryptMedia(data);
    const id = randomBytes(12).toString('hex');
    this.hosted.set(id, { data: encrypted, ...(fileName === undefined ? {} : { fileName }), expiresAt: Date.now() + this.mediaUrlTtlMs });
    return { url: `${this.opts.baseUrl()}/aibot/media/${id}`, aeskey };
  }

  /** As if WeCom's 5 minutes had passed: every media URL handed out so far answers 404. */
  expireMediaUrls(): void {
    for (const file of this.hosted.values()) file.expiresAt = 0;
  }

  /** `GET /aibot/media/:id`: the encrypted bytes while the URL is valid. */
  serveMedia(id: string): { data: Buffer; fileName?: string } | undefined {
    const m = this.hosted.get(id);
    return m && m.expiresAt > Date.now() ? m : undefined;
  }

  /** Media uploaded through aibot_upload_media_*, by media_id. */
  uploaded(mediaId: string): UploadedMedia | undefined {
    return this.media.get(mediaId);
  }

  onReply(listener: (d: BotDelivery, r: BotReplyRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- failure injection -------------------------------------------------------------------------------------

  /** The next `n` pings (any connection) get no ack; the SDK gives up after 2 missed acks and reconnects. */
  ignorePings(n = Number.POSITIVE_INFINITY): void {
    this.pingsToIgnore = n;
  }

  answerPings(): void {
    this.pingsToIgnore = 0;
  }

  /** The next `n` request frames (replies, sends, uploads) are ignored: no ack, not applied. */
  withholdAcks(n: number): void {
    for (let i = 0; i < n; i++) this.ackScript.push({ kind: 'withhold' });
  }

  /** The next `n` request frames are refused with `errcode` (not applied). */
  failNextReplies(n: number, errcode: number, errmsg = 'system busy'): void {
    for (let i = 0; i < n; i++) this.ackScript.push({ kind: 'fail', errcode, errmsg });
  }

  /** The next `n` frames of `cmd` (e.g. `aibot_send_msg`, `aibot_upload_media_init`) are refused with `errcode` (not applied). */
  failNextRequests(cmd: string, n: number, errcode: number, errmsg = 'system busy'): void {
    for (let i = 0; i < n; i++) this.cmdFailures.push({ cmd, errcode, errmsg });
  }

  /** The next `n` subscribes are refused with `errcode` even with the right credentials. */
  failNextSubscribes(n: number, errcode: number, errmsg = 'system busy'): void {
    for (let i = 0; i < n; i++) this.subscribeFailures.push({ errcode, errmsg });
  }

  /** Kills every open socket without a close handshake, like a network drop; returns how many. */
  dropConnections(): number {
    let n = 0;
    for (const c of this.conns.values()) {
      if (!c.info.open) continue;
      c.info.closeReason = 'dropped';
      c.socket.terminate();
      this.markClosed(c, 'dropped');
      n++;
    }
    return n;
  }

  /** As if another host connected with the same robot: the current connection gets disconnected_event and is closed. */
  takeOver(): boolean {
    const conn = this.currentConn();
    if (!conn) return false;
    this.kick(conn);
    this.opts.notify();
    return true;
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of this.conns.values()) {
      clearTimeout(c.subscribeTimer);
      // Also sockets already marked closed but still in their close handshake.
      if (c.socket.readyState !== c.socket.CLOSED) c.socket.terminate();
      this.markClosed(c, 'fake-closed');
    }
    for (const d of this.deliveries) (d as Delivery).resolve(d);
    this.wss.close();
  }
}

/** Server-side req_ids; never starting with `aibot_subscribe` or `ping`, which the SDK routes by prefix. */
const newReqId = (): string => randomBytes(16).toString('hex');

/** JPG or PNG, by the bytes' signature: the only image types WeCom shows. */
function imageType(data: Buffer): BotImage['mimeType'] | undefined {
  if (data.length >= 8 && data.readUInt32BE(0) === 0x89504e47) return 'image/png';
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'image/jpeg';
  return undefined;
}

/**
 * A finishing stream frame's `msg_item`: `{msgtype: 'image', image: {base64, md5}}` each, the md5 (hex) that of the
 * decoded bytes, a JPG or PNG of at most 10 MB.
 */
function msgItemImages(items: unknown[]): BotImage[] | { errcode: number; errmsg: string } {
  const images: BotImage[] = [];
  for (const [i, item] of items.entries()) {
    const image = isRecord(item) && item.msgtype === 'image' && isRecord(item.image) ? item.image : undefined;
    if (!image || typeof image.base64 !== 'string' || typeof image.md5 !== 'string') {
      return { errcode: BOT_ERR.PARAM, errmsg: `stream.msg_item[${i}] must be {msgtype: image, image: {base64, md5}}` };
    }
    const data = Buffer.from(image.base64, 'base64');
    if (createHash('md5').update(data).digest('hex') !== image.md5.toLowerCase()) return { errcode: BOT_ERR.PARAM, errmsg: `stream.msg_item[${i}].image.md5 does not match` };
    if (data.length < MIN_MEDIA_BYTES || data.length > IMAGE_LIMIT_BYTES) return { errcode: BOT_ERR.IMAGE_SIZE, errmsg: `invalid image size: msg_item[${i}] is ${data.length} bytes` };
    const mimeType = imageType(data);
    if (!mimeType) return { errcode: BOT_ERR.FILE_TYPE, errmsg: `invalid file type: msg_item[${i}] must be JPG or PNG` };
    images.push({ data, mimeType });
  }
  return images;
}

/** What the user sees of a media message, as a line: an image's size and type, other media by id. */
function mediaLine(msgtype: string, found: { media: UploadedMedia; mediaId: string }): string {
  if (msgtype === 'image') return `[image ${found.media.data.length} bytes ${imageType(found.media.data) ?? 'unknown type'}]`;
  return `[${msgtype}:${found.mediaId}]`;
}




function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
