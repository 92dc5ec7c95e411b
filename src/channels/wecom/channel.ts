import { Channel } from '../../core/channel.js';
import { CocoError, describeError } from '../../core/errors.js';
import type { OutgoingMessage, ReplyImage, SendContext, SendResult } from '../../core/message.js';
import { loadChannelImage } from '../shared/reply-image.js';
import { RecentCounter } from '../shared/recent-counter.js';
import type { TencentCrypto } from '../shared/tencent-crypto.js';
import { uploadFile } from '../shared/tencent-upload.js';
import { wecomApiFor, type WecomApi } from './api.js';
import { wecomApiBaseUrl, type WecomChannelConfig } from './config.js';
import { imageSendBody, messageSendBody, renderMessages } from './format.js';
import { MemberPacer } from './pacer.js';
import { toChatMessage, WELCOME_EVENTS } from './parse.js';
import { WECOM_IMAGES } from './reply-image.js';
import { createWecomCrypto, openRequest, verifyUrl, type WecomQuery } from './verify.js';

/** A pacing wait up to this long is slept inside send(); longer ones go back to the outbox with retryAfter. */
const INLINE_WAIT_MS = 3_000;
/** Welcome texts are sent once per member and event within at least this time (WeCom retries the event too). */
const WELCOME_MEMORY_MS = 60_000;
/** Replies part-way sent are remembered at most this many, so a leak cannot grow without bound. */
const MAX_PROGRESS = 1_000;

/**
 * A WeCom self-built app (自建应用) in callback mode: WeCom POSTs encrypted XML to the webhook; the
 * channel answers an empty 200 once the message is in the mailbox, and replies through message/send
 * (a reply image uploaded as temporary media first).
 */
export class WecomChannel extends Channel<WecomChannelConfig> {
  static override channelType = 'wecom';

  private config?: WecomChannelConfig;
  private crypto?: TencentCrypto;
  private api?: WecomApi;
  private pacer?: MemberPacer;
  /** Messages already sent of a reply (by idempotency key): a retry after a failed part resumes, never repeats. */
  private readonly progress = new Map<string, number>();
  private readonly welcomed = new RecentCounter(WELCOME_MEMORY_MS, this.ctx.clock.now());
  private stopSweep?: () => void;
  /** Aborts reply-image downloads when the channel stops. */
  private stopping = new AbortController();

  private get settings(): WecomChannelConfig {
    if (!this.config || !this.crypto) throw new Error('wecom channel not started');
    return this.config;
  }

  override async start(_sceneId: string, config: WecomChannelConfig): Promise<void> {
    this.crypto = createWecomCrypto(config);
    this.config = config;
    this.stopping = new AbortController();
    this.api = wecomApiFor({ baseUrl: wecomApiBaseUrl(config), corpId: config.corp_id, secret: config.secret, timeoutMs: config.request_timeout_ms, clock: this.ctx.clock });
    this.pacer = new MemberPacer(config.member_messages_per_minute, config.member_messages_per_hour);
    this.stopSweep = this.ctx.clock.every(10 * 60_000, () => this.pacer?.sweep(this.ctx.clock.now()));
    // One token request: a wrong secret or a missing trusted IP shows on the entry at once.
    await this.api.accessToken();
  }

  /** GET URL verification (设置API接收 → 保存): the decrypted echostr. */
  answerVerification(query: WecomQuery): string {
    const config = this.settings;
    return verifyUrl(query, this.crypto!, config, this.ctx.clock.now());
  }

  /**
   * A callback POST: verified, decrypted, checked for this CorpID and AgentID, parsed and stored.
   * Resolves once the message is durable; the route then answers an empty 200 (replies never go passive).
   */
  async receive(query: WecomQuery, body: string): Promise<void> {
    const config = this.settings;
    const opened = openRequest(query, body, this.crypto!, config, this.ctx.clock.now());
    const parsed = toChatMessage(opened.fields, config);
    if (parsed.event !== undefined) {
      if (WELCOME_EVENTS.has(parsed.event)) {
        if (config.welcome_text && this.welcomed.add(parsed.dedupKey, this.ctx.clock.now()) === 1) void this.welcome(parsed.message.userId, config.welcome_text);
        return;
      }
      if (!config.forward_events) return;
    }
    await this.onMessage({ ...parsed.message, sceneId: this.sceneId, msgId: parsed.dedupKey });
  }

