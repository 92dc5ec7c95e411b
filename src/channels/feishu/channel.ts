import type { Client } from '@larksuiteoapi/node-sdk';
import { Channel, type ReplyPreview, type Typing } from '../../core/channel.js';
import type { TransportStatus } from '../../core/entry-status.js';
import { CocoError, describeError, isCocoError } from '../../core/errors.js';
import type { ChatMessage, OutgoingMessage, ReplyImage, SendContext, SendResult } from '../../core/message.js';
import { noteRecall } from '../../core/recall.js';
import { TokenBucket } from '../shared/token-bucket.js';
import { typingIndicator } from '../shared/typing.js';
import { FeishuApiError, FeishuHttp, feishuTokensFor, fetchBotInfo, isCardContentRefusal, isRateLimited, sendError, TOKEN_INVALID, type FeishuTokens } from './api.js';
import { FeishuCardKit } from './card-kit.js';
import { feishuBaseUrl, type FeishuChannelConfig } from './config.js';
import { cardAsText, chunkUuid, createMessageBody, imageMessage, renderMessages, replyMessageBody, standInUuid, type FeishuMessageBody } from './format.js';
import { LongConnection, sdkLogger, type LarkSdk } from './long-connection.js';
import { parseLarkEvent, shouldAnswer, toChatMessage, type BotIdentity, type FeishuReplyMeta } from './parse.js';
import { FeishuReactions, TYPING_EMOJI } from './reaction.js';
import { ReplyCards } from './reply-cards.js';
import { sdkCall } from './sdk-call.js';
import { loadFeishuReplyImage } from './reply-image.js';
import { cardMessage, finishedCard, streamedReply, type StreamedReply } from './streaming-card.js';
import { openLarkWebhook, type LarkHeaders } from './webhook-crypto.js';

/** Feishu allows 5 messages per second into one chat (per user, and per group shared by its bots). */
const CHAT_QPS = 5;
/**
 * The platform counts a sliding one-second window. A bucket of capacity c refilled at r lets
 * c + r messages into such a window; c = 1 and r a little under 5 keep it at 5, with room for
 * requests that arrive a few milliseconds closer together than they were sent.
 */
const BUCKET_CAPACITY = 1;
const BUCKET_RATE = CHAT_QPS * 0.9;
/** Rate-limit waits up to this long (in total, per send) happen inside send(); longer ones go back to the outbox. */
const MAX_INLINE_WAIT_MS = 15_000;
/** Buckets of chats quiet this long are forgotten (they would be full again anyway). */
const BUCKET_IDLE_MS = 10_000;
/** Uploaded image keys kept for retries of their message, at most (each is a short string). */
const MAX_PENDING_IMAGE_KEYS = 1_000;
/** A streaming card gets the reply so far about once a second: the client's typewriter fills the gaps. */
const PREVIEW_INTERVAL_MS = 1_000;
/** A reply the agent writes within this long goes out as a plain message; a longer one gets a streaming card. */
const CARD_OPEN_DELAY_MS = 1_000;
/**
 * The entry's budget of card calls, shared by its streaming cards (and by its processes): Feishu allows
 * each card API 1 000 calls a minute and 50 a second per app, which ~16 cards updated every second use
 * up. Two entries of one app each have their own.
 */
const CARD_CALLS = { capacity: 10, perSecond: 15 };

let sdkModule: Promise<LarkSdk> | undefined;
/** The SDK takes ~250 ms to load: only gateways with a Feishu entry pay for it. */
function loadSdk(): Promise<LarkSdk> {
  sdkModule ??= import('@larksuiteoapi/node-sdk');
  return sdkModule;
}

/**
 * A Feishu/Lark self-built app. Events arrive over the long connection (default; no public URL) or
 * the event webhook; each is acknowledged only after it is in the mailbox (or known as a duplicate),
 * and deduplicated by message_id, so Feishu's redeliveries over ~7 hours are answered once. Replies go
 * out through the send API, in groups as a reply to the triggering message, each request with a
 * uuid so a retry is never shown twice.
 */
export class FeishuChannel extends Channel<FeishuChannelConfig> {
  static override channelType = 'feishu';

