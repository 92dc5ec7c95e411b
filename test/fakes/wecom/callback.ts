/**
 * The callback half of the fake WeCom app (protocols.md §2.1–2.2): the GET URL check with an encrypted echostr, and
 * encrypted XML pushes signed with msg_signature, retried on timeout (5 s) or non-200 up to 3 tries in all.
 */
import { randomInt } from 'node:crypto';
import { signature, TencentCrypto } from '../../../src/channels/shared/tencent-crypto.js';
import { TimedRequests } from '../timed-requests.js';
import { appMessageXml, envelopeXml, parseFlatXml, type WecomAppMessage } from './app-xml.js';

export interface CallbackOptions {
  corpId: string;
  agentId: number;
  token: string;
  encodingAesKey: string;
  /** How long WeCom waits for an answer before a try counts as failed (real: 5000). */
  retryWaitMs: number;
  /** Tries in all (real: 3). */
  tries: number;
}

export type AppTamper = 'msg_signature' | 'corpid' | 'timestamp';

export interface AppPushOptions {
  /** Default: a fresh 64-bit id (events have none). */
  msgId?: string;
  /** Unix seconds; default the fake clock. */
  createTime?: number;
  /**
   * Forge exactly one thing: `msg_signature` (well-formed but wrong), `corpid` (encrypted for another CorpID under
   * the same key), `timestamp` (two days old, correctly signed).
   */
  tamper?: AppTamper;
  /** Push here instead of `gatewayUrl`. */
  url?: string;
  retryWaitMs?: number;
}

export interface PushAttempt {
  status?: number;
  body?: string;
  timedOut: boolean;
  ms: number;
  /** Connection error (refused, reset) when there was no HTTP answer and no timeout. */
  error?: string;
  query: Record<string, string>;
}

export interface AppPushResult {
  msgId: string | undefined;
  createTime: number;
  /** The plaintext message XML. */
  xml: string;
  /** The POST body (the encrypted envelope), the same on every try. */
  body: string;
  attempts: PushAttempt[];
  /** Some try got HTTP 200. */
  delivered: boolean;
  /** A passive reply: the decrypted fields. The gateway normally answers empty and sends through message/send. */
  reply?: Record<string, string>;
  /** Why WeCom would discard the answer: not empty and not a valid encrypted reply. */
  replyError?: string;
}

export interface VerifyResult {
  status: number;
  body: string;
  ms: number;
  timedOut: boolean;
  /** The plaintext echostr the gateway must answer. */
  echostr: string;
  /** 200, the exact echostr, within the time limit: the console would accept the URL. */
  ok: boolean;
}

const nonce = (): string => String(randomInt(100_000_000, 2_147_483_647));
const wallSeconds = (): number => Math.floor(Date.now() / 1000);
const STALE_SECONDS = 2 * 86_400;

/** A well-formed signature that is wrong: first hex digit changed. */
export const forge = (sig: string): string => `${sig.startsWith('0') ? '1' : '0'}${sig.slice(1)}`;

export class AppCallback {
  readonly crypto: TencentCrypto;
  private readonly foreign: TencentCrypto;
  private readonly requests = new TimedRequests();
  // 64-bit ids above 2^53, like real ones: a gateway that reads MsgId as a JS number loses digits.
  private nextMsgId = 7_300_000_000_000_000_000n + BigInt(randomInt(0, 1_000_000_000)) * 1000n;

  constructor(private readonly opts: CallbackOptions) {
    this.crypto = new TencentCrypto({ token: opts.token, encodingAesKey: opts.encodingAesKey, receiveId: opts.corpId });
    this.foreign = new TencentCrypto({ token: opts.token, encodingAesKey: opts.encodingAesKey, receiveId: `${opts.corpId}x` });
  }

  /** The query WeCom signs a request with (timestamp is wall-clock: the gateway checks it against its own clock). */
  signedQuery(encrypt: string, tamper?: AppTamper): Record<string, string> {
    const timestamp = String(tamper === 'timestamp' ? wallSeconds() - STALE_SECONDS : wallSeconds());
    const n = nonce();
    const sig = signature(this.opts.token, timestamp, n, encrypt);
    return { msg_signature: tamper === 'msg_signature' ? forge(sig) : sig, timestamp, nonce: n };
  }

