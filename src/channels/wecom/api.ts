import type { Clock } from '../../core/clock.js';
import { CocoError, describeError } from '../../core/errors.js';
import { getJson, type JsonAnswer, postJson } from '../shared/http-json.js';
import { postMediaUpload, type UploadFile } from '../shared/tencent-upload.js';
import type { MessageSendBody } from './format.js';

/** WeCom answers HTTP 200 with { errcode, errmsg }; 0 is success. */
interface ApiAnswer {
  errcode?: number;
  errmsg?: string;
  access_token?: string;
  expires_in?: number;
  invaliduser?: string;
  msgid?: string;
  /** media/upload's answer. */
  media_id?: string;
}

/** Refresh this long before WeCom says the token expires, so a send never carries one about to lapse. */
const REFRESH_AHEAD_MS = 5 * 60_000;
/** "This access token is no longer good" (missing, invalid, expired): refresh once and retry. */
export const TOKEN_INVALID: ReadonlySet<number> = new Set([40014, 41001, 42001]);
/** Credentials WeCom will keep refusing: the entry's config is wrong. */
const BAD_CREDENTIALS = new Set([40001, 40013, 41002, 41004, 60020]);
/** Codes WeCom answers the same way however often we retry: dead-letter with the reason. */
export const PERMANENT: Record<number, string> = {
  40003: 'invalid UserID',
  40008: 'invalid message type',
  40056: 'invalid agentid: check agent_id',
  41011: 'agentid missing',
  44004: 'empty message',
  45002: 'message too long',
  48002: 'API forbidden for this app (check its permissions)',
  60020: 'the server IP is not on the app\'s trusted IP list (企业可信IP)',
  81013: 'the member is not in the app\'s visible range or does not exist',
  82001: 'no valid recipient in the app\'s visible range',
};
/** media/upload's refusals of the file: another try gets the same answer. */
const UPLOAD_REFUSED: Record<number, string> = {
  40004: 'invalid media type',
  40005: 'invalid file type: WeCom takes jpg and png images',
  40006: 'invalid file size: WeCom takes files of more than 5 bytes',
  40009: 'image too large: WeCom takes images up to 10 MB',
  41005: 'media data missing',
  44001: 'empty media data',
};
/** Uploads of up to 10 MB get longer than a JSON call. */
const MIN_UPLOAD_TIMEOUT_MS = 30_000;
/** Busy or over a frequency limit: heals with time. */
export const BUSY_RETRY_AFTER_MS: Record<number, number> = { [-1]: 2_000, 45009: 60_000, 45033: 5_000 };

const sendError = (message: string, opts: { retryable: boolean; retryAfterMs?: number }) =>
  new CocoError('COCO_ERR_CHANNEL_SEND', `wecom: ${message}`, { channel: 'wecom', ...opts });

/** One access-token owner per app in this process, so two entries of one app share (never fight over) a token. */
const owners = new Map<string, WecomApi>();

export interface WecomApiOptions {
  baseUrl: string;
  corpId: string;
  secret: string;
  timeoutMs: number;
  clock: Clock;
}

export function wecomApiFor(opts: WecomApiOptions): WecomApi {
  const key = `${opts.baseUrl}|${opts.corpId}|${opts.secret}`;
  let api = owners.get(key);
  if (!api) {
    api = new WecomApi(opts);
    owners.set(key, api);
  }
  return api;
}

export class WecomApi {
  private token?: { value: string; expiresAt: number };
  private refreshing?: Promise<string>;

  constructor(private readonly opts: WecomApiOptions) {}