  private config?: FeishuChannelConfig;
  private sdk?: LarkSdk;
  private client?: Client;
  private tokens?: FeishuTokens;
  private reactions?: FeishuReactions;
  private cards?: ReplyCards;
  private bot: BotIdentity = {};
  private connection?: LongConnection;
  private readonly webhook: TransportStatus = { kind: 'webhook', state: 'listening', reconnects: 0, failedAttempts: 0, eventsReceived: 0 };
  private readonly buckets = new Map<string, { bucket: TokenBucket; usedAt: number }>();
  /** Image keys uploaded for chunks whose message failed retryably, by idempotency key (oldest dropped first). */
  private readonly pendingImageKeys = new Map<string, string>();
  /** Ends reply-image downloads when the channel stops. */
  private readonly lifetime = new AbortController();
  private stopped = false;

  private get settings(): FeishuChannelConfig {
    if (!this.config || this.stopped) throw new CocoError('COCO_ERR_CHANNEL_NOT_RUNNING', 'feishu channel not started', { statusCode: 503, retryable: true });
    return this.config;
  }

  override async start(_sceneId: string, config: FeishuChannelConfig): Promise<void> {
    this.config = config;
    const baseUrl = feishuBaseUrl(config.domain);
    const sdk = (this.sdk = await loadSdk());
    this.tokens = feishuTokensFor({ baseUrl, appId: config.app_id, appSecret: config.app_secret, clock: this.ctx.clock, timeoutMs: config.request_timeout_ms });
    try {
      await this.tokens.token();
    } catch (err) {
      throw isCocoError(err, 'COCO_ERR_CHANNEL_START') ? err : new CocoError('COCO_ERR_CHANNEL_START', describeError(err), { channel: 'feishu', retryable: true, cause: err });
    }
    // Without the bot's open_id no group mention could be told apart from a mention of someone else.
    const info = await fetchBotInfo(this.tokens);
    this.bot = { openId: info.openId, ...(info.name ? { name: info.name } : {}) };
    // Tokens are ours (refreshed ahead of expiry and on 99991663); the SDK's process-wide cache never refreshes.
    this.client = new sdk.Client({
      appId: config.app_id,
      appSecret: config.app_secret,
      domain: baseUrl,
      disableTokenCache: true,
      httpInstance: new FeishuHttp(config.request_timeout_ms),
      logger: sdkLogger(this.ctx.log),
      loggerLevel: sdk.LoggerLevel.warn,
    });
    this.reactions = new FeishuReactions(sdk, this.client, this.tokens);
    this.cards = new ReplyCards({
      cardKit: new FeishuCardKit(sdk, this.client, this.tokens),
      state: this.ctx.state,
      limiter: this.ctx.rateLimiter('cardkit', CARD_CALLS),
      clock: this.ctx.clock,
      log: this.ctx.log,
      intervalMs: PREVIEW_INTERVAL_MS,
      openDelayMs: CARD_OPEN_DELAY_MS,
      withdraw: (id) => this.withdraw(id),
    });
    if (config.connection === 'webhook') {
      this.ctx.log.info({ bot: info.openId }, 'feishu webhook ready');
      return;
    }
    this.connection = new LongConnection({
      sdk,
      appId: config.app_id,
      appSecret: config.app_secret,
      baseUrl,
      timeoutMs: config.request_timeout_ms,
      ...(config.ping_interval_seconds === undefined ? {} : { pingIntervalMs: config.ping_interval_seconds * 1000 }),
      pingTimeoutMs: config.ping_timeout_seconds * 1000,
      maxDelayMs: config.reconnect_max_delay_seconds * 1000,
      clock: this.ctx.clock,
      log: this.ctx.log,
      onEvent: (payload) => this.onSocketEvent(payload),
      onFatal: (error) => this.ctx.reportError(error),
    });
    await this.connection.start();
    this.ctx.log.info({ bot: info.openId }, 'feishu long connection ready');
  }

  override async stop(): Promise<void> {
    this.stopped = true;
    this.lifetime.abort(new CocoError('COCO_ERR_CHANNEL_NOT_RUNNING', 'feishu channel stopped', { retryable: true }));
    this.cards?.close();
    await this.connection?.stop();
  }

