import { sendJson } from '../http.js';
import { readRawBody } from '../http.js';
import { randomInt } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signature, TencentCrypto } from '../../../src/channels/shared/tencent-crypto.js';
import { TimedRequests } from '../timed-requests.js';
import { imageTypeOf } from '../tencent-media.js';
import { WechatMpApi, type ApiCounters, type MediaGetRecord, type SendRecord, type TypingRecord, type UploadRecord } from './api.js';
import { cdata, messageFields, parseFlatXml, xmlOf, type WechatMpPushMessage } from './xml.js';

export { MEDIA_TTL_SECONDS, type ApiCounters, type MediaGetRecord, type SendRecord, type TypingRecord, type UploadRecord } from './api.js';
export type { WechatMpPushMessage } from './xml.js';

export type WechatMpMode = 'plain' | 'compatible' | 'safe';

export interface FakeWechatMpOptions {
  appId: string;
  appSecret: string;
  token: string;
  /** Required in compatible and safe mode. */
  encodingAesKey?: string;
  /** The account's original id (`gh_…`), sent as ToUserName. Default `gh_fake0000001`. */
  originalId?: string;
  mode: WechatMpMode;
  /** The developer server URL pushes go to; may be set later via `fake.gatewayUrl`. */
  gatewayUrl?: string;
  /** How long WeChat waits for an answer before giving up on a try (real: 5000). */
  retryWaitMs?: number;
  /** access_token lifetime in fake seconds (real: 7200). */
  tokenTtlSeconds?: number;
  /**
   * `customerService: false` = an unverified subscription account: 客服 and typing answer 48001.
   * `uploadMedia: false`: media/upload answers 48001 (素材管理 is for verified accounts).
   */
  permissions?: { customerService?: boolean; uploadMedia?: boolean };
}

export interface PushOptions {
  msgId?: string;
  /** Unix seconds; default the fake clock. */
  createTime?: number;
  /**
   * Forge one thing, everything else stays valid: `signature` (the 3-item query signature), `msg_signature`
   * (aes modes), `appid` (encrypted for another AppID; aes modes), `timestamp` (two days old, correctly signed).
   */
  tamper?: 'signature' | 'msg_signature' | 'appid' | 'timestamp';
  /**
   * Where each try goes (try i to `tryUrls[i % length]`), as a load balancer in front of several
   * gateway processes spreads WeChat's retries; default `gatewayUrl` for every try.
   */
  tryUrls?: string[];
  /** Called before each try (0, 1, 2): lets a test move its clock by WeChat's real 5 s per try. */
  beforeTry?: (index: number) => void;
}

export interface PushAttempt {
  status?: number;
  body?: string;
  timedOut: boolean;
  ms: number;
  /** Connection error (refused, reset), when there was no HTTP answer and no timeout. */
  error?: string;
  /** The signed query of this try. */
  query: Record<string, string>;
}

export interface PushReply {
  raw: string;
  /** The (decrypted) passive reply's fields, flattened. */
  xml: Record<string, string>;
  /** Whether it came in the encrypted envelope (and its MsgSignature checked out). */
  encrypted: boolean;
  /** For an image reply: the upload its MediaId names, as the user sees it. */
  image?: { mediaId: string; data: Buffer; contentType: string };
}

export interface PushResult {
  /** Undefined for events (they carry no MsgId). */
  msgId: string | undefined;
  createTime: number;
  /** The plaintext XML (before encryption). */
  xml: string;
  attempts: PushAttempt[];
  /** Some try got a 2xx. */
  delivered: boolean;
  reply?: PushReply;
  /** Why WeChat would show the user "该公众号暂时无法提供服务": the final 2xx body was neither success/empty nor a valid reply. */
  replyError?: string;
}

