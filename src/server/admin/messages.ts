import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SECRET_MASK } from '../../config/masking.js';
import { CocoError } from '../../core/errors.js';
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
