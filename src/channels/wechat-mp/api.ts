import type { Clock } from '../../core/clock.js';
import { CocoError, describeError } from '../../core/errors.js';
import { type JsonAnswer, postJson } from '../shared/http-json.js';
import { postMediaUpload, type UploadFile } from '../shared/tencent-upload.js';

/** WeChat API answers HTTP 200 with { errcode, errmsg }; 0 (or no errcode) is success. */
interface ApiAnswer {
  errcode?: number;
  errmsg?: string;
  access_token?: string;
  expires_in?: number;
  /** media/upload's answer. */
  media_id?: string;
}

/** A 客服 message: text, or an image uploaded before. */
export type CustomMessage = { msgtype: 'text'; text: { content: string } } | { msgtype: 'image'; image: { media_id: string } };

/** Refresh this long before WeChat says the token expires (the old one stays valid ~5 min after). */
const REFRESH_AHEAD_MS = 5 * 60_000;
/** Codes meaning "this access token is no longer good": refresh once and retry. */
export const TOKEN_INVALID: ReadonlySet<number> = new Set([40001, 40014, 42001]);
/** Codes WeChat will answer the same way however often we retry: dead-letter with the reason. */
const PERMANENT: Record<number, string> = {
  40003: 'invalid openid (the user is not a follower of this account)',
  43004: 'the user has unfollowed the account',
  45002: 'message too long',
  45015: 'outside the 48-hour reply window: the user has not written in the last 48 hours',
  45047: 'over the customer-service quota: 5 messages per user message within 48 hours',
  48001: 'no customer-service (客服) API permission: use reply_mode passive on this account',
};

/** media/upload's refusals of the file itself or of the account: another try gets the same answer. */
const UPLOAD_REFUSED: Record<number, string> = {
  40004: 'invalid media type',
  40005: 'invalid file type: WeChat takes bmp, png, jpeg and gif images',
  40009: 'image too large: WeChat takes images up to 10 MB',
  41005: 'media data missing',
  44001: 'empty media data',
  48001: 'no permission to upload media (素材管理 needs a verified account)',
};
/** Uploads of up to 10 MB get longer than a JSON call. */
const UPLOAD_TIMEOUT_MS = 30_000;

/** The WeChat errcode behind a send failure, if it came from WeChat. */
export function wechatErrcode(err: unknown): number | undefined {
  const match = err instanceof CocoError ? /^wechat_mp: (-?\d+) /.exec(err.message) : null;
  return match ? Number(match[1]) : undefined;
}

/** One access-token owner per account in this process, so two entries never invalidate each other's token. */
const owners = new Map<string, WechatApi>();

export function wechatApiFor(opts: { baseUrl: string; appId: string; appSecret: string; clock: Clock }): WechatApi {
  const key = `${opts.baseUrl}|${opts.appId}`;
  let api = owners.get(key);
  if (!api || api.appSecret !== opts.appSecret) {
    api = new WechatApi(opts.baseUrl.replace(/\/+$/, ''), opts.appId, opts.appSecret, opts.clock);
    owners.set(key, api);
  }
  return api;
}

export class WechatApi {
  private token?: { value: string; expiresAt: number };
  private refreshing?: Promise<string>;

  constructor(
    private readonly baseUrl: string,
    private readonly appId: string,
    readonly appSecret: string,
    private readonly clock: Clock,
  ) {}