  async verifyUrl(url: string, opts: { echostr?: string; tamper?: 'msg_signature' | 'corpid'; timeoutMs?: number } = {}): Promise<VerifyResult> {
    const echostr = opts.echostr ?? `${randomInt(1e9, 2 ** 31)}${randomInt(1e8, 1e9)}`;
    const encrypted = (opts.tamper === 'corpid' ? this.foreign : this.crypto).encrypt(echostr);
    const query = { ...this.signedQuery(encrypted, opts.tamper === 'msg_signature' ? 'msg_signature' : undefined), echostr: encrypted };
    const limit = opts.timeoutMs ?? 1000;
    const res = await this.attempt(url, 'GET', query, undefined, limit);
    const status = res.status ?? 0;
    const body = res.body ?? '';
    return { status, body, ms: res.ms, timedOut: res.timedOut, echostr, ok: status === 200 && body === echostr && !res.timedOut && res.ms <= limit };
  }

  async push(url: string, user: string, message: WecomAppMessage, createTime: number, opts: AppPushOptions = {}): Promise<AppPushResult> {
    const isEvent = message.type === 'event';
    const msgId = isEvent ? undefined : (opts.msgId ?? String(this.nextMsgId++));
    const xml = appMessageXml(this.opts.corpId, user, createTime, this.opts.agentId, message, msgId);
    // Encrypted once: every try carries the same body; only the query is signed afresh.
    const encrypt = (opts.tamper === 'corpid' ? this.foreign : this.crypto).encrypt(xml);
    const body = envelopeXml(this.opts.corpId, this.opts.agentId, encrypt);
    const attempts: PushAttempt[] = [];
    for (let i = 0; i < this.opts.tries; i++) {
      const query = this.signedQuery(encrypt, opts.tamper);
      const result: PushAttempt = { ...(await this.attempt(url, 'POST', query, body, opts.retryWaitMs ?? this.opts.retryWaitMs)), query };
      attempts.push(result);
      // Only HTTP 200 counts as received; anything else (or no answer in time) is tried again.
      if (result.status === 200) return { msgId, createTime, xml, body, attempts, delivered: true, ...this.decodeReply(result.body ?? '', user) };
    }
    return { msgId, createTime, xml, body, attempts, delivered: false };
  }

  /** One unretried POST with exactly this body and query. */
  async rawPost(url: string, body: string, query: Record<string, string>): Promise<{ status: number; body: string }> {
    const res = await this.attempt(url, 'POST', query, body, this.opts.retryWaitMs);
    return { status: res.status ?? 0, body: res.body ?? res.error ?? (res.timedOut ? '(timed out)' : '') };
  }

  private decodeReply(raw: string, user: string): { reply?: Record<string, string>; replyError?: string } {
    if (raw === '') return {};
    const outer = parseFlatXml(raw);
    if (!outer || outer.Encrypt === undefined) return { replyError: 'the answer is neither empty nor an encrypted reply envelope' };
    const { Encrypt: enc, MsgSignature: sig = '', TimeStamp: ts = '', Nonce: n = '' } = outer;
    if (!this.crypto.verify(sig, ts, n, enc)) return { replyError: 'reply MsgSignature does not match' };
    let inner: Record<string, string> | undefined;
    try {
      inner = parseFlatXml(this.crypto.decrypt(enc));
    } catch (err) {
      return { replyError: `reply could not be decrypted: ${String(err)}` };
    }
    if (!inner) return { replyError: 'decrypted reply is not XML' };
    if (!inner.MsgType) return { reply: inner, replyError: 'reply has no MsgType' };
    if (inner.ToUserName !== user || inner.FromUserName !== this.opts.corpId) return { reply: inner, replyError: 'reply ToUserName/FromUserName do not match the push' };
    return { reply: inner };
  }

  private async attempt(target: string, method: 'GET' | 'POST', query: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<Omit<PushAttempt, 'query'>> {
    return this.requests.send(target, { method, query, body, headers: body === undefined ? {} : { 'content-type': 'text/xml' }, timeoutMs });
  }

  /** Aborts requests in flight (they end as timed out). */
  close(): void {
    this.requests.abortAll();
  }
}
