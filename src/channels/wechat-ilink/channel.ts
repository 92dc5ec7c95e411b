import { Channel, type Typing } from '../../core/channel.js';
import type { TransportStatus } from '../../core/entry-status.js';
import { CocoError, describeError, isCocoError } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import { MAX_IMAGE_BYTES } from '../../core/media.js';
import type { ChatMessage, OutgoingMessage, ReplyImage, SendContext, SendResult } from '../../core/message.js';
import { loadChannelImage, type ImageRules } from '../shared/reply-image.js';
import { typingIndicator } from '../shared/typing.js';
import { CONTEXT_TOKEN_REFUSED, IlinkApi, IlinkError, SESSION_EXPIRED, type SendTarget } from './api.js';
import type { IlinkChannelConfig } from './config.js';
import { parseUpdate, toChatMessage, type IlinkInbound, type IlinkReplyMeta } from './parse.js';
import { IlinkPoller } from './poller.js';
import { uploadImage, type UploadedImage } from './upload.js';

/** Newest context tokens remembered, one per user (bounded). */
const TOKENS_KEPT = 10_000;
/** The picture formats WeChat chats show; the others (bmp, svg…) are refused rather than sent as a broken image. */
const ILINK_IMAGES: ImageRules = {
  channel: 'wechat_ilink',
  platform: 'WeChat',
  types: new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']),
  typeNames: 'png, jpeg, gif or webp',
  maxBytes: MAX_IMAGE_BYTES,
};

/**
 * Personal WeChat through the official iLink bot API: the `getupdates` long poll in (its cursor kept
 * in the store), `sendmessage` out with the context token of the message answered. Direct chats only.
 * The bot token comes from the QR login (`login.ts`); without it the entry stays in error and says so.
 */
export class IlinkChannel extends Channel<IlinkChannelConfig> {
  static override channelType = 'wechat_ilink';

  private api?: IlinkApi;
  private poller?: IlinkPoller;
  private stopped = false;
  private showTyping = false;
  private cdnBaseUrl = '';
  /** Aborts reply-image downloads and uploads under way when the channel stops. */
  private readonly stopping = new AbortController();
  /** The newest context token each user's messages carried: tried when a message's own token is refused. */
  private readonly latestToken = new Map<string, string>();

  override async start(_sceneId: string, config: IlinkChannelConfig): Promise<void> {
    if (!config.bot_token) {
      throw new CocoError(
        'COCO_ERR_LOGIN_REQUIRED',
        'wechat_ilink: not logged in. Scan the QR code (panel → this entry → Log in with WeChat, cococat login <entry>, or POST /api/admin/{agents,scenes}/<id>/entries/<entry>/login)',
        { channel: 'wechat_ilink' },
      );
    }
    this.showTyping = config.show_typing;
    this.cdnBaseUrl = config.cdn_base_url;
    this.api = new IlinkApi({
      baseUrl: config.base_url,
      token: config.bot_token,
      ...(config.route_tag ? { routeTag: config.route_tag } : {}),
      timeoutMs: config.api_timeout_seconds * 1000,
    });
    this.poller = new IlinkPoller({
      api: this.api,
      state: this.ctx.state,
      clock: this.ctx.clock,
      log: this.ctx.log,
      pollTimeoutMs: config.poll_timeout_seconds * 1000,
      onMessages: (msgs) => this.store(msgs),
    });
    await this.poller.start();
    this.api.notify('start').catch((err: unknown) => this.ctx.log.debug({ err: describeError(err) }, 'wechat_ilink notifystart failed'));
    this.ctx.log.info({ bot: config.bot_id }, 'wechat_ilink polling');
  }

