import type { WSClient, WsFrame } from '@wecom/aibot-node-sdk';
import { Channel, type ReplyPreview, type Typing } from '../../core/channel.js';
import type { TransportStatus } from '../../core/entry-status.js';
import { CocoError, describeError } from '../../core/errors.js';
import { imageFileName, type MediaContent } from '../../core/media.js';
import type { ChatMessage, OutgoingMessage, ReplyImage, SendContext, SendResult } from '../../core/message.js';
import { loadChannelImage } from '../shared/reply-image.js';
import type { WecomBotChannelConfig } from './config.js';
import { BotConnection, type WecomBotSdk } from './connection.js';
import { markdownMessageBody, planProactive, planReply, streamIdFor, welcomeTextBody } from './format.js';
import { IMAGE_REFUSED_CODES, INVALID_MEDIA_ID, MEDIA_ID_REUSE_MS, streamImageItem, WECOM_BOT_IMAGES } from './images.js';
import { parseBotFrame, shouldAnswer, toChatMessage, type WecomBotReplyMeta } from './parse.js';

let sdkModule: Promise<WecomBotSdk> | undefined;
/** Only gateways with a wecom_bot entry load the SDK (the media download uses its decryptFile). */
export function loadSdk(): Promise<WecomBotSdk> {
  sdkModule ??= import('@wecom/aibot-node-sdk');
  return sdkModule;
}

/**
 * WeCom takes stream frames for a callback for 6 minutes; past 5½ the reply goes proactively, so a
 * slow ack does not land after the window closes.
 */
const STREAM_WINDOW_MS = 330_000;
/** Sends remembered as complete (a retry of one is answered without sending again). */
const DONE_LIMIT = 2_000;
/** The stream's first frame while the agent works (show_typing); the answer's frame replaces it. */
const TYPING_TEXT = '…';
/** The least time between two frames of a reply being written (show_preview). */
const PREVIEW_INTERVAL_MS = 500;
/** Told to the user when a message could not be stored: WeCom never pushes it again. */
const NOT_RECEIVED_TEXT = '消息未能接收，请稍后重新发送。(The message could not be received; please send it again.)';

/**
 * The WeCom intelligent robot (智能机器人) over the official long connection. A message callback
 * is parsed, checked against the group policy and handed to the mailbox (deduplicated by msgid);
 * the answer goes back as one stream under the callback's req_id, finished by a single frame with
 * the whole text (after "…" or the reply so far, while the agent works), with what does not fit
 * sent after it as proactive markdown. Replies to callbacks older than the stream
 * window, or received before this instance started, go proactively too. Images: see sendImage.
 */
export class WecomBotChannel extends Channel<WecomBotChannelConfig> {
  static override channelType = 'wecom_bot';

  private config?: WecomBotChannelConfig;
  private connection?: BotConnection;
  private startedAt = 0;
  private stopped = false;
  /** Per idempotency key: how many parts of the reply went out (stream = part 0), so a retry continues. */
  private readonly progress = new Map<string, number>();
  /** Per reply stream id: stops its live preview, so no preview frame is issued once the final one was. */
  private readonly previews = new Map<string, () => void>();
  /** Per idempotency key: the media_id an image was uploaded as, so a retry after a failed image message does not upload again. */
  private readonly uploads = new Map<string, { mediaId: string; at: number }>();
  /** Stops reply image downloads when the channel stops. */
  private readonly aborts = new AbortController();

  override async start(_sceneId: string, config: WecomBotChannelConfig): Promise<void> {
    this.config = config;
    this.startedAt = this.ctx.clock.now();
    const sdk = await loadSdk();
    this.connection = new BotConnection({
      sdk,
      botId: config.bot_id,
      secret: config.secret,
      wsUrl: config.ws_url,
      heartbeatIntervalMs: config.heartbeat_interval_seconds * 1000,
      livenessTimeoutMs: config.liveness_timeout_seconds * 1000,
      maxDelayMs: config.reconnect_max_delay_seconds * 1000,
      clock: this.ctx.clock,
      log: this.ctx.log,
      onFrame: (frame) => void this.onFrame(frame),
      onFatal: (error) => this.ctx.reportError(error),
    });
    await this.connection.start();
    this.ctx.log.info({ bot: config.bot_id }, 'wecom_bot long connection ready');
  }

