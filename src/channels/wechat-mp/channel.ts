import { Channel, type Typing } from '../../core/channel.js';
import { CocoError, describeError } from '../../core/errors.js';
import type { ChatMessage, OutgoingMessage, ReplyImage, SendContext, SendResult } from '../../core/message.js';
import { loadChannelImage } from '../shared/reply-image.js';
import { RecentCounter } from '../shared/recent-counter.js';
import { TencentCrypto } from '../shared/tencent-crypto.js';
import { uploadFile } from '../shared/tencent-upload.js';
import { typingIndicator } from '../shared/typing.js';
import { UnansweredMessages } from '../shared/unanswered.js';
import { wechatApiFor, wechatErrcode, type CustomMessage, type WechatApi } from './api.js';
import type { WechatMpChannelConfig } from './config.js';
import { toChatMessage, type ParsedWechatMessage } from './parse.js';
import { PassiveReplies, type PassiveContent } from './passive-reply.js';
import { CustomerServiceQuota } from './quota.js';
import { WECHAT_MP_IMAGES } from './reply-image.js';
import { passiveReplyXml } from './reply-xml.js';
import { openRequest, verifyUrl, type OpenedRequest, type WechatQuery } from './verify.js';

/** WeChat treats "success" (or an empty body) as "received, no passive reply". */
const ACK = 'success';
/** WeChat tries a message 3 times, 5 s each; the last try is the last chance to answer passively. */
const LAST_TRY = 3;
const RETRY_INTERVAL_MS = 5_000;
/** With several gateway processes, a reply may be stored by another one: held requests look this often. */
const SHARED_POLL_MS = 500;
/** A held request on an earlier try waits at most this long for WeChat to give up on it. */
const HOLD_UNTIL_RETRY_MS = 6_000;
/** Delivery counts are kept at least this long (at most twice): WeChat's three tries span about 15 s. */
const DELIVERY_MEMORY_MS = 30_000;

/**
 * A WeChat Official Account (公众号): WeChat POSTs signed (optionally encrypted) XML to the
 * webhook; the channel acknowledges once the message is in the mailbox, and replies through the
 * customer-service (客服) API or passively in the response. A reply image is uploaded as
 * temporary media first and goes out as an image message either way.
 */
export class WechatMpChannel extends Channel<WechatMpChannelConfig> {
  static override channelType = 'wechat_mp';

  private config?: WechatMpChannelConfig;
  private crypto?: TencentCrypto;
  private api?: WechatApi;
  private passive?: PassiveReplies;
  /** Held requests waiting for the reply to a message (our message id). */
  private readonly waiters = new Map<string, Set<() => void>>();
  /** How often WeChat has delivered each message (its retries), to know the last try. */
  private readonly deliveries = new RecentCounter(DELIVERY_MEMORY_MS, this.ctx.clock.now());
  /**
   * Not kept when other processes share the store: each would see only the messages it received,
   * and might refuse a reply WeChat would take. WeChat's own 45015/45047 then decide.
   */
  private readonly quota = this.ctx.sharedStore ? undefined : new CustomerServiceQuota();
  private unwatch?: () => void;
  /** Messages finished without a reply: their held requests are answered "success" at once, never with the thinking text. */
  private readonly unanswered = new UnansweredMessages(this.ctx.signals, this.ctx.clock);
  /** Set in auto mode after WeChat answered 48001: the account has no 客服 permission. */
  private noCustomerService = false;
  /** Aborts reply-image downloads when the channel stops. */
  private stopping = new AbortController();

  private get settings(): WechatMpChannelConfig {
    if (!this.config) throw new Error('wechat_mp channel not started');
    return this.config;
  }

  override async start(_sceneId: string, config: WechatMpChannelConfig): Promise<void> {
    this.config = config;
    this.stopping = new AbortController();
    this.crypto = config.encoding_aes_key
      ? new TencentCrypto({ token: config.token, encodingAesKey: config.encoding_aes_key, receiveId: config.app_id })
      : undefined;
    this.api = wechatApiFor({ baseUrl: config.api_base_url, appId: config.app_id, appSecret: config.app_secret, clock: this.ctx.clock });
    this.passive = new PassiveReplies(this.ctx.feed);
    // A passive reply another gateway process stored answers a request held here.
    this.unwatch = this.ctx.feed.watch((_userId, messageId) => this.wake(messageId));
    this.unanswered.start();
    this.unanswered.subscribe((messageId) => this.wake(messageId));
    // One token request: wrong credentials or a missing IP whitelist show on the entry at once.
    await this.api.accessToken();
  }