  /**
   * Feishu has no typing indicator; bots show they are working with a reaction on the user's message.
   * On: a "Typing" reaction (its id kept); off, when the agent is done: that reaction deleted. Best
   * effort: a refusal (rate limit, recalled message, missing permission) is logged at debug level.
   */
  override startTyping(message: ChatMessage): Typing | undefined {
    const reactions = this.reactions;
    const messageId = feishuMessageId(message.replyMeta, message.msgId);
    if (!reactions || this.stopped || !this.config?.show_typing || message.msgType === 'event' || !messageId) return undefined;
    let reactionId = '';
    return typingIndicator({
      on: async () => {
        reactionId = await reactions.add(messageId, TYPING_EMOJI);
        return true;
      },
      off: () => reactions.remove(messageId, reactionId),
      log: this.ctx.log,
      channel: 'feishu',
    });
  }

  /**
   * The reply while the agent writes it (show_preview): a card in streaming mode where the reply goes,
   * filled in as the text comes; `send()` finishes that card with the answer (see ReplyCards).
   */
  override startPreview(message: ChatMessage, messageId: string): ReplyPreview | undefined {
    const cards = this.cards;
    if (!cards || this.stopped || !this.config?.show_preview || message.msgType === 'event') return undefined;
    const target = targetOf(message.replyMeta, message.isGroup, message.conversationId, message.msgId);
    return cards.preview(messageId, (cardId, uuid) => this.deliver(target, cardMessage(cardId), uuid));
  }

  /** DELETE /open-apis/im/v1/messages/:message_id (撤回消息): one of the bot's own messages goes. */
  private async withdraw(messageId: string): Promise<void> {
    const client = this.client!;
    await sdkCall(this.sdk!, this.tokens!, 'im/v1/messages/:message_id', (auth) => client.im.message.delete({ path: { message_id: messageId } }, auth));
  }

  /** A message finished without a reply: a preview card showing part of an answer to it goes (ReplyCards.abandon). */
  override finishedWithoutReply(messageId: string): void {
    this.cards?.abandon(messageId).catch((err: unknown) => this.ctx.log.debug({ err: describeError(err) }, 'feishu: a preview card could not be withdrawn'));
  }

  override transportStatus(): TransportStatus | undefined {
    if (this.connection) return this.connection.transportStatus();
    if (this.config?.connection !== 'webhook') return undefined;
    return { ...this.webhook, state: this.stopped ? 'stopped' : 'listening' };
  }

  /**
   * One event from the long connection. Resolving acks it. Events that are not answered (other
   * types, bot senders, groups without a mention) and events that cannot be read are logged and
   * acked: Feishu would push them again for hours otherwise. Only a mailbox failure rejects, so the
   * event comes again.
   */
  private async onSocketEvent(payload: unknown): Promise<void> {
    let found: ChatMessage | Recall | undefined;
    try {
      found = this.readEvent(payload);
    } catch (err) {
      this.ctx.log.warn({ err: describeError(err) }, 'feishu event dropped: unreadable');
      return;
    }
    await this.take(found);
  }

  /**
   * One webhook POST (raw body bytes): verified, decrypted, parsed; resolves with the answer once the
   * message is in the mailbox. Bad signatures are 401, unreadable bodies 400, both before anything is stored.
   */
  async receiveWebhook(rawBody: Buffer, headers: LarkHeaders): Promise<Record<string, unknown>> {
    const config = this.settings;
    if (config.connection !== 'webhook') {
      throw new CocoError('COCO_ERR_NOT_FOUND', `this entry receives events over the long connection (connection: websocket), not by webhook`, { statusCode: 404 });
    }
    const opened = openLarkWebhook(rawBody, headers, {
      ...(config.encrypt_key ? { encryptKey: config.encrypt_key } : {}),
      ...(config.verification_token ? { verificationToken: config.verification_token } : {}),
    });
    if (opened.payload.type === 'url_verification') {
      const event = parseLarkEvent(opened.payload, this.bot);
      if (event.kind === 'url_verification') return { challenge: event.challenge };
    }
    const now = this.ctx.clock.now();
    this.webhook.lastEventAt = now;
    this.webhook.lastFrameAt = now;
    this.webhook.eventsReceived++;
    await this.take(this.readEvent(opened.payload));
    return { msg: 'success' };
  }

