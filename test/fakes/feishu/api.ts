/**
 * The OpenAPI half of the fake Feishu (protocols.md §6): tenant_access_token/internal, im/v1 message create and
 * reply, image uploads (im/v1/images) and image messages, message resources, message reactions (add and delete),
 * card entities (cardkit/v1, in cards.ts) and the interactive messages that show them. Every answer is `{code, msg, data?}`; errors carry an HTTP status like the real gateway
 * (400 for business and token errors, 429 for frequency limits).
 */
import { randomBytes } from 'node:crypto';
import { isRecord, parseJson } from '../http.js';
import { newMessageId, p2pChatIdOf } from './events.js';
import { parseMultipart } from '../multipart.js';
import { CARD_CALLS_PER_SECOND, FakeCards, MAX_TABLES_PER_CARD, TABLE_LIMIT_REFUSAL, tablesIn, type CardCall, type CardCallKind, type CardRefusal, type FakeCard } from './cards.js';

export interface ApiAnswer {
  status: number;
  json?: unknown;
  headers?: Record<string, string>;
  /** A binary answer (message resources) instead of JSON. */
  raw?: { contentType: string; data: Buffer };
}

/** One message the bot sent that Feishu accepted (a repeated `uuid` is not recorded twice). */
export interface SentMessage {
  messageId: string;
  chatId: string;
  /** The `receive_id` and its type, for create; undefined for replies. */
  receiveId?: string;
  receiveIdType?: string;
  /** The message replied to, for /reply. */
  replyTo?: string;
  replyInThread: boolean;
  rootId?: string;
  threadId?: string;
  msgType: string;
  /** `content` parsed from its JSON string. */
  content: unknown;
  rawContent: string;
  uuid?: string;
  /** For `msg_type: image`: the upload its `image_key` names (its bytes as received). */
  image?: UploadedImage;
  /** For an interactive message showing a card entity (`{type: "card", data: {card_id}}`): its card_id. */
  cardId?: string;
  /** Wall-clock milliseconds when Feishu accepted it. */
  at: number;
  /** When the bot withdrew it (`DELETE /open-apis/im/v1/messages/:message_id`). */
  withdrawnAt?: number;
  /** Order among everything the fake recorded (messages accepted, uploads, reactions added and removed): ties in `at` broken. */
  seq: number;
}

/** An image the bot uploaded (`POST /open-apis/im/v1/images`) that Feishu accepted. */
export interface UploadedImage {
  imageKey: string;
  /** The `image_type` field: `message` (for image messages) or `avatar`. */
  imageType: 'message' | 'avatar';
  /** The `image` file part's bytes, exactly as received. */
  data: Buffer;
  /** The format Feishu reads from the bytes' signature, e.g. `image/png`. */
  mimeType: string;
  /** The file part's `filename` and its own Content-Type, as sent. */
  fileName: string;
  contentType?: string;
  at: number;
  /** Shared with SentMessage.seq: "uploaded before the message that shows it". */
  seq: number;
}

/** Every upload call, accepted or not. */
export interface UploadCall {
  status: number;
  code: number;
  /** The `image_type` field and the `image` part's size, when the body could be read. */
  imageType?: string;
  bytes?: number;
  /** The key handed out, for an accepted upload. */
  imageKey?: string;
  at: number;
}

/** A reaction the bot put on a message (`POST …/messages/:message_id/reactions`), and whether it was taken back. */
export interface FakeReaction {
  reactionId: string;
  messageId: string;
  emojiType: string;
  /** Who added it: the app (`operator_type: app`, `operator_id` its app id). */
  operatorId: string;
  operatorType: 'app';
  /** Wall-clock milliseconds and `seq` (shared with SentMessage.seq) when it was added. */
  addedAt: number;
  addedSeq: number;
  /** Set once `DELETE …/reactions/:reaction_id` removed it. */
  removedAt?: number;
  removedSeq?: number;
}

/** Every reaction call (add or delete), answered or refused. */
export interface ReactionCall {
  kind: 'create' | 'delete';
  messageId: string;
  /** The id deleted (delete), or the id handed out (create). */
  reactionId?: string;
  emojiType?: string;
  status: number;
  code: number;
  at: number;
}

/** Every create/reply call, accepted or not. */
export interface ApiCall {
  kind: 'create' | 'reply';
  status: number;
  code: number;
  chatId?: string;
  uuid?: string;
  /** A repeated uuid answered with the original message. */
  duplicate?: boolean;
  at: number;
}

/** Every message resource download (`GET /open-apis/im/v1/messages/:message_id/resources/:file_key`), served or not. */
export interface ResourceCall {
  messageId: string;
  fileKey: string;
  /** The `type` query parameter as sent (`image` or `file`; undefined when missing). */
  type?: string;
  status: number;
  code: number;
  at: number;
}

/** Every get-message call (`GET /open-apis/im/v1/messages/:message_id`), served or not. */
export interface MessageRead {
  messageId: string;
  /** The `card_msg_content_type` query parameter as sent. */
  cardContentType?: string;
  status: number;
  code: number;
  at: number;
}

/** What the message API knows of a message a user sent, as it serves it back. */
export interface UserMessageContent {
  chatId: string;
  msgType: string;
  /** The content JSON string, as in the event. */
  content: string;
  senderOpenId: string;
  mentions?: { key: string; id: { open_id: string }; name: string; tenant_key?: string }[];
  rootId?: string;
  parentId?: string;
  threadId?: string;
  createTime: string;
}

/** What the message API answers for a card read without `card_msg_content_type=user_card_content`. */
export const DEGRADED_CARD_CONTENT = JSON.stringify({ title: '', elements: [[{ tag: 'text', text: '请升级至最新版本客户端，以查看内容' }]] });

export interface ApiCounters {
  tokenRequests: number;
  tokensIssued: number;
  botInfoRequests: number;
  sendAttempts: number;
  resourceRequests: number;
  reactionRequests: number;
  uploadRequests: number;
  cardRequests: number;
  rateLimited: number;
  duplicates: number;
}