  /** GET verification from the WeChat console: the echostr when signed with our token. */
  answerVerification(query: WechatQuery): string {
    return verifyUrl(query, this.settings, this.ctx.clock.now());
  }

  /**
   * A message POST: verified, opened, handed to the mailbox; returns WeChat's answer. In passive
   * and auto mode the request is held for the reply; `watchHangUp()` gives a signal that aborts
   * when WeChat hangs up.
   */
  async receive(query: WechatQuery, body: string, watchHangUp?: () => AbortSignal): Promise<string> {
    const config = this.settings;
    const opened = openRequest(query, body, config, this.crypto, this.ctx.clock.now());
    const parsed = toChatMessage(opened.fields);
    const delivery = this.deliveries.add(parsed.dedupKey, this.ctx.clock.now());
    // Once per follow (WeChat retries the event too), and never holding up WeChat's 5 s.
    if (parsed.event === 'subscribe' && config.welcome_text && delivery === 1) void this.welcome(parsed.message.userId, config.welcome_text);
    if (parsed.event && !config.forward_events) return ACK;
    const accepted = await this.onMessage({ ...parsed.message, sceneId: this.sceneId, msgId: parsed.dedupKey });
    if (!accepted.duplicate) this.quota?.inbound(parsed.message.userId, this.ctx.clock.now());
    const tryNumber = Math.max(delivery, triesSince(accepted.acceptedAt, this.ctx.clock.now()));
    const mode = this.replyMode();
    if (mode === 'customer_service') return ACK;

    // auto: one hold, then the 客服 API carries it. passive: WeChat's first tries are held until it
    // gives up (its retry comes back here); the last try answers with the reply or the thinking text.
    const lastChance = mode === 'auto' || tryNumber >= LAST_TRY;
    const closed = watchHangUp?.();
    if ((await this.waitForReply(accepted.messageId, config.passive_wait_ms, closed)) === 'closed') return ACK;
    // This message's reply if it is ready, and any earlier replies still waiting for this user.
    const ready = await this.passive?.take(parsed.message.userId, this.ctx.clock.now());
    if (ready !== undefined) return this.passiveAnswer(opened, parsed, ready);
    // Finished without a reply (a hand-over to a person, a refused sender): nothing to wait for, nothing to say.
    if (this.unanswered.has(accepted.messageId)) return ACK;
    if (!lastChance) {
      await this.waitForReply(accepted.messageId, HOLD_UNTIL_RETRY_MS, closed);
      return ACK; // WeChat has hung up by now: nothing was handed out, its next try gets the reply
    }
    return mode === 'passive' ? this.passiveAnswer(opened, parsed, { text: config.thinking_text }) : ACK;
  }

  /** 客服 typing while the agent works: WeChat shows it for up to 15 s and only soon after the user wrote. */
  override startTyping(message: ChatMessage): Typing | undefined {
    const api = this.api;
    if (!api || !this.settings.show_typing || this.replyMode() === 'passive' || message.msgType === 'event') return undefined;
    const user = message.userId;
    return typingIndicator({ on: () => api.typing(user, true), off: () => api.typing(user, false), log: this.ctx.log, channel: 'wechat_mp' });
  }

  override async send(reply: OutgoingMessage, userId: string, context: SendContext): Promise<SendResult> {
    if (!this.api || !this.passive) throw new Error('wechat_mp channel not started');
    const mode = this.replyMode();
    // An image is uploaded before either path: a passive reply names it by media_id too.
    const content: PassiveContent = reply.image ? { mediaId: await this.uploadImage(reply.image) } : { text: reply.text };
    if (mode === 'passive' || (mode === 'auto' && this.waiters.has(context.messageId))) {
      await this.storePassive(content, userId, context);
      return {};
    }
    const refusal = this.quota?.refusal(userId, this.ctx.clock.now());
    if (refusal) throw new CocoError('COCO_ERR_CHANNEL_SEND', `wechat_mp: ${refusal}`, { channel: 'wechat_mp', retryable: false });
    try {
      await this.api.sendCustom(userId, customMessage(content));
      this.quota?.sent(userId);
    } catch (err) {
      if (mode !== 'auto' || wechatErrcode(err) !== 48001) throw err;
      // No 客服 permission (an unverified subscription account): from now on answer passively.
      this.noCustomerService = true;
      this.ctx.log.warn('no customer-service permission (48001): replies are handed out on the next message');
      await this.storePassive(content, userId, context);
    }
    return {};
  }

