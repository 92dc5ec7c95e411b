/**
 * A local fake of Feishu's open platform (protocols.md §4–§6) on 127.0.0.1 and a free port: the OpenAPI
 * (`/open-apis/...`), long-connection endpoint discovery and the WebSocket on the same port, and webhook pushes
 * toward a gateway. The official SDK talks to it with `domain: fake.url`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  FeishuApi,
  type ApiAnswer,
  type ApiCall,
  type ApiCounters,
  type FakeReaction,
  type RateLimit,
  type ReactionCall,
  type ResourceCall,
  type MessageRead,
  type ScriptedFailure,
  type SentMessage,
  type UploadCall,
  type UploadedImage,
} from './api.js';
import type { CardCall, CardCallKind, FakeCard } from './cards.js';
import {
  DEFAULT_USER,
  messageEvent,
  newAppId,
  newOpenId,
  p2pChatIdOf,
  recallEvent,
  type EventContext,
  type MessageBody,
  type MessageEventOptions,
  type PostElement,
  type ReceiveMessageEvent,
} from './events.js';
import { LongConnection, type ClientConfig, type ConnectionInfo, type EventDelivery, type HandshakeRefusal, type PushEventOptions } from './long-connection.js';
import {
  pushWebhook,
  rawWebhook,
  REAL_RETRY_SCHEDULE_MS,
  Sleeper,
  urlVerification,
  type UrlVerificationResult,
  type WebhookAttempt,
  type WebhookPushOptions,
  type WebhookResult,
} from './webhook.js';

export interface FakeFeishuOptions {
  /** Default: a fresh id matching `^cli_[0-9a-f]{16}$` (the node SDK refuses others). */
  appId?: string;
  appSecret?: string;
  /** Put in every event's `header.token`; checked by gateways without an Encrypt Key. */
  verificationToken?: string;
  /** When set, webhook pushes are encrypted and signed with it (unless a push says otherwise). */
  encryptKey?: string;
  tenantKey?: string;
  botOpenId?: string;
  botName?: string;
  /** tenant_access_token lifetime on the fake clock (real: 7200). */
  tokenTtlSeconds?: number;
  /** While more than this remains the same token is returned (real: 1800). */
  tokenRefreshWindowSeconds?: number;
  /** Messages per chat per window (real: 5 per 1000 ms). */
  chatRateLimit?: RateLimit;
  /** How long a `uuid` deduplicates sends, on the fake clock (real: 3600). */
  uuidWindowSeconds?: number;
  /** What discovery and pongs hand to clients, in seconds. Default small for tests: ping 2, reconnect 1, nonce 1. */
  clientConfig?: Partial<ClientConfig>;
  /** Real: 3000. */
  ackTimeoutMs?: number;
  /** Re-pushes of an unacked event after the first push (default 4). */
  maxRetries?: number;
  /** Default `random`, like Feishu. */
  routing?: 'random' | 'round-robin';
  /** Open long connections per app (real: 50). */
  maxConnections?: number;
  /**
   * A new connection gets events after its first frame (clients ping at once) or this many ms, whichever is first
   * (default 200). 0 pushes right after the handshake, which the node SDK can miss (see README).
   */
  readyDelayMs?: number;
  /** Webhook redelivery waits (real, and the default: 15 s, 5 min, 1 h, 6 h). */
  webhookRetrySchedule?: number[];
  /** How long a webhook try may take (real: 3000). */
  webhookTimeoutMs?: number;
}

export interface FakeWebhookOptions {
  /** Send plaintext even though the fake has an Encrypt Key. */
  plaintext?: boolean;
  /** Override the Encrypt Key for this push. */
  encryptKey?: string;
  /** Rewrite `header.token` (e.g. a wrong Verification Token). */
  verificationToken?: string;
  forgeSignature?: boolean;
  retrySchedule?: number[];
  timeoutMs?: number;
  headers?: Record<string, string>;
}

export type EventOptions = MessageEventOptions;

