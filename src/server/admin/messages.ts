import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SECRET_MASK } from '../../config/masking.js';
import { CocoError, describeError } from '../../core/errors.js';
import { fetchMediaItem, sniffImageType, type MediaContent } from '../../core/media.js';
import type { Gateway } from '../../gateway.js';
import type { MediaRef } from '../../core/message.js';
import type { MessageDetail } from '../../store/store.js';
import { parseInput } from './parse-input.js';

const listQuery = z.object({
  entry: z.string().max(200).optional(),
  userId: z.string().max(128).optional(),
  status: z.enum(['queued', 'leased', 'done', 'fallback', 'dead']).optional(),
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
    return { messages: await gateway.store.listMessages({ entryKey: q.entry, userId: q.userId, status: q.status, before: q.before, limit: q.limit }) };
  });

  app.get<{ Params: { id: string } }>('/messages/:id', async (request) => {
    const message = /^\d+$/.test(request.params.id) ? await gateway.store.getMessage(request.params.id) : undefined;
    if (!message) throw new CocoError('COCO_ERR_NOT_FOUND', `message "${request.params.id}" does not exist`, { statusCode: 404 });
    return mediaForDisplay(message);
  });

  app.get<{ Params: { id: string; index: string } }>('/messages/:id/media/:index', async (request, reply) => {
    const { id, index } = request.params;
    const detail = /^\d+$/.test(id) ? await gateway.store.getMessage(id) : undefined;
    if (!detail) throw new CocoError('COCO_ERR_NOT_FOUND', `message "${id}" does not exist`, { statusCode: 404 });
    const media = /^\d{1,4}$/.test(index) ? detail.message.media?.[Number(index)] : undefined;
    if (media?.kind !== 'image') throw new CocoError('COCO_ERR_NOT_FOUND', `message ${id} has no image at media index ${index}`, { statusCode: 404 });
    const { entryKey, channelType } = detail;
    // The entry's current channel, as agents download it: one of another type would misread the reference.
    const fetcher = gateway.keeper.statusOf(entryKey)?.channel === channelType ? gateway.keeper.mediaFetcher(entryKey) : undefined;
    if (!fetcher) {
      throw new CocoError('COCO_ERR_MEDIA', `entry "${entryKey}" no longer exists as a ${channelType} entry, or its channel cannot download media`, { statusCode: 503 });
    }
    const stop = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) stop.abort(new CocoError('COCO_ERR_MEDIA', 'the client went away'));
    };
    reply.raw.once('close', onClose);
    let content: MediaContent;
    try {
      content = await fetchMediaItem(media, detail.message, fetcher, { clock: gateway.clock, signal: stop.signal });
    } catch (err) {
      throw new CocoError('COCO_ERR_MEDIA', `media item ${index}: ${withoutSecrets(describeError(err), media)}`, { statusCode: 502 });
    } finally {
      reply.raw.off('close', onClose);
    }
    // Only a type a browser shows as an image, from the bytes: never what the platform claimed.
    const type = sniffImageType(content.data);
    if (!type) throw new CocoError('COCO_ERR_MEDIA', `media item ${index}: the platform served ${content.data.length} bytes that are not an image`, { statusCode: 502 });
    return reply.header('content-type', type).header('cache-control', 'private, max-age=300').header('x-content-type-options', 'nosniff').send(content.data);
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

/**
 * A media item's decryption key works like a password for that file: shown as set, never in clear.
 * An inline image (Web API) is shown by its type and size, not its megabytes of base64.
 */
function mediaForDisplay(detail: MessageDetail): MessageDetail {
  const media = detail.message.media;
  if (!media?.some((m) => m.key !== undefined || m.ref.startsWith('data:'))) return detail;
  return { ...detail, message: { ...detail.message, media: media.map(forDisplay) } };
}

function forDisplay(m: MediaRef): MediaRef {
  const inline = /^data:([^;,]+);base64,/.exec(m.ref);
  const ref = inline ? `data:${inline[1]};base64,… (${Buffer.byteLength(m.ref.slice(inline[0].length), 'base64')} bytes)` : m.ref;
  return { ...m, ref, ...(m.key === undefined ? {} : { key: SECRET_MASK }) };
}

/** A download error as the operator sees it: a reference can be a signed URL and a key decrypts the file, so neither is shown. */
function withoutSecrets(message: string, media: MediaRef): string {
  let shown = message;
  for (const secret of [media.ref, media.key]) {
    if (!secret || secret.length < 4) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) shown = shown.split(form).join('…');
  }
  return shown;
}