export interface FakeWechatMp {
  /** API base URL (no trailing slash), for the channel's `api_base_url`. */
  readonly url: string;
  gatewayUrl: string | undefined;
  readonly mode: WechatMpMode;
  readonly originalId: string;
  push(user: string, message: WechatMpPushMessage, opts?: PushOptions): Promise<PushResult>;
  /**
   * The user sends a photo with these bytes: stored as WeChat stores it (media/get serves it for 3 days on
   * the fake clock, its PicUrl too), then pushed as an image message with that MediaId and PicUrl.
   * `contentType` defaults to the bytes' type (png, gif, else image/jpeg, as WeChat serves photos).
   */
  sendImage(user: string, data: Buffer, opts?: PushOptions & { contentType?: string }): Promise<PushResult & { mediaId: string; picUrl: string }>;
  /** Stores a file as a user's upload without pushing anything; returns its MediaId. */
  addMedia(data: Buffer, contentType?: string): string;
  /** The MediaId answers 40007 (and its PicUrl 404) from now on, as after WeChat's 3 days. */
  expireMedia(mediaId: string): void;
  /** The next `n` media/get calls with a valid token answer `errcode` (e.g. -1 busy, 45009). */
  failNextMediaGets(n: number, errcode: number): void;
  /** Every media/get call and PicUrl fetch, with its errcode (0 = the file was served). */
  readonly mediaGets: readonly MediaGetRecord[];
  /**
   * A message from `user` reached the account without `push` (a load generator posting its own
   * signed requests): opens the user's 客服 window as a pushed message does.
   */
  userWrote(user: string): void;
  /** One unretried POST with exactly this body and query, for forged or malformed requests. */
  rawPost(body: string, query: Record<string, string>): Promise<{ status: number; body: string }>;
  /** The GET verification WeChat sends when the URL is saved in the console. */
  verifyUrl(echostr?: string, opts?: { tamper?: 'signature' }): Promise<{ status: number; body: string }>;
  /** Fake clock (unix seconds) used by CreateTime, token expiry, the 48 h window and the typing rule. */
  now(): number;
  advanceTime(seconds: number): void;
  /** Every token issued so far answers 40001 from now on. */
  invalidateTokens(): void;
  /** The next `n` custom/send calls with a valid token answer `errcode` (e.g. -1 busy, 45009 quota). */
  failNextSends(n: number, errcode: number): void;
  /**
   * Customer-service messages accepted for `user`, in order: text content, `[image <bytes> bytes <type>]` for an
   * image (what `cococat simulate` prints), `[msgtype:media_id]` for other media.
   */
  received(user: string): string[];
  /** The images accepted for `user` through 客服, in order, with the bytes of the upload each named. */
  receivedImages(user: string): { mediaId: string; data: Buffer; contentType: string }[];
  /** Every media/upload call with its errcode (0 = stored; `mediaId` then set) and the bytes of its `media` part. */
  readonly uploads: readonly UploadRecord[];
  /** The next `n` media/upload calls with a valid token answer `errcode` (e.g. -1 busy, 45009). */
  failNextUploads(n: number, errcode: number): void;
  /** Every custom/send call with its errcode (0 = accepted). */
  readonly sends: readonly SendRecord[];
  readonly typing: readonly TypingRecord[];
  readonly counters: Readonly<ApiCounters>;
  close(): Promise<void>;
}

const nonce = (): string => String(randomInt(100_000_000, 2_147_483_647));
/** The query `timestamp` is wall-clock: the gateway checks it against its own clock, not the fake's. */
const wallSeconds = (): number => Math.floor(Date.now() / 1000);
const TAMPERED_TIMESTAMP_AGE = 2 * 86_400;