  /**
   * What a read event brings: a message for the mailbox, or a recall to note (both before the event
   * is acknowledged: a store that fails them gets the event again); nothing for the rest.
   */
  private async take(found: ChatMessage | Recall | undefined): Promise<void> {
    if (!found) return;
    if ('recalled' in found) {
      await noteRecall(this.ctx.state, found.recalled, this.ctx.clock.now());
      this.ctx.log.debug({ eventId: found.eventId, msgId: found.recalled, recallType: found.recallType }, 'feishu message recalled');
      return;
    }
    await this.onMessage(found);
  }

  /** The ChatMessage for an event, a recall, or undefined when it is not to be answered. Throws on unreadable events. */
  private readEvent(payload: unknown): ChatMessage | Recall | undefined {
    const config = this.settings;
    const event = parseLarkEvent(payload, this.bot);
    if (event.kind === 'url_verification') return undefined;
    if (event.kind === 'recalled') return { recalled: event.messageId, eventId: event.eventId, ...(event.recallType ? { recallType: event.recallType } : {}) };
    if (event.kind === 'ignored') {
      this.ctx.log.debug({ eventId: event.eventId, eventType: event.eventType, reason: event.reason }, 'feishu event not answered');
      return undefined;
    }
    const m = event.message;
    // Another app's event (two entries sharing keys, or a misrouted push): never answer it as ours.
    if (m.appId !== undefined && m.appId !== config.app_id) {
      throw new CocoError('COCO_ERR_REQUEST_INVALID', `header.app_id: the event is for ${m.appId}, this entry is ${config.app_id}`, {
        statusCode: 400,
        field: 'header.app_id',
        channel: 'feishu',
      });
    }
    if (!shouldAnswer(m, config.group_policy)) {
      this.ctx.log.debug({ eventId: event.eventId, msgId: m.messageId, chat: m.chatId, policy: config.group_policy }, 'feishu group message not answered (group_policy)');
      return undefined;
    }
    return { ...toChatMessage(m), sceneId: this.sceneId };
  }

  override async send(reply: OutgoingMessage, _userId: string, context: SendContext): Promise<SendResult> {
    if (!this.client || !this.tokens || !this.sdk) throw new CocoError('COCO_ERR_CHANNEL_NOT_RUNNING', 'feishu channel not started', { retryable: true });
    const target = targetOf(context.replyMeta, context.isGroup, context.conversationId, context.inReplyTo);
    const streamed = context.chunk.index === 0 ? await this.finishCard(reply, context) : undefined;
    if (streamed) {
      // The card shows the reply's first part; the rest, and an image, follow as messages.
      let last = streamed.cardMessageId;
      for (const [i, body] of streamed.rest.entries()) last = (await this.deliverPart(target, body, chunkUuid(context.idempotencyKey, i + 1))) ?? last;
      if (reply.image) last = (await this.sendImage(reply.image, target, context.idempotencyKey)) ?? last;
      await this.cards?.delivered(context.messageId);
      return { platformMessageId: last };
    }
    if (reply.image) {
      // An image chunk is the image alone: a Feishu image message has no caption, and the alt text is often empty.
      const messageId = await this.sendImage(reply.image, target, context.idempotencyKey);
      return messageId ? { platformMessageId: messageId } : {};
    }
    let last: string | undefined;
    for (const [i, body] of renderMessages(reply.text, reply.format).entries()) {
      last = (await this.deliverPart(target, body, chunkUuid(context.idempotencyKey, i))) ?? last;
    }
    return last ? { platformMessageId: last } : {};
  }

  /**
   * The reply's first chunk shown in the card its preview opened, when one is showing: the card's
   * message id and the messages still to send. An image-only reply leaves its alt text in the card.
   */
  private async finishCard(reply: OutgoingMessage, context: SendContext): Promise<(Pick<StreamedReply, 'rest'> & { cardMessageId: string }) | undefined> {
    if (!this.cards || !this.config?.show_preview || (!reply.image && reply.text.trim() === '')) return undefined;
    // Rendered only when a card is there to finish: most replies have none, and go through renderMessages.
    let rest: StreamedReply['rest'] = [];
    const cardMessageId = await this.cards.finish(context.messageId, () => {
      const streamed = reply.image ? { card: finishedCard(reply.image.alt?.trim() || '🖼️', 'text'), rest: [] } : streamedReply(reply.text, reply.format);
      rest = streamed.rest;
      return streamed.card;
    });
    return cardMessageId === undefined ? undefined : { cardMessageId, rest };
  }

