import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { SECRET_MASK } from '../../config/masking.js';
import { accessRefusal } from '../../core/access.js';
import { closePairing } from '../../core/pairing.js';
import { routeOf } from '../../core/scene-routes.js';
import { CocoError, describeError } from '../../core/errors.js';
import { fetchMediaItem, isInlineMedia, loadReplyImage, sniffImageType, type MediaContent } from '../../core/media.js';
import type { Gateway } from '../../gateway.js';
import type { MediaRef, ReplyImage } from '../../core/message.js';
import type { MessageDetail, MessageFilter, MessageSummary, Store } from '../../store/store.js';
import { answeringTarget, idempotencyKeyOf, lateReplyBody, messageOr404, queueLateReply } from '../late-replies.js';
import { actorOf } from '../session.js';
import { parseInput } from './parse-input.js';
import { allowSender, blockUser } from '../../config/access-edits.js';

/** Which messages of the log: the query fields the log and its export share. */
export const logFilterQuery = {
  entry: z.string().max(200).optional(),
  userId: z.string().max(128).optional(),
  conversationId: z.string().min(1).max(256).optional(),
  status: z.enum(['queued', 'leased', 'done', 'fallback', 'dead']).optional(),
  text: z.string().max(200).optional(),
};

/** Those query fields as the store's filter. */
export function storeFilterOf(q: z.infer<z.ZodObject<typeof logFilterQuery>>): MessageFilter {
  return { entryKey: q.entry, userId: q.userId, conversationId: q.conversationId, status: q.status, text: q.text };
}

/**
 * A search (by text or status, which no index narrows) reads at most this many messages per request,
 * ~0.1 s on this machine (bench k), so a search of a large store never holds the gateway up for long;
 * the answer's `next` says where to go on.
 */
export const SEARCH_WINDOW = 100_000;

/** A page of the log, newest first, and the `before` of the next one (null: nothing older is left to read). */
export interface LogPage {
  messages: MessageSummary[];
  next: string | null;
}

export async function logPage(
  store: Pick<Store, 'listMessages' | 'messageIdRange'>,
  filter: MessageFilter,
  before: string | undefined,
  limit: number,
  window = SEARCH_WINDOW,
): Promise<LogPage> {
  const full = (messages: MessageSummary[]) => ({ messages, next: messages.at(-1)!.id });
  if (!filter.text && filter.status === undefined) {
    const messages = await store.listMessages({ ...filter, before, limit });
    return messages.length === limit ? full(messages) : { messages, next: null };
  }
  const range = await store.messageIdRange();
  if (!range) return { messages: [], next: null };
  const upper = before === undefined ? Number(range.last) + 1 : Number(before);
  const first = Number(range.first);
  const lower = Math.max(first, upper - window); // ids from lower up are read
  const older = lower > first;
  const messages = await store.listMessages({ ...filter, before: String(upper), ...(older ? { after: String(lower - 1) } : {}), limit });
  if (messages.length === limit) return full(messages);
  return { messages, next: older ? String(lower) : null };
}

