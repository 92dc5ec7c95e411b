import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { firstIssue } from '../../config/schema.js';
import { CocoError } from '../../core/errors.js';
import type { ChannelRoutesHost } from '../define.js';
import { openEventStream, sseEvent } from '../shared/event-stream.js';
import type { Accepted } from '../../core/message.js';
import type { WebApiChannel, WebApiPartial, WebApiReply } from './channel.js';
import { chatFilesSchema, chatImagesSchema, inlineFiles, inlineImages, textOrAttachments, withAttachmentsDescribed } from './attachments.js';

/** Hard cap before any entry is looked up; each entry's own `body_limit_bytes` is checked after auth. */
const MAX_BODY_BYTES = 1_048_576;
/**
 * In-process wake-ups announce every reply this gateway stores; the store is also read this often
 * in case another gateway process stored it (several gateways sharing one database).
 */
const WAIT_POLL_MS = 500;
/** Open streams are many and mostly idle: they look at the store less often. */
const STREAM_POLL_MS = 5_000;
/** SSE comment lines keep proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

const chatBodySchema = z
  .object({
    userId: z.string().min(1).max(128),
    content: z.string().max(1_000_000).optional(),
    msgId: z.string().min(1).max(128).optional(),
    userName: z.string().max(128).optional(),
    images: chatImagesSchema.optional(),
    files: chatFilesSchema.optional(),
  })
  .strict()
  .refine(...textOrAttachments);

const entryParams = z.object({ entryId: z.string().min(1).max(200) });

export function registerWebApiRoutes(app: FastifyInstance, host: ChannelRoutesHost<WebApiChannel>): void {
  app.register(async (scope) => {
    // Parse bodies ourselves, after auth, so every failure gets its precise 4xx.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) => done(null, body));

    scope.post('/api/v1/chat/:entryId', async (request, reply) => {
      const channel = authorized(host, request);
      const config = channel.settings;
      await takeRateToken(channel, reply);
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      if (raw.length > config.body_limit_bytes) {
        throw new CocoError('COCO_ERR_REQUEST_TOO_LARGE', `body is ${raw.length} bytes; the limit is ${config.body_limit_bytes}`, {
          statusCode: 413,
        });
      }
      const body = parseBody(raw, request.headers['content-type']);
      const idempotencyKey = headerValue(request.headers['idempotency-key']);
      if (idempotencyKey !== undefined && (idempotencyKey.length < 1 || idempotencyKey.length > 128)) {
        throw invalid('Idempotency-Key', 'must be 1-128 characters');
      }
      const wait = (request.query as Record<string, unknown>).wait;
      const waits = wait === 'true' || wait === '1';
      if (waits && acceptsEventStream(request)) return streamAnswer(channel, body, idempotencyKey, reply);
      const accepted = await submitChat(channel, body, idempotencyKey);
      if (!waits) {
        return reply.code(202).send({ messageId: accepted.messageId, duplicate: accepted.duplicate, status: 'queued' });
      }
      const replies = await waitForReply(channel, accepted.messageId, config.wait_timeout_ms);
      if (!replies) {
        return reply.code(202).send({ messageId: accepted.messageId, duplicate: accepted.duplicate, status: 'pending' });
      }
      if (replies === NOT_ANSWERED) {
        return reply.code(200).send({ messageId: accepted.messageId, duplicate: accepted.duplicate, status: 'not_answered', reply: null });
      }
      return reply.code(200).send({
        messageId: accepted.messageId,
        duplicate: accepted.duplicate,
        status: 'answered',
        reply: joinedReply(replies),
      });
    });

    scope.get('/api/v1/chat/:entryId/events', async (request, reply) => {
      const channel = authorized(host, request);
      const query = request.query as Record<string, unknown>;
      const userId = typeof query.userId === 'string' ? query.userId : '';
      if (userId.length < 1 || userId.length > 128) throw invalid('userId', 'query parameter is required (1-128 characters)');
      const resumeFrom = headerValue(request.headers['last-event-id']) ?? (typeof query.after === 'string' ? query.after : undefined);
      let cursor = resumeFrom === undefined ? await tailSeq(channel, userId) : Number(resumeFrom);
      if (!Number.isSafeInteger(cursor) || cursor < 0) throw invalid('Last-Event-ID', 'must be a non-negative integer event id');
      await streamReplies(channel, userId, cursor, request, reply);
    });
  });
}

/**
 * `?wait=true` with `Accept: text/event-stream`: the answer to this one message as Server-Sent
 * Events, `partial` events while a streaming agent writes it, then its `reply` chunks, then the
 * stream ends. Past the wait timeout, a `pending` event ends it instead (the reply comes on the
 * conversation's stream). A duplicate gets the stored reply the same way.
 */