  override async stop(): Promise<void> {
    this.stopped = true;
    this.aborts.abort(new CocoError('COCO_ERR_CHANNEL_SEND', 'wecom_bot: the channel stopped', { channel: 'wecom_bot', retryable: true }));
    await this.connection?.stop();
  }

  override transportStatus(): TransportStatus | undefined {
    return this.connection?.transportStatus();
  }

  /** One callback. The long connection has no ack for callbacks: a message counts as received once the mailbox took it. */
  private async onFrame(frame: WsFrame): Promise<void> {
    const config = this.config;
    if (!config || this.stopped) return;
    const now = this.ctx.clock.now();
    let parsed;
    try {
      parsed = parseBotFrame(frame, { ...(config.bot_name ? { botName: config.bot_name } : {}), nowMs: now });
    } catch (err) {
      this.ctx.log.warn({ err: describeError(err) }, 'wecom_bot callback dropped: unreadable');
      return;
    }
    if (parsed.kind === 'event') {
      if (parsed.eventType === 'enter_chat' && config.welcome_text) await this.welcome(frame, config.welcome_text);
      return;
    }
    if (parsed.kind !== 'message') return;
    const m = parsed.message;
    if (!shouldAnswer(m, config.group_policy)) {
      this.ctx.log.debug({ msgId: m.msgId, chat: m.chatId, policy: config.group_policy }, 'wecom_bot group message not answered (group_policy)');
      return;
    }
    try {
      await this.onMessage({ ...toChatMessage(m, now), sceneId: this.sceneId });
    } catch (err) {
      // Nothing will push it again: the user is told, so the question is not silently lost.
      this.ctx.log.error({ err: describeError(err), msgId: m.msgId }, 'wecom_bot message not stored');
      try {
        await this.connection?.client?.replyStream(frame, streamIdFor(`not-received:${m.msgId}`), NOT_RECEIVED_TEXT, true);
      } catch (notice) {
        this.ctx.log.warn({ err: describeAck(notice) }, 'wecom_bot: the not-received notice failed too');
      }
    }
  }

  private async welcome(frame: WsFrame, text: string): Promise<void> {
    try {
      await this.connection?.client?.replyWelcome(frame, welcomeTextBody(text));
    } catch (err) {
      this.ctx.log.warn({ err: describeAck(err) }, 'wecom_bot welcome not sent');
    }
  }

  override async send(reply: OutgoingMessage, _userId: string, context: SendContext): Promise<SendResult> {
    const client = this.connection?.client;
    if (this.stopped || !client) {
      throw new CocoError('COCO_ERR_CHANNEL_SEND', 'wecom_bot: the long connection is not up', { channel: 'wecom_bot', retryable: true, retryAfterMs: 2_000 });
    }
    const meta = (context.replyMeta ?? {}) as Partial<WecomBotReplyMeta>;
    const sendTo = typeof meta.sendTo === 'string' ? meta.sendTo : context.conversationId;
    const key = context.idempotencyKey;
    const streamable = this.streamable(meta);
    const done = this.progress.get(key) ?? 0;
    let part = 0;
    const streamId = replyStreamId(context.inReplyTo, context.chunk.index);
    this.previews.get(streamId)?.(); // no preview frame is issued after the answer's
    if (reply.image) {
      const target = { client, sendTo, streamId, ...(streamable && context.chunk.index === 0 ? { reqId: meta.reqId! } : {}) };
      return this.sendImage(reply.image, reply.text, context, target);
    }
    try {
      if (streamable) {
        const plan = planReply(reply.text);
        if (done <= part) {
          await client.replyStream({ headers: { req_id: meta.reqId! } }, streamId, plan.stream, true);
          this.mark(key, part + 1);
        }
        part++;
        for (const text of plan.followUps) {
          if (done <= part) {
            await client.sendMessage(sendTo, markdownMessageBody(text));
            this.mark(key, part + 1);
          }
          part++;
        }
      } else {
        for (const text of planProactive(reply.text)) {
          if (done <= part) {
            await client.sendMessage(sendTo, markdownMessageBody(text));
            this.mark(key, part + 1);
          }
          part++;
        }
      }
    } catch (err) {
      throw sendError(err);
    }
    return {};
  }

