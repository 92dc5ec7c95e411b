/**
 * The API half of the fake WeCom app (protocols.md §2.3): `gettoken`, `message/send`, `media/get` and `media/upload`. Like
 * the real API it answers HTTP 200 with `{errcode, errmsg}` for every error. Sends over the per-member limit are answered
 * errcode 0 and silently not delivered, which is what WeCom does; they are recorded so a test can see the loss.
 */
import { randomBytes } from 'node:crypto';
import { isRecord, parseJson } from '../http.js';
import { parseMultipart } from '../multipart.js';
import { MEDIA_TTL_SECONDS, TencentMedia, type MediaFile, type UploadRules } from '../tencent-media.js';

export type { MediaGetRecord, UploadRecord } from '../tencent-media.js';

export interface ApiAnswer {
  status: number;
  json: unknown;
  /** A file instead of JSON (media/get, PicUrl). */
  file?: MediaFile;
  /** Extra headers of a JSON answer (media/get errors carry Error-Code and Error-Msg). */
  headers?: Record<string, string>;
}

/** Media ids (uploads and what members send) are valid 3 days: the fake clock is in ms. */
export const MEDIA_TTL_MS = MEDIA_TTL_SECONDS * 1000;

export interface RateWindow {
  count: number;
  windowMs: number;
}

/** A message that reached a member. */
export interface DeliveredMessage {
  user: string;
  msgid: string;
  msgtype: string;
  /**
   * What the member sees: text/markdown content (cut at the limit when truncated), `[image <bytes> bytes <type>]` for
   * an image (what `cococat simulate` prints), `[msgtype:media_id]` otherwise.
   */
  content: string;
  /** The media_id of a media message. */
  mediaId?: string;
  /** UTF-8 bytes of the content as sent. */
  bytes: number;
  /** The content was over the limit and WeCom cut it. */
  truncated: boolean;
  /** Fake-clock ms. */
  at: number;
}

/** A message answered errcode 0 that the member never got. */
export interface DroppedMessage extends DeliveredMessage {
  reason: 'minute-limit' | 'hour-limit' | 'duplicate';
}

export interface SendCall {
  touser?: string;
  msgtype?: string;
  content?: string;
  errcode: number;
  msgid?: string;
  at: number;
}

export interface ApiCounters {
  tokenRequests: number;
  tokensIssued: number;
  sendsAttempted: number;
  /** Calls to /cgi-bin/media/get and PicUrl fetches, successful or not. */
  mediaGets: number;
  /** Calls to /cgi-bin/media/upload, successful or not. */
  mediaUploads: number;
}

export interface WecomApiOptions {
  corpId: string;
  corpSecret: string;
  agentId: number;
  tokenTtlSeconds: number;
  /** Per app per member; real 30 per minute. */
  perMinute: RateWindow;
  /** Per app per member; real 1000 per hour. */
  perHour: RateWindow;
  /** Text/markdown over 2048 bytes: `truncate` (errcode 0, cut, as the send doc says for text) or `error` (45002). */
  oversize: 'truncate' | 'error';
  /** Valid userids; undefined = anyone. */
  members?: ReadonlySet<string>;
  /** Fake clock, ms. */
  now: () => number;
}

