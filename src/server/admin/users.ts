import type { FastifyInstance } from 'fastify';
import { CocoError } from '../../core/errors.js';
import type { Gateway } from '../../gateway.js';
import { handoffStateName } from '../../core/handoff.js';
import { entryOr404 } from './entries.js';

/**
 * A user's right to be forgotten: `DELETE /entries/{key}/users/{userId}` deletes what the store keeps
 * of them on that entry (see Store.forgetUser); what is still in flight is kept and counted, so the
 * request can be made again once it is done.
 */
export function registerUserRoutes(app: FastifyInstance, gateway: Gateway): void {
  app.delete<{ Params: { key: string; userId: string } }>('/entries/:key/users/:userId', async (request) => {
    const { key, userId } = request.params;
    entryOr404(gateway, key);
    if (userId.length < 1 || userId.length > 128) {
      throw new CocoError('COCO_ERR_REQUEST_INVALID', 'userId: 1-128 characters', { statusCode: 400, field: 'userId' });
    }
    // The store deletes what it keeps; which state of a conversation is a hand-over, core/handoff knows.
    const forgotten = await gateway.store.forgetUser(key, userId, (conversationId) => [handoffStateName(conversationId)]);
    // Ids only: what was deleted is not repeated in the log.
    gateway.log.info({ entry: key, ...forgotten }, 'user data deleted on request');
    return { entryKey: key, userId, ...forgotten };
  });
}
