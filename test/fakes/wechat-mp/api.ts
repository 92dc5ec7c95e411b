/**
 * The API half of the fake WeChat Official Account (protocols.md §1.4): access tokens, customer-service (客服)
 * messages, typing and temporary media (media/get, media/upload). HTTP status is always 200; errors are
 * `{errcode, errmsg}` like the real API.
 */
import { randomBytes } from 'node:crypto';
import { isRecord, parseJson } from '../http.js';
import { parseMultipart } from '../multipart.js';
import { MEDIA_TTL_SECONDS, TencentMedia, type MediaFile, type UploadRules } from '../tencent-media.js';

export { MEDIA_TTL_SECONDS, type MediaGetRecord, type UploadRecord } from '../tencent-media.js';

export interface ApiAnswer {
  status: number;
  json: unknown;
  /** A file instead of JSON (media/get, PicUrl). */
  file?: MediaFile;
  /** The Content-Type of a JSON answer, when not the API's usual one (media/get errors come as text/plain). */
  contentType?: string;
}

export interface SendRecord {
  touser?: string;
  msgtype?: string;
  /**
   * Text content; for an accepted image `[image <bytes> bytes <type>]` of the upload it names; for other media
   * messages `[msgtype:media_id]`.
   */
  content?: string;
  /** The media_id of a media message. */
  mediaId?: string;
  errcode: number;
  /** Fake-clock unix seconds. */
  at: number;
}

export interface TypingRecord {
  touser?: string;
  command?: string;
  errcode: number;
  at: number;
}

export interface ApiCounters {
  /** Calls to /cgi-bin/token and /cgi-bin/stable_token, successful or not. */
  tokenRequests: number;
  /** Distinct access tokens handed out. */
  tokensIssued: number;
  customSendsAttempted: number;
  typingAttempted: number;
  /** Calls to /cgi-bin/media/get and PicUrl fetches, successful or not. */
  mediaGets: number;
  /** Calls to /cgi-bin/media/upload, successful or not. */
  uploads: number;
}

interface TokenState {
  kind: 'normal' | 'stable';
  expiresAt: number;
  /** From this time on the token answers 40001 (replaced or invalidated). */
  revokedAt?: number;
}

interface UserState {
  /** The 客服 window: until when, and how many messages are left in it. */
  windowUntil: number;
  left: number;
  lastInteraction: number;
  typingUntil: number;
}

/** Message received → 5 messages within 48 h; follow / QR scan / menu click → 3 within 1 min (current doc table). */
const MESSAGE_GRANT = { seconds: 48 * 3600, count: 5 };
const EVENT_GRANT = { seconds: 60, count: 3 };
const GRANTING_EVENTS = new Set(['subscribe', 'scan', 'click']);
/** A token replaced through /cgi-bin/token keeps working for about 5 minutes ([3p] community). */
const REPLACED_TOKEN_GRACE = 300;
const MAX_TEXT_BYTES = 2048;
const TYPING_SECONDS = 15;
const TYPING_NEEDS_INTERACTION_WITHIN = 30;
/** 新增临时素材: images up to 10 MB, bmp/png/jpeg/jpg/gif; the type is read from the file name. */
const UPLOAD_RULES: UploadRules = {
  imageTypes: { bmp: 'image/bmp', png: 'image/png', jpeg: 'image/jpeg', jpg: 'image/jpeg', gif: 'image/gif' },
  maxImageBytes: 10 * 1024 * 1024,
};

const MESSAGES: Record<number, string> = {
  0: 'ok',
  [-1]: 'system error',
  40001: 'invalid credential, access_token is invalid or not latest',
  40002: 'invalid grant_type',
  40003: 'invalid openid',
  40004: 'invalid media type',
  40005: 'invalid file type',
  40007: 'invalid media_id',
  40008: 'invalid message type',
  40009: 'invalid image size',
  40013: 'invalid appid',
  40014: 'invalid access_token',
  40125: 'invalid appsecret',
  41001: 'access_token missing',
  41005: 'media data missing',
  41006: 'media_id missing',
  42001: 'access_token expired',
  43001: 'require GET method',
  43002: 'require POST method',
  44001: 'empty media data',
  44004: 'empty content',
  45002: 'content size out of limit',
  45009: 'reach max api daily quota limit',
  45011: 'api minute-quota reach limit',
  45015: 'response out of time limit or subscription is canceled',
  45047: 'out of response count limit',
  45072: 'command field invalid',
  45080: 'has not sent message to user in 30 seconds',
  45081: 'already in typing',
  47001: 'data format error',
  48001: 'api unauthorized',
};

