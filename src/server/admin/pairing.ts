import type { FastifyInstance } from 'fastify';
import { closePairing, normalizePairingCode, pairingByCode, pendingPairings, type PendingPairing } from '../../core/pairing.js';
import type { Gateway } from '../../gateway.js';
import { queueLateReply } from '../late-replies.js';
import { allowSender } from './targets.js';

/** A pairing request as `GET /pairing` lists it. */
export interface PairingInfo extends PendingPairing {
  channel: string | null;
  /** What the stranger wrote when they asked, if the store still has it. */
  content: string | null;
}

/**
 * Strangers' pairing requests (core/pairing.ts): the open ones, and approving or rejecting one by
 * its code. Approving adds the user to the agent's `allow_users` and tells them so.
 */
export function registerPairingRoutes(app: FastifyInstance, gateway: Gateway): void {
  app.get('/pairing', async (): Promise<{ requests: PairingInfo[] }> => {
    const requests = await pendingPairings(gateway.store, gateway.clock.now());
    return {
      requests: await Promise.all(
        requests.map(async (r) => {
          const asked = await gateway.store.getMessage(r.messageId);
          return { ...r, channel: asked?.channelType ?? null, content: asked?.message.content ?? null };
        }),
      ),
    };
  });

  app.post<{ Params: { code: string } }>('/pairing/:code/approve', async (request) => {
    const r = await openRequest(gateway, request.params.code);
    // Allowed first: a message the user sends meanwhile is answered, not given the code again.
    const changes = allowSender(gateway, r.agentId, { userId: r.userId, conversationId: r.conversationId, isGroup: false });
    await closePairing(gateway.store, r);
    const asked = await gateway.store.getMessage(r.messageId);
    const approvedReply = gateway.snapshot.agents.get(r.agentId)?.profile.access?.pairing?.approved_reply;
    // Sent as the operator's reply to the message that asked: the platform's reply window applies.
    const notified = asked !== undefined && approvedReply !== undefined;
    if (notified) await queueLateReply(gateway, asked, { text: approvedReply, format: 'text' }, 'operator', `pairing-${r.code}`);
    gateway.metrics.pairing.inc({ channel: asked?.channelType ?? 'unknown', event: 'approved' });
    gateway.log.info({ entry: r.entryKey, agent: r.agentId, messageId: r.messageId, notified }, 'pairing request approved');
    return { code: r.code, agentId: r.agentId, entryKey: r.entryKey, userId: r.userId, changes, notified };
  });

  app.delete<{ Params: { code: string } }>('/pairing/:code', async (request) => {
    const r = await openRequest(gateway, request.params.code);
    await closePairing(gateway.store, r);
    const channel = (await gateway.store.getMessage(r.messageId))?.channelType ?? 'unknown';
    gateway.metrics.pairing.inc({ channel, event: 'rejected' });
    gateway.log.info({ entry: r.entryKey, agent: r.agentId, messageId: r.messageId }, 'pairing request rejected');
    return { code: r.code, agentId: r.agentId, entryKey: r.entryKey, userId: r.userId, rejected: true };
  });
}

function openRequest(gateway: Gateway, code: string): Promise<PendingPairing> {
  return pairingByCode(gateway.store, normalizePairingCode(code), gateway.clock.now());
}
