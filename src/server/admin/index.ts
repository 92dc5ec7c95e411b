import type { FastifyInstance } from 'fastify';
import { CocoError } from '../../core/errors.js';
import type { Gateway } from '../../gateway.js';
import { registerEntryRoutes } from './entries.js';
import { registerMessageRoutes } from './messages.js';
import { registerTargetRoutes } from './targets.js';

/** `/api/admin/*`: bearer admin token; secrets are masked in every answer. */
export async function registerAdminApi(app: FastifyInstance, opts: { gateway: Gateway }): Promise<void> {
  const { gateway } = opts;
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!gateway.adminToken.verify(token)) {
      throw new CocoError('COCO_ERR_UNAUTHORIZED', 'missing or wrong admin token: send "Authorization: Bearer <admin token>"', { statusCode: 401 });
    }
  });
  registerTargetRoutes(app, gateway);
  registerEntryRoutes(app, gateway);
  registerMessageRoutes(app, gateway);
  app.get('/workspace/problems', async () => ({ problems: gateway.snapshot.problems }));
}