/** Real errmsg values end with a request id. */
export const error = (errcode: number): ApiAnswer => ({
  status: 200,
  json: { errcode, errmsg: `${MESSAGES[errcode] ?? 'scripted error'} rid: ${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}` },
});
const ok = (): ApiAnswer => ({ status: 200, json: { errcode: 0, errmsg: 'ok' } });

export interface WechatMpApiOptions {
  appId: string;
  appSecret: string;
  tokenTtlSeconds: number;
  customerService: boolean;
  /** false: media/upload answers 48001 (素材管理 is for verified accounts). */
  uploadMedia: boolean;
  now: () => number;
}

export class WechatMpApi {
  readonly sends: SendRecord[] = [];
  readonly typing: TypingRecord[] = [];
  readonly counters: ApiCounters = { tokenRequests: 0, tokensIssued: 0, customSendsAttempted: 0, typingAttempted: 0, mediaGets: 0, uploads: 0 };
  /**
   * A user's media (临时素材), kept 3 days: behind the server's addMedia, expireMedia, failNextMediaGets and
   * mediaGets. MediaIds are 64 characters, like real ones.
   */
  readonly media = new TencentMedia({
    now: () => this.opts.now(),
    ttl: MEDIA_TTL_SECONDS,
    newId: () => randomBytes(48).toString('base64url'),
    counted: () => void this.counters.mediaGets++,
  });
  private readonly tokens = new Map<string, TokenState>();
  private readonly users = new Map<string, UserState>();
  private readonly accepted = new Map<string, string[]>();
  private readonly scripted: number[] = [];

  constructor(private readonly opts: WechatMpApiOptions) {}

  /** A user message or event reached the account: opens/refreshes the 客服 window and the typing interaction. */
  userPushed(user: string, kind: 'message' | 'event', event?: string): void {
    const now = this.opts.now();
    const state = this.users.get(user) ?? { windowUntil: 0, left: 0, lastInteraction: 0, typingUntil: 0 };
    this.users.set(user, state);
    const ev = event?.toLowerCase();
    if (ev === 'unsubscribe') {
      state.windowUntil = 0;
      state.left = 0;
      return;
    }
    state.lastInteraction = now;
    const grant = kind === 'message' ? MESSAGE_GRANT : ev !== undefined && GRANTING_EVENTS.has(ev) ? EVENT_GRANT : undefined;
    // An event does not shrink a window a message opened earlier.
    if (grant && (kind === 'message' || state.windowUntil <= now || state.left === 0)) {
      state.windowUntil = now + grant.seconds;
      state.left = grant.count;
    }
  }

  received(user: string): string[] {
    return [...(this.accepted.get(user) ?? [])];
  }

  /** The images accepted for `user` through 客服, in order: the uploads they named. */
  receivedImages(user: string): { mediaId: string; data: Buffer; contentType: string }[] {
    return this.sends
      .filter((s) => s.touser === user && s.msgtype === 'image' && s.errcode === 0 && s.mediaId !== undefined)
      .map((s) => ({ mediaId: s.mediaId!, ...this.media.find(s.mediaId!)! }));
  }

  failNextSends(n: number, errcode: number): void {
    for (let i = 0; i < n; i++) this.scripted.push(errcode);
  }

  invalidateTokens(): void {
    const now = this.opts.now();
    for (const t of this.tokens.values()) t.revokedAt = Math.min(t.revokedAt ?? now, now);
  }