  /**
   * An image chunk: its bytes loaded and checked, uploaded (`POST /open-apis/im/v1/images`), then sent
   * as an image message where a text reply would go. The upload is not idempotent, the message is
   * (its uuid): a retry may upload again but never shows a second image. An image_key whose message
   * failed is kept for the retry, so a rate-limited send does not upload the same bytes again.
   */
  private async sendImage(image: ReplyImage, target: Target, idempotencyKey: string): Promise<string | undefined> {
    const imageKey = this.pendingImageKeys.get(idempotencyKey) ?? (await this.uploadReplyImage(image, target.chatId));
    try {
      const messageId = await this.deliver(target, imageMessage(imageKey), chunkUuid(idempotencyKey, 0));
      this.pendingImageKeys.delete(idempotencyKey);
      this.ctx.log.debug({ chat: target.chatId, imageKey, msgId: messageId }, 'feishu image sent');
      return messageId;
    } catch (err) {
      this.rememberImageKey(idempotencyKey, imageKey, err);
      throw err;
    }
  }

  /** Keeps an uploaded image's key for the outbox's next try of the same chunk; a final failure needs none. */
  private rememberImageKey(idempotencyKey: string, imageKey: string, err: unknown): void {
    this.pendingImageKeys.delete(idempotencyKey);
    if (isCocoError(err) && !err.retryable) return;
    if (this.pendingImageKeys.size >= MAX_PENDING_IMAGE_KEYS) this.pendingImageKeys.delete(this.pendingImageKeys.keys().next().value!);
    this.pendingImageKeys.set(idempotencyKey, imageKey);
  }

  /** The reply image loaded, checked and uploaded (`POST /open-apis/im/v1/images`, image_type message) → its image_key. */
  private async uploadReplyImage(image: ReplyImage, chatId: string): Promise<string> {
    const content = await loadFeishuReplyImage(image, { clock: this.ctx.clock, signal: this.lifetime.signal });
    const client = this.client!;
    const imageKey = await this.callApi(chatId, { pace: false }, async (auth) => {
      const answer = await client.im.image.create({ data: { image_type: 'message', image: content.data } }, auth);
      const key = answer?.image_key;
      if (typeof key !== 'string' || key === '') throw new FeishuApiError('/open-apis/im/v1/images', 200, undefined, 'the answer has no image_key');
      return key;
    });
    // Size and type only: never the bytes, nor where they came from (a URL may be signed).
    this.ctx.log.debug({ chat: chatId, bytes: content.data.length, mimeType: content.mimeType, imageKey }, 'feishu image uploaded');
    return imageKey;
  }

  /**
   * One message of a reply. A card Feishu refuses for its content (a rule of its renderer we did not
   * foresee) goes out as plain text instead: the words arrive without their layout rather than never.
   */
  private async deliverPart(target: Target, body: FeishuMessageBody, uuid: string): Promise<string | undefined> {
    try {
      return await this.deliver(target, body, uuid);
    } catch (err) {
      if (body.markdown === undefined || !isCardContentRefusal(err)) throw err;
      this.ctx.log.warn({ chat: target.chatId, err: describeError(err) }, 'feishu refused a reply card for its content; sending it as text');
      return this.deliver(target, cardAsText(body.markdown), standInUuid(uuid));
    }
  }

  /** One message: paced per chat, the token refreshed once if refused, rate limits waited out. */
  private deliver(target: Target, body: FeishuMessageBody, uuid: string): Promise<string | undefined> {
    const client = this.client!;
    return this.callApi(target.chatId, { pace: true }, async (auth) => {
      const answer: { code?: number; msg?: string; data?: { message_id?: string } } =
        target.kind === 'reply'
          ? await client.im.message.reply({ path: { message_id: target.messageId }, data: replyMessageBody(body, uuid, target.inThread) }, auth)
          : await client.im.message.create({ params: { receive_id_type: 'chat_id' }, data: createMessageBody(target.chatId, body, uuid) }, auth);
      if (answer.code !== undefined && answer.code !== 0) throw new FeishuApiError(target.kind === 'reply' ? 'im/v1/messages/:message_id/reply' : 'im/v1/messages', 200, answer.code, answer.msg ?? '');
      return answer.data?.message_id;
    });
  }

