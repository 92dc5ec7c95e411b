import type { HttpInstance, HttpRequestOptions } from '@larksuiteoapi/node-sdk';
import type { Clock } from '../../core/clock.js';
import { CocoError, describeError } from '../../core/errors.js';
import { imageFileName, mediaType } from '../../core/media.js';

/**
 * The HTTP side of Feishu/Lark: an `HttpInstance` (fetch, with our timeout) that the official SDK's
 * Client and WSClient run their requests through, the tenant_access_token owner, the bot's identity,
 * and how API answers map to retryable or permanent send errors. protocols.md §6.
 */

/** An answer that was not `code: 0`, or no answer at all (status 0). Its message never carries a token. */
export class FeishuApiError extends Error {
  constructor(
    readonly path: string,
    readonly status: number,
    readonly code: number | undefined,
    readonly msg: string,
    /** `x-ogw-ratelimit-reset`: seconds until the rate limit lets the next request through. */
    readonly resetSeconds?: number,
  ) {
    super(`${path} ${status === 0 ? 'unreachable' : `answered HTTP ${status}`}${code === undefined ? '' : ` code ${code}`}${msg ? `: ${msg}` : ''}`);
    this.name = 'FeishuApiError';
  }
}

/** What the API answers in its `{code, msg}` envelope. */
interface Envelope {
  code?: number;
  msg?: string;
  [key: string]: unknown;
}

/**
 * fetch behind the SDK's HttpInstance interface. Why not the SDK's axios instance: its errors carry
 * the request (bearer token, app secret of the endpoint discovery), and the SDK logs them whole.
 * Ours carry the path, status, code and message only.
 */
export class FeishuHttp implements HttpInstance {
  constructor(
    private readonly timeoutMs: number,
    /** Sees every parsed answer (path, body); the long connection learns its discovery result here. */
    private readonly observe?: (path: string, body: unknown) => void,
  ) {}

  async request<T = any, R = T, D = any>(opts: HttpRequestOptions<D>): Promise<R> {
    const url = new URL(opts.url ?? '');
    for (const [key, value] of Object.entries(opts.params ?? {})) {
      if (value === undefined || value === null) continue;
      for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(v));
    }
    // Lower-case names: the SDK's "Content-Type" of uploads must replace our default, not join it.
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
    for (const [key, value] of Object.entries(opts.headers ?? {})) if (value !== undefined && value !== null) headers[key.toLowerCase()] = String(value);
    const method = (opts.method ?? 'GET').toUpperCase();
    const hasBody = opts.data !== undefined && method !== 'GET' && method !== 'HEAD';
    const multipart = hasBody && /^multipart\/form-data/i.test(headers['content-type'] ?? '') && isFields(opts.data);
    // fetch writes the multipart Content-Type itself, with the boundary it chose.
    if (multipart) delete headers['content-type'];
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: multipart ? formData(opts.data as Fields) : hasBody ? (typeof opts.data === 'string' ? opts.data : JSON.stringify(opts.data)) : undefined,
        signal: AbortSignal.timeout(Math.min(opts.timeout ?? this.timeoutMs, this.timeoutMs)),
      });
    } catch (err) {
      throw new FeishuApiError(url.pathname, 0, undefined, describeError(err));
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    const envelope = (typeof body === 'object' && body !== null ? body : {}) as Envelope;
    if (!res.ok) {
      const reset = Number(res.headers.get('x-ogw-ratelimit-reset'));
      throw new FeishuApiError(
        url.pathname,
        res.status,
        typeof envelope.code === 'number' ? envelope.code : undefined,
        typeof envelope.msg === 'string' ? envelope.msg : '',
        Number.isFinite(reset) && reset >= 0 ? reset : undefined,
      );
    }
    // The SDK hands back only `data` of an upload's answer: a refusal in a 200 would read as "no key".
    if (multipart && typeof envelope.code === 'number' && envelope.code !== 0) {
      throw new FeishuApiError(url.pathname, res.status, envelope.code, typeof envelope.msg === 'string' ? envelope.msg : '');
    }
    this.observe?.(url.pathname, body);
    if (opts.$return_headers) return { data: body, headers: Object.fromEntries(res.headers) } as R;
    return body as R;
  }

  get<T = any, R = T, D = any>(url: string, opts?: HttpRequestOptions<D>): Promise<R> {
    return this.request<T, R, D>({ ...opts, url, method: 'GET' });
  }
  delete<T = any, R = T, D = any>(url: string, opts?: HttpRequestOptions<D>): Promise<R> {
    return this.request<T, R, D>({ ...opts, url, method: 'DELETE' });
  }
  head<T = any, R = T, D = any>(url: string, opts?: HttpRequestOptions<D>): Promise<R> {
    return this.request<T, R, D>({ ...opts, url, method: 'HEAD' });
  }
  options<T = any, R = T, D = any>(url: string, opts?: HttpRequestOptions<D>): Promise<R> {
    return this.request<T, R, D>({ ...opts, url, method: 'OPTIONS' });
  }
  post<T = any, R = T, D = any>(url: string, data?: D, opts?: HttpRequestOptions<D>): Promise<R> {
    return this.request<T, R, D>({ ...opts, url, data, method: 'POST' });
  }
  put<T = any, R = T, D = any>(url: string, data?: D, opts?: HttpRequestOptions<D>): Promise<R> {
    return this.request<T, R, D>({ ...opts, url, data, method: 'PUT' });
  }
  patch<T = any, R = T, D = any>(url: string, data?: D, opts?: HttpRequestOptions<D>): Promise<R> {
    return this.request<T, R, D>({ ...opts, url, data, method: 'PATCH' });
  }
}

