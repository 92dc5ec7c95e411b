import { randomInt } from 'node:crypto';
import { postJson, getJson, type JsonAnswer } from '../shared/http-json.js';

/**
 * The iLink bot API over HTTP/JSON (protocols: personal WeChat). Every bot call carries the bot
 * token, a random X-WECHAT-UIN and the client's version, and its body a `base_info`. A call fails
 * on a non-2xx status and on a non-zero `ret` or `errcode`.
 */

/** The client version CocoCat speaks, as `base_info.channel_version` and `iLink-App-ClientVersion` ((major<<16)|(minor<<8)|patch). */
const CHANNEL_VERSION = '2.4.3';
const CLIENT_VERSION = String((2 << 16) | (4 << 8) | 3);
const BASE_INFO = { channel_version: CHANNEL_VERSION, bot_agent: 'CocoCat' };

/** iLink's answer when the bot's session ended: calls are to pause (an hour) or the bot log in again. */
export const SESSION_EXPIRED = -14;
/** The context token of a reply is unknown, stale or out of replies. */
export const CONTEXT_TOKEN_REFUSED = -2;

export type IlinkFailure = 'network' | 'timeout' | 'aborted' | 'http' | 'api' | 'malformed';

export class IlinkError extends Error {
  constructor(
    message: string,
    readonly kind: IlinkFailure,
    /** `ret` (or `errcode`) for api failures, the HTTP status for http ones. */
    readonly code?: number,
  ) {
    super(message);
  }
}

export interface IlinkApiOptions {
  baseUrl: string;
  token?: string;
  routeTag?: string;
  timeoutMs: number;
}

export interface IlinkUpdates {
  msgs: unknown[];
  /** The cursor to send next; '' when iLink gave none (keep the old one). */
  cursor: string;
  /** How long iLink says the next long poll may be held. */
  longPollMs?: number;
}

/** Who a sendmessage goes to, and the message it answers. */
export interface SendTarget {
  to: string;
  clientId: string;
  contextToken: string;
}

export interface SendMessageBody extends SendTarget {
  text: string;
}

/** A file on WeChat's CDN, as an item's `media` names it. */
export interface CdnMedia {
  encrypt_query_param: string;
  /** base64 of the key's 32 hex digits, as the official plugin sends it. */
  aes_key: string;
  /** 1: AES-128-ECB. */
  encrypt_type: 1;
}

/** What `getuploadurl` is told about a file before it is uploaded. */
export interface UploadDeclaration {
  /** Random, 32 hex digits; repeated in the upload URL. */
  filekey: string;
  /** 1 image, 2 video, 3 file, 4 voice. */
  mediaType: 1 | 2 | 3 | 4;
  to: string;
  /** Plaintext size and md5 (hex). */
  rawsize: number;
  rawfilemd5: string;
  /** Ciphertext size (AES-128-ECB with PKCS#7 padding). */
  filesize: number;
  /** The AES key as 32 hex digits. */
  aeskeyHex: string;
}

/** Where to POST the ciphertext: a parameter for `{cdn}/upload`, or a whole URL iLink built. */
export type UploadTarget = { uploadParam: string } | { uploadFullUrl: string };

export class IlinkApi {
  constructor(private readonly opts: IlinkApiOptions) {}

  /** One long poll: the messages after `cursor`. A client-side timeout is an empty answer, not a failure. */
  async getUpdates(cursor: string, timeoutMs: number, signal?: AbortSignal): Promise<IlinkUpdates> {
    let body: Record<string, unknown>;
    try {
      body = await this.post('ilink/bot/getupdates', { get_updates_buf: cursor }, { timeoutMs, signal });
    } catch (err) {
      if (err instanceof IlinkError && err.kind === 'timeout') return { msgs: [], cursor: '' };
      throw err;
    }
    const msgs = Array.isArray(body.msgs) ? body.msgs : [];
    const next = typeof body.get_updates_buf === 'string' ? body.get_updates_buf : '';
    const longPollMs = typeof body.longpolling_timeout_ms === 'number' && body.longpolling_timeout_ms > 0 ? body.longpolling_timeout_ms : undefined;
    return { msgs, cursor: next, ...(longPollMs ? { longPollMs } : {}) };
  }

  /** One text item to a user, answering the message that issued `contextToken`. */
  async sendText(m: SendMessageBody): Promise<void> {
    await this.sendItem(m, { type: 1, text_item: { text: m.text } });
  }

  /** One image item naming a file uploaded to the CDN; `mid_size` is its ciphertext size, as the plugin sends it. */
  async sendImage(target: SendTarget, media: CdnMedia, ciphertextSize: number): Promise<void> {
    await this.sendItem(target, { type: 2, image_item: { media, mid_size: ciphertextSize } });
  }

  /** Declares a file to upload (no thumbnail) and learns where its ciphertext goes. */
  async getUploadUrl(d: UploadDeclaration): Promise<UploadTarget> {
    const body = await this.post('ilink/bot/getuploadurl', {
      filekey: d.filekey,
      media_type: d.mediaType,
      to_user_id: d.to,
      rawsize: d.rawsize,
      rawfilemd5: d.rawfilemd5,
      filesize: d.filesize,
      no_need_thumb: true,
      aeskey: d.aeskeyHex,
    });
    // Newer servers build the whole URL; the plugin prefers it when both are there.
    const full = typeof body.upload_full_url === 'string' ? body.upload_full_url.trim() : '';
    if (full) return { uploadFullUrl: full };
    if (typeof body.upload_param === 'string' && body.upload_param !== '') return { uploadParam: body.upload_param };
    throw new IlinkError('getuploadurl answered without upload_param or upload_full_url', 'malformed');
  }

