import type { WSClient, WsFrame } from '@wecom/aibot-node-sdk';
import { Channel, type ReplyPreview, type Typing } from '../../core/channel.js';
import type { TransportStatus } from '../../core/entry-status.js';
import { CocoError, describeError } from '../../core/errors.js';
import type { ChatMessage, OutgoingMessage, SendContext, SendResult } from '../../core/message.js';
import type { WecomBotChannelConfig } from './config.js';
import { BotConnection, type WecomBotSdk } from './connection.js';
import { markdownMessageBody, planProactive, planReply, streamIdFor, welcomeTextBody } from './format.js';
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
 * window, or received before this instance started, go proactively too.
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

function sendError(err: unknown): CocoError {
  const message = `wecom_bot: ${describeAck(err)}`;
  const code = typeof err === 'object' && err !== null && 'errcode' in err ? Number((err as { errcode: unknown }).errcode) : undefined;
  // 40058 is a request WeCom will never take (req_id expired, stream already finished, too long); the rest may pass later.
  const retryable = code !== 40058 && code !== 40008;
  return new CocoError('COCO_ERR_CHANNEL_SEND', message, { channel: 'wecom_bot', retryable, ...(retryable ? { retryAfterMs: 2_000 } : {}), cause: err });
}

/** One stream per reply chunk of a message, the same on every retry: the typing and preview frames and the answer share it. */
function replyStreamId(msgId: string, chunk: number): string {
  return streamIdFor(`${msgId}:${chunk}`);
}