  /**
   * One API call for a chat's reply, with the tenant token: paced per chat when it posts a message,
   * the token refreshed once if refused, rate limits waited out up to MAX_INLINE_WAIT_MS; anything
   * else thrown as a send error (retryable unless Feishu said it never will work).
   */
  private async callApi<T>(chatId: string, opts: { pace: boolean }, call: (auth: ReturnType<LarkSdk['withTenantToken']>) => Promise<T>): Promise<T> {
    const { clock } = this.ctx;
    const sdk = this.sdk!;
    let stale: string | undefined;
    let refreshed = false;
    let waited = 0;
    for (;;) {
      if (opts.pace) await this.pace(chatId);
      const token = await this.tokens!.token(stale);
      try {
        return await call(sdk.withTenantToken(token));
      } catch (err) {
        if (!(err instanceof FeishuApiError)) throw sendError(err);
        if (err.code !== undefined && TOKEN_INVALID.has(err.code) && !refreshed) {
          refreshed = true;
          stale = token;
          continue;
        }
        if (isRateLimited(err)) {
          // Feishu says when the limit lets the next request through; a little spread keeps chats from retrying in step.
          const wait = (err.resetSeconds ?? 1) * 1000 + Math.round(Math.random() * 250);
          if (waited + wait > MAX_INLINE_WAIT_MS) throw sendError(err, wait);
          this.ctx.log.debug({ chat: chatId, waitMs: wait, code: err.code }, 'feishu rate limit; waiting');
          waited += wait;
          await clock.sleep(wait);
          continue;
        }
        throw sendError(err);
      }
    }
  }

  /** Waits for the chat's next send slot (5 per second per chat). */
  private async pace(chatId: string): Promise<void> {
    const { clock } = this.ctx;
    for (;;) {
      const now = clock.now();
      let entry = this.buckets.get(chatId);
      if (!entry) {
        if (this.buckets.size >= 1_000) for (const [chat, e] of this.buckets) if (now - e.usedAt > BUCKET_IDLE_MS) this.buckets.delete(chat);
        entry = { bucket: new TokenBucket(BUCKET_CAPACITY, BUCKET_RATE, now), usedAt: now };
        this.buckets.set(chatId, entry);
      }
      entry.usedAt = now;
      const slot = entry.bucket.take(now);
      if (slot.ok) return;
      await clock.sleep(slot.retryAfterMs);
    }
  }
}

/** The Feishu message_id of an inbound message (its replyMeta, else its platform id). */
function feishuMessageId(replyMeta: Record<string, unknown> | undefined, platformId: string | undefined): string | undefined {
  const id = (replyMeta as Partial<FeishuReplyMeta> | undefined)?.messageId;
  if (typeof id === 'string' && id !== '') return id;
  return platformId ? platformId : undefined;
}

/** A recalled message (its Feishu message_id), from an im.message.recalled_v1 event. */
interface Recall {
  recalled: string;
  eventId: string;
  recallType?: string;
}

type Target = { kind: 'create'; chatId: string } | { kind: 'reply'; chatId: string; messageId: string; inThread: boolean };

/** Where a reply goes: in a group, a reply to the message that asked (never a DM to the asker); else a message in the chat. */
function targetOf(replyMeta: Record<string, unknown> | undefined, isGroup: boolean, conversationId: string, inReplyTo: string): Target {
  const meta = (replyMeta ?? {}) as Partial<FeishuReplyMeta>;
  const chatId = typeof meta.chatId === 'string' ? meta.chatId : conversationId;
  if (!isGroup) return { kind: 'create', chatId };
  return { kind: 'reply', chatId, messageId: typeof meta.messageId === 'string' ? meta.messageId : inReplyTo, inThread: meta.replyInThread === true };
}