export interface ImageEventOptions extends EventOptions {
  imageKey?: string;
  /** Bytes served at the message resource URL (default a tiny PNG). */
  data?: Buffer;
  /** Content-Type served with them (default `image/png`). */
  contentType?: string;
}

export interface PostEventOptions extends EventOptions {
  title?: string;
  /**
   * Bytes served for the post's `img` elements, by image_key; an `img` not listed serves a tiny PNG. Like a real
   * post, each image belongs to the message: its bytes are at this message's resource URL with `type=image`.
   */
  images?: Record<string, Buffer>;
}

export interface FileEventOptions extends EventOptions {
  fileKey?: string;
  data?: Buffer;
  contentType?: string;
}

const DEFAULT_CLIENT_CONFIG: ClientConfig = { PingInterval: 2, ReconnectCount: -1, ReconnectInterval: 1, ReconnectNonce: 1 };
/** A 1×1 transparent PNG. */
const TINY_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

export class FakeFeishu {
  readonly appId: string;
  readonly appSecret: string;
  readonly verificationToken: string;
  readonly encryptKey: string | undefined;
  readonly tenantKey: string;
  readonly botOpenId: string;
  readonly botName: string;
  private readonly api: FeishuApi;
  private readonly ws: LongConnection;
  private readonly sleeper = new Sleeper();
  private readonly server: Server;
  private offsetMs = 0;
  private port = 0;
  private closing: Promise<void> | undefined;