/** Starts the fake on 127.0.0.1 and a free port: the API on `url`; pushes go to `gatewayUrl`. */
export async function startFakeWechatMp(opts: FakeWechatMpOptions): Promise<FakeWechatMp> {
  const originalId = opts.originalId ?? 'gh_fake0000001';
  const retryWaitMs = opts.retryWaitMs ?? 5000;
  const requests = new TimedRequests();
  if (opts.mode !== 'plain' && !opts.encodingAesKey) throw new Error(`startFakeWechatMp: encodingAesKey is required in ${opts.mode} mode`);
  const crypto = opts.encodingAesKey ? new TencentCrypto({ token: opts.token, encodingAesKey: opts.encodingAesKey, receiveId: opts.appId }) : undefined;
  let offset = 0;
  const now = (): number => wallSeconds() + offset;
  const api = new WechatMpApi({
    appId: opts.appId,
    appSecret: opts.appSecret,
    tokenTtlSeconds: opts.tokenTtlSeconds ?? 7200,
    customerService: opts.permissions?.customerService ?? true,
    uploadMedia: opts.permissions?.uploadMedia ?? true,
    now,
  });
  // 64-bit ids above 2^53, like real ones: a gateway that parses MsgId as a JS number loses digits.
  let nextMsgId = 24_000_000_000_000_000n + BigInt(randomInt(0, 1_000_000_000)) * 1000n;
  let gatewayUrl = opts.gatewayUrl;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendWechatJson(res, 500, { errcode: -1, errmsg: String(err) });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const body = await readRawBody(req);
    const answer = api.handle(req.method ?? 'GET', url.pathname, url.searchParams, body, req.headers['content-type']);
    if (!answer) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(`no route ${req.method} ${url.pathname}`);
      return;
    }
    if (answer.file) {
      res.writeHead(answer.status, answer.file.headers);
      res.end(answer.file.data);
      return;
    }
    if (answer.contentType) sendJson(res, answer.status, answer.json, answer.contentType);
    else sendWechatJson(res, answer.status, answer.json);
  }

  function target(query: Record<string, string>, to = gatewayUrl): URL {
    if (!to) throw new Error('fake WeChat OA: gatewayUrl is not set');
    const url = new URL(to);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url;
  }

  /** One try: the request WeChat sends, aborted after `retryWaitMs`. */
  function attempt(method: 'GET' | 'POST', query: Record<string, string>, body?: string, to?: string): Promise<Omit<PushAttempt, 'query'>> {
    return requests.send(target(query, to).toString(), { method, body, headers: body === undefined ? {} : { 'content-type': 'text/xml' }, timeoutMs: retryWaitMs });
  }

  function signedQuery(user: string, encrypt: string | undefined, tamper: PushOptions['tamper']): Record<string, string> {
    const timestamp = String(tamper === 'timestamp' ? wallSeconds() - TAMPERED_TIMESTAMP_AGE : wallSeconds());
    const n = nonce();
    const query: Record<string, string> = { signature: signature(opts.token, timestamp, n), timestamp, nonce: n, openid: user };
    if (encrypt !== undefined) {
      query.encrypt_type = 'aes';
      query.msg_signature = signature(opts.token, timestamp, n, encrypt);
    }
    if (tamper === 'signature') query.signature = forge(query.signature ?? '');
    if (tamper === 'msg_signature') query.msg_signature = forge(query.msg_signature ?? '');
    return query;
  }

  function decodeReply(body: string, user: string): { reply?: PushReply; replyError?: string } {
    const trimmed = body.trim();
    if (trimmed === '' || trimmed === 'success') return {};
    const outer = parseFlatXml(trimmed);
    if (!outer) return { replyError: 'the answer is neither success, empty nor XML' };
    let xml = outer;
    let encrypted = false;
    if (outer.Encrypt !== undefined) {
      if (!crypto || opts.mode === 'plain') return { replyError: 'encrypted reply in plain mode' };
      const { Encrypt: enc, MsgSignature: sig = '', TimeStamp: ts = '', Nonce: n = '' } = outer;
      if (!crypto.verify(sig, ts, n, enc)) return { replyError: 'reply MsgSignature does not match' };
      let inner: Record<string, string> | undefined;
      try {
        inner = parseFlatXml(crypto.decrypt(enc));
      } catch (err) {
        return { replyError: `reply could not be decrypted: ${String(err)}` };
      }
      if (!inner) return { replyError: 'decrypted reply is not XML' };
      xml = inner;
      encrypted = true;
    }
    const reply: PushReply = { raw: body, xml, encrypted };
    if (!xml.MsgType) return { reply, replyError: 'reply has no MsgType' };
    if (xml.ToUserName !== user || xml.FromUserName !== originalId) return { reply, replyError: 'reply ToUserName/FromUserName do not match the push' };
    if (xml.MsgType === 'image') {
      // The user sees the image only when the MediaId names a live upload of this account.
      const image = xml.MediaId ? api.media.find(xml.MediaId) : undefined;
      if (!image) return { reply, replyError: 'image reply MediaId is not a live upload of this account' };
      reply.image = { mediaId: xml.MediaId!, ...image };
    }
    return { reply };
  }

  async function push(user: string, message: WechatMpPushMessage, pushOpts: PushOptions = {}): Promise<PushResult> {
    const { tamper, tryUrls } = pushOpts;
    if (!tryUrls?.length) target({}); // throws now, before the user's message counts, when there is no gatewayUrl
    if (tamper === 'appid' || tamper === 'msg_signature') {
      if (opts.mode === 'plain') throw new Error(`tamper '${tamper}' needs compatible or safe mode`);
    }
    const isEvent = message.type === 'event';
    const msgId = isEvent ? undefined : (pushOpts.msgId ?? String(nextMsgId++));
    const createTime = pushOpts.createTime ?? now();
    api.userPushed(user, isEvent ? 'event' : 'message', isEvent ? message.event : undefined);
    const fields = messageFields(originalId, user, createTime, message, msgId);
    const plainXml = xmlOf(fields);
    let encrypt: string | undefined;
    if (crypto && opts.mode !== 'plain') {
      const sealer =
        tamper === 'appid' ? new TencentCrypto({ token: opts.token, encodingAesKey: opts.encodingAesKey ?? '', receiveId: `${opts.appId}x` }) : crypto;
      // Encrypted once: the retries carry the same body, only the query is signed afresh.
      encrypt = sealer.encrypt(plainXml);
    }
    const body =
      encrypt === undefined
        ? plainXml
        : opts.mode === 'safe'
          ? `<xml>\n<ToUserName>${cdata(originalId)}</ToUserName>\n<Encrypt>${cdata(encrypt)}</Encrypt>\n</xml>`
          : plainXml.replace(/\n<\/xml>$/, `\n<Encrypt>${cdata(encrypt)}</Encrypt>\n</xml>`);

    const attempts: PushAttempt[] = [];
    for (let i = 0; i < 3; i++) {
      pushOpts.beforeTry?.(i);
      const query = signedQuery(user, encrypt, tamper);
      const result = { ...(await attempt('POST', query, body, tryUrls?.[i % tryUrls.length])), query };
      attempts.push(result);
      if (result.status !== undefined && result.status >= 200 && result.status < 300) {
        return { msgId, createTime, xml: plainXml, attempts, delivered: true, ...decodeReply(result.body ?? '', user) };
      }
    }
    return { msgId, createTime, xml: plainXml, attempts, delivered: false };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const addMedia = (data: Buffer, contentType?: string): string => api.media.add(data, contentType ?? imageTypeOf(data));

  return {
    url,
    get gatewayUrl() {
      return gatewayUrl;
    },
    set gatewayUrl(value: string | undefined) {
      gatewayUrl = value;
    },
    mode: opts.mode,
    originalId,
    push,
    async sendImage(user, data, imageOpts = {}) {
      const mediaId = addMedia(data, imageOpts.contentType);
      const picUrl = `${url}/mmbiz_jpg/${mediaId}/0`;
      return { ...(await push(user, { type: 'image', picUrl, mediaId }, imageOpts)), mediaId, picUrl };
    },
    addMedia,
    expireMedia: (mediaId) => api.media.expire(mediaId),
    failNextMediaGets: (n, errcode) => api.media.failNext(n, errcode),
    mediaGets: api.media.gets,
    userWrote: (user) => api.userPushed(user, 'message'),
    async rawPost(body, query) {
      const res = await fetch(target(query), { method: 'POST', body, headers: { 'content-type': 'text/xml' } });
      return { status: res.status, body: await res.text() };
    },
    async verifyUrl(echostr = `${randomInt(1e9, 2 ** 31)}${randomInt(1e8, 1e9)}`, verifyOpts = {}) {
      const timestamp = String(wallSeconds());
      const n = nonce();
      const sig = signature(opts.token, timestamp, n);
      const query = { signature: verifyOpts.tamper === 'signature' ? forge(sig) : sig, timestamp, nonce: n, echostr };
      const res = await attempt('GET', query);
      return { status: res.status ?? 0, body: res.body ?? '' };
    },
    now,
    advanceTime(seconds) {
      offset += seconds;
    },
    invalidateTokens: () => api.invalidateTokens(),
    failNextSends: (n, errcode) => api.failNextSends(n, errcode),
    received: (user) => api.received(user),
    receivedImages: (user) => api.receivedImages(user),
    uploads: api.media.uploads,
    failNextUploads: (n, errcode) => api.media.failNextUploads(n, errcode),
    sends: api.sends,
    typing: api.typing,
    counters: api.counters,
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/** A well-formed signature that is wrong: first hex digit changed. */
const forge = (sig: string): string => `${sig.startsWith('0') ? '1' : '0'}${sig.slice(1)}`;

/** WeChat answers JSON with this content type (and HTTP 200 even for errors). */
function sendWechatJson(res: ServerResponse, status: number, body: unknown): void {
  sendJson(res, status, body, 'application/json; encoding=utf-8');
}
