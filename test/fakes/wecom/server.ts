/**
 * A local fake of WeCom (企业微信) on 127.0.0.1 and a free port (protocols.md §0, §2, §3): the self-built app's
 * API (`/cgi-bin/gettoken`, `/cgi-bin/message/send`, `/cgi-bin/media/get`, `/cgi-bin/media/upload`) and callback pushes toward a gateway, and the intelligent
 * robot's long connection (WebSocket on the same port, root path) plus its webhook mode. See README.md.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TencentCrypto } from '../../../src/channels/shared/tencent-crypto.js';
import { sendJson } from '../http.js';
import { readRawBody } from '../http.js';
import { imageTypeOf } from '../tencent-media.js';
import { WecomApi, type ApiCounters, type DeliveredMessage, type DroppedMessage, type MediaGetRecord, type RateWindow, type SendCall, type UploadRecord } from './api.js';
import { wecomMessage, type WecomAppMessage } from './app-xml.js';
import { BotLongConnection, BOT_CMD, type BotConnectionInfo, type BotDelivery, type BotReplyRecord, type BotSentMessage } from './bot.js';
import { botEventBody, botMessageBody, type BotContent, type BotEventOptions, type BotMessageOptions } from './bot-messages.js';
import { BotWebhook, type BotWebhookPushOptions, type BotWebhookResult, type ResponseUrlPost } from './bot-webhook.js';
import { AppCallback, type AppPushOptions, type AppPushResult, type AppTamper, type VerifyResult } from './callback.js';
import { Waiters } from '../waiters.js';

export interface FakeWecomOptions {
  /** Default `ww` + 16 hex. */
  corpId?: string;
  /** Default 1000002. */
  agentId?: number;
  corpSecret?: string;
  /** Callback Token and EncodingAESKey of the app (random unless given). */
  token?: string;
  encodingAesKey?: string;
  /** Where app callbacks go; may be set later via `fake.gatewayUrl`. */
  gatewayUrl?: string;
  /** How long WeCom waits for a callback answer before the try fails (real: 5000). */
  retryWaitMs?: number;
  /** Callback tries in all (real: 3). */
  tries?: number;
  /** access_token lifetime in fake seconds (real: 7200). */
  tokenTtlSeconds?: number;
  /** Per app per member (real: 30 per 60 000 ms); excess is answered errcode 0 and not delivered. */
  memberRateLimit?: RateWindow;
  /** Per app per member (real: 1000 per hour). */
  memberHourlyLimit?: RateWindow;
  /** Text/markdown over 2048 bytes: `truncate` (default; delivered cut, errcode 0) or `error` (45002). */
  oversize?: 'truncate' | 'error';
  /** Userids in the app's visible range; default anyone. Others come back in `invaliduser`, all invalid → 81013. */
  members?: string[];

  /** Robot id (default `aib` + 20 random chars) and secret (random). */
  botId?: string;
  botSecret?: string;
  /** The robot's name as it appears in group @-mentions (default `CocoCat`). */
  botName?: string;
  /** Replies to a callback accepted for this long (real: 6 min). */
  streamTtlMs?: number;
  /** Real: 5000. */
  welcomeWindowMs?: number;
  /** Real: 5000. */
  updateWindowMs?: number;
  /** A WebSocket that has not subscribed by then is closed (default 10 000). */
  subscribeTimeoutMs?: number;
  /** Callbacks while no connection is subscribed: `queue` (default; sent on the next subscribe) or `drop`. */
  offline?: 'queue' | 'drop';
  /** The taken-over connection is closed this long after its disconnected_event (default 100). */
  takeoverCloseDelayMs?: number;

  /** Robot webhook mode: its Token and EncodingAESKey (random unless given). */
  botToken?: string;
  botEncodingAesKey?: string;
  /** Webhook mode: how often WeCom polls an unfinished stream (default 1000; the real interval is not documented). */
  streamRefreshIntervalMs?: number;
}

