import type { FastifyInstance } from 'fastify';
import { pendingPairings, type PendingPairing } from '../../core/pairing.js';
import type { Gateway } from '../../gateway.js';
import { approvePairing, rejectPairing } from '../pairing-approval.js';

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
    const { userName: _name, ...approved } = await approvePairing(gateway, request.params.code);
    return approved;
  });

  app.delete<{ Params: { code: string } }>('/pairing/:code', async (request) => {
    const r = await rejectPairing(gateway, request.params.code);
    return { code: r.code, agentId: r.agentId, entryKey: r.entryKey, userId: r.userId, rejected: true };
  });
}