  /**
   * One image of an answer, sent once. The stream takes images only in its finishing frame (`msg_item`),
   * and an answer's text chunk, sent before and on its own, has already finished the stream: an image
   * after text therefore goes proactively, uploaded (`aibot_upload_media_*`, the SDK's uploadMedia) and
   * sent by media_id (`aibot_send_msg`) to the same chat, which works as well past the stream window and
   * after a restart. Only an answer of images alone still has its stream open ("…" may be showing): its
   * first image finishes that stream with the alt text, as WeCom shows an image in a reply, while the
   * req_id can still carry it. A retry after a failed image message reuses the upload (valid 3 days).
   */
  private async sendImage(
    image: ReplyImage,
    alt: string,
    context: SendContext,
    target: { client: WSClient; sendTo: string; streamId: string; reqId?: string },
  ): Promise<SendResult> {
    const key = context.idempotencyKey;
    if ((this.progress.get(key) ?? 0) > 0) return {}; // sent by an attempt whose success was not recorded
    const content = await loadChannelImage(image, WECOM_BOT_IMAGES, { clock: this.ctx.clock, signal: this.aborts.signal });
    try {
      if (target.reqId !== undefined) {
        await target.client.replyStream({ headers: { req_id: target.reqId } }, target.streamId, planReply(alt).stream, true, [streamImageItem(content.data)]);
      } else {
        await target.client.sendMediaMessage(target.sendTo, 'image', await this.uploadedImage(target.client, key, content));
      }
    } catch (err) {
      if (ackCode(err) === INVALID_MEDIA_ID) this.uploads.delete(key); // gone: the retry uploads it again
      throw sendError(err);
    }
    this.mark(key, 1);
    this.uploads.delete(key);
    this.ctx.log.debug(
      { msgId: context.inReplyTo, bytes: content.data.length, mimeType: content.mimeType, via: target.reqId !== undefined ? 'stream' : 'upload' },
      'wecom_bot reply image sent',
    );
    return {};
  }

  /** The image's media_id: uploaded by an earlier attempt of this chunk, or now. */
  private async uploadedImage(client: WSClient, key: string, content: MediaContent): Promise<string> {
    const now = this.ctx.clock.now();
    const earlier = this.uploads.get(key);
    if (earlier && now - earlier.at < MEDIA_ID_REUSE_MS) return earlier.mediaId;
    const { media_id: mediaId } = await client.uploadMedia(content.data, { type: 'image', filename: imageFileName(content.mimeType) });
    this.uploads.set(key, { mediaId, at: now });
    if (this.uploads.size > DONE_LIMIT) this.uploads.delete(this.uploads.keys().next().value!);
    return mediaId;
  }

  /**
   * "The robot is on it": the reply's own stream, opened with "…" when the agent takes a while. The
   * answer's frame (send) finishes the same stream and replaces it; a stream past its window is left
   * to WeCom, which closes it. Best effort: a refused frame changes nothing else.
   */
  override startTyping(message: ChatMessage): Typing | undefined {
    if (!this.config?.show_typing || !this.canStream(message)) return undefined;
    this.openFrame(message, TYPING_TEXT, 'typing');
    return { stop: () => undefined };
  }

