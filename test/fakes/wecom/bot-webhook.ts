/**
 * The intelligent robot's webhook (callback) mode (protocols.md §3.1): the URL check with an encrypted echostr
 * (receive id ''), JSON pushes `{"encrypt": …}` signed with msg_signature, encrypted JSON passive replies
 * `{encrypt, msgsignature, timestamp, nonce}`, and the stream refresh polling: while the reply's stream is
 * unfinished WeCom keeps POSTing `msgtype: stream` callbacks and each answer carries the whole content so far.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { signature, TencentCrypto } from '../../../src/channels/shared/tencent-crypto.js';
import { parseJson } from '../http.js';
import { TimedRequests } from '../timed-requests.js';
import type { ApiAnswer } from './api.js';
import { encryptMedia, newMsgId } from './bot-messages.js';
import { forge, type VerifyResult } from './callback.js';

export interface BotWebhookOptions {
  botId: string;
  token: string;
  encodingAesKey: string;
  /** Polling stops this long after the user's message (real: 6 min). */
  streamTtlMs: number;
  refreshIntervalMs: number;
  /** How long one POST may take. */
  retryWaitMs: number;
  baseUrl: () => string;
  notify: () => void;
}

export interface BotWebhookPushOptions {
  /** Forge the msg_signature of the message POST. */
  tamper?: 'msg_signature';
  refreshIntervalMs?: number;
  /** Stop polling after this many refreshes even if the stream is unfinished. */
  maxRefreshes?: number;
}

/** One POST and its answer. */
export interface WebhookExchange {
  kind: 'message' | 'refresh';
  /** The plaintext JSON that was encrypted and posted. */
  request: Record<string, unknown>;
  status?: number;
  raw?: string;
  /** The decrypted passive reply, when there was one. */
  reply?: Record<string, unknown>;
  /** Why WeCom would discard the answer. */
  error?: string;
  timedOut: boolean;
  ms: number;
}

export interface BotWebhookResult {
  msgid: string;
  body: Record<string, unknown>;
  exchanges: WebhookExchange[];
  /** The first decrypted reply (e.g. a text welcome, a template card, or the stream's opening frame). */
  reply?: Record<string, unknown>;
  stream?: { id: string; content: string; finished: boolean; frames: number };
  /** What the user sees of a streamed reply: the last content. */
  text: string | undefined;
  finished: boolean;
  /** The stream was still unfinished when polling stopped. */
  expired: boolean;
  /** The first answer WeCom would discard, if any. */
  replyError?: string;
}

export interface ResponseUrlPost {
  id: string;
  body: unknown;
  at: number;
  /** 0 = accepted; a second use of the same URL is refused. */
  errcode: number;
}

export class BotWebhook {
  readonly responseUrlPosts: ResponseUrlPost[] = [];
  readonly crypto: TencentCrypto;
  private readonly key: Buffer;
  private readonly responseUrls = new Map<string, { used: boolean; expiresAt: number }>();
  private readonly hosted = new Map<string, { data: Buffer; fileName?: string; expiresAt: number }>();
  private readonly requests = new TimedRequests();
  private readonly sleeps = new Set<() => void>();
  private closed = false;

  constructor(private readonly opts: BotWebhookOptions) {
    this.crypto = new TencentCrypto({ token: opts.token, encodingAesKey: opts.encodingAesKey, receiveId: '' });
    this.key = Buffer.from(`${opts.encodingAesKey}=`, 'base64');
  }

  async verifyUrl(url: string, opts: { echostr?: string; tamper?: 'msg_signature'; timeoutMs?: number }): Promise<VerifyResult> {
    const echostr = opts.echostr ?? `${randomInt(1e9, 2 ** 31)}${randomInt(1e8, 1e9)}`;
    const encrypted = this.crypto.encrypt(echostr);
    const query = { ...this.signedQuery(encrypted, opts.tamper), echostr: encrypted };
    const limit = opts.timeoutMs ?? 1000;
    const res = await this.request(url, 'GET', query, undefined, limit);
    const status = res.status ?? 0;
    const body = res.raw ?? '';
    return { status, body, ms: res.ms, timedOut: res.timedOut, echostr, ok: status === 200 && body === echostr && !res.timedOut && res.ms <= limit };
  }

  async push(url: string, body: Record<string, unknown>, opts: BotWebhookPushOptions): Promise<BotWebhookResult> {
    const started = Date.now();
    const result: BotWebhookResult = { msgid: String(body.msgid ?? ''), body, exchanges: [], text: undefined, finished: false, expired: false };
    const first = await this.exchange(url, 'message', body, opts.tamper);
    result.exchanges.push(first);
    if (first.error) result.replyError ??= first.error;
    result.reply = first.reply;
    if (!first.reply || first.reply.msgtype !== 'stream') return result;
    if (!this.applyStream(result, first)) return result;

    const interval = opts.refreshIntervalMs ?? this.opts.refreshIntervalMs;
    const max = opts.maxRefreshes ?? Number.POSITIVE_INFINITY;
    let refreshes = 0;
    while (!result.finished) {
      if (Date.now() - started >= this.opts.streamTtlMs || refreshes >= max || this.closed) {
        result.expired = true;
        break;
      }
      await this.sleep(interval);
      if (this.closed) {
        result.expired = true;
        break;
      }
      refreshes++;
      const refresh: Record<string, unknown> = {
        msgid: newMsgId(),
        aibotid: this.opts.botId,
        ...(body.chatid === undefined ? {} : { chatid: body.chatid }),
        chattype: body.chattype,
        from: body.from,
        msgtype: 'stream',
        stream: { id: result.stream?.id },
      };
      const ex = await this.exchange(url, 'refresh', refresh);
      result.exchanges.push(ex);
      if (ex.error) result.replyError ??= ex.error;
      // An empty answer leaves the content as it was; WeCom polls again.
      if (ex.reply) this.applyStream(result, ex);
    }
    this.opts.notify();
    return result;
  }

