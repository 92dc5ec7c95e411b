import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CocoError } from '../../core/errors.js';
import { DEFAULT_HANDOFF_MINUTES, handoffMinutesSchema } from '../../config/schema.js';
import { activeHandoffs, handoffOf, setHandoff, type Handoff } from '../../core/handoff.js';
import type { Gateway } from '../../gateway.js';
import type { MessageSummary } from '../../store/store.js';
import { actorOf } from '../session.js';
import { entryOr404 } from './entries.js';
import { parseInput } from './parse-input.js';

/** How long a conversation goes to a person: an hour unless said, at most a week. */
const handoffBody = z.object({ minutes: handoffMinutesSchema.default(DEFAULT_HANDOFF_MINUTES) }).strict();

/** A hand-over as `GET /handoffs` lists it. */
export interface HandoffInfo extends Handoff {
  /** The conversation's newest message, if the store still has one. */
  latest: MessageSummary | null;
  /** The newest message has no reply: the agent gave none, and no operator has yet. */
  awaitingReply: boolean;
}

/** Conversations handed to a person (core/handoff.ts): the agent leaves each until its `until`. */
export function registerHandoffRoutes(app: FastifyInstance, gateway: Gateway): void {
  // What operators have now, each with its newest message and whether that message still waits
  // for an answer (it has no reply: the agent gave none, and no operator has yet).
  app.get('/handoffs', async (): Promise<{ handoffs: HandoffInfo[] }> => {
    const handoffs = await activeHandoffs(gateway.store, gateway.clock.now());
    return {
      handoffs: await Promise.all(
        handoffs.map(async (h) => {
          const [latest] = await gateway.store.listMessages({ entryKey: h.entryKey, conversationId: h.conversationId, limit: 1 });
          const replies = latest ? (await gateway.store.getMessage(latest.id))?.replies.length ?? 0 : 0;
          return { ...h, latest: latest ?? null, awaitingReply: latest !== undefined && replies === 0 };
        }),
      ),
    };
  });

  const handoffParams = (params: { key: string; conversationId: string }) => {
    const entry = entryOr404(gateway, params.key);
    if (params.conversationId.length < 1 || params.conversationId.length > 256) {
      throw new CocoError('COCO_ERR_REQUEST_INVALID', 'conversationId: 1-256 characters', { statusCode: 400, field: 'conversationId' });
    }
    return { ...params, entry };
  };
  app.get<{ Params: { key: string; conversationId: string } }>('/entries/:key/handoffs/:conversationId', async (request) => {
    const { key, conversationId } = handoffParams(request.params);
    const handoff = await handoffOf(gateway.store, key, conversationId, gateway.clock.now());
    return { entryKey: key, conversationId, until: handoff?.until ?? null, ...(handoff ? { by: handoff.by, ...(handoff.actor ? { actor: handoff.actor } : {}) } : {}) };
  });
  app.put<{ Params: { key: string; conversationId: string }; Body: unknown }>('/entries/:key/handoffs/:conversationId', async (request) => {
    const { key, conversationId, entry } = handoffParams(request.params);
    const { minutes } = parseInput(handoffBody, request.body ?? {}, 'body');
    const now = gateway.clock.now();
    const until = now + minutes * 60_000;
    const actor = actorOf(request);
    await setHandoff(gateway.store, key, conversationId, until, now, actor);
    gateway.metrics.handoffs.inc({ channel: entry.channel, by: 'operator' });
    return { entryKey: key, conversationId, until, by: 'operator', actor };
  });
  app.delete<{ Params: { key: string; conversationId: string } }>('/entries/:key/handoffs/:conversationId', async (request) => {
    const { key, conversationId } = handoffParams(request.params);
    await setHandoff(gateway.store, key, conversationId, 0, gateway.clock.now());
    return { entryKey: key, conversationId, until: null };
  });
}