const listQuery = z.object({
  ...logFilterQuery,
  before: z.string().regex(/^\d+$/).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

const deadQuery = z.object({
  kind: z.enum(['inbound', 'outbound']).optional(),
  entry: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** Message log, one message's timeline, and dead letters with retry. */
export function registerMessageRoutes(app: FastifyInstance, gateway: Gateway): void {
  app.get('/messages', async (request) => {
    const q = parseInput(listQuery, request.query, 'query');
    return logPage(gateway.store, storeFilterOf(q), q.before, q.limit);
  });

  app.get<{ Params: { id: string } }>('/messages/:id', async (request): Promise<MessageView> => {
    const detail = await messageOr404(gateway, request.params.id);
    return { ...forDisplay(detail), senderAccess: senderAccess(gateway, detail) };
  });

  app.get<{ Params: { id: string; index: string } }>('/messages/:id/media/:index', async (request, reply) => {
    const { id, index } = request.params;
    const detail = await messageOr404(gateway, id);
    const media = /^\d{1,4}$/.test(index) ? detail.message.media?.[Number(index)] : undefined;
    if (media?.kind !== 'image') throw new CocoError('COCO_ERR_NOT_FOUND', `message ${id} has no image at media index ${index}`, { statusCode: 404 });
    const { entryKey, channelType } = detail;
    // The entry's current channel, as agents download it: one of another type would misread the reference.
    const fetcher = gateway.keeper.statusOf(entryKey)?.channel === channelType ? gateway.keeper.mediaFetcher(entryKey) : undefined;
    if (!fetcher) {
      throw new CocoError('COCO_ERR_MEDIA', `entry "${entryKey}" no longer exists as a ${channelType} entry, or its channel cannot download media`, { statusCode: 503 });
    }
    const content = await whileConnected(reply, (signal) => fetchMediaItem(media, detail.message, fetcher, { clock: gateway.clock, signal })).catch((err: unknown) => {
      throw new CocoError('COCO_ERR_MEDIA', `media item ${index}: ${withoutSecrets(describeError(err), [media.ref, media.key])}`, { statusCode: 502 });
    });
    return sendImage(reply, content, `media item ${index}: the platform served`);
  });

  // An image of the agent's answer, from the store: its bytes, or downloaded from the agent's URL again.
  app.get<{ Params: { id: string; replyId: string } }>('/messages/:id/replies/:replyId/image', async (request, reply) => {
    const { id, replyId } = request.params;
    const image = (await messageOr404(gateway, id)).replies.find((r) => r.id === replyId)?.image;
    if (!image) throw new CocoError('COCO_ERR_NOT_FOUND', `message ${id} has no reply image with id ${replyId}`, { statusCode: 404 });
    const content = await whileConnected(reply, (signal) => loadReplyImage(image, { clock: gateway.clock, signal })).catch((err: unknown) => {
      throw new CocoError('COCO_ERR_MEDIA', `reply ${replyId}: ${withoutSecrets(describeError(err), 'url' in image ? urlSecrets(image.url) : [])}`, { statusCode: 502 });
    });
    return sendImage(reply, content, `reply ${replyId}: the image holds`);
  });

  // The operator's "block sender": the agent whose profile decides (in a scene, the one answering it) stops answering
  // the message's sender, from their next message on (access.block_users).
  app.post<{ Params: { id: string } }>('/messages/:id/block-sender', async (request) => {
    const detail = await messageOr404(gateway, request.params.id);
    const agentId = decidingAgentId(gateway, detail);
    const added = blockUser(gateway, agentId, detail.userId);
    return { agentId, userId: detail.userId, blocked: true, alreadyBlocked: !added };
  });

  // The operator's "allow sender", for a sender `access` refuses: off block_users, and onto the allow
  // list of the chat's kind where that kind has one (`changes` says what was done; none: answered already).
  app.post<{ Params: { id: string } }>('/messages/:id/allow-sender', async (request) => {
    const detail = await messageOr404(gateway, request.params.id);
    const agentId = decidingAgentId(gateway, detail);
    const changes = allowSender(gateway, agentId, detail.message);
    // A pairing request of theirs (of the group, in a group) is answered by this too.
    await closePairing(gateway.store, { entryKey: detail.entryKey, agentId, userId: detail.userId, conversationId: detail.conversationId, group: detail.message.isGroup });
    return { agentId, userId: detail.userId, conversationId: detail.conversationId, changes };
  });

  // An operator's reply to a message, as the bot: split to the channel's limits like an agent's
  // answer, queued in the outbox behind anything of the conversation still waiting, and sent the
  // platform's way (its windows and quotas apply; the message's timeline shows the chunks). It goes
  // into the answering agent's history too. With an Idempotency-Key, a repeated request sends nothing again.
  app.post<{ Params: { id: string } }>('/messages/:id/reply', async (request, reply) => {
    const body = parseInput(lateReplyBody, request.body, 'body');
    const idempotencyKey = idempotencyKeyOf(request.headers['idempotency-key']);
    const detail = await messageOr404(gateway, request.params.id);
    return reply.code(202).send(await queueLateReply(gateway, detail, body, 'operator', idempotencyKey, actorOf(request)));
  });

  app.get('/dead-letters', async (request) => {
    const q = parseInput(deadQuery, request.query, 'query');
    return { deadLetters: await gateway.store.listDeadLetters({ kind: q.kind, entryKey: q.entry, limit: q.limit }) };
  });

  app.post<{ Params: { kind: string; id: string } }>('/dead-letters/:kind/:id/retry', async (request) => {
    const { kind, id } = request.params;
    if ((kind !== 'inbound' && kind !== 'outbound') || !/^\d+$/.test(id)) {
      throw new CocoError('COCO_ERR_NOT_FOUND', `no dead letter ${kind}/${id}`, { statusCode: 404 });
    }
    const ok = await gateway.store.reviveDeadLetter(kind, id, gateway.clock.now());
    if (!ok) throw new CocoError('COCO_ERR_NOT_FOUND', `no dead letter ${kind}/${id}`, { statusCode: 404 });
    if (kind === 'inbound') gateway.heartbeat.wake();
    else gateway.outbox.wake();
    return { retried: true, kind, id };
  });
}

/** Whether the profile that decides, as it is now, lets the agent answer a message's sender. */
export interface SenderAccess {
  agentId: string;
  /** Why `access` refuses the sender (or their group), or null when the agent answers them. */
  refused: string | null;
  blocked: boolean;
}

/** A message as `GET /messages/{id}` shows it. */
export type MessageView = MessageDetail & { senderAccess: SenderAccess | null };

/** Null when the message's agent or scene is gone. */
function senderAccess(gateway: Gateway, detail: MessageDetail): SenderAccess | null {
  const target = answeringTarget(gateway, detail);
  if (!target) return null;
  const refusal = accessRefusal(target.profile.access, detail.message);
  return { agentId: target.agentId, refused: refusal?.why ?? null, blocked: refusal?.blocked ?? false };
}

/** The agent whose profile decides for a message: the agent, or the scene agent its routes give it to (the lead without one). */
function decidingAgentId(gateway: Gateway, detail: MessageDetail): string {
  if (detail.targetKind === 'agent') return detail.targetId;
  const scene = gateway.snapshot.scenes.get(detail.targetId)?.scene;
  if (!scene?.roster.length) throw new CocoError('COCO_ERR_NOT_FOUND', `scene "${detail.targetId}" does not exist any more`, { statusCode: 404 });
  return routeOf(scene, detail).agentId;
}

/** Runs a download that stops when the client goes away: nobody would get the bytes. */
async function whileConnected<T>(reply: FastifyReply, task: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) stop.abort(new CocoError('COCO_ERR_MEDIA', 'the client went away'));
  };
  reply.raw.once('close', onClose);
  try {
    return await task(stop.signal);
  } finally {
    reply.raw.off('close', onClose);
  }
}

/** Only a type a browser shows as an image, from the bytes: never what the platform or the agent claimed. */
function sendImage(reply: FastifyReply, content: MediaContent, what: string): FastifyReply {
  const type = sniffImageType(content.data);
  if (!type) throw new CocoError('COCO_ERR_MEDIA', `${what} ${content.data.length} bytes that are not an image`, { statusCode: 502 });
  return reply.header('content-type', type).header('cache-control', 'private, max-age=300').header('x-content-type-options', 'nosniff').send(content.data);
}

/**
 * A message as the operator sees it. A media item's decryption key works like a password for that
 * file: shown as set, never in clear. Images (inline ones the user sent, those in the agent's answer)
 * are shown by their type and size, not their megabytes of base64; an image URL without its query,
 * which may sign it.
 */
export function forDisplay(detail: MessageDetail): MessageDetail {
  const media = detail.message.media;
  const shown = media?.some((m) => m.key !== undefined || isInlineMedia(m.ref)) ? { ...detail, message: { ...detail.message, media: media!.map(mediaForDisplay) } } : detail;
  if (!detail.replies.some((r) => r.image)) return shown;
  return { ...shown, replies: detail.replies.map((r) => (r.image ? { ...r, image: replyImageForDisplay(r.image) } : r)) };
}

function mediaForDisplay(m: MediaRef): MediaRef {
  const inline = /^data:([^;,]+);base64,/.exec(m.ref);
  const ref = inline ? `data:${inline[1]};base64,… (${Buffer.byteLength(m.ref.slice(inline[0].length), 'base64')} bytes)` : m.ref;
  return { ...m, ref, ...(m.key === undefined ? {} : { key: SECRET_MASK }) };
}

function replyImageForDisplay(image: ReplyImage): ReplyImage {
  const alt = image.alt === undefined ? {} : { alt: image.alt };
  if ('data' in image) return { mimeType: image.mimeType, data: `… (${Buffer.byteLength(image.data, 'base64')} bytes)`, ...alt };
  return { url: urlForDisplay(image.url), ...alt };
}

/** Origin and path; a query or fragment (a signature, a token) only as `?…`. */
function urlForDisplay(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '…';
  }
  const hidden = parsed.search !== '' || parsed.hash !== '' ? '?…' : '';
  return `${parsed.origin}${parsed.pathname}${hidden}`;
}

/** What of an image URL must not reach an error message: the URL, its query, and each value in it. */
function urlSecrets(url: string): string[] {
  try {
    const parsed = new URL(url);
    return [url, parsed.href, parsed.search.slice(1), parsed.hash.slice(1), ...parsed.searchParams.values()];
  } catch {
    return [url];
  }
}

/** A download error as the operator sees it: a reference can be a signed URL and a key decrypts the file, so neither is shown. */
function withoutSecrets(message: string, secrets: (string | undefined)[]): string {
  let shown = message;
  // Longest first: a query value inside the URL must not leave the rest of the URL in place.
  for (const secret of [...secrets].sort((a, b) => (b?.length ?? 0) - (a?.length ?? 0))) {
    if (!secret || secret.length < 4) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) shown = shown.split(form).join('…');
  }
  return shown;
}