  /** Routes one API request; undefined for an unknown path (the server answers 404). */
  handle(method: string, path: string, query: URLSearchParams, raw: Buffer, contentType?: string): ApiAnswer | undefined {
    const body = raw.toString('utf8');
    switch (path) {
      case '/cgi-bin/token':
        return method === 'GET' ? this.token(query) : error(43001);
      case '/cgi-bin/stable_token':
        return method === 'POST' ? this.stableToken(body) : error(43002);
      case '/cgi-bin/message/custom/send':
        return method === 'POST' ? this.send(query, body) : error(43002);
      case '/cgi-bin/message/custom/typing':
        return method === 'POST' ? this.typingCommand(query, body) : error(43002);
      case '/cgi-bin/media/get':
        return method === 'GET' ? this.mediaGet(query) : error(43001);
      case '/cgi-bin/media/upload':
        return method === 'POST' ? this.upload(query, raw, contentType) : error(43002);
      default: {
        // PicUrl (mmbiz.qpic.cn on the real platform): the same photo, public, no token.
        const picture = /^\/mmbiz_\w+\/([\w-]+)\/0$/.exec(path);
        if (picture && method === 'GET') return this.media.picture(picture[1] ?? '');
        return undefined;
      }
    }
  }

  private credentials(grantType: unknown, appid: unknown, secret: unknown): number {
    if (grantType !== 'client_credential') return 40002;
    if (appid !== this.opts.appId) return 40013;
    if (secret !== this.opts.appSecret) return 40125;
    return 0;
  }

  private issue(kind: TokenState['kind']): ApiAnswer {
    const token = randomBytes(96).toString('base64url');
    this.tokens.set(token, { kind, expiresAt: this.opts.now() + this.opts.tokenTtlSeconds });
    this.counters.tokensIssued++;
    return { status: 200, json: { access_token: token, expires_in: this.opts.tokenTtlSeconds } };
  }

  private token(query: URLSearchParams): ApiAnswer {
    this.counters.tokenRequests++;
    const bad = this.credentials(query.get('grant_type'), query.get('appid'), query.get('secret'));
    if (bad) return error(bad);
    const graceEnd = this.opts.now() + REPLACED_TOKEN_GRACE;
    for (const t of this.tokens.values()) if (t.kind === 'normal') t.revokedAt = Math.min(t.revokedAt ?? graceEnd, graceEnd);
    return this.issue('normal');
  }

  /** Stable tokens are separate from /token ones: the same token while valid, a new one (old revoked) on force_refresh. */
  private stableToken(body: string): ApiAnswer {
    this.counters.tokenRequests++;
    const req = parseJson(body);
    if (!req) return error(47001);
    const bad = this.credentials(req.grant_type, req.appid, req.secret);
    if (bad) return error(bad);
    const now = this.opts.now();
    for (const [token, t] of this.tokens) {
      if (t.kind !== 'stable' || t.expiresAt <= now || (t.revokedAt !== undefined && t.revokedAt <= now)) continue;
      if (req.force_refresh !== true) return { status: 200, json: { access_token: token, expires_in: t.expiresAt - now } };
      t.revokedAt = now;
    }
    return this.issue('stable');
  }

  /** 0 when the token is usable, else its errcode. */
  private checkToken(query: URLSearchParams): number {
    const token = query.get('access_token');
    if (!token) return 41001;
    const t = this.tokens.get(token);
    const now = this.opts.now();
    if (!t) return 40014;
    if (t.revokedAt !== undefined && now >= t.revokedAt) return 40001;
    if (now >= t.expiresAt) return 42001;
    return 0;
  }