  /** A valid access token, fetched once for all concurrent callers and renewed ahead of expiry. */
  async accessToken(force = false): Promise<string> {
    if (!force && this.token && this.clock.now() < this.token.expiresAt - REFRESH_AHEAD_MS) return this.token.value;
    this.refreshing ??= this.fetchToken(force).finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async fetchToken(force: boolean): Promise<string> {
    const answer = await this.call('/cgi-bin/stable_token', { grant_type: 'client_credential', appid: this.appId, secret: this.appSecret, force_refresh: force });
    if (!answer.access_token) {
      const bad = answer.errcode === 40013 || answer.errcode === 40125 || answer.errcode === 40164;
      throw new CocoError(
        bad ? 'COCO_ERR_CHANNEL_START' : 'COCO_ERR_CHANNEL_SEND',
        `wechat_mp: access token refused (${answer.errcode} ${answer.errmsg ?? ''})${bad ? ': check app_id, app_secret and the IP whitelist' : ''}`.trim(),
        { channel: 'wechat_mp', retryable: !bad },
      );
    }
    this.token = { value: answer.access_token, expiresAt: this.clock.now() + (answer.expires_in ?? 7200) * 1000 };
    return answer.access_token;
  }

  /** Sends a 客服 text message. */
  sendText(openId: string, content: string): Promise<void> {
    return this.sendCustom(openId, { msgtype: 'text', text: { content } });
  }

  /** POST message/custom/send (text, or an image by media_id); refreshes the token once when WeChat says it is no longer valid. */
  async sendCustom(openId: string, message: CustomMessage): Promise<void> {
    const body = { touser: openId, ...message };
    const answer = await this.withToken((token) => this.call(`/cgi-bin/message/custom/send?access_token=${encodeURIComponent(token)}`, body));
    const code = answer.errcode ?? 0;
    if (code === 0) return;
    const reason = PERMANENT[code];
    throw new CocoError('COCO_ERR_CHANNEL_SEND', `wechat_mp: ${code} ${reason ?? answer.errmsg ?? 'send failed'}`, {
      channel: 'wechat_mp',
      retryable: reason === undefined,
      retryAfterMs: quotaWait(code),
    });
  }

  /**
   * Uploads an image as temporary media (新增临时素材, kept 3 days) and returns its media_id. The
   * caller checks type and size first; WeChat's own refusals are not retried.
   */
  async uploadImage(file: UploadFile): Promise<string> {
    const answer = await this.withToken((token) =>
      this.exchange('/cgi-bin/media/upload', () =>
        postMediaUpload(`${this.baseUrl}/cgi-bin/media/upload?access_token=${encodeURIComponent(token)}&type=image`, file, { timeoutMs: UPLOAD_TIMEOUT_MS }),
      ),
    );
    const code = answer.errcode ?? 0;
    if (code === 0 && typeof answer.media_id === 'string' && answer.media_id !== '') return answer.media_id;
    const reason = code === 0 ? 'answered no media_id' : (UPLOAD_REFUSED[code] ?? answer.errmsg ?? 'upload failed');
    throw new CocoError('COCO_ERR_CHANNEL_SEND', `wechat_mp: media/upload ${code} ${reason}`, {
      channel: 'wechat_mp',
      retryable: UPLOAD_REFUSED[code] === undefined,
      retryAfterMs: quotaWait(code),
    });
  }

  /** Runs a call with the access token, and once more with a fresh one when WeChat refused the token. */
  private async withToken(request: (token: string) => Promise<ApiAnswer>): Promise<ApiAnswer> {
    const answer = await request(await this.accessToken());
    if (answer.errcode === undefined || !TOKEN_INVALID.has(answer.errcode)) return answer;
    return request(await this.accessToken(true));
  }

  /** Shows (Typing) or ends (CancelTyping) "对方正在输入" in a user's chat; true when WeChat took it. */
  async typing(openId: string, on: boolean): Promise<boolean> {
    const path = `/cgi-bin/message/custom/typing?access_token=${encodeURIComponent(await this.accessToken())}`;
    const answer = await this.call(path, { touser: openId, command: on ? 'Typing' : 'CancelTyping' });
    return (answer.errcode ?? 0) === 0;
  }

  private call(path: string, body: unknown): Promise<ApiAnswer> {
    return this.exchange(path.split('?')[0]!, () => postJson(`${this.baseUrl}${path}`, body, { timeoutMs: 10_000 }));
  }

  /** One API request; a network failure or an answer that is not a JSON object is retryable. */
  private async exchange(route: string, request: () => Promise<JsonAnswer>): Promise<ApiAnswer> {
    let answer: JsonAnswer;
    try {
      answer = await request();
    } catch (err) {
      throw new CocoError('COCO_ERR_CHANNEL_SEND', `wechat_mp: ${route} unreachable: ${describeError(err)}`, { channel: 'wechat_mp', retryable: true });
    }
    if (answer.status < 200 || answer.status > 299 || typeof answer.json !== 'object' || answer.json === null) {
      const what = answer.status >= 200 && answer.status <= 299 ? 'an empty or non-object body' : `HTTP ${answer.status}`;
      throw new CocoError('COCO_ERR_CHANNEL_SEND', `wechat_mp: ${route} answered ${what}`, { channel: 'wechat_mp', retryable: true });
    }
    return answer.json as ApiAnswer;
  }
}

/** -1 (busy) and token trouble heal with time; 45009/45011 (API frequency) need a longer pause. */
function quotaWait(code: number): number | undefined {
  return code === 45009 || code === 45011 ? 60_000 : undefined;
}