export interface ScriptedFailure {
  code: number;
  /** HTTP status; default 400 (429 for 99991400, 500 for negative codes). */
  status?: number;
  msg?: string;
  headers?: Record<string, string>;
}

export interface RateLimit {
  count: number;
  windowMs: number;
}

export interface FeishuApiOptions {
  appId: string;
  appSecret: string;
  tenantKey: string;
  /** Answered by GET /open-apis/bot/v3/info. */
  botOpenId: string;
  botName: string;
  tokenTtlSeconds: number;
  /** While more than this remains, the same token is handed out again; below it a new one is issued. */
  tokenRefreshWindowSeconds: number;
  chatRateLimit: RateLimit;
  uuidWindowSeconds: number;
  /** Fake clock in ms: token expiry and the uuid window follow it. */
  now: () => number;
}

interface TokenState {
  expiresAt: number;
  revoked: boolean;
}

interface KnownMessage {
  chatId: string;
  rootId?: string;
  threadId?: string;
}

const MESSAGES: Record<number, string> = {
  0: 'success',
  10003: 'invalid param',
  10014: 'app secret invalid',
  230001: 'Your request contains an invalid request parameter.',
  230002: 'The bot can not be outside the group.',
  230011: 'The message is withdrawn.',
  230020: 'This operation triggers the frequency limit.',
  230025: 'The length of the message content reaches its limit.',
  230110: 'Action unavailable as the message has been deleted.',
  231001: 'reaction type is invalid.',
  231002: 'The operator has no permission to react on the specific message.',
  231003: 'The message is not found, maybe not exist or deleted.',
  231010: 'The reaction does not belong to the message.',
  231011: 'The request has an invalid reaction_id.',
  234001: 'Invalid request param.',
  234002: 'Unauthorized.',
  234003: 'File not in message.',
  234004: 'App not in chat.',
  234006: 'The file size exceed the max value.',
  234007: 'App does not enable bot feature.',
  234009: 'Lack of necessary permissions.',
  234010: "File's size can't be 0.",
  234011: "Can't recognize the image format.",
  9499: 'Bad Request',
  99991400: 'request trigger frequency limit',
  99991661: 'Missing access token for authorization. Please make a request with token attached.',
  99991663: 'Invalid access token for authorization. Please make a request with token attached.',
  99992402: 'field validation failed',
};

export const RECEIVE_ID_TYPES = new Set(['open_id', 'union_id', 'user_id', 'email', 'chat_id']);
/**
 * A few of Feishu's reaction emoji types (表情文案说明; the real list has ~200). Others answer 231001 here; tests that
 * need one add it to this set.
 */
export const EMOJI_TYPES = new Set(['Typing', 'OnIt', 'Get', 'OK', 'THUMBSUP', 'DONE', 'SMILE', 'LAUGH', 'HEART', 'THINKING', 'MUSCLE', 'APPLAUSE', 'FINGERHEART', 'JIAYI']);
const MSG_TYPES = new Set(['text', 'post', 'image', 'file', 'audio', 'media', 'sticker', 'interactive', 'share_chat', 'share_user']);
/** Request body limits ([src] go CreateMessageReqBody comment): text 150 KB, post and card 30 KB. */
export const TEXT_BODY_LIMIT = 150 * 1024;
export const RICH_BODY_LIMIT = 30 * 1024;
/** Largest image the upload takes ("不能超过 10 MB"; read as MiB). */
export const IMAGE_UPLOAD_LIMIT = 10 * 1024 * 1024;

const logId = (): string => `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}${randomBytes(8).toString('hex').toUpperCase()}`;

export function apiError(code: number, status = 400, msg?: string, headers?: Record<string, string>): ApiAnswer {
  // Real errors carry a troubleshooting block with the log id.
  return {
    status,
    headers: { 'x-tt-logid': logId(), ...headers },
    json: { code, msg: msg ?? MESSAGES[code] ?? 'scripted error', error: { log_id: logId(), troubleshooter: `https://open.feishu.cn/search?log_id=${logId()}` } },
  };
}

/** Records a call in `calls`; the returned function notes its answer's status and code on it and passes the answer on. */
function recorded<C extends { status: number; code: number }>(calls: C[], call: C): (answer: ApiAnswer) => ApiAnswer {
  calls.push(call);
  return (answer) => {
    call.status = answer.status;
    call.code = (answer.json as { code?: number } | undefined)?.code ?? 0;
    return answer;
  };
}

const ok = (data: unknown): ApiAnswer => ({ status: 200, headers: { 'x-tt-logid': logId() }, json: { code: 0, msg: 'success', data } });

export class FeishuApi {
  readonly messages: SentMessage[] = [];
  readonly calls: ApiCall[] = [];
  readonly resourceCalls: ResourceCall[] = [];
  readonly messageReads: MessageRead[] = [];
  /** Every reaction added, in order (removed ones stay, with `removedAt`). */
  readonly reactions: FakeReaction[] = [];
  readonly reactionCalls: ReactionCall[] = [];
  /** Every image upload accepted, in order. */
  readonly uploads: UploadedImage[] = [];
  readonly uploadCalls: UploadCall[] = [];
  readonly counters: ApiCounters = {
    tokenRequests: 0,
    tokensIssued: 0,
    botInfoRequests: 0,
    sendAttempts: 0,
    resourceRequests: 0,
    reactionRequests: 0,
    uploadRequests: 0,
    cardRequests: 0,
    rateLimited: 0,
    duplicates: 0,
  };
  private seq = 0;
  /** Card entities (cardkit/v1) and every call on them. */
  readonly cardKit = new FakeCards(() => this.opts.now(), () => ++this.seq);
  private readonly scriptedCards: { failure: ScriptedFailure; kind?: CardCallKind }[] = [];
  private readonly scriptedReactions: { failure: ScriptedFailure; kind?: 'create' | 'delete' }[] = [];
  private readonly tokens = new Map<string, TokenState>();
  private current: string | undefined;
  private readonly known = new Map<string, KnownMessage>();
  private readonly byUuid = new Map<string, { message: SentMessage; data: unknown; at: number }>();
  private readonly recent = new Map<string, number[]>();
  private readonly scripted: ScriptedFailure[] = [];
  private storm = { left: 0, resetSeconds: 1 };
  private readonly resources = new Map<string, { type: 'image' | 'file'; data: Buffer; contentType: string; fileName?: string }>();
  private readonly scriptedDownloads: ScriptedFailure[] = [];
  private readonly scriptedReads: ScriptedFailure[] = [];
  /** Messages users sent (pushed or not), as the get-message API serves them. */
  private readonly userContents = new Map<string, UserMessageContent>();
  private readonly scriptedUploads: ScriptedFailure[] = [];
  /** Uploaded images by image_key, with their bytes (dropped when the history is forgotten). */
  private readonly images = new Map<string, UploadedImage>();
  /** Every key ever handed out: an image message may name one whose bytes were forgotten. */
  private readonly imageKeys = new Set<string>();
  /** Messages deleted or recalled: their resources answer 230110, reactions on them 231003. */
  private readonly recalled = new Set<string>();
  /** union_id / user_id → open_id for users seen in events, so sends by those ids find the same p2p chat. */
  private readonly openIds = new Map<string, string>();
  private readonly listeners = new Set<(m: SentMessage) => void>();