  override async send(reply: OutgoingMessage, userId: string, context: SendContext): Promise<SendResult> {
    const config = this.settings;
    if (reply.image) return this.sendImage(reply.image, userId);
    const messages = renderMessages(reply.text, reply.format, { markdown: config.markdown });
    let platformMessageId: string | undefined;
    for (let i = this.progress.get(context.idempotencyKey) ?? 0; i < messages.length; i++) {
      const body = messageSendBody(userId, config.agent_id, messages[i]!);
      await this.pace(userId);
      try {
        platformMessageId = (await this.api!.send(body)) ?? platformMessageId;
      } catch (err) {
        if (err instanceof CocoError && !err.retryable) this.progress.delete(context.idempotencyKey);
        throw err;
      }
      this.remember(context.idempotencyKey, i + 1);
    }
    this.progress.delete(context.idempotencyKey);
    return platformMessageId === undefined ? {} : { platformMessageId };
  }

  /**
   * An image chunk: the bytes, checked against what WeCom takes, uploaded (media/upload), then one
   * image message. Its alt text is not sent: an image message has no caption. Paced like text, right
   * before the message, so the member's window counts it when WeCom does.
   */
  private async sendImage(image: ReplyImage, userId: string): Promise<SendResult> {
    const config = this.settings;
    const content = await loadChannelImage(image, WECOM_IMAGES, { clock: this.ctx.clock, signal: this.stopping.signal });
    const mediaId = await this.api!.uploadImage(uploadFile(content));
    const body = imageSendBody(userId, config.agent_id, mediaId);
    await this.pace(userId);
    const platformMessageId = await this.api!.send(body);
    return platformMessageId === undefined ? {} : { platformMessageId };
  }

  /** Waits for a per-member slot: a short wait here, a long one handed back to the outbox (queued, never dropped). */
  private async pace(userId: string): Promise<void> {
    for (;;) {
      const wait = this.pacer!.reserve(userId, this.ctx.clock.now());
      if (wait === 0) return;
      if (wait > INLINE_WAIT_MS) {
        throw new CocoError('COCO_ERR_CHANNEL_SEND', `wecom: ${userId} is at the per-member message limit; next slot in ${Math.ceil(wait / 1000)} s`, {
          channel: 'wecom',
          retryable: true,
          retryAfterMs: wait,
        });
      }
      await this.ctx.clock.sleep(wait);
    }
  }

  private remember(key: string, sent: number): void {
    this.progress.delete(key);
    this.progress.set(key, sent);
    // Oldest first: drop replies abandoned part-way (dead-lettered after retries) beyond the cap.
    for (const old of this.progress.keys()) {
      if (this.progress.size <= MAX_PROGRESS) break;
      this.progress.delete(old);
    }
  }

  /** Best effort: opening the chat is not a message the agent answers, and WeCom does not redeliver it once acked. */
  private async welcome(userId: string, text: string): Promise<void> {
    try {
      const config = this.settings;
      // Within the member's limit or not at all: a welcome must not take a reply's slot by waiting.
      if (this.pacer!.reserve(userId, this.ctx.clock.now()) > 0) return;
      await this.api!.send(messageSendBody(userId, config.agent_id, { msgtype: 'text', content: text }));
    } catch (err) {
      this.ctx.log.warn({ err: describeError(err) }, 'welcome message not sent');
    }
  }

  override async stop(): Promise<void> {
    this.stopping.abort();
    this.stopSweep?.();
    this.stopSweep = undefined;
    this.config = undefined;
  }
}