/** The fields of a multipart request as the SDK passes them: text, or file bytes. */
type Fields = Record<string, unknown>;

function isFields(data: unknown): data is Fields {
  return typeof data === 'object' && data !== null && !Buffer.isBuffer(data) && !(data instanceof Blob);
}

/**
 * A multipart body from the SDK's fields. Bytes become a file part (Feishu refuses an `image` sent
 * as a plain field), named and typed from their content; other values are text fields.
 */
export function formData(fields: Fields): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    if (value instanceof Blob) form.append(name, value);
    else if (value instanceof Uint8Array) {
      const type = mediaType(Buffer.from(value.buffer, value.byteOffset, value.byteLength), undefined);
      form.append(name, new Blob([new Uint8Array(value)], { type }), type.startsWith('image/') ? imageFileName(type) : name);
    } else form.append(name, String(value));
  }
  return form;
}

/** Renew this long before the platform says a token expires (the official SDKs use 3 minutes too). */
const REFRESH_AHEAD_MS = 180_000;
/** "This token is no longer good": refresh once and retry. */
export const TOKEN_INVALID = new Set([99991663, 99991664, 99991671]);
/** Wrong credentials: retrying does not help until the config changes. */
const BAD_CREDENTIALS: Record<number, string> = {
  10003: 'app_id is not a valid App ID',
  10014: 'app_secret does not match the App ID',
};

/** One token owner per app in this process, so two entries of the same app share one token. */
const owners = new Map<string, FeishuTokens>();

export function feishuTokensFor(opts: { baseUrl: string; appId: string; appSecret: string; clock: Clock; timeoutMs: number }): FeishuTokens {
  const key = `${opts.baseUrl}|${opts.appId}`;
  let owner = owners.get(key);
  if (!owner || owner.appSecret !== opts.appSecret) {
    owner = new FeishuTokens(new FeishuHttp(opts.timeoutMs), opts.baseUrl, opts.appId, opts.appSecret, opts.clock);
    owners.set(key, owner);
  }
  return owner;
}

/** The tenant_access_token of a self-built app: fetched once for all concurrent callers, renewed ahead of expiry. */
export class FeishuTokens {
  private current?: { value: string; expiresAt: number };
  private refreshing?: Promise<string>;

  constructor(
    readonly http: FeishuHttp,
    readonly baseUrl: string,
    private readonly appId: string,
    readonly appSecret: string,
    private readonly clock: Clock,
  ) {}