  /** The reply image's bytes, checked against what WeChat takes and uploaded; its media_id (valid 3 days). */
  private async uploadImage(image: ReplyImage): Promise<string> {
    const content = await loadChannelImage(image, WECHAT_MP_IMAGES, { clock: this.ctx.clock, signal: this.stopping.signal });
    return this.api!.uploadImage(uploadFile(content));
  }

  private replyMode(): 'customer_service' | 'passive' | 'auto' {
    const mode = this.settings.reply_mode;
    return mode === 'auto' && this.noCustomerService ? 'passive' : mode;
  }

  private async storePassive(content: PassiveContent, userId: string, context: SendContext): Promise<void> {
    await this.passive!.store(userId, context.messageId, context.idempotencyKey, content);
    this.wake(context.messageId);
  }

  private wake(messageId: string): void {
    for (const wake of this.waiters.get(messageId) ?? []) wake();
  }

  private async waitForReply(messageId: string, ms: number, closed?: AbortSignal): Promise<'reply' | 'timeout' | 'closed'> {
    if (closed?.aborted) return 'closed';
    if (this.unanswered.has(messageId) || (await this.passive!.hasReplyTo(messageId))) return 'reply';
    return new Promise((resolve) => {
      const set = this.waiters.get(messageId) ?? new Set();
      this.waiters.set(messageId, set);
      const finish = (outcome: 'reply' | 'timeout' | 'closed') => {
        clearTimeout(timer);
        clearInterval(poll);
        set.delete(onReply);
        if (set.size === 0) this.waiters.delete(messageId);
        closed?.removeEventListener('abort', onClose);
        resolve(outcome);
      };
      const onReply = () => finish('reply');
      const onClose = () => finish('closed');
      const timer = setTimeout(() => finish('timeout'), ms);
      const poll = this.ctx.sharedStore
        ? setInterval(() => void this.passive?.hasReplyTo(messageId).then((has) => has && onReply(), () => undefined), SHARED_POLL_MS)
        : undefined;
      set.add(onReply);
      closed?.addEventListener('abort', onClose, { once: true });
    });
  }

  /** A passive reply (text or image), encrypted when the request was. */
  private passiveAnswer(opened: OpenedRequest, parsed: ParsedWechatMessage, content: PassiveContent): string {
    const head = { toUser: parsed.message.userId, fromUser: opened.fields.ToUserName ?? '', createTime: Math.floor(this.ctx.clock.now() / 1000) };
    const xml = passiveReplyXml(head, content);
    return opened.encrypted && this.crypto ? this.crypto.wrapReply(xml, opened.timestamp, opened.nonce) : xml;
  }

  override async stop(): Promise<void> {
    this.stopping.abort();
    this.unwatch?.();
    this.unanswered.stop();
    this.config = undefined;
  }

  override finishedWithoutReply(messageId: string): void {
    this.unanswered.heard(messageId);
  }

  /** Best effort: a follow is not a conversation the agent answers, and WeChat does not redeliver it once acked. */
  private async welcome(openId: string, text: string): Promise<void> {
    try {
      await this.api?.sendText(openId, text);
    } catch (err) {
      this.ctx.log.warn({ err: describeError(err) }, 'welcome message not sent');
    }
  }
}

/** The 客服 message that carries a reply chunk. */
function customMessage(content: PassiveContent): CustomMessage {
  return 'mediaId' in content ? { msgtype: 'image', image: { media_id: content.mediaId } } : { msgtype: 'text', text: { content: content.text } };
}

/**
 * Which of WeChat's tries a delivery is, from when any gateway process sharing the store first
 * accepted the message (tries come about 5 s apart). The process's own count is exact when it saw
 * every try; with several processes behind a load balancer, it may have seen only this one.
 */
function triesSince(acceptedAt: number, now: number): number {
  return 1 + Math.round(Math.max(0, now - acceptedAt) / RETRY_INTERVAL_MS);
}