  /** Folds a stream answer into the result; false (with replyError) when it is not a usable stream frame. */
  private applyStream(result: BotWebhookResult, ex: WebhookExchange): boolean {
    const s = ex.reply?.stream as { id?: unknown; content?: unknown; finish?: unknown } | undefined;
    const fail = (why: string): boolean => {
      ex.error = why;
      result.replyError ??= why;
      return false;
    };
    if (ex.reply?.msgtype !== 'stream' || typeof s?.id !== 'string' || s.id === '') return fail('answer is not a stream frame with an id');
    if (result.stream && result.stream.id !== s.id) return fail(`stream id ${s.id} differs from ${result.stream.id}`);
    if (s.content !== undefined && typeof s.content !== 'string') return fail('stream.content must be a string');
    if (typeof s.content === 'string' && Buffer.byteLength(s.content) > 20_480) return fail('stream.content over 20480 bytes');
    const content = typeof s.content === 'string' ? s.content : (result.stream?.content ?? '');
    result.stream = { id: s.id, content, finished: s.finish === true, frames: (result.stream?.frames ?? 0) + 1 };
    result.text = content;
    result.finished = s.finish === true;
    return true;
  }

  private async exchange(url: string, kind: WebhookExchange['kind'], plaintext: Record<string, unknown>, tamper?: 'msg_signature'): Promise<WebhookExchange> {
    const encrypt = this.crypto.encrypt(JSON.stringify(plaintext));
    const res = await this.request(url, 'POST', this.signedQuery(encrypt, tamper), JSON.stringify({ encrypt }), this.opts.retryWaitMs);
    const ex: WebhookExchange = { kind, request: plaintext, ...res };
    if (res.status !== 200) {
      ex.error = res.timedOut ? 'no answer in time' : `HTTP ${res.status ?? res.raw ?? 'error'}`;
      return ex;
    }
    if (!res.raw) return ex;
    const outer = parseJson(res.raw);
    if (!outer || typeof outer.encrypt !== 'string') {
      ex.error = 'answer is neither empty nor {encrypt, msgsignature, timestamp, nonce}';
      return ex;
    }
    const ts = String(outer.timestamp ?? '');
    const n = String(outer.nonce ?? '');
    // The reply's signature field is `msgsignature` (no underscore), unlike the query's msg_signature.
    if (!this.crypto.verify(String(outer.msgsignature ?? ''), ts, n, outer.encrypt)) {
      ex.error = 'reply msgsignature does not match';
      return ex;
    }
    try {
      const inner = parseJson(this.crypto.decrypt(outer.encrypt));
      if (!inner) ex.error = 'decrypted reply is not a JSON object';
      else ex.reply = inner;
    } catch (err) {
      ex.error = `reply could not be decrypted: ${String(err)}`;
    }
    return ex;
  }

  private signedQuery(encrypt: string, tamper?: 'msg_signature'): Record<string, string> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = String(randomInt(100_000_000, 2_147_483_647));
    const sig = signature(this.opts.token, timestamp, nonce, encrypt);
    return { msg_signature: tamper === 'msg_signature' ? forge(sig) : sig, timestamp, nonce };
  }

  private async request(
    target: string,
    method: 'GET' | 'POST',
    query: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<{ status?: number; raw?: string; timedOut: boolean; ms: number }> {
    const res = await this.requests.send(target, { method, query, body, headers: body === undefined ? {} : { 'content-type': 'application/json' }, timeoutMs });
    // Without an HTTP answer, `raw` names the connection error.
    return { status: res.status, raw: res.body ?? res.error, timedOut: res.timedOut, ms: res.ms };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.sleeps.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleeps.add(done);
    });
  }

  /** A fresh one-shot response_url (valid 1 h). */
  newResponseUrl(): string {
    const id = randomBytes(12).toString('hex');
    this.responseUrls.set(id, { used: false, expiresAt: Date.now() + 3_600_000 });
    return `${this.opts.baseUrl()}/aibot/response/${id}`;
  }

  handleResponseUrl(id: string, body: string): ApiAnswer {
    const entry = this.responseUrls.get(id);
    const json = parseJson(body);
    const record = (errcode: number, errmsg: string): ApiAnswer => {
      this.responseUrlPosts.push({ id, body: json ?? body, at: Date.now(), errcode });
      return { status: 200, json: { errcode, errmsg } };
    };
    if (!entry || entry.expiresAt < Date.now()) return record(40058, 'invalid or expired response_url');
    if (entry.used) return record(40058, 'response_url already used');
    if (!json || typeof json.msgtype !== 'string') return record(40058, 'invalid body');
    entry.used = true;
    return record(0, 'ok');
  }

  /** Webhook-mode media: encrypted with the robot's EncodingAESKey (no per-file aeskey), served for 5 minutes. */
  host(data: Buffer, fileName?: string): { url: string } {
    const { encrypted } = encryptMedia(data, this.key);
    const id = randomBytes(12).toString('hex');
    this.hosted.set(id, { data: encrypted, ...(fileName === undefined ? {} : { fileName }), expiresAt: Date.now() + 5 * 60_000 });
    return { url: `${this.opts.baseUrl()}/aibot/media/${id}` };
  }

  serveMedia(id: string): { data: Buffer; fileName?: string } | undefined {
    const m = this.hosted.get(id);
    return m && m.expiresAt > Date.now() ? m : undefined;
  }

  close(): void {
    this.closed = true;
    this.requests.abortAll();
    for (const s of [...this.sleeps]) s();
  }
}