  override async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping.abort();
    await this.poller?.stop();
    await this.api?.notify('stop').catch(() => undefined);
  }

  override transportStatus(): TransportStatus | undefined {
    return this.poller?.status;
  }

  /**
   * One batch. Each user's messages are stored in order, each after the one before (the mailbox
   * keeps a conversation in the order it was given); different users' messages are stored side by
   * side, so one commit takes many. Resolves when all are durable; rejects if any could not be.
   */
  private async store(msgs: unknown[]): Promise<void> {
    const byUser = new Map<string, IlinkInbound[]>();
    for (const raw of msgs) {
      const parsed = parseUpdate(raw);
      if (parsed.kind === 'skip') {
        this.ctx.log.debug({ reason: parsed.reason }, 'wechat_ilink update not answered');
        continue;
      }
      const m = parsed.message;
      this.remember(m.userId, m.contextToken);
      const list = byUser.get(m.userId);
      if (list) list.push(m);
      else byUser.set(m.userId, [m]);
    }
    const results = await Promise.allSettled(
      [...byUser.values()].map(async (list) => {
        for (const m of list) await this.onMessage({ ...toChatMessage(m, this.ctx.clock.now()), sceneId: this.sceneId });
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** "typing…" while the agent works: a ticket for the message's token, then on, then off (best effort). */
  override startTyping(message: ChatMessage): Typing | undefined {
    const api = this.api;
    const token = (message.replyMeta as Partial<IlinkReplyMeta> | undefined)?.contextToken;
    if (!this.showTyping || !api || this.stopped || typeof token !== 'string' || this.poller?.sessionPausedUntil()) return undefined;
    const user = message.userId;
    let ticket = '';
    return typingIndicator({
      on: async (stillWanted) => {
        ticket = await api.typingTicket(user, token);
        if (!stillWanted()) return false;
        await api.sendTyping(user, ticket, true);
        return true;
      },
      off: () => api.sendTyping(user, ticket, false),
      log: this.ctx.log,
      channel: 'wechat_ilink',
    });
  }

  private remember(userId: string, token: string): void {
    this.latestToken.delete(userId);
    this.latestToken.set(userId, token);
    if (this.latestToken.size > TOKENS_KEPT) this.latestToken.delete(this.latestToken.keys().next().value!);
  }

  override async send(reply: OutgoingMessage, userId: string, context: SendContext): Promise<SendResult> {
    const api = this.api;
    if (this.stopped || !api) throw sendError('the channel is not running', true, 2_000);
    const pausedUntil = this.poller?.sessionPausedUntil() ?? 0;
    if (pausedUntil) throw sendError('the session expired; waiting for it to come back or for a new QR login', true, pausedUntil - this.ctx.clock.now());
    const meta = (context.replyMeta ?? {}) as Partial<IlinkReplyMeta>;
    const own = typeof meta.contextToken === 'string' ? meta.contextToken : undefined;
    const newest = this.latestToken.get(userId);
    const first = own ?? newest;
    if (!first) throw sendError('no context_token for this user: iLink delivers replies only to a message of theirs', false);
    // The same client_id for every try of this chunk, in case iLink drops repeats.
    const clientId = `cococat-${sha256Hex(context.idempotencyKey).slice(0, 32)}`;
    try {
      // An image is uploaded before its message, once per try: a failed upload sends nothing. Its alt text is not
      // sent, WeChat images have no caption.
      const image = reply.image ? await this.uploadReplyImage(api, reply.image, userId) : undefined;
      const attempt = (contextToken: string) => {
        const target: SendTarget = { to: userId, clientId, contextToken };
        return image ? api.sendImage(target, image.media, image.ciphertextSize) : api.sendText({ ...target, text: reply.text });
      };
      await attempt(first).catch((err: unknown) => {
        // A refused token may be only this message's: the user's newer message brought another.
        if (newest && newest !== first && isCode(err, CONTEXT_TOKEN_REFUSED)) return attempt(newest);
        throw err;
      });
    } catch (err) {
      if (isCode(err, SESSION_EXPIRED)) this.poller?.sessionExpired(err as IlinkError);
      throw classify(err);
    }
    return {};
  }

  /** The reply image's bytes, checked against what WeChat shows, on the CDN for the user they go to. */
  private async uploadReplyImage(api: IlinkApi, image: ReplyImage, userId: string): Promise<UploadedImage> {
    const { data, mimeType } = await loadChannelImage(image, ILINK_IMAGES, { clock: this.ctx.clock, signal: this.stopping.signal });
    const uploaded = await uploadImage(api, { cdnBaseUrl: this.cdnBaseUrl, to: userId, data, signal: this.stopping.signal });
    this.ctx.log.debug({ bytes: data.length, mimeType }, 'wechat_ilink reply image uploaded');
    return uploaded;
  }

}

const isCode = (err: unknown, code: number): boolean => err instanceof IlinkError && err.kind === 'api' && err.code === code;

/** How the outbox treats a failed sendmessage, getuploadurl or CDN upload. */
function classify(err: unknown): CocoError {
  // Already judged (a refused or unloadable reply image).
  if (isCocoError(err) && err.code === 'COCO_ERR_CHANNEL_SEND') return err;
  if (!(err instanceof IlinkError)) return sendError(describeError(err), true, 2_000, err);
  switch (err.kind) {
    case 'api':
      if (err.code === SESSION_EXPIRED) return sendError(err.message, true, 60_000, err);
      // The token is refused (stale, or its ~10 replies are used up): waiting will not change that.
      if (err.code === CONTEXT_TOKEN_REFUSED) return sendError(`${err.message} (the context token is refused: the user must write again)`, false, undefined, err);
      return sendError(err.message, true, 2_000, err);
    case 'http':
      return sendError(err.message, err.code === 429 || err.code === 408 || (err.code ?? 0) >= 500, 2_000, err);
    default:
      return sendError(err.message, true, 2_000, err);
  }
}

function sendError(message: string, retryable: boolean, retryAfterMs?: number, cause?: unknown): CocoError {
  return new CocoError('COCO_ERR_CHANNEL_SEND', `wechat_ilink: ${message}`, {
    channel: 'wechat_ilink',
    retryable,
    ...(retryable && retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(cause ? { cause } : {}),
  });
}