  private send(query: URLSearchParams, body: string): ApiAnswer {
    this.counters.customSendsAttempted++;
    const now = this.opts.now();
    const req = parseJson(body);
    const touser = typeof req?.touser === 'string' ? req.touser : undefined;
    const msgtype = typeof req?.msgtype === 'string' ? req.msgtype : undefined;
    const payload = msgtype && isRecord(req?.[msgtype]) ? (req[msgtype] as Record<string, unknown>) : undefined;
    const mediaId = msgtype !== 'text' && typeof payload?.media_id === 'string' ? payload.media_id : undefined;
    const image = msgtype === 'image' && mediaId !== undefined ? this.media.find(mediaId) : undefined;
    const content =
      msgtype === 'text'
        ? typeof payload?.content === 'string' ? payload.content : undefined
        : image ? `[image ${image.data.length} bytes ${image.contentType}]` : payload && `[${msgtype}:${String(payload.media_id)}]`;
    const record = (errcode: number): ApiAnswer => {
      this.sends.push({ touser, msgtype, content, ...(mediaId === undefined ? {} : { mediaId }), errcode, at: now });
      return errcode ? error(errcode) : ok();
    };
    const tokenError = this.checkToken(query);
    if (tokenError) return record(tokenError);
    if (!this.opts.customerService) return record(48001);
    const scripted = this.scripted.shift();
    if (scripted !== undefined) return record(scripted);
    if (!req) return record(47001);
    const user = touser === undefined ? undefined : this.users.get(touser);
    if (!user || touser === undefined) return record(40003);
    if (!msgtype || !['text', 'image', 'voice', 'video', 'mpnews', 'msgmenu', 'news', 'music', 'wxcard', 'miniprogrampage'].includes(msgtype)) return record(40008);
    if (!payload) return record(47001);
    if (msgtype === 'text' && (content === undefined || content === '')) return record(44004);
    if (msgtype === 'text' && Buffer.byteLength(content ?? '', 'utf8') > MAX_TEXT_BYTES) return record(45002);
    if (msgtype === 'image' && mediaId === undefined) return record(41006);
    if (msgtype === 'image' && !image) return record(40007);
    if (user.windowUntil <= now) return record(45015);
    if (user.left <= 0) return record(45047);
    user.left--;
    const list = this.accepted.get(touser) ?? [];
    list.push(content ?? '');
    this.accepted.set(touser, list);
    return record(0);
  }

  /**
   * POST media/upload?type=image, multipart with a `media` part: `{type, media_id, created_at}` (created_at a
   * number). Checks: token, 48001 (no upload permission), then those of TencentMedia.upload.
   */
  private upload(query: URLSearchParams, raw: Buffer, contentType: string | undefined): ApiAnswer {
    this.counters.uploads++;
    const type = query.get('type') ?? '';
    const tokenError = this.checkToken(query) || (this.opts.uploadMedia ? 0 : 48001);
    const got = this.media.upload(type, parseMultipart(raw, contentType), tokenError, UPLOAD_RULES);
    return typeof got === 'number' ? error(got) : { status: 200, json: { type, media_id: got.mediaId, created_at: got.createdAt } };
  }

  /** GET media/get: the file, or HTTP 200 with `{errcode, errmsg}` as text/plain. Checks: token, scripted, 41006, 40007. */
  private mediaGet(query: URLSearchParams): ApiAnswer {
    const got = this.media.get(query.get('media_id') ?? '', this.checkToken(query));
    return typeof got === 'number' ? { ...error(got), contentType: 'text/plain' } : got;
  }

  private typingCommand(query: URLSearchParams, body: string): ApiAnswer {
    this.counters.typingAttempted++;
    const now = this.opts.now();
    const req = parseJson(body);
    const touser = typeof req?.touser === 'string' ? req.touser : undefined;
    const command = typeof req?.command === 'string' ? req.command : undefined;
    const record = (errcode: number): ApiAnswer => {
      this.typing.push({ touser, command, errcode, at: now });
      return errcode ? error(errcode) : ok();
    };
    const tokenError = this.checkToken(query);
    if (tokenError) return record(tokenError);
    if (!this.opts.customerService) return record(48001);
    if (!req) return record(47001);
    const user = touser === undefined ? undefined : this.users.get(touser);
    if (!user) return record(40003);
    if (command !== 'Typing' && command !== 'CancelTyping') return record(45072);
    if (now - user.lastInteraction > TYPING_NEEDS_INTERACTION_WITHIN) return record(45080);
    if (command === 'Typing') {
      if (user.typingUntil > now) return record(45081);
      user.typingUntil = now + TYPING_SECONDS;
    } else {
      user.typingUntil = 0;
    }
    return record(0);
  }
}