  /** sendmessage takes exactly one item per message. */
  private async sendItem(m: SendTarget, item: Record<string, unknown>): Promise<void> {
    await this.post('ilink/bot/sendmessage', {
      msg: {
        from_user_id: '',
        to_user_id: m.to,
        client_id: m.clientId,
        message_type: 2, // BOT
        message_state: 2, // FINISH
        item_list: [item],
        context_token: m.contextToken,
      },
    });
  }

  /** A ticket for showing "typing…" to a user, issued against the context token of their message. */
  async typingTicket(user: string, contextToken: string): Promise<string> {
    const body = await this.post('ilink/bot/getconfig', { ilink_user_id: user, context_token: contextToken });
    if (typeof body.typing_ticket !== 'string' || body.typing_ticket === '') throw new IlinkError('getconfig answered without typing_ticket', 'malformed');
    return body.typing_ticket;
  }

  /** Shows (true) or ends (false) "typing…" in a user's chat. */
  async sendTyping(user: string, ticket: string, typing: boolean): Promise<void> {
    await this.post('ilink/bot/sendtyping', { ilink_user_id: user, typing_ticket: ticket, status: typing ? 1 : 2 });
  }

  /** Tells iLink the bot starts or stops taking messages (best effort). */
  async notify(what: 'start' | 'stop'): Promise<void> {
    await this.post(`ilink/bot/msg/notify${what}`, {});
  }

  /** Asks for a login QR code (no token needed). */
  async getQrcode(): Promise<{ qrcode: string; imgContent: string }> {
    const body = await this.post('ilink/bot/get_bot_qrcode?bot_type=3', { local_token_list: [] }, { auth: false });
    if (typeof body.qrcode !== 'string' || typeof body.qrcode_img_content !== 'string') {
      throw new IlinkError('get_bot_qrcode answered without qrcode and qrcode_img_content', 'malformed');
    }
    return { qrcode: body.qrcode, imgContent: body.qrcode_img_content };
  }

  /** Long-polls the state of a login QR code; a client-side timeout reads as `wait`. */
  async qrcodeStatus(qrcode: string, timeoutMs: number, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const url = `${this.url('ilink/bot/get_qrcode_status')}?qrcode=${encodeURIComponent(qrcode)}`;
    try {
      return checked(await guard(() => getJson(url, { timeoutMs, signal, headers: this.headers(false) }), timeoutMs));
    } catch (err) {
      if (err instanceof IlinkError && err.kind === 'timeout') return { status: 'wait' };
      throw err;
    }
  }

  private async post(
    path: string,
    body: Record<string, unknown>,
    opts: { timeoutMs?: number; signal?: AbortSignal; auth?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
    const headers = this.headers(opts.auth !== false);
    return checked(await guard(() => postJson(this.url(path), { ...body, base_info: BASE_INFO }, { timeoutMs, signal: opts.signal, headers }), timeoutMs));
  }

  private url(path: string): string {
    return new URL(path, this.opts.baseUrl.endsWith('/') ? this.opts.baseUrl : `${this.opts.baseUrl}/`).toString();
  }

  private headers(auth: boolean): Record<string, string> {
    const headers: Record<string, string> = {
      'x-wechat-uin': Buffer.from(String(randomInt(0, 2 ** 32 - 1))).toString('base64'),
      'ilink-app-id': 'bot',
      'ilink-app-clientversion': CLIENT_VERSION,
    };
    if (auth && this.opts.token) {
      headers.authorizationtype = 'ilink_bot_token';
      headers.authorization = `Bearer ${this.opts.token}`;
    }
    if (this.opts.routeTag) headers.skroutetag = this.opts.routeTag;
    return headers;
  }
}

/** Runs the HTTP call, turning transport errors into IlinkErrors. */
export async function guard<T>(call: () => Promise<T>, timeoutMs: number): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const name = (err as { name?: unknown }).name;
    if (name === 'AbortError' || code === 'UND_ERR_ABORTED') throw new IlinkError('call aborted', 'aborted');
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') throw new IlinkError(`no answer within ${timeoutMs} ms`, 'timeout');
    throw new IlinkError((err as Error).message ?? String(err), 'network');
  }
}

/** An answer is good when its status is 2xx and its body an object whose ret and errcode are absent or 0. */
function checked(answer: JsonAnswer): Record<string, unknown> {
  if (answer.status < 200 || answer.status >= 300) throw new IlinkError(`HTTP ${answer.status}`, 'http', answer.status);
  const body = answer.json;
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new IlinkError('the answer is not a JSON object', 'malformed');
  const record = body as Record<string, unknown>;
  const code = nonZero(record.ret) ?? nonZero(record.errcode);
  if (code !== undefined) {
    const detail = typeof record.errmsg === 'string' && record.errmsg ? `: ${record.errmsg}` : '';
    throw new IlinkError(`ret ${code}${detail}`, 'api', code);
  }
  return record;
}

function nonZero(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : undefined;
  return n !== undefined && Number.isFinite(n) && n !== 0 ? n : undefined;
}