async function streamAnswer(
  channel: WebApiChannel,
  body: Parameters<typeof submitChat>[1],
  idempotencyKey: string | undefined,
  reply: FastifyReply,
): Promise<void> {
  // Watching before the message is stored, so the heartbeat sees a viewer when it picks it up.
  // Partials arriving before the id is known: only the newest is kept, as each carries the whole text so far.
  let messageId: string | undefined;
  let early: WebApiPartial | undefined;
  let res: ReturnType<typeof openEventStream> | undefined;
  const write = (p: WebApiPartial) => res?.write(sseEvent('partial', p));
  const unwatch = channel.watchPartials(body.userId, (p) => {
    if (messageId === undefined) early = p;
    else if (p.messageId === messageId) write(p);
  });
  try {
    const accepted = await submitChat(channel, body, idempotencyKey, { streamed: true });
    messageId = accepted.messageId;
    res = openEventStream(reply, 1000);
    res.write(sseEvent('accepted', { messageId, duplicate: accepted.duplicate }));
    if (early?.messageId === messageId) write(early);
    const hangUp = new AbortController();
    res.on('close', () => hangUp.abort());
    const replies = await waitForReply(channel, messageId, channel.settings.wait_timeout_ms, hangUp.signal);
    if (replies === NOT_ANSWERED) res.write(sseEvent('not_answered', { messageId, status: 'not_answered' }));
    else if (replies) for (const r of replies) res.write(sseEvent('reply', r, r.seq));
    else if (!hangUp.signal.aborted) res.write(sseEvent('pending', { messageId, status: 'pending' }));
    res.end();
  } finally {
    unwatch();
  }
}

function acceptsEventStream(request: FastifyRequest): boolean {
  return headerValue(request.headers.accept)?.includes('text/event-stream') === true;
}

/**
 * Hands one chat message to the mailbox; the user id is the conversation. Also the panel's chat.
 * `streamed`: the request itself streams the answer, which the message then says (replyMeta), so
 * whichever process runs the agent streams it.
 */
export function submitChat(
  channel: WebApiChannel,
  body: {
    userId: string; content?: string; msgId?: string; userName?: string;
    images?: z.infer<typeof chatImagesSchema>; files?: z.infer<typeof chatFilesSchema>;
  },
  idempotencyKey?: string,
  opts: { streamed?: boolean } = {},
): Promise<Accepted> {
  const media = [...(body.images ? inlineImages(body.images) : []), ...(body.files ? inlineFiles(body.files) : [])];
  return channel.onMessage({
    channelType: 'web_api',
    sceneId: channel.sceneId,
    userId: body.userId,
    conversationId: body.userId,
    content: withAttachmentsDescribed(body.content ?? '', media),
    msgType: body.content || media.length === 0 ? 'text' : media.some((m) => m.kind === 'image') ? 'image' : 'file',
    ...(media.length > 0 ? { media } : {}),
    msgId: idempotencyKey ?? body.msgId ?? randomUUID(),
    timestamp: Date.now(),
    isGroup: false,
    mentionsBot: true,
    userName: body.userName,
    ...(opts.streamed ? { replyMeta: { streamed: true } } : {}),
  });
}

/** Rate limit of the entry, for every sender (API clients and the panel alike). */
export async function takeRateToken(channel: WebApiChannel, reply: FastifyReply): Promise<void> {
  const limited = await channel.takeRateToken();
  if (limited.ok) return;
  reply.header('retry-after', Math.ceil(limited.retryAfterMs / 1000));
  throw new CocoError('COCO_ERR_RATE_LIMITED', `over ${channel.settings.rate_limit_per_minute} requests per minute for this entry`, {
    statusCode: 429,
    retryAfterMs: limited.retryAfterMs,
  });
}

function authorized(host: ChannelRoutesHost<WebApiChannel>, request: FastifyRequest): WebApiChannel {
  const params = entryParams.safeParse(request.params);
  if (!params.success) throw invalid('entryId', 'is required');
  const channel = host.lookup(params.data.entryId);
  if (!channel.authorize(request.headers.authorization)) {
    throw new CocoError('COCO_ERR_UNAUTHORIZED', 'missing or wrong API key: send "Authorization: Bearer <api_key>"', { statusCode: 401 });
  }
  return channel;
}

function parseBody(raw: Buffer, contentType: string | undefined) {
  if (!contentType?.toLowerCase().startsWith('application/json')) {
    throw new CocoError('COCO_ERR_REQUEST_INVALID', 'send the body as application/json', { statusCode: 415 });
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw invalid('body', `is not valid JSON: ${(err as Error).message}`);
  }
  const result = chatBodySchema.safeParse(json);
  if (!result.success) {
    const { field, message } = firstIssue(result.error);
    throw invalid(field || 'body', message);
  }
  return result.data;
}

