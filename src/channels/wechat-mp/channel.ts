import { Channel } from '../../core/channel.js';
import { describeError } from '../../core/errors.js';
import type { OutgoingMessage, SendContext, SendResult } from '../../core/message.js';
import { TencentCrypto } from '../shared/tencent-crypto.js';
import { wechatApiFor, type WechatApi } from './api.js';
import type { WechatMpChannelConfig } from './config.js';
import { toChatMessage } from './parse.js';
import { openRequest, verifyUrl, type WechatQuery } from './verify.js';

/** WeChat treats "success" (or an empty body) as "received, no passive reply". */
const ACK = 'success';

/**
 * A WeChat Official Account (公众号): WeChat POSTs signed (optionally encrypted) XML to the
 * webhook; the channel acknowledges once the message is in the mailbox, and replies through the
 * customer-service (客服) API.
 */
export class WechatMpChannel extends Channel<WechatMpChannelConfig> {
  static override channelType = 'wechat_mp';

  private config?: WechatMpChannelConfig;
  private crypto?: TencentCrypto;
  private api?: WechatApi;

  private get settings(): WechatMpChannelConfig {
    if (!this.config) throw new Error('wechat_mp channel not started');
    return this.config;
  }

  override async start(_sceneId: string, config: WechatMpChannelConfig): Promise<void> {
    this.config = config;
    this.crypto = config.encoding_aes_key
      ? new TencentCrypto({ token: config.token, encodingAesKey: config.encoding_aes_key, receiveId: config.app_id })
      : undefined;
    this.api = wechatApiFor({ baseUrl: config.api_base_url, appId: config.app_id, appSecret: config.app_secret, clock: this.ctx.clock });
    // One token request: wrong credentials or a missing IP whitelist show on the entry at once.
    await this.api.accessToken();
  }

  /** GET verification from the WeChat console: the echostr when signed with our token. */
  answerVerification(query: WechatQuery): string {
    return verifyUrl(query, this.settings, this.ctx.clock.now());
  }

  /** A message POST: verified, opened, handed to the mailbox; the answer WeChat gets. */
  async receive(query: WechatQuery, body: string): Promise<string> {
    const config = this.settings;
    const opened = openRequest(query, body, config, this.crypto, this.ctx.clock.now());
    const parsed = toChatMessage(opened.fields);
    if (parsed.event === 'subscribe' && config.welcome_text) await this.welcome(parsed.message.userId, config.welcome_text);
    if (parsed.event && !config.forward_events) return ACK;
    await this.onMessage({ ...parsed.message, sceneId: this.sceneId, msgId: parsed.dedupKey });
    return ACK;
  }

  override async send(reply: OutgoingMessage, userId: string, _context: SendContext): Promise<SendResult> {
    if (!this.api) throw new Error('wechat_mp channel not started');
    await this.api.sendText(userId, reply.text);
    return {};
  }

  override async stop(): Promise<void> {
    this.config = undefined;
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