  /**
   * The reply while the agent writes it (show_preview): frames of the reply's stream, unfinished,
   * each with what the answer's frame would carry for the text so far. The answer's frame (send)
   * finishes the stream and replaces them; after stop(), or once send() began, none is issued.
   */
  override startPreview(message: ChatMessage, _messageId: string): ReplyPreview | undefined {
    if (!this.config?.show_preview || !this.canStream(message)) return undefined;
    const streamId = replyStreamId(message.msgId, 0);
    let live = true;
    const stop = () => {
      live = false;
      if (this.previews.get(streamId) === stop) this.previews.delete(streamId);
    };
    this.previews.get(streamId)?.(); // one live preview per stream: the newest run's
    this.previews.set(streamId, stop);
    return {
      intervalMs: PREVIEW_INTERVAL_MS,
      update: (text) => {
        const content = live ? planReply(text).stream : '';
        if (content !== '') this.openFrame(message, content, 'preview');
      },
      stop,
    };
  }

  /** The callback of `message` can still carry its reply's stream: a live connection, within the window. */
  private canStream(message: ChatMessage): boolean {
    return this.streamTarget(message) !== undefined;
  }

  private streamTarget(message: ChatMessage): { client: WSClient; reqId: string } | undefined {
    const client = this.connection?.client;
    const meta = (message.replyMeta ?? {}) as Partial<WecomBotReplyMeta>;
    return client && !this.stopped && this.streamable(meta) ? { client, reqId: meta.reqId! } : undefined;
  }

  /**
   * An unfinished frame of the reply's stream ("…" or the reply so far). Skipped while the previous
   * frame of the callback waits for its ack (the SDK's non-blocking send), so frames never pile up
   * in front of the answer's. Best effort: a refused frame is logged and changes nothing else.
   */
  private openFrame(message: ChatMessage, content: string, what: 'typing' | 'preview'): void {
    const target = this.streamTarget(message);
    target?.client.replyStreamNonBlocking({ headers: { req_id: target.reqId } }, replyStreamId(message.msgId, 0), content, false).catch((err: unknown) => {
      this.ctx.log.debug({ msgId: message.msgId, err: describeAck(err) }, `wecom_bot ${what} frame refused`);
    });
  }

  /** A req_id from before this start (a restart) or past the window can no longer carry a stream. */
  private streamable(meta: Partial<WecomBotReplyMeta>): boolean {
    const receivedAt = typeof meta.receivedAt === 'number' ? meta.receivedAt : 0;
    return typeof meta.reqId === 'string' && receivedAt >= this.startedAt && this.ctx.clock.now() - receivedAt < STREAM_WINDOW_MS;
  }

  private mark(key: string, parts: number): void {
    this.progress.delete(key);
    this.progress.set(key, parts);
    if (this.progress.size > DONE_LIMIT) this.progress.delete(this.progress.keys().next().value!);
  }
}

/** The SDK rejects a reply with the ack frame ({errcode, errmsg}) or an Error (ack timeout, socket closed). */
function describeAck(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'errcode' in err) {
    const ack = err as { errcode?: unknown; errmsg?: unknown };
    return `errcode ${String(ack.errcode)} ${typeof ack.errmsg === 'string' ? ack.errmsg : ''}`.trim();
  }
  return describeError(err);
}

/** The errcode of a refused frame (the SDK rejects with the ack frame), if it was one. */
function ackCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'errcode' in err ? Number((err as { errcode: unknown }).errcode) : undefined;
}

function sendError(err: unknown): CocoError {
  const message = `wecom_bot: ${describeAck(err)}`;
  const code = ackCode(err);
  // 40058 is a request WeCom will never take (req_id expired, stream already finished, too long), 40008 a message
  // type it does not know, IMAGE_REFUSED_CODES an image it will not show; the rest may pass later.
  const retryable = code === undefined || (code !== 40058 && code !== 40008 && !IMAGE_REFUSED_CODES.has(code));
  return new CocoError('COCO_ERR_CHANNEL_SEND', message, { channel: 'wecom_bot', retryable, ...(retryable ? { retryAfterMs: 2_000 } : {}), cause: err });
}

/** One stream per reply chunk of a message, the same on every retry: the typing and preview frames and the answer share it. */
function replyStreamId(msgId: string, chunk: number): string {
  return streamIdFor(`${msgId}:${chunk}`);
}