  /** A valid token; `stale` is one the platform refused, so a newer one is fetched unless already replaced. */
  async token(stale?: string): Promise<string> {
    const current = this.current;
    const fresh = current && this.clock.now() < current.expiresAt - REFRESH_AHEAD_MS && current.value !== stale;
    if (fresh) return current.value;
    this.refreshing ??= this.fetch().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async fetch(): Promise<string> {
    const path = '/open-apis/auth/v3/tenant_access_token/internal';
    let answer: Envelope;
    try {
      answer = await this.http.post<Envelope>(`${this.baseUrl}${path}`, { app_id: this.appId, app_secret: this.appSecret });
    } catch (err) {
      const code = err instanceof FeishuApiError ? err.code : undefined;
      if (code !== undefined && BAD_CREDENTIALS[code]) throw badCredentials(code);
      throw new CocoError('COCO_ERR_CHANNEL_SEND', `feishu: tenant_access_token: ${describeError(err)}`, { channel: 'feishu', retryable: true, cause: err });
    }
    if (answer.code !== 0 || typeof answer.tenant_access_token !== 'string') {
      if (answer.code !== undefined && BAD_CREDENTIALS[answer.code]) throw badCredentials(answer.code);
      throw new CocoError('COCO_ERR_CHANNEL_SEND', `feishu: tenant_access_token refused (code ${answer.code ?? '?'} ${answer.msg ?? ''})`.trim(), {
        channel: 'feishu',
        retryable: true,
      });
    }
    const seconds = typeof answer.expire === 'number' && answer.expire > 0 ? answer.expire : 7200;
    this.current = { value: answer.tenant_access_token, expiresAt: this.clock.now() + seconds * 1000 };
    return answer.tenant_access_token;
  }
}

function badCredentials(code: number): CocoError {
  return new CocoError('COCO_ERR_CHANNEL_START', `feishu: tenant_access_token refused (${code}: ${BAD_CREDENTIALS[code]}): check app_id and app_secret (开发者后台 → 凭证与基础信息)`, {
    channel: 'feishu',
    retryable: false,
  });
}

export interface BotInfo {
  openId: string;
  name?: string;
}

/**
 * GET /open-apis/bot/v3/info: the bot's open_id, which group mentions are matched against. Fails when
 * the app has no bot capability, which also means it can neither receive nor send messages.
 */
export async function fetchBotInfo(tokens: FeishuTokens): Promise<BotInfo> {
  let answer: Envelope;
  try {
    answer = await withTenantToken(tokens, (token) => tokens.http.get<Envelope>(`${tokens.baseUrl}/open-apis/bot/v3/info`, { headers: { authorization: `Bearer ${token}` } }));
  } catch (err) {
    // The token's own refusal (wrong credentials) already says what to fix.
    if (err instanceof CocoError) throw err;
    throw new CocoError('COCO_ERR_CHANNEL_START', `feishu: bot info: ${describeError(err)}`, { channel: 'feishu', retryable: true, cause: err });
  }
  const bot = answer.bot as { open_id?: unknown; app_name?: unknown } | undefined;
  if (answer.code !== 0 || typeof bot?.open_id !== 'string' || bot.open_id === '') {
    throw new CocoError(
      'COCO_ERR_CHANNEL_START',
      `feishu: bot info refused (code ${answer.code ?? '?'} ${answer.msg ?? ''}): enable the bot capability (应用能力 → 机器人) and publish a version`,
      { channel: 'feishu' },
    );
  }
  return { openId: bot.open_id, ...(typeof bot.app_name === 'string' && bot.app_name ? { name: bot.app_name } : {}) };
}

/**
 * Runs `call` with the app's tenant token. A token Feishu refuses (TOKEN_INVALID, a FeishuApiError)
 * is renewed and the call made once more; anything else is thrown as it came. With `signal`, waiting
 * for a token ends when it aborts (a token request has its own, longer timeout).
 */
export async function withTenantToken<T>(tokens: FeishuTokens, call: (token: string) => Promise<T>, signal?: AbortSignal): Promise<T> {
  let stale: string | undefined;
  for (let attempt = 0; ; attempt++) {
    const token = await (signal ? untilAborted(tokens.token(stale), signal) : tokens.token(stale));
    try {
      return await call(token);
    } catch (err) {
      if (attempt > 0 || !(err instanceof FeishuApiError && err.code !== undefined && TOKEN_INVALID.has(err.code))) throw err;
      stale = token;
    }
  }
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  promise.catch(() => undefined); // its failure is the caller's only while it still waits
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Rate-limit answers: HTTP 429 / 99991400 (API frequency), 230020 (per-chat), 11232 (tenant message service). */
export function isRateLimited(err: FeishuApiError): boolean {
  return err.status === 429 || err.code === 99991400 || err.code === 230020 || err.code === 11232;
}

/** A card Feishu will not render (`Failed to create card content`, e.g. 11310: more than five tables). */
export const CARD_CONTENT_REFUSED = 230099;

/** Whether `err` (as thrown by an API call, or the send error made of it) is Feishu refusing a card's content. */
export function isCardContentRefusal(err: unknown): boolean {
  const api = err instanceof FeishuApiError ? err : err instanceof Error && err.cause instanceof FeishuApiError ? err.cause : undefined;
  return api?.code === CARD_CONTENT_REFUSED;
}

/** Send errors Feishu answers the same way however often we retry: dead-letter with the reason. */
const PERMANENT: Record<number, string> = {
  9499: 'malformed request',
  230001: 'invalid request parameter (the message or its target)',
  230002: 'the bot is not in this chat',
  230006: 'the bot capability is not enabled for the app',
  230011: 'the message it answers was recalled by its sender: the answer is not shown',
  230025: 'message content too long',
  [CARD_CONTENT_REFUSED]: 'Feishu refused the card content',
  99992402: 'a request field failed validation',
  // Image upload (im/v1/images), from its documented error table.
  234001: 'the upload was refused as an invalid request',
  234002: 'the upload was not authorized',
  234006: 'the image is over Feishu\'s 10 MB limit',
  234007: 'the bot capability is not enabled for the app',
  234010: 'the image is empty',
  234011: 'Feishu cannot read the image format',
  99991672: 'the app lacks an API permission (im:message:send_as_bot to send, im:resource to upload images): enable it and publish a version',
};

/** The CocoError `send()` throws for a failed API call: retryable unless Feishu said it never will work. */
export function sendError(err: unknown, retryAfterMs?: number): CocoError {
  if (err instanceof CocoError) return err;
  if (!(err instanceof FeishuApiError)) {
    return new CocoError('COCO_ERR_CHANNEL_SEND', `feishu: ${describeError(err)}`, { channel: 'feishu', retryable: true, cause: err });
  }
  const reason = err.code === undefined ? undefined : PERMANENT[err.code];
  return new CocoError('COCO_ERR_CHANNEL_SEND', `feishu: ${err.message}${reason ? ` (${reason})` : ''}`, {
    channel: 'feishu',
    retryable: reason === undefined,
    retryAfterMs,
    cause: err,
  });
}