  constructor(private readonly opts: FeishuApiOptions) {}

  /** A user message the platform knows about (replies to it are allowed). */
  registerMessage(messageId: string, chatId: string, ids?: { open_id: string; union_id?: string; user_id?: string }, rootId?: string, threadId?: string): void {
    this.known.set(messageId, { chatId, rootId, threadId });
    if (ids?.union_id) this.openIds.set(`union_id:${ids.union_id}`, ids.open_id);
    if (ids?.user_id) this.openIds.set(`user_id:${ids.user_id}`, ids.open_id);
  }

  /** A user message's content, served by the get-message API. */
  registerContent(messageId: string, content: UserMessageContent): void {
    this.userContents.set(messageId, content);
  }

  /** The next `n` get-message calls with a valid token fail (e.g. `{code: 99991672}`, `{code: 1, status: 500}`). */
  failNextMessageReads(n: number, failure: ScriptedFailure): void {
    for (let i = 0; i < n; i++) this.scriptedReads.push(failure);
  }

  /** Bytes served for `fileKey` in `messageId`: `type=image` for images (also in posts), `type=file` for files, audio and video. */
  registerResource(messageId: string, fileKey: string, type: 'image' | 'file', data: Buffer, contentType: string, fileName?: string): void {
    this.resources.set(`${messageId}/${fileKey}`, { type, data, contentType, fileName });
  }

  /** The message is deleted or recalled: downloading its resources answers 230110, reacting to it 231003. */
  recallMessage(messageId: string): void {
    this.recalled.add(messageId);
  }

  /**
   * The next `n` reaction calls with a valid token (of `kind`, or either) fail, e.g. `{code: 99991400}` (HTTP 429),
   * `{code: 231002}`, `{code: 1, status: 500}`. Nothing is added or removed by a failed call.
   */
  failNextReactions(n: number, failure: ScriptedFailure, kind?: 'create' | 'delete'): void {
    for (let i = 0; i < n; i++) this.scriptedReactions.push({ failure, ...(kind ? { kind } : {}) });
  }

  /** The reactions put on `messageId` (all messages when undefined), removed ones included. */
  reactionsOn(messageId?: string): FakeReaction[] {
    return messageId === undefined ? [...this.reactions] : this.reactions.filter((r) => r.messageId === messageId);
  }

  /** The next `n` resource downloads with a valid token fail (e.g. `{code: 234004}`, `{code: 99991400}`, `{code: 1, status: 500}`). */
  failNextDownloads(n: number, failure: ScriptedFailure): void {
    for (let i = 0; i < n; i++) this.scriptedDownloads.push(failure);
  }

  /** The next `n` image uploads with a valid token fail (e.g. `{code: 99991400}`, `{code: 234007}`, `{code: 1, status: 500}`). */
  failNextUploads(n: number, failure: ScriptedFailure): void {
    for (let i = 0; i < n; i++) this.scriptedUploads.push(failure);
  }

  /**
   * The next `n` card calls with a valid token (of `kind`, or any) fail, e.g. `{code: 99991672}` (no cardkit
   * permission), `{code: 99991400}` (HTTP 429), `{code: 1, status: 500}`. Nothing changes on a failed call.
   */
  failNextCardCalls(n: number, failure: ScriptedFailure, kind?: CardCallKind): void {
    for (let i = 0; i < n; i++) this.scriptedCards.push({ failure, ...(kind ? { kind } : {}) });
  }

  /** The card entity a message shows (an interactive message naming a card_id), as it is now. */
  cardOf(messageId: string): FakeCard | undefined {
    return this.cardKit.ofMessage(messageId);
  }