  /** A valid access token, fetched once for all concurrent callers and renewed ahead of expiry. */
  async accessToken(force = false): Promise<string> {
    if (!force && this.token && this.opts.clock.now() < this.token.expiresAt - REFRESH_AHEAD_MS) return this.token.value;
    this.refreshing ??= this.fetchToken().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async fetchToken(): Promise<string> {
    const query = `corpid=${encodeURIComponent(this.opts.corpId)}&corpsecret=${encodeURIComponent(this.opts.secret)}`;
    const answer = await this.call('/cgi-bin/gettoken', (url) => getJson(`${url}?${query}`, { timeoutMs: this.opts.timeoutMs }));
    if (!answer.access_token) {
      const bad = answer.errcode !== undefined && BAD_CREDENTIALS.has(answer.errcode);
      throw new CocoError(
        bad ? 'COCO_ERR_CHANNEL_START' : 'COCO_ERR_CHANNEL_SEND',
        `wecom: access token refused (${answer.errcode} ${answer.errmsg ?? ''})${bad ? ': check corp_id, secret and the trusted IP list' : ''}`,
        { channel: 'wecom', retryable: !bad },
      );
    }
    this.token = { value: answer.access_token, expiresAt: this.opts.clock.now() + (answer.expires_in ?? 7200) * 1000 };
    return answer.access_token;
  }

  /** POST message/send; refreshes the token once when WeCom says it is no longer valid. Returns WeCom's msgid. */
  async send(body: MessageSendBody): Promise<string | undefined> {
    const answer = await this.withToken((token) =>
      this.call('/cgi-bin/message/send', (url) => postJson(`${url}?access_token=${encodeURIComponent(token)}`, body, { timeoutMs: this.opts.timeoutMs })),
    );
    const code = answer.errcode ?? 0;
    if (code === 0) {
      // WeCom answers 0 and lists the recipients it could not reach: for our single recipient that is a failure.
      const invalid = (answer.invaliduser ?? '').split('|').filter(Boolean);
      if (invalid.length > 0) throw sendError(`${body.touser} is not a member the app can reach (invaliduser)`, { retryable: false });
      return answer.msgid;
    }
    const reason = PERMANENT[code];
    if (reason !== undefined) throw sendError(`${code} ${reason}`, { retryable: false });
    throw sendError(`${code} ${answer.errmsg ?? 'send failed'}`, { retryable: true, retryAfterMs: BUSY_RETRY_AFTER_MS[code] });
  }

  /**
   * Uploads an image as temporary media (上传临时素材, valid 3 days) and returns its media_id. The caller
   * checks type and size first; WeCom's own refusals are not retried.
   */
  async uploadImage(file: UploadFile): Promise<string> {
    const timeoutMs = Math.max(this.opts.timeoutMs, MIN_UPLOAD_TIMEOUT_MS);
    const answer = await this.withToken((token) =>
      this.call('/cgi-bin/media/upload', (url) => postMediaUpload(`${url}?access_token=${encodeURIComponent(token)}&type=image`, file, { timeoutMs })),
    );
    const code = answer.errcode ?? 0;
    if (code === 0 && typeof answer.media_id === 'string' && answer.media_id !== '') return answer.media_id;
    if (code === 0) throw sendError('media/upload answered no media_id', { retryable: true });
    const reason = UPLOAD_REFUSED[code] ?? PERMANENT[code];
    if (reason !== undefined) throw sendError(`media/upload ${code} ${reason}`, { retryable: false });
    throw sendError(`media/upload ${code} ${answer.errmsg ?? 'upload failed'}`, { retryable: true, retryAfterMs: BUSY_RETRY_AFTER_MS[code] });
  }

  /** Runs a call with the access token, and once more with a fresh one when WeCom refused the token. */
  private async withToken(request: (token: string) => Promise<ApiAnswer>): Promise<ApiAnswer> {
    const answer = await request(await this.accessToken());
    if (answer.errcode === undefined || !TOKEN_INVALID.has(answer.errcode)) return answer;
    return request(await this.accessToken(true));
  }

  private async call(path: string, request: (url: string) => Promise<JsonAnswer>): Promise<ApiAnswer> {
    let answer: JsonAnswer;
    try {
      answer = await request(`${this.opts.baseUrl}${path}`);
    } catch (err) {
      throw sendError(`${path} unreachable: ${describeError(err)}`, { retryable: true });
    }
    if (answer.status < 200 || answer.status > 299 || typeof answer.json !== 'object' || answer.json === null) {
      const what = answer.status >= 200 && answer.status <= 299 ? 'an empty or non-object body' : `HTTP ${answer.status}`;
      throw sendError(`${path} answered ${what}`, { retryable: true });
    }
    return answer.json as ApiAnswer;
  }
}