export const CONTENT_LIMIT_BYTES = 2048;
/** 上传临时素材: images JPG/PNG up to 10 MB; every file more than 5 bytes; the type is read from the file name. */
const UPLOAD_RULES: UploadRules = {
  imageTypes: { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png' },
  maxImageBytes: 10 * 1024 * 1024,
  tooSmallBytes: 5,
};

const MESSAGES: Record<number, string> = {
  0: 'ok',
  [-1]: 'system busy',
  40001: 'invalid secret',
  40004: 'invalid media type',
  40005: 'invalid file type',
  40006: 'invalid file size',
  40007: 'invalid media_id',
  40008: 'invalid message type',
  40009: 'invalid image size',
  40013: 'invalid corpid',
  40014: 'invalid access_token',
  40056: 'invalid agentid',
  41001: 'access_token missing',
  41002: 'corpid missing',
  41004: 'corpsecret missing',
  41005: 'media data missing',
  41006: 'media_id missing',
  41011: 'agentid missing',
  42001: 'access_token expired',
  43001: 'require GET method',
  43002: 'require POST method',
  44001: 'empty media data',
  44004: 'empty content',
  45002: 'content size out of limit',
  45009: 'api freq out of limit',
  45033: 'api concurrent out of limit',
  47001: 'data format error',
  81013: 'user & party & tag all invalid',
};

/** Real errmsg values carry a doc hint and a request id. */
export const error = (errcode: number): ApiAnswer => ({
  status: 200,
  json: {
    errcode,
    errmsg: `${MESSAGES[errcode] ?? 'scripted error'}, hint: [${Math.floor(Date.now() / 1000)}_${randomBytes(6).toString('hex')}], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=${errcode}`,
  },
});

interface TokenState {
  expiresAt: number;
  /** Set by `expireTokens()` (42001) or `invalidateTokens()` (40014). */
  revoked?: 40014 | 42001;
}

/** Cuts to at most `limit` UTF-8 bytes without splitting a character. */
export function truncateUtf8(text: string, limit: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= limit) return text;
  let end = limit;
  // Back off continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

export class WecomApi {
  readonly sends: SendCall[] = [];
  readonly counters: ApiCounters = { tokenRequests: 0, tokensIssued: 0, sendsAttempted: 0, mediaGets: 0, mediaUploads: 0 };
  /**
   * What members upload (a photo they sent) and what the app uploads (media/upload), kept 3 days: behind the
   * server's addMedia, expireMedia, failNextMediaGets, mediaGets, failNextMediaUploads and mediaUploads. Real
   * media ids are long base64-like strings, unique per upload.
   */
  readonly media = new TencentMedia({
    now: () => this.opts.now(),
    ttl: MEDIA_TTL_MS,
    newId: () => `3${randomBytes(45).toString('base64url')}`,
    counted: () => void this.counters.mediaGets++,
  });
  private readonly tokens = new Map<string, TokenState>();
  private current: string | undefined;
  private readonly deliveredBy = new Map<string, DeliveredMessage[]>();
  private readonly droppedBy = new Map<string, DroppedMessage[]>();
  private readonly scriptedSends: number[] = [];
  private readonly scriptedTokens: number[] = [];
  /** Request JSON → fake-clock ms it was last delivered, for `enable_duplicate_check`. */
  private readonly recentBodies = new Map<string, number>();
  private readonly listeners = new Set<(m: DeliveredMessage) => void>();

  constructor(private readonly opts: WecomApiOptions) {}

  /** Routes one API request; undefined for an unknown path (the server answers 404). */
  handle(method: string, path: string, query: URLSearchParams, raw: Buffer, contentType?: string): ApiAnswer | undefined {
    const body = raw.toString('utf8');
    switch (path) {
      case '/cgi-bin/gettoken':
        return method === 'GET' ? this.getToken(query) : error(43001);
      case '/cgi-bin/message/send':
        return method === 'POST' ? this.send(query, body) : error(43002);
      case '/cgi-bin/media/get':
        return method === 'GET' ? this.mediaGet(query) : error(43001);
      case '/cgi-bin/media/upload':
        return method === 'POST' ? this.upload(query, raw, contentType) : error(43002);
      default: {
        // PicUrl (wework.qpic.cn on the real platform): the same photo, no token.
        const picture = /^\/wwpic\/([\w-]+)\/0$/.exec(path);
        if (picture && method === 'GET') return this.media.picture(picture[1] ?? '');
        return undefined;
      }
    }
  }

  delivered(user: string): DeliveredMessage[] {
    return [...(this.deliveredBy.get(user.toLowerCase()) ?? [])];
  }

  /** The images delivered to `user`, in order: the uploads they named. */
  deliveredImages(user: string): { mediaId: string; data: Buffer; contentType: string }[] {
    return this.delivered(user)
      .filter((m) => m.msgtype === 'image' && m.mediaId !== undefined)
      .map((m) => ({ mediaId: m.mediaId!, ...this.media.find(m.mediaId!)! }));
  }

  dropped(user: string): DroppedMessage[] {
    return [...(this.droppedBy.get(user.toLowerCase()) ?? [])];
  }

  get allDropped(): DroppedMessage[] {
    return [...this.droppedBy.values()].flat().sort((a, b) => a.at - b.at);
  }

  onDelivered(listener: (m: DeliveredMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every token issued so far answers 42001 from now on; the next gettoken issues a new one. */
  expireTokens(): void {
    this.revokeAll(42001);
  }

  /** Every token issued so far answers 40014 from now on (WeCom may invalidate a token early). */
  invalidateTokens(): void {
    this.revokeAll(40014);
  }

  failNextSends(n: number, errcode: number): void {
    for (let i = 0; i < n; i++) this.scriptedSends.push(errcode);
  }

  failNextTokens(n: number, errcode: number): void {
    for (let i = 0; i < n; i++) this.scriptedTokens.push(errcode);
  }

  private revokeAll(code: 40014 | 42001): void {
    for (const t of this.tokens.values()) t.revoked ??= code;
    this.current = undefined;
  }

  /** One token per app, the same one while it is valid, with the remaining lifetime. */
  private getToken(query: URLSearchParams): ApiAnswer {
    this.counters.tokenRequests++;
    const scripted = this.scriptedTokens.shift();
    if (scripted !== undefined) return error(scripted);
    const corpId = query.get('corpid');
    const secret = query.get('corpsecret');
    if (!corpId) return error(41002);
    if (corpId !== this.opts.corpId) return error(40013);
    if (!secret) return error(41004);
    if (secret !== this.opts.corpSecret) return error(40001);
    const now = this.opts.now();
    const cur = this.current === undefined ? undefined : this.tokens.get(this.current);
    if (this.current !== undefined && cur && cur.revoked === undefined && cur.expiresAt > now) {
      return { status: 200, json: { errcode: 0, errmsg: 'ok', access_token: this.current, expires_in: Math.round((cur.expiresAt - now) / 1000) } };
    }
    const token = randomBytes(48).toString('base64url');
    this.tokens.set(token, { expiresAt: now + this.opts.tokenTtlSeconds * 1000 });
    this.current = token;
    this.counters.tokensIssued++;
    return { status: 200, json: { errcode: 0, errmsg: 'ok', access_token: token, expires_in: this.opts.tokenTtlSeconds } };
  }

  /** 0 when the token is usable, else its errcode. */
  private checkToken(query: URLSearchParams): number {
    const token = query.get('access_token');
    if (!token) return 41001;
    const t = this.tokens.get(token);
    if (!t) return 40014;
    if (t.revoked !== undefined) return t.revoked;
    if (this.opts.now() >= t.expiresAt) return 42001;
    return 0;
  }

  private send(query: URLSearchParams, body: string): ApiAnswer {
    this.counters.sendsAttempted++;
    const now = this.opts.now();
    const req = parseJson(body);
    const touser = typeof req?.touser === 'string' ? req.touser : undefined;
    const msgtype = typeof req?.msgtype === 'string' ? req.msgtype : undefined;
    const payload = msgtype && isRecord(req?.[msgtype]) ? (req[msgtype] as Record<string, unknown>) : undefined;
    const isText = msgtype === 'text' || msgtype === 'markdown';
    const mediaId = !isText && typeof payload?.media_id === 'string' ? payload.media_id : undefined;
    const image = msgtype === 'image' && mediaId !== undefined ? this.media.find(mediaId) : undefined;
    const rawContent = isText
      ? typeof payload?.content === 'string' ? payload.content : undefined
      : image ? `[image ${image.data.length} bytes ${image.contentType}]` : payload && `[${msgtype}:${String(payload.media_id ?? '')}]`;
    const call: SendCall = { touser, msgtype, content: rawContent, errcode: 0, at: now };
    const fail = (errcode: number): ApiAnswer => {
      this.sends.push({ ...call, errcode });
      return error(errcode);
    };

    const tokenError = this.checkToken(query);
    if (tokenError) return fail(tokenError);
    const scripted = this.scriptedSends.shift();
    if (scripted !== undefined) return fail(scripted);
    if (!req) return fail(47001);
    if (req.agentid === undefined || req.agentid === null || req.agentid === '') return fail(41011);
    if (Number(req.agentid) !== this.opts.agentId) return fail(40056);
    if (!msgtype || !SUPPORTED_TYPES.has(msgtype)) return fail(40008);
    if (!payload) return fail(47001);
    if (isText && (rawContent === undefined || rawContent === '')) return fail(44004);
    if (msgtype === 'image' && mediaId === undefined) return fail(41006);
    if (msgtype === 'image' && !image) return fail(40007);
    const bytes = Buffer.byteLength(rawContent ?? '', 'utf8');
    const oversize = isText && bytes > CONTENT_LIMIT_BYTES;
    if (oversize && this.opts.oversize === 'error') return fail(45002);

    const requested = (touser ?? '')
      .split('|')
      .map((u) => u.trim())
      .filter((u) => u !== '');
    const members = this.opts.members;
    const expanded = requested.includes('@all') ? [...(members ?? [])] : requested;
    const valid = expanded.filter((u) => !members || members.has(u));
    const invalid = expanded.filter((u) => members && !members.has(u)).map((u) => u.toLowerCase());
    if (valid.length === 0) return fail(81013);

    const msgid = randomBytes(24).toString('base64url');
    const content = oversize ? truncateUtf8(rawContent ?? '', CONTENT_LIMIT_BYTES) : (rawContent ?? '');
    // Duplicate check (opt-in per request): the same request JSON within the interval is not delivered again.
    let duplicate = false;
    if (req.enable_duplicate_check === 1) {
      const interval = (typeof req.duplicate_check_interval === 'number' ? req.duplicate_check_interval : 1800) * 1000;
      const key = JSON.stringify(req);
      const last = this.recentBodies.get(key);
      duplicate = last !== undefined && now - last < interval;
      if (!duplicate) this.recentBodies.set(key, now);
    }
    for (const user of valid) {
      const record: DeliveredMessage = { user, msgid, msgtype, content, ...(mediaId === undefined ? {} : { mediaId }), bytes, truncated: oversize, at: now };
      const reason = duplicate ? 'duplicate' : this.overLimit(user, now);
      if (reason) {
        this.push(this.droppedBy, user, { ...record, reason });
        continue;
      }
      this.push(this.deliveredBy, user, record);
      for (const l of this.listeners) l(record);
    }
    this.sends.push({ ...call, msgid });
    return { status: 200, json: { errcode: 0, errmsg: 'ok', invaliduser: invalid.join('|'), invalidparty: '', invalidtag: '', unlicenseduser: '', msgid } };
  }

  /**
   * GET media/get: the file, or HTTP 200 with `{errcode, errmsg}` JSON plus `Error-Code` / `Error-Msg` headers, as
   * WeCom answers. Checks: token, scripted failures, 41006 (no media_id), 40007 (unknown or older than 3 days).
   */
  private mediaGet(query: URLSearchParams): ApiAnswer {
    const got = this.media.get(query.get('media_id') ?? '', this.checkToken(query));
    if (typeof got !== 'number') return got;
    const answer = error(got);
    const errmsg = String((answer.json as { errmsg: string }).errmsg);
    return { ...answer, headers: { 'error-code': String(got), 'error-msg': errmsg.replace(/[^\x20-\x7e]/g, '') } };
  }

  /**
   * POST media/upload?type=image, multipart with a `media` part: `{errcode: 0, errmsg: '', type, media_id, created_at}`
   * (created_at a string of unix seconds). Checks: token, then those of TencentMedia.upload.
   */
  private upload(query: URLSearchParams, raw: Buffer, contentType: string | undefined): ApiAnswer {
    this.counters.mediaUploads++;
    const type = query.get('type') ?? '';
    const got = this.media.upload(type, parseMultipart(raw, contentType), this.checkToken(query), UPLOAD_RULES);
    if (typeof got === 'number') return error(got);
    return { status: 200, json: { errcode: 0, errmsg: '', type, media_id: got.mediaId, created_at: String(Math.floor(got.createdAt / 1000)) } };
  }

  /** Counts only messages the member actually got; the windows slide. */
  private overLimit(user: string, now: number): DroppedMessage['reason'] | undefined {
    const got = this.deliveredBy.get(user.toLowerCase()) ?? [];
    const within = (w: RateWindow) => got.filter((m) => now - m.at < w.windowMs).length;
    if (within(this.opts.perMinute) >= this.opts.perMinute.count) return 'minute-limit';
    if (within(this.opts.perHour) >= this.opts.perHour.count) return 'hour-limit';
    return undefined;
  }

  private push<T>(map: Map<string, T[]>, user: string, value: T): void {
    const key = user.toLowerCase();
    const list = map.get(key) ?? [];
    list.push(value);
    map.set(key, list);
  }
}

const SUPPORTED_TYPES = new Set(['text', 'markdown', 'image', 'voice', 'video', 'file', 'textcard', 'news', 'mpnews', 'miniprogram_notice', 'template_card']);