  /** Calls `listener` with every message accepted from now on; returns the unsubscribe function. */
  onMessage(listener: (m: SentMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  invalidateTokens(): void {
    for (const t of this.tokens.values()) t.revoked = true;
    this.current = undefined;
  }

  failNextSends(n: number, failure: ScriptedFailure): void {
    for (let i = 0; i < n; i++) this.scripted.push(failure);
  }

  rateLimitStorm(n: number, resetSeconds: number): void {
    this.storm = { left: n, resetSeconds };
  }

  /** Drops the records of accepted messages and calls (not the uuid window or known messages), for long runs. */
  forgetHistory(): void {
    this.messages.splice(0);
    this.calls.splice(0);
    this.resourceCalls.splice(0);
    this.messageReads.splice(0);
    this.reactionCalls.splice(0);
    this.uploads.splice(0);
    this.uploadCalls.splice(0);
    this.cardKit.calls.splice(0);
    this.images.clear();
    for (let i = this.reactions.length - 1; i >= 0; i--) if (this.reactions[i]?.removedAt !== undefined) this.reactions.splice(i, 1);
  }

  messagesIn(chatId: string): SentMessage[] {
    return this.messages.filter((m) => m.chatId === chatId);
  }

  /** The most messages accepted for one chat within any `windowMs` (default 1 s) span: the per-chat limit check. */
  maxPerWindow(chatId?: string, windowMs = 1000): number {
    const chats = chatId === undefined ? [...new Set(this.messages.map((m) => m.chatId))] : [chatId];
    let max = 0;
    for (const chat of chats) {
      const times = this.messagesIn(chat).map((m) => m.at);
      let start = 0;
      for (let end = 0; end < times.length; end++) {
        while ((times[end] ?? 0) - (times[start] ?? 0) >= windowMs) start++;
        max = Math.max(max, end - start + 1);
      }
    }
    return max;
  }

  chatIdFor(receiveIdType: string, receiveId: string): string {
    if (receiveIdType === 'chat_id') return receiveId;
    const openId = receiveIdType === 'open_id' ? receiveId : (this.openIds.get(`${receiveIdType}:${receiveId}`) ?? `${receiveIdType}:${receiveId}`);
    return p2pChatIdOf(this.opts.appId, openId);
  }

  /** Routes one request; undefined for a path this fake does not serve (404). */
  handle(method: string, path: string, query: URLSearchParams, headers: Record<string, string | string[] | undefined>, body: Buffer): ApiAnswer | undefined {
    if (path === '/open-apis/auth/v3/tenant_access_token/internal') return method === 'POST' ? this.token(body) : apiError(9499, 405, 'method not allowed');
    if (path === '/open-apis/bot/v3/info') return method === 'GET' ? this.botInfo(headers) : undefined;
    if (path === '/open-apis/im/v1/messages') return method === 'POST' ? this.send('create', headers, body, query) : undefined;
    if (path === '/open-apis/im/v1/images') return method === 'POST' ? this.uploadImage(headers, body) : undefined;
    const reply = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/reply$/.exec(path);
    if (reply) return method === 'POST' ? this.send('reply', headers, body, query, decodeURIComponent(reply[1] ?? '')) : undefined;
    const message = /^\/open-apis\/im\/v1\/messages\/([^/]+)$/.exec(path);
    if (message && method === 'GET') return this.getMessage(headers, query, decodeURIComponent(message[1] ?? ''));
    if (message && method === 'DELETE') return this.withdraw(headers, decodeURIComponent(message[1] ?? ''));
    const resource = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/resources\/([^/]+)$/.exec(path);
    if (resource && method === 'GET') return this.resource(headers, query, decodeURIComponent(resource[1] ?? ''), decodeURIComponent(resource[2] ?? ''));
    const reactions = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/reactions$/.exec(path);
    if (reactions && method === 'POST') return this.addReaction(headers, body, decodeURIComponent(reactions[1] ?? ''));
    const reaction = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/reactions\/([^/]+)$/.exec(path);
    if (reaction && method === 'DELETE') return this.deleteReaction(headers, decodeURIComponent(reaction[1] ?? ''), decodeURIComponent(reaction[2] ?? ''));
    if (path === '/open-apis/cardkit/v1/cards') return method === 'POST' ? this.cardCall('create', headers, body) : undefined;
    const card = /^\/open-apis\/cardkit\/v1\/cards\/([^/]+)$/.exec(path);
    if (card && method === 'PUT') return this.cardCall('update', headers, body, decodeURIComponent(card[1] ?? ''));
    const element = /^\/open-apis\/cardkit\/v1\/cards\/([^/]+)\/elements\/([^/]+)\/content$/.exec(path);
    if (element && method === 'PUT') return this.cardCall('content', headers, body, decodeURIComponent(element[1] ?? ''), decodeURIComponent(element[2] ?? ''));
    return undefined;
  }

  private token(body: Buffer): ApiAnswer {
    this.counters.tokenRequests++;
    const req = parseJson(body.toString('utf8'));
    if (!req) return apiError(9499, 400, 'Bad Request: invalid JSON');
    if (req.app_id !== this.opts.appId) return apiError(10003, 400, 'invalid param: app_id');
    if (req.app_secret !== this.opts.appSecret) return apiError(10014);
    const now = this.opts.now();
    const cur = this.current === undefined ? undefined : this.tokens.get(this.current);
    if (this.current && cur && !cur.revoked && cur.expiresAt - now > this.opts.tokenRefreshWindowSeconds * 1000) {
      return { status: 200, json: { code: 0, msg: 'ok', tenant_access_token: this.current, expire: Math.floor((cur.expiresAt - now) / 1000) } };
    }
    // A new token; the previous one keeps working until its own expiry.
    const token = `t-g${randomBytes(20).toString('hex')}`;
    this.tokens.set(token, { expiresAt: now + this.opts.tokenTtlSeconds * 1000, revoked: false });
    this.current = token;
    this.counters.tokensIssued++;
    return { status: 200, json: { code: 0, msg: 'ok', tenant_access_token: token, expire: this.opts.tokenTtlSeconds } };
  }

  /** The bot's identity; like the token endpoint, the fields sit at the top level (`bot`), not under `data`. */
  private botInfo(headers: Record<string, string | string[] | undefined>): ApiAnswer {
    this.counters.botInfoRequests++;
    const tokenError = this.checkToken(headers);
    if (tokenError) return apiError(tokenError);
    return {
      status: 200,
      headers: { 'x-tt-logid': logId() },
      json: { code: 0, msg: 'ok', bot: { activate_status: 2, app_name: this.opts.botName, avatar_url: '', ip_white_list: [], open_id: this.opts.botOpenId } },
    };
  }

  /** 0 when the bearer token is usable, else its error code. */
  private checkToken(headers: Record<string, string | string[] | undefined>): number {
    const auth = headers.authorization;
    const value = Array.isArray(auth) ? auth[0] : auth;
    const match = value === undefined ? null : /^Bearer\s+(\S+)$/i.exec(value);
    if (!match) return 99991661;
    const t = this.tokens.get(match[1] ?? '');
    if (!t || t.revoked || this.opts.now() >= t.expiresAt) return 99991663;
    return 0;
  }

  private send(kind: 'create' | 'reply', headers: Record<string, string | string[] | undefined>, body: Buffer, query: URLSearchParams, replyTo?: string): ApiAnswer {
    this.counters.sendAttempts++;
    const at = Date.now();
    const call: ApiCall = { kind, status: 0, code: 0, at };
    const done = recorded(this.calls, call);

    const tokenError = this.checkToken(headers);
    if (tokenError) return done(apiError(tokenError));
    const scripted = this.scripted.shift();
    if (scripted) {
      const status = scripted.status ?? (scripted.code === 99991400 ? 429 : scripted.code < 0 ? 500 : 400);
      return done(apiError(scripted.code, status, scripted.msg, scripted.headers));
    }
    if (this.storm.left > 0) {
      this.storm.left--;
      this.counters.rateLimited++;
      return done(this.tooMany(this.storm.resetSeconds));
    }

    const req = parseJson(body.toString('utf8'));
    if (!req) return done(apiError(9499, 400, 'Bad Request: the body is not a JSON object'));
    let chatId: string;
    let receiveId: string | undefined;
    let receiveIdType: string | undefined;
    let parent: KnownMessage | undefined;
    if (kind === 'create') {
      receiveIdType = query.get('receive_id_type') ?? undefined;
      if (!receiveIdType || !RECEIVE_ID_TYPES.has(receiveIdType)) return done(apiError(99992402, 400, 'field validation failed: receive_id_type'));
      if (typeof req.receive_id !== 'string' || req.receive_id === '') return done(apiError(99992402, 400, 'field validation failed: receive_id is required'));
      receiveId = req.receive_id;
      chatId = this.chatIdFor(receiveIdType, receiveId);
    } else {
      parent = this.known.get(replyTo ?? '');
      if (!parent) return done(apiError(230001, 400, 'invalid message_id: the message does not exist'));
      // A reply to a message its sender recalled.
      if (this.recalled.has(replyTo ?? '')) return done(apiError(230011));
      chatId = parent.chatId;
    }
    call.chatId = chatId;
    const msgType = req.msg_type;
    if (typeof msgType !== 'string' || !MSG_TYPES.has(msgType)) return done(apiError(99992402, 400, 'field validation failed: msg_type'));
    // content is a JSON *string*, not an object.
    if (typeof req.content !== 'string') return done(apiError(99992402, 400, 'field validation failed: content must be a string'));
    let content: unknown;
    try {
      content = JSON.parse(req.content);
    } catch {
      return done(apiError(230001, 400, 'invalid content: not valid JSON'));
    }
    const contentError = checkContent(msgType, content);
    if (contentError) return done(apiError(230001, 400, `invalid content: ${contentError}`));
    const cardId = msgType === 'interactive' && isRecord(content) && content.type === 'card' ? (isRecord(content.data) ? content.data.card_id : undefined) : undefined;
    const cardRef = msgType === 'interactive' && isRecord(content) && content.type === 'card';
    // An image message shows an image this app uploaded; any other key is refused.
    const imageKey = msgType === 'image' ? (content as { image_key: string }).image_key : undefined;
    const image = imageKey === undefined ? undefined : this.images.get(imageKey);
    if (imageKey !== undefined && !this.imageKeys.has(imageKey)) return done(apiError(230001, 400, 'Your request contains an invalid request parameter, ext=invalid image_key.'));
    const limit = msgType === 'post' || msgType === 'interactive' ? RICH_BODY_LIMIT : TEXT_BODY_LIMIT;
    if (body.length > limit) return done(apiError(230025));
    if (msgType === 'interactive' && !cardRef && isRecord(content) && tablesIn(content) > MAX_TABLES_PER_CARD) {
      return done(apiError(TABLE_LIMIT_REFUSAL.code, TABLE_LIMIT_REFUSAL.status, TABLE_LIMIT_REFUSAL.msg));
    }
    const uuid = typeof req.uuid === 'string' && req.uuid !== '' ? req.uuid : undefined;
    if (uuid !== undefined && uuid.length > 50) return done(apiError(99992402, 400, 'field validation failed: uuid is longer than 50 characters'));
    call.uuid = uuid;

    if (uuid !== undefined) {
      const seen = this.byUuid.get(uuid);
      if (seen && this.opts.now() - seen.at < this.opts.uuidWindowSeconds * 1000) {
        this.counters.duplicates++;
        call.duplicate = true;
        return done(ok(seen.data));
      }
    }

    const inWindow = this.recent.get(chatId)?.filter((t) => at - t < this.opts.chatRateLimit.windowMs) ?? [];
    if (inWindow.length >= this.opts.chatRateLimit.count) {
      this.recent.set(chatId, inWindow);
      this.counters.rateLimited++;
      const oldest = inWindow[0] ?? at;
      return done(this.tooMany(Math.max(1, Math.ceil((oldest + this.opts.chatRateLimit.windowMs - at) / 1000))));
    }
    if (cardRef) {
      // Checked after the uuid: a retried send of the same card answers the original message.
      const cardError = this.cardKit.checkSendable(cardId);
      if (cardError) return done(apiError(230001, 400, `invalid content: ${cardError}`));
    }
    inWindow.push(at);
    this.recent.set(chatId, inWindow);

    const messageId = newMessageId();
    const replyInThread = kind === 'reply' && req.reply_in_thread === true;
    const rootId = parent ? (parent.rootId ?? replyTo) : undefined;
    const threadId = parent ? (parent.threadId ?? (replyInThread ? `omt_${randomBytes(8).toString('hex')}` : undefined)) : undefined;
    const message: SentMessage = {
      messageId,
      chatId,
      ...(receiveId === undefined ? {} : { receiveId, receiveIdType }),
      ...(replyTo === undefined ? {} : { replyTo }),
      replyInThread,
      ...(rootId === undefined ? {} : { rootId }),
      ...(threadId === undefined ? {} : { threadId }),
      msgType,
      content,
      rawContent: req.content,
      ...(uuid === undefined ? {} : { uuid }),
      ...(image === undefined ? {} : { image }),
      ...(cardRef ? { cardId: cardId as string } : {}),
      at,
      seq: ++this.seq,
    };
    this.messages.push(message);
    if (cardRef) this.cardKit.sent(cardId as string, messageId);
    this.known.set(messageId, { chatId, rootId: rootId ?? messageId, threadId });
    const ms = String(at);
    const data = {
      message_id: messageId,
      ...(rootId === undefined ? {} : { root_id: rootId, parent_id: replyTo }),
      ...(threadId === undefined ? {} : { thread_id: threadId }),
      msg_type: msgType,
      create_time: ms,
      update_time: ms,
      deleted: false,
      updated: false,
      chat_id: chatId,
      sender: { id: this.opts.appId, id_type: 'app_id', sender_type: 'app', tenant_key: this.opts.tenantKey },
      body: { content: req.content },
    };
    if (uuid !== undefined) this.byUuid.set(uuid, { message, data, at: this.opts.now() });
    for (const listener of this.listeners) {
      try {
        listener(message);
      } catch {
        // An observer's bug must not turn into an API error the gateway sees.
      }
    }
    return done(ok(data));
  }

  private tooMany(resetSeconds: number): ApiAnswer {
    return apiError(99991400, 429, undefined, {
      'x-ogw-ratelimit-limit': String(this.opts.chatRateLimit.count),
      'x-ogw-ratelimit-reset': String(resetSeconds),
    });
  }

  /**
   * A card call (cards.ts): token, scripted failures, a JSON body (9499), then the card API's own checks. Answers
   * `{code: 0, data: {card_id}}` for a create, `{code: 0, data: {}}` otherwise.
   */
  private cardCall(kind: CardCallKind, headers: Record<string, string | string[] | undefined>, body: Buffer, cardId?: string, elementId?: string): ApiAnswer {
    this.counters.cardRequests++;
    const req = parseJson(body.toString('utf8'));
    const call: CardCall = {
      kind,
      ...(cardId === undefined ? {} : { cardId }),
      ...(elementId === undefined ? {} : { elementId }),
      ...(typeof req?.sequence === 'number' ? { sequence: req.sequence } : {}),
      status: 0,
      code: 0,
      at: Date.now(),
    };
    const done = recorded(this.cardKit.calls, call);
    const tokenError = this.checkToken(headers);
    if (tokenError) return done(apiError(tokenError));
    const i = this.scriptedCards.findIndex((c) => c.kind === undefined || c.kind === kind);
    if (i >= 0) return done(this.scriptedAnswer(this.scriptedCards.splice(i, 1)[0]!.failure));
    if (!req) return done(apiError(9499, 400, 'Bad Request: the body is not a JSON object'));
    if (kind === 'create') {
      const created = this.cardKit.create(req);
      if ('code' in created) return done(this.cardRefusal(created));
      call.cardId = created.cardId;
      return done(ok({ card_id: created.cardId }));
    }
    const refused = kind === 'update' ? this.cardKit.update(cardId!, req) : this.cardKit.content(cardId!, elementId!, req);
    return done(refused ? this.cardRefusal(refused) : ok({}));
  }

  private cardRefusal(r: CardRefusal): ApiAnswer {
    // The per-card limit: its own count in x-ogw-ratelimit-limit, not the 50/s of the scripted default.
    if (r.code === 99991400) return this.scriptedAnswer({ code: r.code, headers: { 'x-ogw-ratelimit-limit': String(CARD_CALLS_PER_SECOND) }, ...(r.status === undefined ? {} : { status: r.status }) });
    return apiError(r.code, r.status ?? 400, r.msg);
  }

  /**
   * `POST /open-apis/im/v1/messages/:message_id/reactions` with `{reaction_type: {emoji_type}}`. Checks in order: the
   * token, scripted failures, the body (9499, 99992402 without an emoji_type), the emoji type (231001), the message
   * (231003 unknown or recalled). Each accepted call adds a reaction with a fresh id.
   */
  private addReaction(headers: Record<string, string | string[] | undefined>, body: Buffer, messageId: string): ApiAnswer {
    const call: ReactionCall = { kind: 'create', messageId, status: 0, code: 0, at: Date.now() };
    const done = this.reactionCall(call);
    const refused = this.reactionRefusal(headers, 'create');
    if (refused) return done(refused);
    const req = parseJson(body.toString('utf8'));
    if (!req) return done(apiError(9499, 400, 'Bad Request: the body is not a JSON object'));
    const emojiType = isRecord(req.reaction_type) ? req.reaction_type.emoji_type : undefined;
    if (typeof emojiType !== 'string' || emojiType === '') return done(apiError(99992402, 400, 'field validation failed: reaction_type.emoji_type is required'));
    call.emojiType = emojiType;
    if (!EMOJI_TYPES.has(emojiType)) return done(apiError(231001));
    if (!this.known.has(messageId) || this.recalled.has(messageId)) return done(apiError(231003));
    const reaction: FakeReaction = {
      reactionId: randomBytes(36).toString('base64url'),
      messageId,
      emojiType,
      operatorId: this.opts.appId,
      operatorType: 'app',
      addedAt: call.at,
      addedSeq: ++this.seq,
    };
    this.reactions.push(reaction);
    call.reactionId = reaction.reactionId;
    return done(ok(reactionData(reaction, call.at)));
  }

  /**
   * `DELETE /open-apis/im/v1/messages/:message_id` (撤回消息) as the bot: only its own messages (others,
   * and unknown ones, answer 230026); one withdrawn already answers 231003. A withdrawn message is gone
   * as a recalled one is: its resources answer 230110.
   */
  private withdraw(headers: Record<string, string | string[] | undefined>, messageId: string): ApiAnswer {
    const tokenError = this.checkToken(headers);
    if (tokenError) return apiError(tokenError);
    const sent = this.messages.find((m) => m.messageId === messageId);
    if (!sent) return apiError(230026, 400, 'No permission to recall this message.');
    if (sent.withdrawnAt !== undefined) return apiError(231003);
    sent.withdrawnAt = Date.now();
    this.recalled.add(messageId);
    return ok({});
  }

  /**
   * `DELETE /open-apis/im/v1/messages/:message_id/reactions/:reaction_id`. Checks in order: the token, scripted
   * failures, the message (231003), the reaction (231011 unknown or already removed), that it is on this message
   * (231010). Answers the removed reaction.
   */
  private deleteReaction(headers: Record<string, string | string[] | undefined>, messageId: string, reactionId: string): ApiAnswer {
    const call: ReactionCall = { kind: 'delete', messageId, reactionId, status: 0, code: 0, at: Date.now() };
    const done = this.reactionCall(call);
    const refused = this.reactionRefusal(headers, 'delete');
    if (refused) return done(refused);
    if (!this.known.has(messageId) || this.recalled.has(messageId)) return done(apiError(231003));
    const reaction = this.reactions.find((r) => r.reactionId === reactionId);
    if (!reaction || reaction.removedAt !== undefined) return done(apiError(231011));
    if (reaction.messageId !== messageId) return done(apiError(231010));
    call.emojiType = reaction.emojiType;
    reaction.removedAt = call.at;
    reaction.removedSeq = ++this.seq;
    return done(ok(reactionData(reaction, call.at)));
  }

  /** Records the call; the returned function fills in its answer. */
  private reactionCall(call: ReactionCall): (answer: ApiAnswer) => ApiAnswer {
    this.counters.reactionRequests++;
    return recorded(this.reactionCalls, call);
  }

  /** A token error, or the next scripted failure for this kind of reaction call. */
  private reactionRefusal(headers: Record<string, string | string[] | undefined>, kind: 'create' | 'delete'): ApiAnswer | undefined {
    const tokenError = this.checkToken(headers);
    if (tokenError) return apiError(tokenError);
    const i = this.scriptedReactions.findIndex((s) => s.kind === undefined || s.kind === kind);
    if (i < 0) return undefined;
    return this.scriptedAnswer(this.scriptedReactions.splice(i, 1)[0]!.failure);
  }

  /** A scripted failure as Feishu answers it: 99991400 is a 429 with the rate-limit headers (the resource and reaction APIs' 50/s), counted. */
  private scriptedAnswer(failure: ScriptedFailure): ApiAnswer {
    const limited = failure.code === 99991400;
    if (limited) this.counters.rateLimited++;
    const rateHeaders: Record<string, string> = limited ? { 'x-ogw-ratelimit-limit': '50', 'x-ogw-ratelimit-reset': '1' } : {};
    return apiError(failure.code, failure.status ?? (limited ? 429 : failure.code < 0 ? 500 : 400), failure.msg, { ...rateHeaders, ...failure.headers });
  }

  /**
   * `POST /open-apis/im/v1/images`, multipart with an `image_type` field and an `image` file part. Checks in order:
   * the token, scripted failures, a readable multipart body with `image_type` message|avatar and `image` as a file
   * part (234001), an empty image (234010), one over IMAGE_UPLOAD_LIMIT (234006), bytes that are not JPEG, PNG, WEBP,
   * GIF, TIFF, BMP or ICO (234011). Accepted: `{code: 0, data: {image_key}}`; each upload gets a new key, the same
   * bytes too (uploads are not idempotent).
   */
  private uploadImage(headers: Record<string, string | string[] | undefined>, body: Buffer): ApiAnswer {
    this.counters.uploadRequests++;
    const call: UploadCall = { status: 0, code: 0, at: Date.now() };
    const done = recorded(this.uploadCalls, call);
    const tokenError = this.checkToken(headers);
    if (tokenError) return done(apiError(tokenError));
    const scripted = this.scriptedUploads.shift();
    if (scripted) return done(this.scriptedAnswer(scripted));
    const contentType = headers['content-type'];
    const parts = parseMultipart(body, Array.isArray(contentType) ? contentType[0] : contentType);
    if (!parts) return done(apiError(234001, 400, 'Invalid request param: the body is not multipart/form-data.'));
    const imageType = parts.find((p) => p.name === 'image_type' && p.filename === undefined)?.data.toString('utf8');
    call.imageType = imageType;
    if (imageType !== 'message' && imageType !== 'avatar') return done(apiError(234001, 400, 'Invalid request param: image_type must be message or avatar.'));
    const file = parts.find((p) => p.name === 'image');
    if (!file || file.filename === undefined) return done(apiError(234001, 400, 'Invalid request param: image must be a file.'));
    call.bytes = file.data.length;
    if (file.data.length === 0) return done(apiError(234010));
    if (file.data.length > IMAGE_UPLOAD_LIMIT) return done(apiError(234006));
    const mimeType = uploadFormat(file.data);
    if (!mimeType) return done(apiError(234011));
    const upload: UploadedImage = {
      imageKey: `img_v3_${randomBytes(2).toString('hex')}_${randomBytes(16).toString('hex')}`,
      imageType,
      data: file.data,
      mimeType,
      fileName: file.filename,
      ...(file.contentType === undefined ? {} : { contentType: file.contentType }),
      at: call.at,
      seq: ++this.seq,
    };
    this.uploads.push(upload);
    this.images.set(upload.imageKey, upload);
    this.imageKeys.add(upload.imageKey);
    call.imageKey = upload.imageKey;
    return done(ok({ image_key: upload.imageKey }));
  }

  /**
   * A message resource (protocols.md §4.4): checks in order the token, scripted failures, the `type` parameter
   * (234001), a recalled message (230110), that the key belongs to the message (234003) and that `type` fits it
   * (234001). Served: the bytes with their Content-Type (and Content-Disposition for named files).
   */
  private resource(headers: Record<string, string | string[] | undefined>, query: URLSearchParams, messageId: string, fileKey: string): ApiAnswer {
    this.counters.resourceRequests++;
    const type = query.get('type') ?? undefined;
    const done = recorded<ResourceCall>(this.resourceCalls, { messageId, fileKey, ...(type === undefined ? {} : { type }), status: 0, code: 0, at: Date.now() });
    const tokenError = this.checkToken(headers);
    if (tokenError) return done(apiError(tokenError));
    const scripted = this.scriptedDownloads.shift();
    if (scripted) return done(this.scriptedAnswer(scripted));
    if (type !== 'image' && type !== 'file') return done(apiError(234001, 400, 'Invalid request param: type must be image or file.'));
    if (this.recalled.has(messageId)) return done(apiError(230110));
    const r = this.resources.get(`${messageId}/${fileKey}`);
    if (!r) return done(apiError(234003));
    if (r.type !== type) return done(apiError(234001, 400, `Invalid request param: type ${type} does not fit the resource.`));
    const disposition: Record<string, string> = r.fileName ? { 'content-disposition': `attachment; filename="${encodeURIComponent(r.fileName)}"` } : {};
    return done({ status: 200, raw: { contentType: r.contentType, data: r.data }, headers: { 'x-tt-logid': logId(), ...disposition } });
  }
  /**
   * GET /open-apis/im/v1/messages/:message_id: a message a user sent (pushed or registered) or one the bot sent,
   * as `{items: [message]}`. A card reads as its card JSON with `card_msg_content_type=user_card_content`, else as
   * the flattened stub older clients get (DEGRADED_CARD_CONTENT).
   */
  private getMessage(headers: Record<string, string | string[] | undefined>, query: URLSearchParams, messageId: string): ApiAnswer {
    const cardContentType = query.get('card_msg_content_type') ?? undefined;
    const done = recorded<MessageRead>(this.messageReads, { messageId, ...(cardContentType === undefined ? {} : { cardContentType }), status: 0, code: 0, at: Date.now() });
    const tokenError = this.checkToken(headers);
    if (tokenError) return done(apiError(tokenError));
    const scripted = this.scriptedReads.shift();
    if (scripted) return done(this.scriptedAnswer(scripted));
    if (this.recalled.has(messageId)) return done(apiError(230110));
    const user = this.userContents.get(messageId);
    const sent = user ? undefined : this.messages.find((m) => m.messageId === messageId);
    if (!user && !sent) return done(apiError(230001, 400, 'Your request contains an invalid request parameter, ext=invalid message_id.'));
    const { tenantKey } = this.opts;
    let item: Record<string, unknown>;
    if (user) {
      const mentions = user.mentions?.map((m) => ({ key: m.key, id: m.id.open_id, id_type: 'open_id', name: m.name, tenant_key: m.tenant_key ?? tenantKey }));
      item = {
        ...messageItem(messageId, user, user.msgType, user.createTime, user.content),
        sender: { id: user.senderOpenId, id_type: 'open_id', sender_type: 'user', tenant_key: tenantKey },
        ...(mentions?.length ? { mentions } : {}),
      };
    } else {
      const m = sent!;
      let content = m.rawContent;
      if (m.msgType === 'interactive') {
        const card = m.cardId === undefined ? undefined : this.cardKit.cards.get(m.cardId);
        content = cardContentType !== 'user_card_content' ? DEGRADED_CARD_CONTENT : card ? JSON.stringify(card.card) : m.rawContent;
      }
      item = {
        ...messageItem(messageId, { ...m, parentId: m.replyTo }, m.msgType, String(m.at), content),
        sender: { id: this.opts.appId, id_type: 'app_id', sender_type: 'app', tenant_key: tenantKey },
      };
    }
    return done(ok({ items: [item] }));
  }
}

/** The fields of a get-message item every message has (the sender and mentions aside). */
function messageItem(messageId: string, m: { chatId: string; rootId?: string; parentId?: string; threadId?: string }, msgType: string, time: string, content: string) {
  return {
    message_id: messageId,
    ...(m.rootId ? { root_id: m.rootId } : {}),
    ...(m.parentId ? { parent_id: m.parentId } : {}),
    ...(m.threadId ? { thread_id: m.threadId } : {}),
    msg_type: msgType,
    create_time: time,
    update_time: time,
    deleted: false,
    updated: false,
    chat_id: m.chatId,
    body: { content },
  };
}

/** The `data` of a reaction answer (add and delete alike). */
function reactionData(r: FakeReaction, at: number): unknown {
  return { reaction_id: r.reactionId, operator: { operator_id: r.operatorId, operator_type: r.operatorType }, action_time: String(at), reaction_type: { emoji_type: r.emojiType } };
}

/** The image formats the upload takes, by signature: JPEG, PNG, GIF, WEBP, BMP, TIFF, ICO. */
function uploadFormat(data: Buffer): string | undefined {
  const head = (n: number) => data.subarray(0, n).toString('latin1');
  if (head(8) === '\x89PNG\r\n\x1a\n') return 'image/png';
  if (data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'image/jpeg';
  if (head(6) === 'GIF87a' || head(6) === 'GIF89a') return 'image/gif';
  if (head(4) === 'RIFF' && data.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  if (head(2) === 'BM') return 'image/bmp';
  if (head(4) === 'II*\0' || head(4) === 'MM\0*') return 'image/tiff';
  if (data.length >= 6 && data.readUInt16LE(0) === 0 && data.readUInt16LE(2) === 1 && data.readUInt16LE(4) > 0) return 'image/x-icon';
  return undefined;
}

/** Shape checks per msg_type; undefined when fine. */
function checkContent(msgType: string, content: unknown): string | undefined {
  if (!isRecord(content)) return 'content must be a JSON object';
  switch (msgType) {
    case 'text':
      return typeof content.text === 'string' && content.text !== '' ? undefined : 'text content needs a non-empty "text"';
    case 'post': {
      // Either {title, content} directly or wrapped in locale keys (zh_cn, en_us, …).
      const bodies = Array.isArray(content.content) ? [content] : Object.values(content).filter(isRecord);
      if (!bodies.length || !bodies.every((b) => Array.isArray(b.content) && b.content.every((line: unknown) => Array.isArray(line)))) {
        return 'post content needs "content" as an array of lines (arrays of elements), optionally under a locale key';
      }
      return undefined;
    }
    case 'interactive':
      if (content.type === 'card') return isRecord(content.data) && typeof content.data.card_id === 'string' ? undefined : 'a card entity message needs data.card_id';
      return Object.keys(content).length ? undefined : 'card is empty';
    case 'image':
      return typeof content.image_key === 'string' ? undefined : 'image content needs "image_key"';
    case 'file':
    case 'audio':
    case 'media':
      return typeof content.file_key === 'string' ? undefined : `${msgType} content needs "file_key"`;
    default:
      return undefined;
  }
}