  /** Starts the fake on 127.0.0.1 and a free port. */
  static async start(opts: FakeFeishuOptions = {}): Promise<FakeFeishu> {
    const fake = new FakeFeishu(opts);
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(0, '127.0.0.1', () => resolve());
    });
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  private constructor(private readonly opts: FakeFeishuOptions) {
    this.appId = opts.appId ?? newAppId();
    this.appSecret = opts.appSecret ?? randomBytes(16).toString('hex');
    this.verificationToken = opts.verificationToken ?? randomBytes(16).toString('hex');
    this.encryptKey = opts.encryptKey;
    this.tenantKey = opts.tenantKey ?? randomBytes(8).toString('hex');
    this.botOpenId = opts.botOpenId ?? newOpenId();
    this.botName = opts.botName ?? 'CocoCat';
    this.api = new FeishuApi({
      appId: this.appId,
      appSecret: this.appSecret,
      tenantKey: this.tenantKey,
      botOpenId: this.botOpenId,
      botName: this.botName,
      tokenTtlSeconds: opts.tokenTtlSeconds ?? 7200,
      tokenRefreshWindowSeconds: opts.tokenRefreshWindowSeconds ?? 1800,
      chatRateLimit: opts.chatRateLimit ?? { count: 5, windowMs: 1000 },
      uuidWindowSeconds: opts.uuidWindowSeconds ?? 3600,
      now: () => this.now(),
    });
    this.ws = new LongConnection(
      {
        appId: this.appId,
        appSecret: this.appSecret,
        clientConfig: { ...DEFAULT_CLIENT_CONFIG, ...opts.clientConfig },
        ackTimeoutMs: opts.ackTimeoutMs ?? 3000,
        maxRetries: opts.maxRetries ?? 4,
        routing: opts.routing ?? 'random',
        maxConnections: opts.maxConnections ?? 50,
        ticketTtlMs: 60_000,
        readyDelayMs: opts.readyDelayMs ?? 200,
      },
      () => `ws://127.0.0.1:${this.port}`,
    );
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) send(res, { status: 500, json: { code: -1, msg: String(err) } });
      });
    });
    this.server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => this.ws.handleUpgrade(req, socket, head));
  }

  /** Base URL (no trailing slash): the SDK's `domain`, the channel's API base. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const body = await readRaw(req);
    const method = req.method ?? 'GET';
    let answer: ApiAnswer | undefined;
    if (url.pathname === '/callback/ws/endpoint') answer = method === 'POST' ? this.ws.handleEndpoint(body, req.headers) : undefined;
    else answer = this.api.handle(method, url.pathname, url.searchParams, req.headers, body);
    if (!answer) answer = { status: 404, json: { code: 404, msg: `no route ${method} ${url.pathname}` } };
    send(res, answer);
    this.ws.notify();
  }

  // ---- clock ------------------------------------------------------------------------------------------------------

  /** Fake clock (ms): token expiry and the uuid window follow it; rate limits use the real clock. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  advanceTime(seconds: number): void {
    this.offsetMs += seconds * 1000;
  }

  // ---- events -----------------------------------------------------------------------------------------------------

  private get ctx(): EventContext {
    return { appId: this.appId, tenantKey: this.tenantKey, verificationToken: this.verificationToken, botOpenId: this.botOpenId, botName: this.botName };
  }

  /** Any `im.message.receive_v1` event; the message becomes known, so the gateway may reply to it. */
  messageEvent(body: MessageBody, opts: EventOptions = {}): ReceiveMessageEvent {
    const event = messageEvent(this.ctx, body, opts);
    this.remember(event);
    return event;
  }

  textEvent(text: string, opts: EventOptions = {}): ReceiveMessageEvent {
    return this.messageEvent({ type: 'text', text }, opts);
  }

  /** A rich-text message; its `img` elements' images are served for it (see `images`). */
  postEvent(content: PostElement[][], opts: PostEventOptions = {}): ReceiveMessageEvent {
    const event = this.messageEvent({ type: 'post', title: opts.title, content }, opts);
    for (const line of content) {
      for (const el of line) {
        const key = el.tag === 'img' && typeof el.image_key === 'string' ? el.image_key : undefined;
        if (key) this.api.registerResource(event.event.message.message_id, key, 'image', opts.images?.[key] ?? TINY_PNG, 'image/png');
      }
    }
    return event;
  }

  /** A user sends an image: the event, with `data` served at the message resource URL (`type=image`). */
  imageEvent(opts: ImageEventOptions = {}): ReceiveMessageEvent {
    const event = this.messageEvent({ type: 'image', imageKey: opts.imageKey }, opts);
    const key = (JSON.parse(event.event.message.content) as { image_key: string }).image_key;
    this.api.registerResource(event.event.message.message_id, key, 'image', opts.data ?? TINY_PNG, opts.contentType ?? 'image/png');
    return event;
  }

  fileEvent(fileName: string, opts: FileEventOptions = {}): ReceiveMessageEvent {
    const event = this.messageEvent({ type: 'file', fileName, fileKey: opts.fileKey }, opts);
    const key = (JSON.parse(event.event.message.content) as { file_key: string }).file_key;
    this.api.registerResource(event.event.message.message_id, key, 'file', opts.data ?? Buffer.from(`contents of ${fileName}\n`), opts.contentType ?? 'application/octet-stream', fileName);
    return event;
  }

  /** The p2p chat id between the bot and a user (what `receive_id_type=open_id` sends land in). */
  p2pChatId(openId: string = DEFAULT_USER): string {
    return p2pChatIdOf(this.appId, openId);
  }

  private remember(event: unknown): void {
    const e = event as Partial<ReceiveMessageEvent> | undefined;
    const m = e?.event?.message;
    if (e?.header?.event_type !== 'im.message.receive_v1' || !m?.message_id || !m.chat_id) return;
    this.api.registerMessage(m.message_id, m.chat_id, e.event?.sender?.sender_id, m.root_id, m.thread_id);
    const sender = e.event?.sender?.sender_id?.open_id;
    if (sender && typeof m.content === 'string') {
      this.api.registerContent(m.message_id, {
        chatId: m.chat_id,
        msgType: m.message_type,
        content: m.content,
        senderOpenId: sender,
        createTime: m.create_time,
        ...(m.mentions ? { mentions: m.mentions.map((x) => ({ key: x.key, id: { open_id: x.id.open_id }, name: x.name, tenant_key: x.tenant_key })) } : {}),
        ...(m.root_id ? { rootId: m.root_id } : {}),
        ...(m.parent_id ? { parentId: m.parent_id } : {}),
        ...(m.thread_id ? { threadId: m.thread_id } : {}),
      });
    }
  }

  /** The next `n` get-message calls with a valid token fail (e.g. `{code: 99991672}`). */
  failNextMessageReads(n: number, failure: ScriptedFailure): void {
    this.api.failNextMessageReads(n, failure);
  }

  /** Every get-message call (`GET /open-apis/im/v1/messages/:message_id`), served or not. */
  get messageReads(): readonly MessageRead[] {
    return this.api.messageReads;
  }

  // ---- long connection --------------------------------------------------------------------------------------------

  /** Pushes an event over the long connection (waits for a client if none is connected); re-pushed until acked. */
  pushEvent(event: unknown, opts: PushEventOptions = {}): EventDelivery {
    this.remember(event);
    return this.ws.pushEvent(event, opts);
  }

  /** Every pushed event with its attempts and acks, in push order. */
  get deliveries(): readonly EventDelivery[] {
    return this.ws.deliveries;
  }

  get connections(): ConnectionInfo[] {
    return this.ws.connections;
  }

  get openConnections(): number {
    return this.ws.openConnections;
  }

  /** Open connections that already get events (see ConnectionInfo.ready). */
  get readyConnections(): number {
    return this.ws.readyConnections;
  }

  /** Connections accepted since start (open or not). */
  get connectionCount(): number {
    return this.ws.connectionCount;
  }

  /** Every call to /callback/ws/endpoint with the code it got. */
  get discoveries(): readonly { at: number; code: number }[] {
    return this.ws.discoveries;
  }

  /** Things a real server would reject or ignore: text frames, undecodable frames, wrong service id, unknown acks. */
  get protocolErrors(): readonly string[] {
    return this.ws.protocolErrors;
  }

  get clientConfig(): ClientConfig {
    return { ...this.ws.clientConfig };
  }

  /** Changes what later discoveries and pongs hand out. */
  setClientConfig(config: Partial<ClientConfig>): void {
    this.ws.setClientConfig(config);
  }

  /** Kills every open socket (no close handshake); returns how many. */
  dropConnections(): number {
    return this.ws.dropConnections();
  }

  /** Every open socket stays open but goes silent (no pongs, no events, acks ignored); returns how many. */
  stallConnections(): number {
    return this.ws.stallConnections();
  }

  /** The next `times` WebSocket handshakes fail with Handshake-Status/-Msg/-Autherrcode headers. */
  refuseHandshakes(refusal: HandshakeRefusal, times = Infinity): void {
    this.ws.refuseHandshakes(refusal, times);
  }

  acceptHandshakes(): void {
    this.ws.acceptHandshakes();
  }

  /** The next `times` discoveries answer `code` (e.g. 1 busy, 514 auth, 1000040343 internal, 1000040350 limit). */
  failNextEndpoint(code: number, times = 1, msg?: string): void {
    this.ws.failNextEndpoint(code, times, msg);
  }

  sendRaw(data: Buffer | string, connectionId?: number): number {
    return this.ws.sendRaw(data, connectionId);
  }

  /** Resolves when `predicate` holds, re-checked on every request, connection, ping, push and ack. */
  waitFor(predicate: () => boolean, timeoutMs = 10_000, what = 'a condition'): Promise<void> {
    return this.ws.until(predicate, timeoutMs, what);
  }

  /** Resolves once `n` connections are open and ready for events. */
  waitForConnections(n = 1, timeoutMs = 10_000): Promise<void> {
    return this.ws.until(() => this.ws.readyConnections >= n, timeoutMs, `${n} ready connection(s)`);
  }

  // ---- webhook ----------------------------------------------------------------------------------------------------

  /** POSTs the event to a gateway's webhook like Feishu does, redelivering on failure. */
  pushWebhook(url: string, event: unknown, opts: FakeWebhookOptions = {}): Promise<WebhookResult> {
    this.remember(event);
    const withToken =
      opts.verificationToken === undefined ? event : { ...(event as object), header: { ...(event as { header?: object }).header, token: opts.verificationToken } };
    const push: WebhookPushOptions = {
      encryptKey: opts.plaintext ? undefined : (opts.encryptKey ?? this.encryptKey),
      forgeSignature: opts.forgeSignature,
      retrySchedule: opts.retrySchedule ?? this.opts.webhookRetrySchedule ?? REAL_RETRY_SCHEDULE_MS,
      timeoutMs: opts.timeoutMs ?? this.opts.webhookTimeoutMs ?? 3000,
      headers: opts.headers,
    };
    return pushWebhook(url, withToken, push, this.sleeper);
  }

  /** The console's Request URL check; encrypted when the fake has an Encrypt Key (unless `plaintext`). */
  urlVerification(url: string, opts: { plaintext?: boolean; challenge?: string; verificationToken?: string; timeoutMs?: number } = {}): Promise<UrlVerificationResult> {
    return urlVerification(url, {
      verificationToken: opts.verificationToken ?? this.verificationToken,
      encryptKey: opts.plaintext ? undefined : this.encryptKey,
      challenge: opts.challenge,
      timeoutMs: opts.timeoutMs,
    });
  }

  /** One unretried POST with exactly this body and headers. */
  rawWebhook(url: string, body: string, headers: Record<string, string> = {}): Promise<WebhookAttempt> {
    return rawWebhook(url, body, headers);
  }

  // ---- OpenAPI ----------------------------------------------------------------------------------------------------

  /** Every message Feishu accepted from the bot, in order (`seq` orders them with reactions). */
  get messages(): readonly SentMessage[] {
    return this.api.messages;
  }

  messagesIn(chatId: string): SentMessage[] {
    return this.api.messagesIn(chatId);
  }

  /** Calls `listener` with every message accepted from now on (e.g. to print bot replies); returns unsubscribe. */
  onMessage(listener: (m: SentMessage) => void): () => void {
    return this.api.onMessage(listener);
  }

  /** The most messages one chat (or the busiest chat) received within any `windowMs` span. */
  maxPerWindow(chatId?: string, windowMs = 1000): number {
    return this.api.maxPerWindow(chatId, windowMs);
  }

  /** Every create/reply call with its HTTP status and code. */
  get calls(): readonly ApiCall[] {
    return this.api.calls;
  }

  get counters(): Readonly<ApiCounters> {
    return this.api.counters;
  }

  /**
   * Forgets what was recorded so far: accepted messages, calls and settled deliveries (pending events, the uuid
   * window and the counters stay). For benchmarks and long simulations, whose records would otherwise grow forever.
   */
  forgetHistory(): void {
    this.api.forgetHistory();
    this.ws.forgetSettled();
  }

  /** Every token issued so far answers 99991663 from now on. */
  invalidateTokens(): void {
    this.api.invalidateTokens();
  }

  /** The next `n` sends with a valid token fail (e.g. `{code: 230020}`, `{code: 230002}`, `{code: 1, status: 500}`). */
  failNextSends(n: number, failure: ScriptedFailure): void {
    this.api.failNextSends(n, failure);
  }

  /**
   * Every image the bot uploaded that Feishu accepted, in order: `imageKey`, `imageType`, the bytes as received
   * (`data`), the `mimeType` read from them, the part's `fileName` and `contentType`, `at` and `seq` (shared with
   * `messages[].seq`). An image message's `image` is its upload.
   */
  get uploads(): readonly UploadedImage[] {
    return this.api.uploads;
  }

  /** Every upload call (accepted or not) with its `imageType`, `bytes`, `imageKey`, HTTP status and code. */
  get uploadCalls(): readonly UploadCall[] {
    return this.api.uploadCalls;
  }

  /** The next `n` image uploads with a valid token fail (e.g. `{code: 99991400}` (HTTP 429), `{code: 234007}`, `{code: 1, status: 500}`). */
  failNextUploads(n: number, failure: ScriptedFailure): void {
    this.api.failNextUploads(n, failure);
  }

  /** Every message resource download with its `type`, HTTP status and code. */
  get resourceCalls(): readonly ResourceCall[] {
    return this.api.resourceCalls;
  }

  /** The next `n` resource downloads with a valid token fail (e.g. `{code: 234004}`, `{code: 99991400}`, `{code: 1, status: 500}`). */
  failNextDownloads(n: number, failure: ScriptedFailure): void {
    this.api.failNextDownloads(n, failure);
  }

  /** The user deletes (recalls) the message: downloading its resources answers 230110, reacting to it 231003, replying to it 230011, from now on. */
  recallMessage(messageId: string): void {
    this.api.recallMessage(messageId);
  }

  /**
   * The sender recalls a message they sent: the message API treats it as recalled (recallMessage), and the
   * returned `im.message.recalled_v1` event is for the test to push (`pushEvent`, or a webhook).
   */
  recallEvent(event: ReceiveMessageEvent, recallType = 'message_owner'): Record<string, unknown> {
    const m = event.event.message;
    this.recallMessage(m.message_id);
    return recallEvent(this.ctx, m.message_id, m.chat_id, recallType);
  }

  /**
   * The reactions the bot put on `messageId` (every message's when undefined), in the order added, removed ones
   * included: `emojiType`, `addedAt`/`addedSeq`, `removedAt`/`removedSeq` once deleted. `seq` orders them with
   * `messages[].seq`, e.g. "added before the reply, removed after it".
   */
  reactions(messageId?: string): FakeReaction[] {
    return this.api.reactionsOn(messageId);
  }

  /** Every reaction call (`create` or `delete`) with its message, reaction id, HTTP status and code. */
  get reactionCalls(): readonly ReactionCall[] {
    return this.api.reactionCalls;
  }

  /** The next `n` card calls (of `kind`, or any) fail: see FeishuApi.failNextCardCalls. */
  failNextCardCalls(n: number, failure: ScriptedFailure, kind?: CardCallKind): void {
    this.api.failNextCardCalls(n, failure, kind);
  }

  /** Every card call (create, content, update), accepted or not. */
  get cardCalls(): readonly CardCall[] {
    return this.api.cardKit.calls;
  }

  /** Every card entity created, by card_id. */
  get cards(): ReadonlyMap<string, FakeCard> {
    return this.api.cardKit.cards;
  }

  /** The card entity a message shows, as it is now (undefined for other messages). */
  cardOf(messageId: string): FakeCard | undefined {
    return this.api.cardOf(messageId);
  }

  /**
   * The next `n` reaction calls with a valid token (only `kind` ones when given) fail, e.g. `{code: 99991400}` (HTTP 429
   * with `x-ogw-ratelimit-reset: 1`), `{code: 231002}` (no permission), `{code: 1, status: 500}`.
   */
  failNextReactions(n: number, failure: ScriptedFailure, kind?: 'create' | 'delete'): void {
    this.api.failNextReactions(n, failure, kind);
  }

  /** The next `n` sends with a valid token get 429 / 99991400 with `x-ogw-ratelimit-reset: resetSeconds`. */
  rateLimitStorm(n: number, resetSeconds = 1): void {
    this.api.rateLimitStorm(n, resetSeconds);
  }

  /** Stops everything (idempotent): pending webhook waits end as cancelled, pending events' `done` settle. */
  async close(): Promise<void> {
    if (this.closing) return this.closing;
    this.sleeper.close();
    this.ws.close();
    this.server.closeAllConnections();
    this.closing = new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
    return this.closing;
  }
}

function readRaw(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, answer: ApiAnswer): void {
  if (answer.raw) {
    res.writeHead(answer.status, { 'content-type': answer.raw.contentType, 'content-length': String(answer.raw.data.length), ...answer.headers });
    res.end(answer.raw.data);
    return;
  }
  res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', ...answer.headers });
  res.end(JSON.stringify(answer.json));
}