export type BotMessage = BotContent;

export class FakeWecom {
  readonly corpId: string;
  readonly agentId: number;
  readonly corpSecret: string;
  readonly token: string;
  readonly encodingAesKey: string;
  readonly botId: string;
  readonly botSecret: string;
  readonly botName: string;
  readonly botToken: string;
  readonly botEncodingAesKey: string;
  gatewayUrl: string | undefined;
  private readonly waiters = new Waiters('fake WeCom');
  private readonly api: WecomApi;
  private readonly callback: AppCallback;
  private readonly bot: BotLongConnection;
  private readonly webhook: BotWebhook;
  private readonly server: Server;
  private offsetMs = 0;
  private port = 0;
  private closing: Promise<void> | undefined;

  /** Starts the fake on 127.0.0.1 and a free port. */
  static async start(opts: FakeWecomOptions = {}): Promise<FakeWecom> {
    const fake = new FakeWecom(opts);
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(0, '127.0.0.1', () => resolve());
    });
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  private constructor(opts: FakeWecomOptions) {
    this.corpId = opts.corpId ?? `ww${randomBytes(8).toString('hex')}`;
    this.agentId = opts.agentId ?? 1000002;
    this.corpSecret = opts.corpSecret ?? randomBytes(21).toString('base64url');
    this.token = opts.token ?? randomBytes(8).toString('hex');
    this.encodingAesKey = opts.encodingAesKey ?? newEncodingAesKey();
    this.botId = opts.botId ?? `aib${randomBytes(15).toString('base64url').slice(0, 20)}`;
    this.botSecret = opts.botSecret ?? randomBytes(24).toString('base64url');
    this.botName = opts.botName ?? 'CocoCat';
    this.botToken = opts.botToken ?? randomBytes(8).toString('hex');
    this.botEncodingAesKey = opts.botEncodingAesKey ?? newEncodingAesKey();
    this.gatewayUrl = opts.gatewayUrl;
    const notify = () => this.waiters.notify();
    this.api = new WecomApi({
      corpId: this.corpId,
      corpSecret: this.corpSecret,
      agentId: this.agentId,
      tokenTtlSeconds: opts.tokenTtlSeconds ?? 7200,
      perMinute: opts.memberRateLimit ?? { count: 30, windowMs: 60_000 },
      perHour: opts.memberHourlyLimit ?? { count: 1000, windowMs: 3_600_000 },
      oversize: opts.oversize ?? 'truncate',
      ...(opts.members ? { members: new Set(opts.members) } : {}),
      now: () => this.now(),
    });
    this.callback = new AppCallback({
      corpId: this.corpId,
      agentId: this.agentId,
      token: this.token,
      encodingAesKey: this.encodingAesKey,
      retryWaitMs: opts.retryWaitMs ?? 5000,
      tries: opts.tries ?? 3,
    });
    this.bot = new BotLongConnection({
      botId: this.botId,
      secret: this.botSecret,
      streamTtlMs: opts.streamTtlMs ?? 6 * 60_000,
      welcomeWindowMs: opts.welcomeWindowMs ?? 5000,
      updateWindowMs: opts.updateWindowMs ?? 5000,
      subscribeTimeoutMs: opts.subscribeTimeoutMs ?? 10_000,
      offline: opts.offline ?? 'queue',
      takeoverCloseDelayMs: opts.takeoverCloseDelayMs ?? 100,
      baseUrl: () => this.url,
      notify,
    });
    this.webhook = new BotWebhook({
      botId: this.botId,
      token: this.botToken,
      encodingAesKey: this.botEncodingAesKey,
      streamTtlMs: opts.streamTtlMs ?? 6 * 60_000,
      refreshIntervalMs: opts.streamRefreshIntervalMs ?? 1000,
      retryWaitMs: opts.retryWaitMs ?? 5000,
      baseUrl: () => this.url,
      notify,
    });
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { errcode: -1, errmsg: String(err) });
      });
    });
    this.server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => this.bot.handleUpgrade(req, socket, head));
  }

  /** API base URL (no trailing slash): stands in for https://qyapi.weixin.qq.com. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The robot's long-connection URL, for the SDK's `wsUrl` (real: wss://openws.work.weixin.qq.com). */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    // Bytes first: media/upload is binary; everything else is UTF-8 text.
    const raw = await readRawBody(req);
    const body = raw.toString('utf8');
    const method = req.method ?? 'GET';
    try {
      const media = /^\/aibot\/media\/([0-9a-f]+)$/.exec(url.pathname);
      if (media && method === 'GET') {
        const m = this.bot.serveMedia(media[1] ?? '') ?? this.webhook.serveMedia(media[1] ?? '');
        if (!m) {
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('media expired or unknown');
          return;
        }
        const disposition = m.fileName === undefined ? {} : { 'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(m.fileName)}` };
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(m.data.length), ...disposition });
        res.end(m.data);
        return;
      }
      const responseUrl = /^\/aibot\/response\/([0-9a-f]+)$/.exec(url.pathname);
      if (responseUrl && method === 'POST') {
        const answer = this.webhook.handleResponseUrl(responseUrl[1] ?? '', body);
        sendJson(res, answer.status, answer.json);
        return;
      }
      const answer = this.api.handle(method, url.pathname, url.searchParams, raw, req.headers['content-type']);
      if (!answer) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end(`no route ${method} ${url.pathname}`);
        return;
      }
      if (answer.file) {
        res.writeHead(answer.status, answer.file.headers);
        res.end(answer.file.data);
        return;
      }
      for (const [name, value] of Object.entries(answer.headers ?? {})) res.setHeader(name, value);
      sendJson(res, answer.status, answer.json, 'application/json; charset=UTF-8');
    } finally {
      this.waiters.notify();
    }
  }

  // ---- clock ------------------------------------------------------------------------------------------------------

  /** Fake clock (ms): token expiry, the per-member windows and CreateTime follow it. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  advanceTime(seconds: number): void {
    this.offsetMs += seconds * 1000;
  }

  // ---- app: callbacks ---------------------------------------------------------------------------------------------

  /** The app's message crypto (receive id = CorpID), e.g. to build malformed requests around a valid ciphertext. */
  get crypto(): TencentCrypto {
    return this.callback.crypto;
  }

  private target(url: string | undefined): string {
    const t = url ?? this.gatewayUrl;
    if (!t) throw new Error('fake WeCom: gatewayUrl is not set');
    return t;
  }

  /** The console's URL check: GET with an encrypted echostr; `ok` when the plaintext comes back within 1 s. */
  async verifyUrl(url?: string, opts: { echostr?: string; tamper?: 'msg_signature' | 'corpid'; timeoutMs?: number } = {}): Promise<VerifyResult> {
    return this.callback.verifyUrl(this.target(url), opts);
  }

  /** A member's message or event, encrypted and signed, retried like WeCom (same body on every try). */
  async push(user: string, message: WecomAppMessage, opts: AppPushOptions = {}): Promise<AppPushResult> {
    return this.callback.push(this.target(opts.url), user, message, opts.createTime ?? Math.floor(this.now() / 1000), opts);
  }

  /** One unretried POST with exactly this body; `query` defaults to a valid signature over `encrypt`, if given. */
  async rawPost(body: string, query: Record<string, string> | { encrypt: string; tamper?: AppTamper } = {}, url?: string): Promise<{ status: number; body: string }> {
    const q = 'encrypt' in query && typeof query.encrypt === 'string' ? this.callback.signedQuery(query.encrypt, query.tamper as AppTamper | undefined) : (query as Record<string, string>);
    return this.callback.rawPost(this.target(url), body, q);
  }

  // ---- app: API ---------------------------------------------------------------------------------------------------

  /** Messages the member got, in order. */
  delivered(user: string): DeliveredMessage[] {
    return this.api.delivered(user);
  }

  /** The images the member got through message/send, in order, with the bytes of the upload each named. */
  deliveredImages(user: string): { mediaId: string; data: Buffer; contentType: string }[] {
    return this.api.deliveredImages(user);
  }

  /** Every app media/upload call with its errcode (0 = stored; `mediaId` then set) and the bytes of its `media` part. */
  get mediaUploads(): readonly UploadRecord[] {
    return this.api.media.uploads;
  }

  /** The next `n` app media/upload calls with a valid token answer `errcode` (-1 busy, 45009…). */
  failNextMediaUploads(n: number, errcode: number): void {
    this.api.media.failNextUploads(n, errcode);
  }

  /** Messages answered errcode 0 that the member never got (over 30/min or 1000/h, or duplicate-checked). */
  dropped(user?: string): DroppedMessage[] {
    return user === undefined ? this.api.allDropped : this.api.dropped(user);
  }

  /** Every message/send call with its errcode. */
  get sends(): readonly SendCall[] {
    return this.api.sends;
  }

  get counters(): Readonly<ApiCounters> {
    return this.api.counters;
  }

  /** Calls `listener` with every message delivered to a member from now on; returns unsubscribe. */
  onDelivered(listener: (m: DeliveredMessage) => void): () => void {
    return this.api.onDelivered(listener);
  }

  /** Every token issued so far answers 42001 (expired); gettoken then issues a new one. */
  expireTokens(): void {
    this.api.expireTokens();
  }

  /** Every token issued so far answers 40014 (invalid); gettoken then issues a new one. */
  invalidateTokens(): void {
    this.api.invalidateTokens();
  }

  /** The next `n` message/send calls with a valid token answer `errcode` (-1 busy, 45009, 45033…). */
  failNextSends(n: number, errcode: number): void {
    this.api.failNextSends(n, errcode);
  }

  failNextTokens(n: number, errcode: number): void {
    this.api.failNextTokens(n, errcode);
  }

  /**
   * A member sends the app a photo with these bytes: stored as WeCom stores it (media/get serves it for 3 days
   * on the fake clock, its PicUrl too), then pushed as an image message with that MediaId and PicUrl.
   * `contentType` defaults to the bytes' type (png, gif, else image/jpeg).
   */
  async sendImage(user: string, data: Buffer, opts: AppPushOptions & { contentType?: string } = {}): Promise<AppPushResult & { mediaId: string; picUrl: string }> {
    const mediaId = this.addMedia(data, opts.contentType);
    const picUrl = `${this.url}/wwpic/${mediaId}/0`;
    return { ...(await this.push(user, wecomMessage.image(picUrl, mediaId), opts)), mediaId, picUrl };
  }

  /** Stores a file as a member's upload without pushing anything; returns its media id. */
  addMedia(data: Buffer, contentType?: string): string {
    return this.api.media.add(data, contentType ?? imageTypeOf(data));
  }

  /** The media id answers 40007 (its PicUrl 404) from now on, as after WeCom's 3 days. */
  expireMedia(mediaId: string): void {
    this.api.media.expire(mediaId);
  }

  /** The next `n` media/get calls with a valid token answer `errcode` (-1 busy, 45009…). */
  failNextMediaGets(n: number, errcode: number): void {
    this.api.media.failNext(n, errcode);
  }

  /** Every media/get call and PicUrl fetch with its errcode (0 = the file was served). */
  get mediaGets(): readonly MediaGetRecord[] {
    return this.api.media.gets;
  }

  // ---- robot: long connection -------------------------------------------------------------------------------------

  /** A user's message to the robot (`aibot_msg_callback`), with a fresh req_id and msgid. */
  sendBotMessage(content: BotContent, opts: BotMessageOptions = {}): BotDelivery {
    return this.bot.push(BOT_CMD.MSG_CALLBACK, botMessageBody(this.botContext, content, opts));
  }

  /** How long the robot's media URLs are served (default 5 minutes, as WeCom's); 0: URLs hosted from now on answer 404 at once. */
  set botMediaUrlTtlMs(ms: number) {
    this.bot.mediaUrlTtlMs = ms;
  }

  /** Every robot media URL handed out so far answers 404 from now on, as after WeCom's 5 minutes. */
  expireBotMediaUrls(): void {
    this.bot.expireMediaUrls();
  }

  sendBotText(text: string, opts: BotMessageOptions = {}): BotDelivery {
    return this.sendBotMessage({ type: 'text', content: text }, opts);
  }

  /** An `aibot_event_callback`: enter_chat, template_card_event (fields: event_key, task_id), feedback_event… */
  sendBotEvent(eventtype: string, opts: BotEventOptions = {}): BotDelivery {
    return this.bot.push(BOT_CMD.EVENT_CALLBACK, botEventBody(this, eventtype, opts));
  }

  /** Builds a message body without sending it (media bytes are hosted at once). */
  buildBotMessage(content: BotContent, opts: BotMessageOptions = {}): Record<string, unknown> {
    return botMessageBody(this.botContext, content, opts);
  }

  /** Serves `data` as a robot media item (encrypted on the long connection): its `{url, aeskey}`, e.g. for a quoted image. */
  hostBotMedia(data: Buffer, fileName?: string): { url: string; aeskey?: string } {
    return this.bot.host(data, fileName);
  }

  private get botContext() {
    return { botId: this.botId, botName: this.botName, host: (data: Buffer, fileName?: string) => this.bot.host(data, fileName) };
  }

  /** Writes the delivery's frame again (same req_id and msgid), as a duplicate would arrive. */
  repush(delivery: BotDelivery): boolean {
    return this.bot.repush(delivery);
  }

  /** Every callback pushed, in order, with its replies. */
  get botDeliveries(): readonly BotDelivery[] {
    return this.bot.deliveries;
  }

  /** Proactive `aibot_send_msg` messages accepted. */
  get botSent(): readonly BotSentMessage[] {
    return this.bot.sent;
  }

  /** Every upload through `aibot_upload_media_*`, in order (the bytes: `uploadedMedia`). */
  get botUploads(): readonly { mediaId: string; type: string; filename: string; bytes: number }[] {
    return this.bot.uploads;
  }

  /** Refuses the next `n` robot frames of one cmd (e.g. `aibot_send_msg` after an upload) with `errcode`. */
  failNextBotRequests(cmd: string, n: number, errcode: number, errmsg?: string): void {
    this.bot.failNextRequests(cmd, n, errcode, errmsg);
  }

  /** Media uploaded through `aibot_upload_media_*`. */
  uploadedMedia(mediaId: string): { type: string; filename?: string; data: Buffer } | undefined {
    return this.bot.uploaded(mediaId);
  }

  get connections(): BotConnectionInfo[] {
    return this.bot.connections;
  }

  /** WebSocket connections accepted since start. */
  get connectionCount(): number {
    return this.bot.connectionCount;
  }

  get openConnections(): number {
    return this.bot.openConnections;
  }

  /** The subscribed connection callbacks go to, if any. */
  get currentConnection(): BotConnectionInfo | undefined {
    return this.bot.current;
  }

  /** Frames a real server would refuse or ignore (and refused requests), with why. */
  get botProtocolErrors(): readonly string[] {
    return this.bot.protocolErrors;
  }

  onBotReply(listener: (d: BotDelivery, r: BotReplyRecord) => void): () => void {
    return this.bot.onReply(listener);
  }

  /** Kills every open robot socket without a close handshake; returns how many. */
  dropConnections(): number {
    return this.bot.dropConnections();
  }

  /** As if another host subscribed with this robot: the current connection gets disconnected_event and is closed. */
  takeOver(): boolean {
    return this.bot.takeOver();
  }

  ignorePings(n?: number): void {
    this.bot.ignorePings(n);
  }

  answerPings(): void {
    this.bot.answerPings();
  }

  /** The next `n` reply/send/upload frames get no ack and are not applied (the SDK times out after 5 s). */
  withholdAcks(n: number): void {
    this.bot.withholdAcks(n);
  }

  failNextReplies(n: number, errcode: number, errmsg?: string): void {
    this.bot.failNextReplies(n, errcode, errmsg);
  }

  failNextSubscribes(n: number, errcode: number, errmsg?: string): void {
    this.bot.failNextSubscribes(n, errcode, errmsg);
  }

  /** Any text to the subscribed connection, for malformed-frame tests. */
  sendRaw(data: string): number {
    return this.bot.sendRaw(data);
  }

  /** Resolves once a connection is subscribed. */
  waitForBotConnection(timeoutMs = 10_000): Promise<void> {
    return this.waitFor(() => this.bot.current !== undefined, timeoutMs, 'a subscribed robot connection');
  }

  /** Resolves with the delivery once it is answered (a finished stream, card, welcome…). */
  async waitForBotReply(delivery: BotDelivery, timeoutMs = 10_000): Promise<BotDelivery> {
    await this.waitFor(() => delivery.answered, timeoutMs, `the reply to ${delivery.reqId}`);
    return delivery;
  }

  // ---- robot: webhook mode ----------------------------------------------------------------------------------------

  /** Webhook mode's URL check: like the app's, with receive id ''. */
  verifyBotWebhook(url: string, opts: { echostr?: string; tamper?: 'msg_signature'; timeoutMs?: number } = {}): Promise<VerifyResult> {
    return this.webhook.verifyUrl(url, opts);
  }

  /**
   * Webhook mode: POSTs the message as `{encrypt}` and, when the answer opens an unfinished stream, keeps POSTing
   * `msgtype: stream` refreshes until a finished one (or the stream TTL).
   */
  pushBotWebhook(url: string, content: BotContent | Record<string, unknown>, opts: BotMessageOptions & BotWebhookPushOptions = {}): Promise<BotWebhookResult> {
    const body = isContent(content) ? botMessageBody({ ...this.botContext, host: (d, f) => this.webhook.host(d, f) }, content, { responseUrl: this.webhook.newResponseUrl(), ...opts }) : content;
    return this.webhook.push(url, body, opts);
  }

  /** Webhook mode's one-shot `response_url` POSTs, in order. */
  get responseUrlPosts(): readonly ResponseUrlPost[] {
    return this.webhook.responseUrlPosts;
  }

  // ---- waiting and shutdown ---------------------------------------------------------------------------------------

  /** Resolves when `predicate` holds, re-checked on every request, connection, frame and push. */
  waitFor(predicate: () => boolean, timeoutMs = 10_000, what = 'a condition'): Promise<void> {
    return this.waiters.until(predicate, timeoutMs, what);
  }

  /** Stops everything (idempotent): sockets cut, pushes in flight aborted, pending deliveries settled. */
  async close(): Promise<void> {
    if (this.closing) return this.closing;
    this.callback.close();
    this.webhook.close();
    this.bot.close();
    this.server.closeAllConnections();
    this.closing = new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
    return this.closing;
  }
}

/** 43 characters of the base64 alphabet whose decoding (with '=') is 32 bytes. */
export function newEncodingAesKey(): string {
  return randomBytes(32).toString('base64').slice(0, 43);
}

const isContent = (v: BotContent | Record<string, unknown>): v is BotContent =>
  typeof (v as { type?: unknown }).type === 'string' && (v as { msgtype?: unknown }).msgtype === undefined;

