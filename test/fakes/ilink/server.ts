/**
 * A local fake of the personal-WeChat iLink bot API (protocols.md §7) on 127.0.0.1 and a free port: QR login,
 * the getupdates long poll with its cursor, sendmessage with context tokens, getconfig/sendtyping, notifystart/stop,
 * the media CDN (downloads, and uploads through getuploadurl) and scripted failures. See README.md.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseJson, sendJson } from '../http.js';
import { Waiters } from '../waiters.js';
import { Cdn, decryptEcb, keyOfAesKey, type HostedMedia, type KeyForm } from './cdn.js';
import { Holds } from './holds.js';
import { InboundLog } from './inbound.js';
import { fullUserId, ilinkItem } from './items.js';
import { Outbound, type ApiAnswer } from './outbound.js';
import { QrLogin } from './qr.js';
import type { Failure, FakeIlinkOptions, IlinkCall, IlinkEndpoint, MessageItem, QrSession, SentMessage, TypingCall, UploadedMedia, WeixinMessage } from './types.js';
import { Uploads, type UploadUrlForm } from './upload.js';
import { readRawBody } from '../http.js';
import { bearerToken, botRequestProblems, headerRecord, randomToken } from './wire.js';

export type { Failure, FakeIlinkOptions, IlinkCall, IlinkEndpoint, MessageItem, QrSession, SentMessage, TypingCall, UploadedMedia, WeixinMessage } from './types.js';
export type { UploadUrlForm } from './upload.js';

const ROUTES: Record<string, IlinkEndpoint> = {
  '/ilink/bot/getupdates': 'getupdates',
  '/ilink/bot/sendmessage': 'sendmessage',
  '/ilink/bot/getconfig': 'getconfig',
  '/ilink/bot/sendtyping': 'sendtyping',
  '/ilink/bot/msg/notifystart': 'notifystart',
  '/ilink/bot/msg/notifystop': 'notifystop',
  '/ilink/bot/get_bot_qrcode': 'get_bot_qrcode',
  '/ilink/bot/get_qrcode_status': 'get_qrcode_status',
  '/ilink/bot/getuploadurl': 'getuploadurl',
  '/c2c/download': 'cdn_download',
  '/c2c/upload': 'cdn_upload',
};

export const SESSION_TIMEOUT = { ret: -14, errcode: -14, errmsg: 'session timeout' } as const;

export class FakeIlink {
  botToken: string;
  readonly botId: string;
  readonly calls: IlinkCall[] = [];
  private readonly longPollMs: number;
  private readonly waiters = new Waiters('fake iLink');
  private readonly holds = new Holds();
  private readonly inbound: InboundLog;
  private readonly outbound: Outbound;
  private readonly qr: QrLogin;
  private readonly cdn = new Cdn(() => this.cdnUrl);
  private readonly uploads: Uploads;
  private readonly failures = new Map<IlinkEndpoint, { failure: Failure; left: number }[]>();
  private readonly server: Server;
  private sessionExpired = false;
  private port = 0;
  private closing: Promise<void> | undefined;

  /** Starts the fake on 127.0.0.1 and a free port. */
  static async start(opts: FakeIlinkOptions = {}): Promise<FakeIlink> {
    const fake = new FakeIlink(opts);
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(0, '127.0.0.1', () => resolve());
    });
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  private constructor(opts: FakeIlinkOptions) {
    this.longPollMs = opts.longPollMs ?? 35_000;
    this.botId = `${randomBytes(4).toString('hex')}@im.bot`;
    this.botToken = newBotToken(this.botId);
    this.inbound = new InboundLog(this.botId);
    this.uploads = new Uploads(this.cdn, this.inbound.knownUsers);
    this.outbound = new Outbound(this.inbound, opts.repliesPerToken ?? 10, (item, to) => this.uploads.sentImage(item, to));
    this.qr = new QrLogin({
      ttlMs: opts.qrTtlMs ?? 300_000,
      pollMs: opts.qrPollMs ?? 35_000,
      holds: this.holds,
      botId: this.botId,
      baseUrl: () => this.url,
      issueBotToken: (user) => {
        this.inbound.knownUsers.add(user);
        this.botToken = newBotToken(this.botId);
        this.sessionExpired = false;
        return this.botToken;
      },
    });
    this.server = createServer((req, res) => {
      this.handle(req, res)
        .catch((err: unknown) => {
          if (!res.headersSent && !res.destroyed) sendJson(res, 500, { errmsg: `fake iLink bug: ${String(err)}` });
        })
        .finally(() => this.waiters.notify());
    });
  }

  /** Base URL with a trailing slash (API paths are `url + "ilink/bot/…"`); stands in for https://ilinkai.weixin.qq.com. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** Media CDN base (stands in for https://novac2c.cdn.weixin.qq.com/c2c): the channel's `cdn_base_url`. */
  get cdnUrl(): string {
    return `${this.url}c2c`;
  }

  // ---- users ------------------------------------------------------------------------------------------------------

  /** A user sends a message to the bot. Returns the WeixinMessage as getupdates will deliver it. */
  userSends(user: string, content: string | MessageItem[], opts: { groupId?: string } = {}): WeixinMessage {
    const message = this.inbound.add(user, content, opts.groupId);
    this.holds.wake();
    this.waiters.notify();
    return message;
  }

  /**
   * A user sends a picture: `data` is stored on the CDN (AES-128-ECB with a fresh key) and the message carries one
   * image item as real ones do, `image_item.aeskey` (hex) and `media.aes_key` (base64 of the raw key), then `text`
   * as a text item when given. `aeskey: false` leaves the hex key out (the client must read `aes_key`), `keyForm`
   * picks how `aes_key` carries it (`hex`: base64 of the hex digits; `none`: a plain file, no key at all), `fullUrl`
   * adds the download URL as newer servers do, and `expired` serves it as gone (404).
   */
  userSendsImage(
    user: string,
    data: Buffer,
    opts: { text?: string; aeskey?: boolean; keyForm?: KeyForm; fullUrl?: boolean; expired?: boolean } = {},
  ): WeixinMessage {
    const hosted = this.hostMedia(data, opts);
    const withKey = opts.aeskey ?? opts.keyForm !== 'none';
    const items = [ilinkItem.image(hosted, { aeskey: withKey }), ...(opts.text === undefined ? [] : [ilinkItem.text(opts.text)])];
    return this.userSends(user, items);
  }

  /** Stores a file on the CDN (for items built by hand, e.g. `ilinkItem.image(fake.hostMedia(png))`). */
  hostMedia(data: Buffer, opts: { keyForm?: KeyForm; fullUrl?: boolean; expired?: boolean } = {}): HostedMedia {
    return this.cdn.host(data, opts);
  }

  /** The CDN answers 404 for that file (by `encrypt_query_param`), or for every file so far; returns how many were live. */
  expireMedia(param?: string): number {
    return this.cdn.expire(param);
  }

  /** Files uploaded through getuploadurl and `POST /c2c/upload` that the CDN took, oldest first. */
  get mediaUploads(): UploadedMedia[] {
    return this.uploads.done;
  }

  /** Which field getuploadurl answers with: `upload_param` (default; the client builds the URL) or `upload_full_url`. */
  get uploadUrlForm(): UploadUrlForm {
    return this.uploads.form;
  }

  set uploadUrlForm(form: UploadUrlForm) {
    this.uploads.form = form;
  }

  /**
   * Downloads the image a sent message references, as the user's WeChat would: `GET` on the fake's own CDN with
   * its `encrypt_query_param`, decrypted with the key its `aes_key` carries. Throws when the item is not an image,
   * the CDN refuses, or the key is in neither base64 form.
   */
  async downloadSentImage(sent: SentMessage): Promise<Buffer> {
    const media = sent.item.image_item?.media;
    if (!media?.encrypt_query_param || !media.aes_key) throw new Error('fake iLink: the sent message holds no image media');
    const res = await fetch(this.cdn.downloadUrl(media.encrypt_query_param));
    if (!res.ok) throw new Error(`fake iLink: CDN download answered HTTP ${res.status} ${res.headers.get('x-error-message') ?? ''}`);
    const key = keyOfAesKey(media.aes_key);
    if (!key) throw new Error('fake iLink: the sent aes_key is in neither base64 form');
    return decryptEcb(Buffer.from(await res.arrayBuffer()), key);
  }

  /** CDN download requests, oldest first. */
  get mediaDownloads(): IlinkCall[] {
    return this.calls.filter((c) => c.endpoint === 'cdn_download');
  }

  /**
   * iLink hands a message out again, identical (same message_id and context_token): what a client
   * sees when it resumes from an older cursor. The channel must answer it once.
   */
  redeliver(message: WeixinMessage): void {
    this.inbound.repeat(message);
    this.holds.wake();
    this.waiters.notify();
  }

  /** Messages the bot sent (sendmessage calls that succeeded), oldest first. */
  sent(user?: string): SentMessage[] {
    const to = user === undefined ? undefined : fullUserId(user);
    return this.outbound.sent.filter((m) => to === undefined || m.to === to);
  }

  /** Resolves with `sent(user)` once it holds at least `count` messages; rejects after `timeoutMs` (default 10 s). */
  async waitForSent(count: number, opts: { user?: string; timeoutMs?: number } = {}): Promise<SentMessage[]> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const whom = opts.user === undefined ? '' : ` to ${fullUserId(opts.user)}`;
    try {
      await this.waiters.until(() => this.sent(opts.user).length >= count, timeoutMs, `${count} sent message(s)${whom}`);
    } catch (err) {
      const got = this.sent(opts.user).map((m) => JSON.stringify(m.text));
      throw new Error(`${(err as Error).message}; got ${got.length}${got.length ? `: ${got.join(', ')}` : ''}`);
    }
    return this.sent(opts.user);
  }

  /** Calls `listener` with every message sent from now on (sendmessage calls that succeed); returns the unsubscribe function. */
  onSent(listener: (m: SentMessage) => void): () => void {
    this.outbound.listeners.add(listener);
    return () => this.outbound.listeners.delete(listener);
  }

  /**
   * Forgets the records kept so far: `calls`, `sent()` and `typing()` (the inbound log, context tokens and their
   * budgets stay). For benchmarks and long simulations, whose records would otherwise grow forever.
   */
  forgetHistory(): void {
    this.calls.splice(0);
    this.outbound.sent.splice(0);
    this.outbound.typing.splice(0);
  }

  /** sendtyping calls that succeeded, oldest first. */
  typing(user?: string): TypingCall[] {
    const who = user === undefined ? undefined : fullUserId(user);
    return this.outbound.typing.filter((t) => who === undefined || t.user === who);
  }

  // ---- QR login ---------------------------------------------------------------------------------------------------

  /** Every QR code issued, newest last; `status` is live. */
  get qrSessions(): QrSession[] {
    return this.qr.sessions;
  }

  /** The user scans the QR code (default: the newest): status → `scaned`. */
  scan(qrcode?: string): void {
    this.qr.scan(qrcode);
  }

  /** The user confirms on the phone: status → `confirmed`, a new bot token replaces the old one and is returned. */
  confirm(qrcode?: string, opts: { user?: string } = {}): string {
    return this.qr.confirm(qrcode, opts.user);
  }

  expireQr(qrcode?: string): void {
    this.qr.expire(qrcode);
  }

  // ---- session and failures ---------------------------------------------------------------------------------------

  /** Every bot call answers ret -14 "session timeout" until the next `confirm()`. */
  expireSession(): void {
    this.sessionExpired = true;
  }

  /** The next `count` calls to `endpoint` fail as told (before any other handling); queued in order. */
  failNext(endpoint: IlinkEndpoint, failure: Failure, count = 1): void {
    if (!Number.isInteger(count) || count < 1) throw new Error(`fake iLink: failNext count must be a positive integer, got ${count}`);
    const queue = this.failures.get(endpoint) ?? [];
    queue.push({ failure, left: count });
    this.failures.set(endpoint, queue);
  }

  /** Idempotent: ends held requests, cuts every socket and stops listening. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.holds.endAll();
      this.qr.close();
      this.server.closeAllConnections();
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
    })();
    return this.closing;
  }

  // ---- HTTP -------------------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const bytes = await readRawBody(req);
    const rawBody = bytes.toString('utf8');
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://fake');
    const endpoint = ROUTES[url.pathname];
    const call: IlinkCall = {
      endpoint: endpoint ?? 'unknown',
      method,
      path: req.url ?? '/',
      body: parseJson(rawBody),
      bodyBytes: bytes.length,
      headers: headerRecord(req),
      at: Date.now(),
    };
    this.calls.push(call);
    this.waiters.notify();
    try {
      await this.route(endpoint, call, url, { text: rawBody, bytes }, res);
    } finally {
      if (call.status === undefined) call.dropped = true;
    }
  }

  private async route(endpoint: IlinkEndpoint | undefined, call: IlinkCall, url: URL, body: { text: string; bytes: Buffer }, res: ServerResponse): Promise<void> {
    const method = call.method;
    if (!endpoint) return answer(call, res, 404, { errmsg: `no route ${method} ${url.pathname}` });

    const failure = this.takeFailure(endpoint);
    if (failure && !(await this.applyFailure(failure, call, res))) return;

    if (endpoint === 'cdn_download' || endpoint === 'cdn_upload') {
      const cdn = endpoint === 'cdn_download' ? this.cdn.answer(method, url) : this.uploads.upload(method, url, body.bytes);
      if (res.destroyed || res.writableEnded) return;
      call.status = cdn.status;
      res.writeHead(cdn.status, cdn.headers);
      res.end(cdn.body);
      return;
    }
    if (endpoint === 'get_bot_qrcode') {
      if (url.searchParams.get('bot_type') !== '3') return answer(call, res, 400, { errmsg: 'query bot_type must be 3' });
      return answer(call, res, 200, this.qr.issue());
    }
    if (endpoint === 'get_qrcode_status') {
      if (method !== 'GET') return answer(call, res, 405, { errmsg: 'get_qrcode_status takes GET' });
      const qrcode = url.searchParams.get('qrcode');
      if (!qrcode) return answer(call, res, 400, { errmsg: 'missing query qrcode' });
      const status = await this.qr.poll(qrcode, res);
      if (status) answer(call, res, 200, status);
      return;
    }
    await this.handleBot(endpoint, call, body.text, res);
  }

  private async handleBot(endpoint: IlinkEndpoint, call: IlinkCall, rawBody: string, res: ServerResponse): Promise<void> {
    if (call.method !== 'POST') return answer(call, res, 405, { errmsg: `${endpoint} takes POST` });
    const problems = botRequestProblems(call.headers, call.body, rawBody);
    const body = call.body ?? {};
    if (endpoint === 'getupdates' && body.get_updates_buf !== undefined && typeof body.get_updates_buf !== 'string') {
      problems.push('get_updates_buf must be a string');
    }
    if (problems.length > 0) return answer(call, res, 400, { errmsg: problems.join('; '), problems });
    const token = bearerToken(call.headers.authorization);
    if (!this.authorized(token)) return answer(call, res, 200, SESSION_TIMEOUT);

    let json: ApiAnswer;
    switch (endpoint) {
      case 'getupdates': {
        const cursor = (body.get_updates_buf as string | undefined) ?? '';
        const position = this.inbound.positionOf(cursor);
        const end = await this.holds.hold(res, this.longPollMs, () => this.inbound.messages.length > position);
        if (end === 'gone') return;
        // The token may have been replaced while the poll was held.
        if (!this.authorized(token)) return answer(call, res, 200, SESSION_TIMEOUT);
        const { msgs, next } = this.inbound.read(position, cursor);
        json = { ret: 0, msgs, get_updates_buf: next, longpolling_timeout_ms: this.longPollMs };
        break;
      }
      case 'sendmessage':
        json = this.outbound.sendMessage(body);
        break;
      case 'getconfig':
        json = this.outbound.getConfig(body);
        break;
      case 'sendtyping':
        json = this.outbound.sendTyping(body);
        break;
      case 'getuploadurl':
        json = this.uploads.getUploadUrl(body);
        break;
      default:
        json = { ret: 0 };
    }
    answer(call, res, 200, json);
  }

  private authorized(token: string | undefined): boolean {
    return !this.sessionExpired && token === this.botToken;
  }

  private takeFailure(endpoint: IlinkEndpoint): Failure | undefined {
    const queue = this.failures.get(endpoint);
    const head = queue?.[0];
    if (!queue || !head) return undefined;
    if (--head.left <= 0) queue.shift();
    return head.failure;
  }

  /** Plays a scripted failure; true when the call should then be handled normally (after a hang). */
  private async applyFailure(failure: Failure, call: IlinkCall, res: ServerResponse): Promise<boolean> {
    if ('http' in failure) {
      call.status = failure.http;
      res.writeHead(failure.http, { 'content-type': 'text/plain' });
      res.end('server error');
      return false;
    }
    if ('ret' in failure) {
      answer(call, res, 200, { ret: failure.ret, errcode: failure.ret, errmsg: failure.errmsg ?? 'system error' });
      return false;
    }
    if ('hangMs' in failure) return (await this.holds.hold(res, failure.hangMs, () => false)) !== 'gone';
    res.socket?.destroy();
    return false;
  }
}

function answer(call: IlinkCall, res: ServerResponse, status: number, json: unknown): void {
  if (res.destroyed || res.writableEnded) return;
  call.status = status;
  call.response = json;
  sendJson(res, status, json);
}

const newBotToken = (botId: string): string => `${botId}:${randomToken(24)}`;