function invalid(field: string, message: string): CocoError {
  return new CocoError('COCO_ERR_REQUEST_INVALID', `${field}: ${message}`, { statusCode: 400, field });
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The message was finished without any reply (handed to a person, a blocked sender): none is coming from the agent. */
const NOT_ANSWERED = 'not_answered';

/** Resolves with the complete reply (all chunks), NOT_ANSWERED, or undefined on timeout or when the channel stops. */
async function waitForReply(
  channel: WebApiChannel,
  messageId: string,
  timeoutMs: number,
  hangUp?: AbortSignal,
): Promise<WebApiReply[] | typeof NOT_ANSWERED | undefined> {
  const deadline = Date.now() + timeoutMs;
  const wakeups = new Wakeups(channel, `reply:${messageId}`, hangUp);
  try {
    for (;;) {
      const replies = await channel.repliesTo(messageId);
      const count = replies[0]?.chunk.count ?? 0;
      if (count > 0 && replies.length >= count) return replies.slice(0, count);
      if (replies.length === 0 && channel.isUnanswered(messageId)) return NOT_ANSWERED;
      const left = deadline - Date.now();
      if (left <= 0 || channel.stopSignal.aborted || hangUp?.aborted) return undefined;
      await wakeups.next(Math.min(left, WAIT_POLL_MS));
    }
  } finally {
    wakeups.close();
  }
}

/**
 * Wake-ups of one waiting loop (a held request, a stream) for as long as it lives: the channel's
 * `event` for it, the channel stopping, the client hanging up. Listening once for the loop's life,
 * rather than around each wait, costs a stream nothing per reply, and an event that fires while the
 * loop reads the store is kept for its next wait instead of being missed until the next poll.
 */
class Wakeups {
  private due = false;
  private wake?: () => void;
  private readonly fire = () => {
    this.due = true;
    this.wake?.();
  };

  constructor(
    private readonly channel: WebApiChannel,
    private readonly event: string,
    private readonly hangUp?: AbortSignal,
  ) {
    channel.events.on(event, this.fire);
    channel.stopSignal.addEventListener('abort', this.fire, { once: true });
    hangUp?.addEventListener('abort', this.fire, { once: true });
  }

  /** Resolves at the next wake-up (at once if one came since the last), or after `ms`. */
  next(ms: number): Promise<void> {
    if (this.due) {
      this.due = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.fire(), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.due = false;
        resolve();
      };
    });
  }

  close(): void {
    this.wake?.();
    this.channel.events.off(this.event, this.fire);
    this.channel.stopSignal.removeEventListener('abort', this.fire);
    this.hangUp?.removeEventListener('abort', this.fire);
  }
}

export async function tailSeq(channel: WebApiChannel, userId: string): Promise<number> {
  let cursor = 0;
  for (;;) {
    const page = await channel.readReplies(userId, cursor, 500);
    if (page.length === 0) return cursor;
    cursor = page[page.length - 1]!.seq;
  }
}

export async function streamReplies(channel: WebApiChannel, userId: string, from: number, request: FastifyRequest, reply: FastifyReply) {
  const res = openEventStream(reply, 1000);
  let cursor = from;
  // A client that hangs up ends the stream at once, not at the next poll.
  const hangUp = new AbortController();
  request.raw.on('close', () => hangUp.abort());
  // Replies being written show as `partial` events (no id: they are not kept, and a resume skips them).
  const unwatch = channel.watchPartials(userId, (p) => res.write(sseEvent('partial', p)));
  hangUp.signal.addEventListener('abort', unwatch, { once: true });
  const wakeups = new Wakeups(channel, `conversation:${userId}`, hangUp.signal);
  let lastWrite = Date.now();
  try {
    while (!hangUp.signal.aborted && !channel.stopSignal.aborted) {
      const batch = await channel.readReplies(userId, cursor, 100);
      for (const item of batch) {
        res.write(sseEvent('reply', item, item.seq));
        cursor = item.seq;
        lastWrite = Date.now();
      }
      if (batch.length === 100) continue;
      if (Date.now() - lastWrite >= KEEPALIVE_MS) {
        res.write(': keepalive\n\n');
        lastWrite = Date.now();
      }
      await wakeups.next(Math.min(STREAM_POLL_MS, KEEPALIVE_MS));
    }
  } finally {
    wakeups.close();
    unwatch();
    res.end();
  }
}

/** The `?wait=true` answer: the text chunks joined, and the images, if any. */
function joinedReply(replies: WebApiReply[]): { text: string; format: 'text' | 'markdown'; images?: { url: string; alt?: string }[] } {
  const texts = replies.filter((r) => !r.image);
  const images = replies.flatMap((r) => (r.image ? [r.text ? { url: r.image.url, alt: r.text } : { url: r.image.url }] : []));
  const reply = { text: texts.map((r) => r.text).join(''), format: texts[0]?.format ?? 'text' };
  return images.length > 0 ? { ...reply, images } : reply;
}
